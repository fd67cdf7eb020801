import assert from "node:assert/strict";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { sharedDeadlines } from "./_deadlines.ts";
import {
  CountingSink,
  echoService,
  RawClient,
  startServer,
  streamBody,
  waitFor,
} from "./_test_util.ts";

Deno.test("serveH1() answers malformed heads with 400/431/505 and closes", async () => {
  const srv = await startServer(echoService(), { maxHeaderBytes: 1024 });
  const cases: [string, number][] = [
    [
      "GET / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
      400,
    ],
    ["GET / HTTP/1.1\r\nHost: a\r\nX: a\r\n b\r\n\r\n", 400],
    ["GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505],
    [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(2000)}\r\n\r\n`, 431],
    // Incomplete but already too large.
    [`GET / HTTP/1.1\r\nHost: a\r\nX-Big: ${"a".repeat(2000)}`, 431],
    ["GET / HTTP/1.1\r\n\r\n", 400],
  ];
  try {
    for (const [input, status] of cases) {
      const c = await RawClient.connect(srv.port);
      c.write(input);
      const r = await c.readResponse();
      assert.equal(r.status, status, JSON.stringify(input.slice(0, 40)));
      assert.equal(r.headers["connection"], "close");
      assert.ok(r.body.length > 0);
      assert.equal(await c.readToEnd(), "");
      await c.close();
    }
  } finally {
    await srv.close();
  }
});

Deno.test("serveH1() 400 on a bad request after a good pipelined one", async () => {
  const srv = await startServer(echoService());
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "GET /ok HTTP/1.1\r\nHost: a\r\n\r\nGET /bad\x01 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    assert.equal((await c.readResponse()).status, 200);
    assert.equal((await c.readResponse()).status, 400);
    await c.readToEnd();
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() a rejecting service gets 500 and a close", async () => {
  const srv = await startServer(() => Promise.reject(new Error("boom")));
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const r = await c.readResponse();
    assert.equal(r.status, 500);
    assert.equal(r.headers["connection"], "close");
    assert.equal(await c.readToEnd(), "");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() client gone mid-request: body errors, response body cancelled", async () => {
  const sink = new CountingSink();
  const res = streamBody(1 << 30, { chunkBytes: 16384 });
  let resolveRes!: (r: HttpResponse) => void;
  const gotReq = Promise.withResolvers<void>();
  const srv = await startServer((req) => {
    req.body!.start(sink);
    gotReq.resolve();
    return new Promise((r) => (resolveRes = r));
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\nabc");
    await gotReq.promise;
    await c.close();
    await assert.rejects(sink.ended, /client disconnected|closed/);
    resolveRes({ status: 200, headers: {}, body: res.body });
    await waitFor(
      () => res.stats.cancelled,
      "the late response body cancelled",
    );

    // And a response body in flight when the client leaves is cancelled.
    const big = streamBody(1 << 30, { chunkBytes: 65536 });
    const srv2 = await startServer(() =>
      Promise.resolve({ status: 200, headers: {}, body: big.body })
    );
    const c2 = await RawClient.connect(srv2.port);
    c2.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await c2.readBytes(1000);
    await c2.close();
    await srv2.close();
    assert.equal(big.stats.cancelled, true);
  } finally {
    await srv.close();
  }
});

Deno.test("serveH1() a malformed chunked body fails the request body and gets 400", async () => {
  const sink = new CountingSink();
  let answered: Promise<unknown> = Promise.resolve();
  const srv = await startServer(async (req) => {
    req.body!.start(sink);
    await sink.ended.catch(() => {});
    const res = streamBody(10);
    answered = waitFor(() => res.stats.cancelled, "cancel").then(
      () => true,
      () => false,
    );
    return { status: 200, headers: {}, body: res.body };
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\nZZ\r\n",
    );
    await assert.rejects(sink.ended, /invalid chunk size/);
    assert.equal(sink.bytes, 3);
    const r = await c.readResponse();
    assert.equal(r.status, 400);
    assert.equal(r.headers["connection"], "close");
    assert.equal(await c.readToEnd(), "");
    assert.equal(await answered, true, "the late response body is cancelled");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() header read timeout: a started head gets 408, idle connections stay", async () => {
  const ms = 150;
  const deadlines = sharedDeadlines(ms);
  const srv = await startServer(echoService(), { headerReadTimeoutMs: ms });
  const idle = await RawClient.connect(srv.port);
  const kept = await RawClient.connect(srv.port);
  const partial = await RawClient.connect(srv.port);
  try {
    // A head in one write arms no deadline.
    kept.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal((await kept.readResponse()).status, 200);
    assert.equal(deadlines.size, 0);

    const started = performance.now();
    partial.write("GET / HTTP/1.1\r\nHo");
    await waitFor(() => deadlines.size === 1, "the partial head is timed");
    const r = await partial.readResponse();
    const elapsed = performance.now() - started;
    assert.equal(r.status, 408);
    assert.equal(r.headers["connection"], "close");
    assert.equal(r.headers["l5d-proxy-error"], "request header read timed out");
    assert.equal(await partial.readToEnd(), "");
    assert.ok(elapsed >= ms - 5, `408 after ${elapsed} ms`);
    assert.equal(deadlines.size, 0);

    // Idle longer than the timeout, before and between requests: still served.
    assert.equal(idle.ended, false);
    assert.equal(kept.ended, false);
    idle.write("GET /2 HTTP/1.1\r\nHost: a\r\n\r\n");
    kept.write("GET /3 HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal((await idle.readResponse()).status, 200);
    assert.equal((await kept.readResponse()).status, 200);
  } finally {
    await idle.close();
    await kept.close();
    await partial.close();
    await srv.close();
  }
});

Deno.test("serveH1() header read timeout: a pipelined partial head is timed after the response", async () => {
  const ms = 100;
  const srv = await startServer(echoService(), { headerReadTimeoutMs: ms });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET /1 HTTP/1.1\r\nHost: a\r\n\r\nGET /2 HTTP/1.1\r\nHo");
    assert.equal((await c.readResponse()).status, 200);
    assert.equal((await c.readResponse()).status, 408);
    assert.equal(await c.readToEnd(), "");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() more than maxHeaders fields get 431 with l5d-proxy-error", async () => {
  const seen: HttpRequest[] = [];
  const srv = await startServer(echoService(seen), { maxHeaders: 20 });
  const fields = (n: number) => {
    let h = "GET / HTTP/1.1\r\nHost: a\r\n";
    for (let i = 1; i < n; i++) h += `x-h${i}: ${i}\r\n`;
    return h + "\r\n";
  };
  try {
    const ok = await RawClient.connect(srv.port);
    ok.write(fields(20));
    assert.equal((await ok.readResponse()).status, 200);
    await ok.close();
    const bad = await RawClient.connect(srv.port);
    bad.write(fields(21));
    const r = await bad.readResponse();
    assert.equal(r.status, 431);
    assert.equal(r.headers["connection"], "close");
    assert.equal(
      r.headers["l5d-proxy-error"],
      "too many request header fields",
    );
    assert.equal(await bad.readToEnd(), "");
    await bad.close();
    assert.equal(seen.length, 1);
  } finally {
    await srv.close();
  }
});

Deno.test("serveH1() informationalHeaders: false leaves l5d-proxy-error off", async () => {
  const srv = await startServer(echoService(), { informationalHeaders: false });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET / HTTP/1.1\r\n\r\n");
    const r = await c.readResponse();
    assert.equal(r.status, 400);
    assert.equal(r.headers["l5d-proxy-error"], undefined);
    assert.equal(r.headers["connection"], "close");
  } finally {
    await c.close();
    await srv.close();
  }
});
