import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import net from "node:net";
import tls from "node:tls";
import {
  startH2Backend,
  startHttpBackend,
} from "../../tests/support/backend.ts";
import { httpRequest } from "../../tests/support/petrel.ts";
import { startInboundListener } from "./listener.ts";
import type { DenyReason } from "./policy.ts";

const LOG = { warn() {}, info() {}, debug() {} };

function recorder() {
  const denied: DenyReason[] = [];
  const tlsEvents: string[] = [];
  return {
    denied,
    tlsEvents,
    observer: {
      denied: (r: DenyReason) => denied.push(r),
      handshake: (d: string) => tlsEvents.push(`${d}:ok`),
      failure: (d: string, r: string) => tlsEvents.push(`${d}:${r}`),
    },
  };
}

async function h2Request(
  port: number,
  headers: Record<string, string>,
): Promise<{ headers: http2.IncomingHttpHeaders; body: string }> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({ ":path": "/headers", ...headers });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => head = h);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on(
        "end",
        () =>
          resolve({ headers: head, body: Buffer.concat(chunks).toString() }),
      );
      req.on("error", reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

Deno.test("startInboundListener() forwards plaintext HTTP/1.1 to the app and strips l5d-client-id", async () => {
  const app = await startHttpBackend();
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    appPort: app.port,
    log: LOG,
  });
  try {
    const r = await httpRequest(inbound.port, "app.test", "/headers", {
      headers: { "l5d-client-id": "forged" },
    });
    assert.equal(r.status, 200);
    const seen = JSON.parse(r.body) as Record<string, string>;
    assert.equal(seen["l5d-client-id"], undefined);
    assert.equal(seen["host"], "app.test");
  } finally {
    inbound.close();
    await app.close();
  }
});

Deno.test("startInboundListener() forwards plaintext HTTP/2 to the app as HTTP/2", async () => {
  const app = await startH2Backend();
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    appPort: app.port,
    log: LOG,
  });
  try {
    const r = await h2Request(inbound.port, {
      ":authority": "app.test",
      "l5d-client-id": "forged",
    });
    assert.equal(r.headers[":status"], 200);
    assert.equal(JSON.parse(r.body)["l5d-client-id"], undefined);
  } finally {
    inbound.close();
    await app.close();
  }
});

Deno.test("startInboundListener() with the deny policy answers 403, and gRPC PERMISSION_DENIED", async () => {
  const app = await startHttpBackend();
  const rec = recorder();
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    appPort: app.port,
    policy: "deny",
    log: LOG,
    observer: rec.observer,
  });
  try {
    const r = await httpRequest(inbound.port, "app.test", "/");
    assert.equal(r.status, 403);
    assert.match(r.headers["l5d-proxy-error"] ?? "", /denies all connections/);
    assert.equal(r.headers["l5d-proxy-connection"], "close");
    const g = await h2Request(inbound.port, {
      ":authority": "app.test",
      ":method": "POST",
      "content-type": "application/grpc",
      "te": "trailers",
    });
    assert.equal(g.headers[":status"], 200);
    assert.equal(g.headers["grpc-status"], "7");
    assert.deepEqual(rec.denied, ["deny", "deny"]);
    assert.equal(app.requests, 0);
  } finally {
    inbound.close();
    await app.close();
  }
});

Deno.test("startInboundListener() forwards opaque bytes to the app", async () => {
  const app = net.createServer((s) => {
    s.on("error", () => {});
    s.on(
      "data",
      (d: Buffer) => s.write(Buffer.concat([Buffer.from("echo:"), d])),
    );
    s.on("end", () => s.end());
  });
  await new Promise<void>((r) => app.listen(0, "127.0.0.1", () => r()));
  const appPort = (app.address() as net.AddressInfo).port;
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    appPort,
    log: LOG,
  });
  try {
    const socket = net.connect({ host: "127.0.0.1", port: inbound.port });
    const reply = await new Promise<string>((resolve, reject) => {
      let text = "";
      socket.on("data", (d) => {
        text += d;
        if (text.length >= 22) resolve(text);
      });
      socket.on("error", reject);
      // Not HTTP: a binary-looking first byte.
      socket.write("\x01\x02redis-ish payload");
    });
    assert.equal(reply, "echo:\x01\x02redis-ish payload");
    socket.destroy();
  } finally {
    inbound.close();
    await new Promise<void>((r) => app.close(() => r()));
  }
});

Deno.test("startInboundListener() without a local identity closes TLS connections", async () => {
  const app = await startHttpBackend();
  const rec = recorder();
  const inbound = await startInboundListener({
    listenAddr: "127.0.0.1:0",
    appPort: app.port,
    log: LOG,
    observer: rec.observer,
  });
  try {
    const err = await new Promise<Error>((resolve) => {
      const s = tls.connect({
        host: "127.0.0.1",
        port: inbound.port,
        rejectUnauthorized: false,
      });
      s.on("secureConnect", () => resolve(new Error("handshake finished")));
      s.on("error", resolve);
    });
    assert.notEqual(err.message, "handshake finished");
    assert.deepEqual(rec.tlsEvents, ["inbound:no_local_identity"]);
  } finally {
    inbound.close();
    await app.close();
  }
});
