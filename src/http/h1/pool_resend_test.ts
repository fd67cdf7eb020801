/**
 * Issue 13 item 2: a request is sent upstream at most once, except when the
 * reused connection it was given is found closed before any byte of it was
 * written (hyper's `retry_canceled_requests`). A backend counts the copies of
 * each request it receives by its `x-req-id` header.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { causeOf, EndpointIoError } from "../../errors.ts";
import {
  type Body,
  type BodySink,
  bytesBody,
  type HttpRequest,
  type HttpService,
  readBody,
} from "../message.ts";
import { H1Pool } from "./pool.ts";
import { RawClient, request, startServer } from "./_test_util.ts";
import {
  type CopyBackend,
  startCopyBackend,
  waitUntil,
} from "../../../tests/support/copy_backend.ts";

function connectTo(port: number): () => Promise<net.Socket> {
  return () =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.removeListener("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
}

function req(
  path: string,
  id: string,
  init: { method?: string; body?: Body; signal?: AbortSignal } = {},
): HttpRequest {
  const r = request(path, {
    method: init.method ?? "GET",
    headers: { "x-req-id": id },
    body: init.body ?? null,
  });
  if (init.signal !== undefined) r.ext.signal = init.signal;
  return r;
}

/** One exchange to the end; returns the response body. */
async function fetchText(pool: H1Pool, r: HttpRequest): Promise<string> {
  const res = await pool.request(r);
  assert.equal(res.status, 200);
  return new TextDecoder().decode((await readBody(res.body)).bytes);
}

/** The error `p` rejects with; fails if it resolves or is still pending after 5 s. */
async function rejection(p: Promise<unknown>): Promise<unknown> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<string>((r) => {
    timer = setTimeout(() => r("still pending after 5 s"), 5000);
  });
  try {
    const got = await Promise.race([
      p.then((v) => ({ v }), (err) => ({ err })),
      late,
    ]);
    if (typeof got === "string") assert.fail(got);
    if ("v" in got) {
      const status = (got.v as { status?: number } | undefined)?.status;
      assert.fail(`resolved with status ${status} instead`);
    }
    return got.err;
  } finally {
    clearTimeout(timer);
  }
}

/** A request body the test feeds by hand. */
function handBody(): { body: Body; sink: Promise<BodySink> } {
  let started!: (s: BodySink) => void;
  const sink = new Promise<BodySink>((r) => started = r);
  return {
    body: {
      length: undefined,
      start: (s) => started(s),
      pause() {},
      resume() {},
      cancel() {},
    },
    sink,
  };
}

/**
 * After a request was abandoned: the connection that carried it is closed,
 * and a later request went through. A resend of the abandoned one is issued
 * as soon as its connection closes (on a connection connected before the
 * sentinel's), so by the sentinel's answer it would have been seen.
 */
async function barrier(
  backend: CopyBackend,
  pool: H1Pool,
  id: string,
): Promise<void> {
  await waitUntil(() => backend.closedAfter(id), `${id}'s connection closed`);
  assert.equal(
    await fetchText(pool, req("/", `${id}-sentinel`)),
    `ok ${id}-sentinel`,
  );
}

Deno.test("H1Pool never resends a request aborted (timed out) on a reused connection", async () => {
  const backend = await startCopyBackend();
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  try {
    await fetchText(pool, req("/", "warm"));
    const ctl = new AbortController();
    const p = pool.request(req("/slow?ms=2000", "t1", { signal: ctl.signal }));
    await waitUntil(() => backend.copies("t1") === 1, "the first copy");
    const t0 = performance.now();
    ctl.abort(new Error("request timed out"));
    const err = await rejection(p);
    const ms = performance.now() - t0;
    assert.ok(causeOf(err, EndpointIoError), String(err));
    assert.ok(ms < 1000, `rejected ${ms.toFixed(0)} ms after the abort`);
    await barrier(backend, pool, "t1");
    assert.equal(backend.copies("t1"), 1);
    assert.equal(backend.accepted, 2, "the warm connection and the sentinel's");
  } finally {
    pool.close();
    await backend.close();
  }
});

Deno.test("H1Pool never writes a request aborted while its connection was opening", async () => {
  const backend = await startCopyBackend();
  let open!: () => void;
  const gate = new Promise<void>((r) => open = r);
  const pool = new H1Pool("backend", {
    connect: async () => {
      await gate;
      return await connectTo(backend.port)();
    },
  });
  try {
    const ctl = new AbortController();
    const p = pool.request(req("/", "c1", { signal: ctl.signal }));
    ctl.abort(new Error("request timed out"));
    open();
    const err = await rejection(p);
    assert.ok(causeOf(err, EndpointIoError), String(err));
    // Nothing was written: the connection is clean and stays in the pool.
    assert.equal(pool.idle, 1);
    assert.equal(await fetchText(pool, req("/", "c2")), "ok c2");
    assert.equal(backend.copies("c1"), 0);
    assert.equal(backend.accepted, 1);
  } finally {
    pool.close();
    await backend.close();
  }
});

for (const framing of ["chunked", "content-length"] as const) {
  Deno.test(`H1Pool closes a reused connection whose ${framing} request body fails, and resends nothing`, async () => {
    const backend = await startCopyBackend();
    const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
    try {
      await fetchText(pool, req("/", "warm"));
      const { body, sink } = handBody();
      const sized: Body = framing === "chunked"
        ? body
        : { ...body, length: 10 };
      const p = pool.request(
        req("/up", "b1", { method: "POST", body: sized }),
      );
      (await sink).data(new TextEncoder().encode("abc"));
      await waitUntil(() => backend.copies("b1") === 1, "the head upstream");
      (await sink).error(new Error("client gone mid-body"));
      const err = await rejection(p);
      assert.ok(causeOf(err, EndpointIoError), String(err));
      await waitUntil(
        () => backend.open === 0,
        "every upstream connection closed",
      );
      assert.equal(backend.copies("b1"), 1);
      assert.equal(backend.accepted, 1);
      assert.equal(pool.active, 0);
      assert.equal(pool.idle, 0);
    } finally {
      pool.close();
      await backend.close();
    }
  });
}

/** The outbound HTTP/1 path in small: serveH1 downstream, H1Pool upstream. */
function proxyService(pool: H1Pool): HttpService {
  return function proxy(r) {
    return pool.request(r);
  };
}

const BAD_BODIES: [string, (c: RawClient) => void][] = [
  ["a bad chunk size", (c) => c.write("zz\r\nabc\r\n")],
  ["a bad chunk extension", (c) => c.write("3;\x01x\r\nabc\r\n")],
  ["a client gone mid-body", (c) => c.socket.destroy()],
];

for (const [what, spoil] of BAD_BODIES) {
  Deno.test(`client -> serveH1 -> H1Pool: ${what} on a reused upstream connection is not resent and closes it`, async () => {
    const backend = await startCopyBackend();
    const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
    const proxy = await startServer(proxyService(pool));
    const warm = await RawClient.connect(proxy.port);
    const c = await RawClient.connect(proxy.port);
    try {
      warm.write("GET / HTTP/1.1\r\nHost: svc\r\nx-req-id: warm\r\n\r\n");
      assert.equal((await warm.readResponse()).status, 200);
      assert.equal(pool.idle, 1);
      c.write(
        "POST /up HTTP/1.1\r\nHost: svc\r\nx-req-id: bad\r\n" +
          "Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n",
      );
      await waitUntil(() => backend.copies("bad") === 1, "the head upstream");
      spoil(c);
      await waitUntil(
        () => backend.open === 0,
        "every upstream connection closed",
      );
      assert.equal(backend.copies("bad"), 1);
      assert.equal(backend.accepted, 1);
      await waitUntil(() => pool.active === 0, "the exchange released");
    } finally {
      await warm.close();
      await c.close();
      await proxy.close();
      pool.close();
      await backend.close();
    }
  });
}

Deno.test("H1Pool resends on a fresh connection when the server closed the reused one before the request was written (keep-alive race)", async () => {
  const backend = await startCopyBackend();
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  try {
    // The server answers, then closes without announcing it; the next
    // request is given that connection before its FIN is read.
    assert.equal(await fetchText(pool, req("/?do=close", "w1")), "ok w1");
    assert.equal(pool.idle, 1);
    assert.equal(await fetchText(pool, req("/", "k1")), "ok k1");
    assert.equal(backend.copies("k1"), 1);

    // With a body too: it was not started, so it can go on the fresh one.
    assert.equal(await fetchText(pool, req("/?do=close", "w2")), "ok w2");
    assert.equal(pool.idle, 1);
    const body = bytesBody("data");
    assert.equal(
      await fetchText(pool, req("/up", "k2", { method: "POST", body })),
      "ok k2",
    );
    assert.equal(backend.copies("k2"), 1);
    assert.equal(backend.accepted, 3);
    assert.deepEqual(backend.log.map((l) => l.split(" ")[2]), [
      "w1",
      "k1",
      "w2",
      "k2",
    ]);
  } finally {
    pool.close();
    await backend.close();
  }
});

for (const method of ["GET", "POST"]) {
  Deno.test(`H1Pool does not resend a ${method} the server read and dropped without an answer`, async () => {
    const backend = await startCopyBackend();
    const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
    try {
      await fetchText(pool, req("/", "warm"));
      const err = await rejection(
        pool.request(req("/?do=drop", "d1", { method })),
      );
      assert.ok(causeOf(err, EndpointIoError), String(err));
      assert.equal(backend.copies("d1"), 1);
      assert.equal(backend.accepted, 1);
      assert.equal(pool.active, 0);
    } finally {
      pool.close();
      await backend.close();
    }
  });
}
