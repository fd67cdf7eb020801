import assert from "node:assert/strict";
import { ManualClock } from "../balance/_test_util.ts";
import {
  causeOf,
  ResponseTimeoutError,
  StreamResetError,
  StreamTimeoutError,
} from "../errors.ts";
import type { HttpRequest, HttpResponse } from "./message.ts";
import { errorResponse } from "./respond.ts";
import { collect, flush, PushBody, request } from "./retry/_test_util.ts";
import { callWithTimeouts, SharedTimers } from "./timeouts.ts";

/** An inner service the test answers; records the requests it got. */
function upstream() {
  const seen: HttpRequest[] = [];
  let answer: ((r: HttpResponse) => void) | undefined;
  return {
    seen,
    call(req: HttpRequest): Promise<HttpResponse> {
      seen.push(req);
      return new Promise((resolve) => answer = resolve);
    },
    respond(rsp: HttpResponse) {
      answer!(rsp);
    },
  };
}

const CANCEL = 8;

Deno.test("callWithTimeouts(): the request deadline fails the call before headers and cancels the upstream with CANCEL", async () => {
  const clock = new ManualClock(1000);
  const up = upstream();
  const timeouts: string[] = [];
  const p = callWithTimeouts(up.call, request(), {
    deadlineMs: 1100,
    requestMs: 100,
  }, {
    clock,
    onTimeout: (e) => timeouts.push((e as StreamTimeoutError).timeout),
  });
  const signal = up.seen[0]!.ext.signal!;
  clock.advance(99);
  assert.equal(signal.aborted, false);
  clock.advance(1);
  const err = await p.catch((e) => e);
  assert.ok(err instanceof StreamTimeoutError);
  assert.equal(err.timeout, "request");
  assert.match(err.message, /request timed out after 100ms/);
  assert.ok(signal.aborted);
  assert.equal((signal.reason as StreamResetError).code, CANCEL);
  assert.deepEqual(timeouts, ["request"]);
  assert.equal(clock.pending, 0);
  // Rescued as linkerd's ResponseTimeoutError: 504, DEADLINE_EXCEEDED, connection kept.
  const { response } = errorResponse(request(), err);
  assert.equal(response.status, 504);
  assert.equal(response.closeConnection, false);
  const grpc = errorResponse(
    request({
      version: "HTTP/2",
      method: "POST",
      headers: { "content-type": "application/grpc" },
    }),
    err,
  ).response;
  assert.equal(grpc.status, 200);
  assert.equal(grpc.headers["grpc-status"], "4");
  // A response arriving afterwards is dropped.
  const late = new PushBody();
  up.respond({ status: 200, headers: {}, body: late });
  await flush();
  assert.ok(late.canceled instanceof StreamResetError);
});

Deno.test("callWithTimeouts(): the response headers timeout runs from the end of the request body", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const body = new PushBody();
  const p = callWithTimeouts(up.call, request({ method: "POST", body }), {
    responseHeadersMs: 100,
  }, { clock });
  const sent = collect(up.seen[0]!.body!);
  body.push("abc");
  clock.advance(500); // still streaming the request: no headers timeout yet
  body.end();
  assert.equal(sent.text(), "abc");
  assert.ok(sent.ended);
  clock.advance(99);
  await flush();
  clock.advance(1);
  const err = await p.catch((e) => e);
  assert.equal(causeOf(err, StreamTimeoutError)?.timeout, "response-headers");
});

Deno.test("callWithTimeouts(): the response timeout fails the body after headers and resets the upstream body", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const p = callWithTimeouts(up.call, request(), { responseMs: 300 }, {
    clock,
  });
  clock.advance(100);
  const upBody = new PushBody();
  up.respond({ status: 200, headers: {}, body: upBody });
  const rsp = await p;
  assert.equal(rsp.status, 200);
  const got = collect(rsp.body!);
  upBody.push("part");
  clock.advance(199);
  assert.equal(got.error, undefined);
  clock.advance(1);
  assert.equal(got.text(), "part");
  assert.equal(causeOf(got.error, StreamTimeoutError)?.timeout, "response");
  assert.ok(upBody.canceled instanceof StreamResetError);
  assert.equal((upBody.canceled as StreamResetError).code, CANCEL);
  assert.equal(clock.pending, 0);
});

Deno.test("callWithTimeouts(): the profile headers deadline bounds the headers only; a body may stream past it", async () => {
  const clock = new ManualClock(1000);
  // Headers late: linkerd's profile ResponseTimeoutError, upstream canceled.
  let up = upstream();
  const timeouts: unknown[] = [];
  const late = callWithTimeouts(up.call, request(), {
    headersDeadlineMs: 1300,
    headersMs: 300,
  }, { clock, onTimeout: (e) => timeouts.push(e) });
  const signal = up.seen[0]!.ext.signal!;
  clock.advance(299);
  assert.equal(signal.aborted, false);
  clock.advance(1);
  const err = await late.catch((e) => e);
  assert.ok(err instanceof ResponseTimeoutError);
  assert.ok(!(err instanceof StreamTimeoutError));
  assert.match(err.message, /HTTP response timeout after 300ms/);
  assert.equal(timeouts[0], err);
  assert.ok(signal.aborted);
  assert.equal(errorResponse(request(), err).response.status, 504);
  assert.equal(clock.pending, 0);

  // Headers in time: the body streams for 2 s and ends normally.
  up = upstream();
  const p = callWithTimeouts(up.call, request(), {
    headersDeadlineMs: clock.now() + 300,
    headersMs: 300,
  }, { clock });
  clock.advance(100);
  const upBody = new PushBody();
  up.respond({ status: 200, headers: {}, body: upBody });
  const got = collect((await p).body!);
  assert.equal(clock.pending, 0, "no timer once the headers are in");
  for (let i = 0; i < 4; i++) {
    clock.advance(500);
    upBody.push(String(i));
  }
  upBody.end();
  await flush();
  assert.equal(got.error, undefined);
  assert.equal(got.text(), "0123");
  assert.ok(got.ended);
  assert.equal(upBody.canceled, undefined);
});

Deno.test("callWithTimeouts(): frames keep the idle timeout off; silence trips it", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const p = callWithTimeouts(up.call, request(), { idleMs: 100 }, { clock });
  clock.advance(1000); // waiting for headers after the request ended: not idle-bounded
  const upBody = new PushBody();
  up.respond({ status: 200, headers: {}, body: upBody });
  const got = collect((await p).body!);
  for (let i = 0; i < 5; i++) {
    clock.advance(60);
    upBody.push(String(i));
  }
  assert.equal(got.error, undefined);
  clock.advance(100);
  assert.equal(got.text(), "01234");
  assert.equal(causeOf(got.error, StreamTimeoutError)?.timeout, "idle");
  assert.equal(clock.pending, 0);
});

Deno.test("callWithTimeouts(): a downstream abort reaches the attempt with its own reason; timers are cleared", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const downstream = new AbortController();
  const p = callWithTimeouts(
    up.call,
    request({ ext: { signal: downstream.signal } }),
    { deadlineMs: 10_000 },
    { clock },
  );
  const reason = new StreamResetError(CANCEL, "client reset");
  downstream.abort(reason);
  assert.equal(up.seen[0]!.ext.signal!.reason, reason);
  up.respond({ status: 200, headers: {}, body: null });
  await p;
  assert.equal(clock.pending, 0);
});

Deno.test("callWithTimeouts(): a body that ends in time clears every timer", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const p = callWithTimeouts(up.call, request(), {
    deadlineMs: 1000,
    responseMs: 500,
    idleMs: 100,
  }, { clock });
  const upBody = new PushBody();
  up.respond({ status: 200, headers: {}, body: upBody });
  const got = collect((await p).body!);
  upBody.push("x");
  upBody.end({ "grpc-status": "0" });
  assert.ok(got.ended);
  assert.deepEqual(got.trailers, { "grpc-status": "0" });
  assert.equal(clock.pending, 0);
});

Deno.test("callWithTimeouts() without timeouts calls through with the request itself", async () => {
  const clock = new ManualClock();
  const up = upstream();
  const req = request();
  const p = callWithTimeouts(up.call, req, {}, { clock });
  assert.equal(up.seen[0], req);
  up.respond({ status: 204, headers: {}, body: null });
  assert.equal((await p).status, 204);
});

Deno.test("SharedTimers fires in deadline order on one real timer, and lets go of it when none is live", async () => {
  const timers = new SharedTimers();
  const fired: string[] = [];
  const a = timers.setTimeout(() => fired.push("a"), 30);
  timers.setTimeout(() => fired.push("b"), 10);
  const c = timers.setTimeout(() => fired.push("c"), 20);
  timers.clearTimeout(c);
  timers.setTimeout(() => {
    fired.push("d");
    // Timers set and cleared from a callback.
    timers.setTimeout(() => fired.push("e"), 5);
    timers.clearTimeout(a);
  }, 15);
  assert.equal(timers.pending, 3);
  await new Promise((r) => setTimeout(r, 60));
  assert.deepEqual(fired, ["b", "d", "e"]);
  assert.equal(timers.pending, 0);
  // All canceled: no real timer is left behind (the sanitizer would see it).
  const x = timers.setTimeout(() => fired.push("x"), 10_000);
  const y = timers.setTimeout(() => fired.push("y"), 20_000);
  timers.clearTimeout(y);
  timers.clearTimeout(x);
  timers.clearTimeout(x);
  assert.equal(timers.pending, 0);
});

Deno.test("SharedTimers keeps its heap small when timers are canceled long before they are due", () => {
  const timers = new SharedTimers();
  const keep = timers.setTimeout(() => {}, 10_000);
  for (let i = 0; i < 10_000; i++) {
    timers.clearTimeout(timers.setTimeout(() => {}, 10_000 + i));
  }
  assert.equal(timers.pending, 1);
  timers.clearTimeout(keep);
});
