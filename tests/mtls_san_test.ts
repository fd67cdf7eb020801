/**
 * Issue 13 item 1: the identity check must read the SANs from the
 * certificate's DER. A certificate signed by the trust anchor whose single
 * DNS SAN is the text `evil.test, DNS:web.ns.serviceaccount.identity…` is
 * not `web.ns…`: Deno 2.9.6's `X509Certificate.subjectAltName` prints it
 * unquoted (Node quotes it), so splitting that text on commas used to turn
 * one name into two. Over real sockets: the outbound refuses such a server
 * (502, identity mismatch, nothing reaches it), and the inbound never takes
 * such a client's SAN as `l5d-client-id` (linkerd `meshtls/verifier`:
 * `verify_id`, `client_identity`).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import tls from "node:tls";
import { loadCredentials } from "../src/tls/credentials.ts";
import { certificateSans } from "../src/tls/names.ts";
import { startHttpBackend } from "./support/backend.ts";
import {
  type Leaf,
  makePki,
  meshIdentity,
  OPENSSL,
  type TestPki,
} from "./support/certs.ts";
import {
  httpRequest,
  type RawResponse,
  startPetrel,
  type TestPetrel,
} from "./support/petrel.ts";

/** The identity an attacker wants to pass for. */
const VICTIM_ID = meshIdentity("web", "ns");
const CLIENT_ID = meshIdentity("client", "front");
/** One DNS SAN that a comma split reads as `evil.test` and the victim. */
const SPOOF_VICTIM_LAST = `evil.test, DNS:${VICTIM_ID}`;
/** One DNS SAN that a comma split reads as the victim first. */
const SPOOF_VICTIM_FIRST = `${VICTIM_ID}, DNS:evil.test`;

/** Sum of the samples of `name` whose labels include `labels`. */
async function metric(
  p: TestPetrel,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await p.app.metrics.render();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    const want = Object.entries(labels).every(([k, v]) =>
      line.includes(`${k}="${v}"`)
    );
    if (want) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** `openssl x509 -text` of `leaf`'s SAN extension: the line after its header. */
async function opensslSanText(leaf: Leaf): Promise<string> {
  const out = await new Deno.Command(OPENSSL, {
    args: ["x509", "-in", leaf.certFile, "-noout", "-ext", "subjectAltName"],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const lines = new TextDecoder().decode(out.stdout).split("\n");
  return (lines[1] ?? "").trim();
}

/** The DER of `leaf`'s certificate. */
function derOf(leaf: Leaf): Uint8Array {
  return new Uint8Array(new X509Certificate(leaf.certPem).raw);
}

/** Issues a leaf signed by the trust anchor whose only SAN is the DNS name `san`. */
function issueSpoof(pki: TestPki, san: string): Promise<Leaf> {
  return pki.issue("evil.test", { sans: [`DNS:${san}`] });
}

Deno.test("mtls san: openssl issues ONE DNS SAN holding a comma; the DER reader sees one name", async () => {
  await using pki = await makePki();
  const leaf = await issueSpoof(pki, SPOOF_VICTIM_LAST);
  // openssl prints it like two names; the DER holds one dNSName.
  assert.equal(await opensslSanText(leaf), `DNS:${SPOOF_VICTIM_LAST}`);
  assert.deepEqual(certificateSans(derOf(leaf)), [
    { kind: "dns", value: SPOOF_VICTIM_LAST },
  ]);
  const two = await pki.issue("two", {
    sans: [`DNS:${VICTIM_ID}`, "URI:spiffe://td/ns/web/sa/x"],
  });
  assert.deepEqual(certificateSans(derOf(two)), [
    { kind: "dns", value: VICTIM_ID },
    { kind: "uri", value: "spiffe://td/ns/web/sa/x" },
  ]);
});

/** A TLS server presenting `leaf` that counts its connections and the application bytes it gets. */
async function startRogueServer(leaf: Leaf): Promise<
  & { port: number; bytes: () => number; connections: () => number }
  & AsyncDisposable
> {
  let bytes = 0;
  let connections = 0;
  const sockets = new Set<tls.TLSSocket>();
  const server = tls.createServer({
    cert: leaf.certPem,
    key: leaf.keyPem,
    minVersion: "TLSv1.3",
    ALPNProtocols: ["h2", "http/1.1", "transport.l5d.io/v1"],
  }, (s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.once("close", () => sockets.delete(s));
    s.on("data", (d: Buffer) => {
      bytes += d.length;
      s.end("HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nowned");
    });
  });
  server.on("tlsClientError", () => {});
  server.on("connection", () => connections++);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    bytes: () => bytes,
    connections: () => connections,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

Deno.test("mtls san: the outbound refuses a server whose one DNS SAN is 'evil.test, DNS:<expected>' (502, identity mismatch, nothing sent)", async () => {
  await using pki = await makePki();
  await using rogue = await startRogueServer(
    await issueSpoof(pki, SPOOF_VICTIM_LAST),
  );
  const dir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
services:
  - name: web.test:8080
    protocol: http1
    identity: ${VICTIM_ID}
    endpoints: ["127.0.0.1:${rogue.port}"]
`,
  );
  try {
    for (let i = 0; i < 2; i++) {
      const r = await httpRequest(client.port, "web.test:8080", "/secret");
      assert.equal(r.status, 502, JSON.stringify(r));
      const why = r.headers["l5d-proxy-error"] ?? "";
      assert.match(why, /certificate does not match TLS identity/);
      assert.ok(why.includes(`expected ${VICTIM_ID}`), why);
      assert.ok(why.includes("(invalid)"), why);
    }
    assert.ok(rogue.connections() >= 1, "Petrel dialed the rogue");
    assert.equal(rogue.bytes(), 0, "no application byte reached the rogue");
    assert.ok(
      await metric(client, "tls_handshake_errors_total", {
        direction: "outbound",
        reason: "identity_mismatch",
      }) >= 1,
    );
  } finally {
    await client.close();
  }
});

/** One HTTP/1.1 GET /headers over TLS straight to the inbound, presenting `leaf`. */
function tlsRequest(
  port: number,
  pki: TestPki,
  leaf: Leaf | undefined,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: VICTIM_ID,
      ca: pki.anchorPem,
      ...(leaf ? { cert: leaf.certPem, key: leaf.keyPem } : {}),
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const chunks: Buffer[] = [];
    socket.on("secureConnect", () =>
      socket.write(
        "GET /headers HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n",
      ));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const [head = "", body = ""] = text.split("\r\n\r\n");
      const lines = head.split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d+)/.exec(lines[0] ?? "")?.[1] ?? 0),
        headers,
        body,
      });
    });
  });
}

/** An inbound Petrel proving the victim's identity in front of `appPort`. */
async function startInbound(
  pki: TestPki,
  appPort: number,
  policy: string,
): Promise<TestPetrel> {
  const dir = await pki.identityDir(await pki.issue(VICTIM_ID));
  return await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
inbound: { listen: 127.0.0.1:0, appPort: ${appPort}, policy: ${policy} }
services: []
`,
  );
}

Deno.test("mtls san: the inbound never takes a comma-spoofed client SAN as l5d-client-id", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const open = await startInbound(pki, app.port, "all-unauthenticated");
  const strict = await startInbound(pki, app.port, "all-authenticated");
  try {
    const openPort = open.app.inbound!.port;
    const strictPort = strict.app.inbound!.port;
    // Control: a genuine client certificate gets its identity through.
    const genuine = await pki.issue(CLIENT_ID);
    for (const port of [openPort, strictPort]) {
      const r = await tlsRequest(port, pki, genuine);
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(JSON.parse(r.body)["l5d-client-id"], CLIENT_ID);
    }
    const before = app.requests;
    for (const san of [SPOOF_VICTIM_FIRST, SPOOF_VICTIM_LAST]) {
      const spoof = await issueSpoof(pki, san);
      // Permissive: served as TLS without a client identity.
      const r = await tlsRequest(openPort, pki, spoof);
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(JSON.parse(r.body)["l5d-client-id"], undefined, san);
      // Requiring a client identity: refused, and the app sees nothing.
      const denied = await tlsRequest(strictPort, pki, spoof);
      assert.equal(denied.status, 403, JSON.stringify(denied));
      assert.match(
        denied.headers["l5d-proxy-error"] ?? "",
        /client certificate does not match TLS identity/,
      );
    }
    assert.equal(
      app.requests,
      before + 2,
      "only the permissive inbound served",
    );
    assert.equal(
      await metric(strict, "inbound_connections_denied_total", {
        reason: "identity_mismatch",
      }),
      2,
    );
  } finally {
    await open.close();
    await strict.close();
    await app.close();
  }
});

Deno.test("mtls san: a comma-spoofed certificate is refused as the local identity", async () => {
  await using pki = await makePki();
  for (const san of [SPOOF_VICTIM_FIRST, SPOOF_VICTIM_LAST]) {
    const leaf = await issueSpoof(pki, san);
    const src = {
      certFile: leaf.certFile,
      keyFile: leaf.keyFile,
      trustAnchorsFile: pki.anchorFile,
    };
    await assert.rejects(
      loadCredentials({ ...src, localName: VICTIM_ID }),
      /do not contain the local identity/,
    );
    await assert.rejects(loadCredentials(src), /no SAN is a valid identity/);
  }
});
