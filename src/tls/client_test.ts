import assert from "node:assert/strict";
import net from "node:net";
import { causeOf, ConnectTimeoutError, EndpointIoError } from "../errors.ts";
import { H2CodecClient } from "../http/h2/codec_client.ts";
import { H2Conn, statusHead } from "../http/h2/conn.ts";
import { ErrorCode } from "../http/h2/frame.ts";
import { bytesBody, readBody } from "../http/message.ts";
import {
  makePki,
  meshIdentity,
  opensslTime,
} from "../../tests/support/certs.ts";
import { connectTls } from "./client.ts";
import { TlsError } from "./errors.ts";
import { TlsTerminator } from "./server.ts";
import {
  fixedIdentity,
  RecordingObserver,
  startTlsEcho,
} from "./_test_util.ts";

const CLIENT = meshIdentity("client");
const SERVER = meshIdentity("server");

function echoOnce(socket: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    socket.once("data", (d) => resolve(String(d)));
    socket.once("error", reject);
    socket.write(text);
  });
}

function tlsReason(err: unknown): string | undefined {
  return causeOf(err, TlsError)?.reason;
}

Deno.test("connectTls() verifies the server identity over mTLS, TLS 1.3, with ALPN", async () => {
  await using pki = await makePki();
  const server = await fixedIdentity(
    await pki.issue(SERVER),
    pki.anchorFile,
  );
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  const obs = new RecordingObserver();
  await using echo = await startTlsEcho(server, obs);
  const socket = await connectTls("127.0.0.1", echo.port, {
    serverId: SERVER,
    identity: client,
    observer: obs,
    alpn: ["h2"],
  });
  try {
    assert.equal(socket.getProtocol(), "TLSv1.3");
    assert.equal(socket.alpnProtocol, "h2");
    assert.equal(await echoOnce(socket, "ping"), "ping");
    const a = echo.accepted[0]!;
    assert.equal(a.peer.kind, "verified");
    assert.equal(a.peer.kind === "verified" && a.peer.identity, CLIENT);
    assert.deepEqual(obs.events.sort(), ["inbound:ok", "outbound:ok"]);
  } finally {
    socket.destroy();
  }
});

Deno.test("connectTls() refuses a server whose SAN is not the expected identity", async () => {
  await using pki = await makePki();
  const other = meshIdentity("impostor");
  const server = await fixedIdentity(await pki.issue(other), pki.anchorFile);
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  const obs = new RecordingObserver();
  await using echo = await startTlsEcho(server);
  const err = await connectTls("127.0.0.1", echo.port, {
    serverId: SERVER,
    identity: client,
    observer: obs,
  }).then(() => assert.fail("connected"), (e) => e);
  assert.ok(err instanceof EndpointIoError, String(err));
  assert.equal(tlsReason(err), "identity_mismatch");
  assert.match(err.message, /certificate does not match TLS identity/);
  assert.match(err.message, new RegExp(`expected ${SERVER}, got ${other}`));
  assert.deepEqual(obs.events, ["outbound:identity_mismatch"]);
});

Deno.test("connectTls() refuses an expired server certificate", async () => {
  await using pki = await makePki();
  const expired = await pki.issue(SERVER, {
    notBefore: "20200101000000Z",
    notAfter: "20200102000000Z",
  });
  const server = await fixedIdentity(expired, pki.anchorFile);
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  await using echo = await startTlsEcho(server);
  const err = await connectTls("127.0.0.1", echo.port, {
    serverId: SERVER,
    identity: client,
  }).then(() => assert.fail("connected"), (e) => e);
  assert.equal(tlsReason(err), "expired");
  assert.match(err.message, /certificate expired \(notAfter 2020-01-02/);
});

Deno.test("connectTls() refuses a server certificate that is not yet valid", async () => {
  await using pki = await makePki();
  const soon = new Date(Date.now() + 86_400_000);
  const future = await pki.issue(SERVER, {
    notBefore: opensslTime(soon),
    notAfter: opensslTime(new Date(soon.getTime() + 86_400_000)),
  });
  const server = await fixedIdentity(future, pki.anchorFile);
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  await using echo = await startTlsEcho(server);
  const err = await connectTls("127.0.0.1", echo.port, {
    serverId: SERVER,
    identity: client,
  }).then(() => assert.fail("connected"), (e) => e);
  assert.equal(tlsReason(err), "not_yet_valid");
});

Deno.test("connectTls() refuses a server certificate from another CA", async () => {
  await using pki = await makePki();
  const rogue = await pki.issue(SERVER, { ca: "other" });
  // The server trusts its own CA so that it can load its certificate.
  const server = await fixedIdentity(rogue, pki.otherCaFile);
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  await using echo = await startTlsEcho(server);
  const err = await connectTls("127.0.0.1", echo.port, {
    serverId: SERVER,
    identity: client,
  }).then(() => assert.fail("connected"), (e) => e);
  assert.equal(tlsReason(err), "untrusted");
  assert.match(err.message, /certificate not trusted/);
  assert.equal(echo.accepted.length, 0);
});

Deno.test("connectTls() without a local identity fails, never plaintext", async () => {
  let accepted = 0;
  const server = net.createServer((s) => {
    accepted++;
    s.destroy();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const obs = new RecordingObserver();
    const err = await connectTls("127.0.0.1", port, {
      serverId: SERVER,
      identity: undefined,
      observer: obs,
    }).then(() => assert.fail("connected"), (e) => e);
    assert.equal(tlsReason(err), "no_local_identity");
    assert.equal(accepted, 0, "no connection was even opened");
    assert.deepEqual(obs.events, ["outbound:no_local_identity"]);
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("connectTls() to a plaintext server fails the handshake", async () => {
  await using pki = await makePki();
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.once("data", () => s.end("HTTP/1.1 400 Bad Request\r\n\r\n"));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const err = await connectTls("127.0.0.1", port, {
      serverId: SERVER,
      identity: client,
    }).then(() => assert.fail("connected"), (e) => e);
    assert.ok(err instanceof EndpointIoError);
    assert.equal(tlsReason(err), "handshake");
  } finally {
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("connectTls() times out a handshake that never completes", async () => {
  await using pki = await makePki();
  const client = await fixedIdentity(
    await pki.issue(CLIENT),
    pki.anchorFile,
  );
  const held = new Set<net.Socket>();
  const server = net.createServer((s) => {
    held.add(s);
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  try {
    const obs = new RecordingObserver();
    const err = await connectTls("127.0.0.1", port, {
      serverId: SERVER,
      identity: client,
      timeoutMs: 200,
      observer: obs,
    }).then(() => assert.fail("connected"), (e) => e);
    assert.ok(err instanceof ConnectTimeoutError, String(err));
    assert.deepEqual(obs.events, ["outbound:timeout"]);
  } finally {
    for (const s of held) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("H2CodecClient on a connectTls() socket: a server's GOAWAY after the answer retires the connection, the next request opens a new one", async () => {
  await using pki = await makePki();
  const serverId = await fixedIdentity(await pki.issue(SERVER), pki.anchorFile);
  const client = await fixedIdentity(await pki.issue(CLIENT), pki.anchorFile);
  const terminator = new TlsTerminator({ identity: serverId });
  const sockets = new Set<net.Socket>();
  const conns: H2Conn[] = [];
  const server = net.createServer((raw) => {
    sockets.add(raw);
    raw.on("error", () => {});
    terminator.accept(raw, new Uint8Array(0)).then((a) => {
      sockets.add(a.socket);
      const conn = new H2Conn(a.socket, "server");
      conns.push(conn);
      conn.onStream = (stream) => {
        conn.sendHeaders(stream, statusHead(200), false);
        conn.sendBody(stream, bytesBody("hello"));
        // After the answer: GOAWAY, last stream 1, code ENHANCE_YOUR_CALM.
        setTimeout(() => conn.close(ErrorCode.ENHANCE_YOUR_CALM), 20);
      };
      a.socket.resume();
    }, () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  const c = new H2CodecClient(`127.0.0.1:${port}`, {
    connect: () =>
      connectTls("127.0.0.1", port, {
        serverId: SERVER,
        identity: client,
        alpn: ["h2"],
      }),
  });
  const get = async () => {
    const r = await c.request({
      method: "GET",
      scheme: "https",
      authority: "server.test",
      path: "/",
      version: "HTTP/2",
      headers: {},
      body: null,
      ext: {},
    });
    return new TextDecoder().decode((await readBody(r.body)).bytes);
  };
  try {
    assert.equal(await get(), "hello");
    const start = Date.now();
    while (c.connected && Date.now() - start < 3000) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(c.connected, false, "GOAWAY retired the connection");
    assert.equal(await get(), "hello");
    assert.equal(conns.length, 2);
  } finally {
    c.destroy();
    for (const s of sockets) s.destroy();
    await Promise.all(conns.map((x) => x.closed));
    await new Promise<void>((r) => server.close(() => r()));
  }
});
