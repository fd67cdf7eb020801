/**
 * A linkerd2-proxy peer's transport-header mode, with a client written
 * from upstream's `linkerd/transport-header/proto/header.proto` (its bytes
 * are encoded here by hand, not with Petrel's encoder): TLS with ALPN
 * `transport.l5d.io/v1`, the preface, a 4-byte length, `Header { port = 1;
 * session_protocol = 3 { http1 = 1 | http2 = 2 } }`, then an HTTP/1 or
 * HTTP/2 session that Petrel's inbound serves through its HTTP stack.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import tls from "node:tls";
import {
  startH2Backend,
  startHttpBackend,
} from "../../tests/support/backend.ts";
import { makePki } from "../../tests/support/certs.ts";
import { LocalIdentity } from "../tls/identity.ts";
import { startInboundListener } from "./listener.ts";

const LOG = { warn() {}, info() {}, debug() {} };
const SERVER_ID = "web.test.serviceaccount.identity.linkerd.cluster.local";
const CLIENT_ID = "peer.test.serviceaccount.identity.linkerd.cluster.local";

/** Upstream's wire bytes: preface, u32 length, protobuf Header. */
function header(port: number, session: "http1" | "http2"): Buffer {
  const varint = (n: number) => {
    const out: number[] = [];
    while (n > 0x7f) {
      out.push((n & 0x7f) | 0x80);
      n >>>= 7;
    }
    out.push(n);
    return out;
  };
  // port: field 1, varint (tag 0x08); session_protocol: field 3, bytes
  // (tag 0x1a) holding one empty message at field 1 (0x0a) or 2 (0x12).
  const msg = Buffer.from([
    0x08,
    ...varint(port),
    0x1a,
    0x02,
    session === "http1" ? 0x0a : 0x12,
    0x00,
  ]);
  const len = Buffer.alloc(4);
  len.writeUInt32BE(msg.length);
  return Buffer.concat([Buffer.from("transport.l5d.io/v1\r\n\r\n"), len, msg]);
}

Deno.test("startInboundListener() serves a transport-header HTTP/1 and HTTP/2 session as HTTP, with the peer's identity and without its l5d-proxy-* headers", async () => {
  await using pki = await makePki();
  const serverDir = await pki.identityDir(await pki.issue(SERVER_ID));
  const peer = await pki.issue(CLIENT_ID);
  await using identity = await LocalIdentity.watch({
    dir: serverDir,
    localName: SERVER_ID,
  }, {});
  const h1app = await startHttpBackend();
  const h2app = await startH2Backend();
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    identity,
    log: LOG,
  });
  const dial = () =>
    new Promise<tls.TLSSocket>((resolve, reject) => {
      const s = tls.connect({
        host: "127.0.0.1",
        port: inbound.port,
        servername: SERVER_ID,
        ca: pki.anchorPem,
        cert: peer.certPem,
        key: peer.keyPem,
        ALPNProtocols: ["transport.l5d.io/v1"],
        checkServerIdentity: () => undefined,
      });
      s.once("secureConnect", () => resolve(s));
      s.once("error", reject);
    });
  try {
    // HTTP/1 after the header, to the port the header names.
    const s1 = await dial();
    assert.equal(s1.alpnProtocol, "transport.l5d.io/v1");
    s1.write(header(h1app.port, "http1"));
    s1.write(
      "GET /headers HTTP/1.1\r\nHost: web.test\r\nl5d-proxy-error: peer\r\n" +
        "l5d-proxy-connection: close\r\nl5d-client-id: forged\r\nConnection: close\r\n\r\n",
    );
    const text = await new Promise<string>((resolve, reject) => {
      const chunks: Buffer[] = [];
      s1.on("data", (d: Buffer) => chunks.push(d));
      s1.on("end", () => resolve(Buffer.concat(chunks).toString()));
      s1.on("error", reject);
    });
    s1.destroy();
    assert.match(text, /^HTTP\/1\.1 200/);
    const seen = JSON.parse(text.slice(text.indexOf("\r\n\r\n") + 4));
    assert.equal(seen["l5d-client-id"], CLIENT_ID);
    assert.equal(seen["l5d-proxy-error"], undefined);
    assert.equal(seen["l5d-proxy-connection"], undefined);
    assert.equal(h1app.requests, 1);

    // HTTP/2 after the header (linkerd's outbound to a meshed HTTP/2 endpoint).
    const s2 = await dial();
    s2.write(header(h2app.port, "http2"));
    const session = http2.connect("http://web.test", {
      createConnection: () => s2,
    });
    session.on("error", () => {});
    try {
      const r = await new Promise<{ status: number; body: string }>(
        (resolve, reject) => {
          const req = session.request({
            ":path": "/headers",
            "l5d-proxy-error": "peer",
          });
          let status = 0;
          const chunks: Buffer[] = [];
          req.on("response", (h) => status = Number(h[":status"]));
          req.on("data", (c: Buffer) => chunks.push(c));
          req.on(
            "end",
            () => resolve({ status, body: Buffer.concat(chunks).toString() }),
          );
          req.on("error", reject);
          req.end();
        },
      );
      assert.equal(r.status, 200);
      const h = JSON.parse(r.body);
      assert.equal(h["l5d-client-id"], CLIENT_ID);
      assert.equal(h["l5d-proxy-error"], undefined);
    } finally {
      session.close();
      s2.destroy();
    }
  } finally {
    inbound.close();
    await h1app.close();
    await h2app.close();
  }
});
