import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import net from "node:net";
import tls from "node:tls";
import {
  makePki,
  meshIdentity,
  writeIdentityFiles,
} from "../../tests/support/certs.ts";
import { LocalIdentity } from "./identity.ts";
import { TlsTerminator } from "./server.ts";
import {
  fixedIdentity,
  RecordingObserver,
  startTlsEcho,
} from "./_test_util.ts";

const SERVER = meshIdentity("server");
const CLIENT = meshIdentity("client");

/** A raw node:tls client; resolves with the server's leaf once the handshake is done. */
function rawClient(
  port: number,
  opts: tls.ConnectionOptions,
): Promise<{ socket: tls.TLSSocket; serverCert: X509Certificate }> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: SERVER,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...opts,
    });
    socket.once("secureConnect", () => {
      const raw = socket.getPeerCertificate(false).raw;
      resolve({ socket, serverCert: new X509Certificate(raw) });
    });
    socket.once("error", reject);
  });
}

function waitFor(cond: () => boolean): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - start > 3000) reject(new Error("timed out"));
      else setTimeout(tick, 10);
    };
    tick();
  });
}

Deno.test("TlsTerminator.accept() reports a client without a certificate as none", async () => {
  await using pki = await makePki();
  const obs = new RecordingObserver();
  await using echo = await startTlsEcho(
    await fixedIdentity(await pki.issue(SERVER), pki.anchorFile),
    obs,
  );
  const { socket, serverCert } = await rawClient(echo.port, {
    ca: pki.anchorPem,
  });
  try {
    assert.match(serverCert.subjectAltName ?? "", new RegExp(SERVER));
    await waitFor(() => echo.accepted.length === 1);
    assert.deepEqual(echo.accepted[0]!.peer, { kind: "none" });
    assert.deepEqual(obs.events, ["inbound:ok"]);
  } finally {
    socket.destroy();
  }
});

Deno.test("TlsTerminator.accept() rejects an untrusted or expired client certificate with its reason", async () => {
  await using pki = await makePki();
  const obs = new RecordingObserver();
  await using echo = await startTlsEcho(
    await fixedIdentity(await pki.issue(SERVER), pki.anchorFile),
    obs,
  );
  const rogue = await pki.issue(CLIENT, { ca: "other" });
  const expired = await pki.issue(CLIENT, {
    notBefore: "20200101000000Z",
    notAfter: "20200102000000Z",
  });
  for (const leaf of [rogue, expired]) {
    const { socket } = await rawClient(echo.port, {
      ca: pki.anchorPem,
      cert: leaf.certPem,
      key: leaf.keyPem,
    });
    socket.destroy();
  }
  await waitFor(() => echo.accepted.length === 2);
  const [a, b] = echo.accepted.map((x) => x.peer);
  assert.equal(a?.kind === "rejected" && a.reason, "untrusted");
  assert.equal(b?.kind === "rejected" && b.reason, "expired");
  assert.deepEqual(obs.events, ["inbound:untrusted", "inbound:expired"]);
});

Deno.test("TlsTerminator.accept() refuses TLS 1.2 clients", async () => {
  await using pki = await makePki();
  const obs = new RecordingObserver();
  await using echo = await startTlsEcho(
    await fixedIdentity(await pki.issue(SERVER), pki.anchorFile),
    obs,
  );
  const err = await rawClient(echo.port, {
    ca: pki.anchorPem,
    maxVersion: "TLSv1.2",
  }).then((c) => {
    c.socket.destroy();
    return undefined;
  }, (e) => e);
  assert.ok(err instanceof Error, "the TLS 1.2 handshake must fail");
  await waitFor(() => echo.errors.length === 1);
  assert.deepEqual(obs.events, ["inbound:handshake"]);
});

Deno.test("TlsTerminator.accept() without local credentials refuses and closes", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await using identity = await LocalIdentity.watch({ dir }, {
      fsEvents: false,
    });
    const obs = new RecordingObserver();
    const terminator = new TlsTerminator({ identity, observer: obs });
    const [a, b] = await socketPair();
    const err = await terminator.accept(a, new Uint8Array(0)).then(
      () => undefined,
      (e) => e,
    );
    assert.equal(err?.reason, "no_local_identity");
    assert.ok(a.destroyed);
    b.destroy();
    await new Promise((r) => b.once("close", r));
    assert.deepEqual(obs.events, ["inbound:no_local_identity"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("TlsTerminator presents rotated credentials to new connections only", async () => {
  await using pki = await makePki();
  const first = await pki.issue(SERVER);
  const dir = await pki.identityDir(first);
  await using identity = await LocalIdentity.watch({ dir }, {
    fsEvents: false,
    pollMs: 3_600_000,
  });
  await using echo = await startTlsEcho(identity);
  const before = await rawClient(echo.port, { ca: pki.anchorPem });
  try {
    assert.equal(before.serverCert.serialNumber, first.serial);
    const second = await pki.issue(SERVER);
    await writeIdentityFiles(dir, second);
    assert.equal(await identity.reload(), true);
    const after = await rawClient(echo.port, { ca: pki.anchorPem });
    try {
      assert.equal(after.serverCert.serialNumber, second.serial);
    } finally {
      after.socket.destroy();
    }
    // The connection made before the rotation still works.
    const echoed = await new Promise<string>((resolve) => {
      before.socket.once("data", (d) => resolve(String(d)));
      before.socket.write("still here");
    });
    assert.equal(echoed, "still here");
  } finally {
    before.socket.destroy();
  }
});

/** Two connected sockets on 127.0.0.1. */
async function socketPair(): Promise<[net.Socket, net.Socket]> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect({ host: "127.0.0.1", port });
  client.on("error", () => {});
  const a = await accepted;
  a.on("error", () => {});
  // Stops listening now; the callback runs once both sockets are gone.
  server.close();
  return [a, client];
}
