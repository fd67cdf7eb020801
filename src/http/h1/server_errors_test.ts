import assert from "node:assert/strict";
import type { HttpResponse } from "../message.ts";
import {
  CountingSink,
  delay,
  echoService,
  RawClient,
  startServer,
  streamBody,
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
    await delay(10);
    assert.equal(res.stats.cancelled, true);

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
    answered = delay(5).then(() => res.stats.cancelled);
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

Deno.test("serveH1() header read timeout: idle closes, partial head gets 408", async () => {
  const srv = await startServer(echoService(), { headerReadTimeoutMs: 50 });
  try {
    const idle = await RawClient.connect(srv.port);
    assert.equal(await idle.readToEnd(), "");
    await idle.close();
    const partial = await RawClient.connect(srv.port);
    partial.write("GET / HTTP/1.1\r\nHo");
    const r = await partial.readResponse();
    assert.equal(r.status, 408);
    await partial.close();
  } finally {
    await srv.close();
  }
});
