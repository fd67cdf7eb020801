import assert from "node:assert/strict";
import { ManualClock } from "../../balance/_test_util.ts";
import {
  EndpointIoError,
  FailFastError,
  LoadShedError,
  StreamResetError,
  StreamTimeoutError,
} from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { bytesBody, trailersBody } from "../message.ts";
import type { HttpRetry } from "../route/model.ts";
import {
  collect,
  concat,
  flush,
  PushBody,
  request,
  response,
} from "./_test_util.ts";
import { TpsBudget } from "./budget.ts";
import {
  newHttpRetry,
  type RetryMetrics,
  type RetryPolicy,
  retryPolicyOf,
} from "./retry.ts";

type Answer =
  | number
  | Error
  | ((
    req: HttpRequest,
    body: Promise<string>,
  ) => Promise<HttpResponse> | HttpResponse);

/** An inner service answering attempt n with `answers[n]` (then the last). */
function scripted(...answers: Answer[]) {
  const attempts: {
    req: HttpRequest;
    body: Promise<string>;
  }[] = [];
  const call = (req: HttpRequest): Promise<HttpResponse> => {
    const a = answers[Math.min(attempts.length, answers.length - 1)]!;
    const body = req.body === null
      ? Promise.resolve("")
      : new Promise<string>((resolve) => {
        const chunks: Uint8Array[] = [];
        req.body!.start({
          data: (c) => chunks.push(c),
          end: () => resolve(new TextDecoder().decode(concat(chunks))),
          error: (e) => resolve(`error: ${e.message}`),
        });
      });
    attempts.push({ req, body });
    if (typeof a === "number") return Promise.resolve(response(a));
    if (a instanceof Error) return Promise.reject(a);
    return Promise.resolve(a(req, body));
  };
  return { call, attempts };
}

function counting() {
  const counts = {
    retry: 0,
    success: 0,
    limitExceeded: 0,
    overflow: 0,
    errors: [] as string[],
  };
  const metrics: RetryMetrics = {
    retry: () => counts.retry++,
    success: () => counts.success++,
    limitExceeded: () => counts.limitExceeded++,
    overflow: () => counts.overflow++,
    error: (l) => counts.errors.push(l),
  };
  return { counts, metrics };
}

const HTTP_5XX: HttpRetry = {
  maxRetries: 2,
  maxRequestBytes: 64 * 1024,
  statusRanges: [{ start: 500, end: 599 }],
};

function policy(over: Partial<HttpRetry> = {}): RetryPolicy {
  return retryPolicyOf({ ...HTTP_5XX, ...over });
}

Deno.test("newHttpRetry() retries a 503 GET and counts the retry and its success", async () => {
  const inner = scripted(503, 200);
  const { counts, metrics } = counting();
  const svc = newHttpRetry(inner.call, policy(), { metrics });
  const rsp = await svc(request(), undefined);
  assert.equal(rsp.status, 200);
  assert.equal(inner.attempts.length, 2);
  assert.deepEqual(
    { retry: counts.retry, success: counts.success },
    { retry: 1, success: 1 },
  );
});

Deno.test("newHttpRetry(): statuses outside the ranges are answered at once", async () => {
  const inner = scripted(404, 200);
  const svc = newHttpRetry(inner.call, policy(), {});
  assert.equal((await svc(request(), undefined)).status, 404);
  assert.equal(inner.attempts.length, 1);
});

Deno.test("newHttpRetry(): a POST is not retried on a status unless the route opts in", async () => {
  let inner = scripted(503, 200);
  let svc = newHttpRetry(inner.call, policy(), {});
  assert.equal((await svc(request({ method: "POST" }), undefined)).status, 503);
  assert.equal(inner.attempts.length, 1);

  inner = scripted(503, 200);
  svc = newHttpRetry(inner.call, policy({ nonIdempotent: true }), {});
  assert.equal((await svc(request({ method: "POST" }), undefined)).status, 200);
  assert.equal(inner.attempts.length, 2);

  for (const method of ["PUT", "DELETE", "HEAD", "OPTIONS"]) {
    inner = scripted(503, 200);
    svc = newHttpRetry(inner.call, policy(), {});
    assert.equal((await svc(request({ method }), undefined)).status, 200);
  }
});

Deno.test("newHttpRetry(): a request that reached no endpoint is retried whatever its method", async () => {
  const connectErr = new EndpointIoError("10.0.0.1:80", {
    cause: new Error("ECONNREFUSED"),
  });
  for (
    const err of [
      new StreamResetError(7),
      new FailFastError("web.test:80", 3000),
      connectErr,
    ]
  ) {
    const inner = scripted(err, 200);
    const { counts, metrics } = counting();
    const svc = newHttpRetry(inner.call, policy(), {
      metrics,
      isUnsent: (e) => e === connectErr,
    });
    const rsp = await svc(request({ method: "POST" }), undefined);
    assert.equal(rsp.status, 200, err.message);
    assert.equal(counts.success, 1);
  }
});

Deno.test("newHttpRetry(): a reset or a lost connection before the response is retried for GET, not for POST", async () => {
  for (
    const err of [
      new StreamResetError(8),
      new StreamResetError(2),
      new EndpointIoError("10.0.0.1:80", { cause: new Error("ECONNRESET") }),
    ]
  ) {
    let inner = scripted(err, 200);
    const { counts, metrics } = counting();
    let svc = newHttpRetry(inner.call, policy(), { metrics });
    assert.equal((await svc(request(), undefined)).status, 200);
    inner = scripted(err, 200);
    svc = newHttpRetry(inner.call, policy(), { metrics });
    await assert.rejects(svc(request({ method: "POST" }), undefined), err);
    assert.equal(inner.attempts.length, 1);
    if (err instanceof StreamResetError) {
      assert.deepEqual(counts.errors, [
        err.code === 8 ? "CANCEL" : "RESET",
        err.code === 8 ? "CANCEL" : "RESET",
      ]);
    }
  }
  // ENHANCE_YOUR_CALM and load shedding are not retried.
  for (const err of [new StreamResetError(11), new LoadShedError()]) {
    const inner = scripted(err, 200);
    const svc = newHttpRetry(inner.call, policy(), {});
    await assert.rejects(svc(request(), undefined), err);
    assert.equal(inner.attempts.length, 1);
  }
});

Deno.test("newHttpRetry(): after the last retry the last answer goes back, counted as limit exceeded", async () => {
  const inner = scripted(503, 502, 500, 200);
  const { counts, metrics } = counting();
  const svc = newHttpRetry(inner.call, policy({ maxRetries: 2 }), { metrics });
  assert.equal((await svc(request(), undefined)).status, 500);
  assert.equal(inner.attempts.length, 3);
  assert.deepEqual(
    [counts.retry, counts.success, counts.limitExceeded],
    [2, 0, 1],
  );
});

Deno.test("newHttpRetry(): a spent budget stops retries (overflow); only answers that need no retry deposit", async () => {
  const budget = new TpsBudget(
    { ratio: 0.2, minPerSecond: 1, ttlMs: 1000 },
    () => 0,
  );
  let status = 503;
  const inner = scripted(() => response(status));
  const { counts, metrics } = counting();
  const svc = newHttpRetry(inner.call, policy({ maxRetries: 5 }), {
    metrics,
    budget,
  });
  // The reserve (1/s × 1 s) pays one retry; failures never deposit
  // (linkerd `out/http/retry.rs`: only a non-retryable answer deposits).
  const statuses = [];
  for (let i = 0; i < 5; i++) {
    statuses.push((await svc(request(), undefined)).status);
  }
  assert.deepEqual(statuses, [503, 503, 503, 503, 503]);
  assert.equal(counts.retry, 1, "1 from the reserve");
  assert.equal(counts.overflow, 5);
  assert.equal(inner.attempts.length, 6);
  // 5 successes deposit 1 each: one more retry (withdrawal 5).
  status = 200;
  for (let i = 0; i < 5; i++) await svc(request(), undefined);
  status = 503;
  await svc(request(), undefined);
  await svc(request(), undefined);
  assert.equal(counts.retry, 2, "1 more from 5 deposits");
  assert.equal(counts.overflow, 7);
});

Deno.test("newHttpRetry(): the body is replayed byte for byte; a body over maxRequestBytes is not retried", async () => {
  const ten = new Uint8Array(10 * 1024).map((_, i) => i % 251);
  let inner = scripted(503, 200);
  let svc = newHttpRetry(inner.call, policy(), {});
  const rsp = await svc(request({ method: "PUT", body: bytesBody(ten) }), {});
  assert.equal(rsp.status, 200);
  const bodies = await Promise.all(inner.attempts.map((a) => a.body));
  assert.equal(bodies.length, 2);
  assert.equal(bodies[0], bodies[1]);
  assert.equal(bodies[1]!.length, ten.length);
  assert.equal(inner.attempts[1]!.req.body!.length, ten.length);

  // The backend reads the whole body, then fails.
  const big = new Uint8Array(100 * 1024);
  inner = scripted(async (_req, body) => {
    await body;
    return response(503);
  }, 200);
  svc = newHttpRetry(inner.call, policy(), {});
  const src = new PushBody();
  const p = svc(request({ method: "PUT", body: src }), {});
  await flush();
  src.push(big);
  src.end();
  assert.equal((await p).status, 503);
  assert.equal(inner.attempts.length, 1);
  assert.equal((await inner.attempts[0]!.body).length, big.length);
});

Deno.test("newHttpRetry(): a 1 MiB body announced by its length is sent once, unbuffered", async () => {
  const mib = new Uint8Array(1 << 20);
  const inner = scripted(503, 200);
  const svc = newHttpRetry(inner.call, policy({ nonIdempotent: true }), {});
  const rsp = await svc(request({ method: "POST", body: bytesBody(mib) }), {});
  assert.equal(rsp.status, 503);
  assert.equal(inner.attempts.length, 1);
  assert.equal(inner.attempts[0]!.req.body!.length, 1 << 20);
});

Deno.test("newHttpRetry(): each attempt starts from the original headers", async () => {
  const seen: string[] = [];
  const inner = scripted((req) => {
    seen.push(String(req.headers["x-added"] ?? "-"));
    req.headers["x-added"] = "filter";
    return response(seen.length === 1 ? 503 : 200);
  });
  const svc = newHttpRetry(inner.call, policy(), {});
  await svc(request({ headers: { "x-a": "1" } }), undefined);
  assert.deepEqual(seen, ["-", "-"]);
});

Deno.test("newHttpRetry(): the per-try timeout retries elsewhere, and the last attempt waits without it", async () => {
  const clock = new ManualClock();
  const signals: AbortSignal[] = [];
  let answerLast: ((r: HttpResponse) => void) | undefined;
  const inner = scripted((req) => {
    signals.push(req.ext.signal!);
    return new Promise<HttpResponse>((resolve) => answerLast = resolve);
  });
  const { counts, metrics } = counting();
  const svc = newHttpRetry(
    inner.call,
    policy({ maxRetries: 2, timeoutMs: 100 }),
    {
      clock,
      metrics,
    },
  );
  const p = svc(request(), undefined);
  await flush();
  clock.advance(100);
  await flush();
  assert.equal(signals.length, 2);
  assert.ok(signals[0]!.aborted);
  clock.advance(100);
  await flush();
  assert.equal(signals.length, 3, "third and last attempt");
  clock.advance(10_000); // no per-try timeout on the last attempt
  await flush();
  assert.equal(signals[2]?.aborted ?? false, false);
  answerLast!(response(200));
  assert.equal((await p).status, 200);
  assert.deepEqual(counts.errors, [
    "RESPONSE_HEADERS_TIMEOUT",
    "RESPONSE_HEADERS_TIMEOUT",
  ]);
  assert.equal(counts.success, 1);
  assert.equal(clock.pending, 0);
});

Deno.test("newHttpRetry(): backoff 25 ms → 250 ms with jitter before each retry", async () => {
  const clock = new ManualClock();
  const inner = scripted(503, 503, 503, 200);
  const svc = newHttpRetry(
    inner.call,
    policy({ maxRetries: 3, backoff: { minMs: 25, maxMs: 250, jitter: 1 } }),
    { clock, random: () => 0.5 },
  );
  const p = svc(request(), undefined);
  const at: number[] = [];
  for (let i = 0; i < 400 && at.length < 4; i++) {
    await flush();
    while (at.length < inner.attempts.length) at.push(clock.now());
    clock.advance(1);
  }
  assert.equal((await p).status, 200);
  // 25·1.5, 50·1.5, 100·1.5 ms apart.
  assert.deepEqual(at.map((t, i) => i === 0 ? 0 : t - at[i - 1]!), [
    0,
    38,
    75,
    150,
  ]);
});

Deno.test("newHttpRetry(): the request deadline spans the attempts; a backoff past it returns the last answer", async () => {
  const clock = new ManualClock();
  const inner = scripted(503);
  const svc = newHttpRetry(
    inner.call,
    policy({ maxRetries: 5, backoff: { minMs: 40, maxMs: 40, jitter: 0 } }),
    { clock, timeouts: { requestMs: 100 } },
  );
  const p = svc(request(), undefined);
  for (let i = 0; i < 10; i++) {
    await flush();
    clock.advance(40);
  }
  assert.equal((await p).status, 503);
  assert.equal(inner.attempts.length, 3, "at 0, 40 and 80 ms; 120 > 100");
  assert.equal(clock.pending, 0);
});

Deno.test("newHttpRetry(): a downstream cancel during the backoff stops the retries", async () => {
  const clock = new ManualClock();
  const inner = scripted(503, 200);
  const ctl = new AbortController();
  const svc = newHttpRetry(
    inner.call,
    policy({ backoff: { minMs: 25, maxMs: 250, jitter: 0 } }),
    { clock },
  );
  const p = svc(request({ ext: { signal: ctl.signal } }), undefined);
  await flush();
  ctl.abort(new StreamResetError(8));
  await assert.rejects(p, StreamResetError);
  assert.equal(inner.attempts.length, 1);
  assert.equal(clock.pending, 0);
});

Deno.test("newHttpRetry(): a replaced response's short body is drained, a long one canceled", async () => {
  const short = new PushBody(5);
  const long = new PushBody();
  const inner = scripted(
    () => ({ status: 503, headers: {}, body: short }),
    () => ({ status: 503, headers: {}, body: long }),
    200,
  );
  const svc = newHttpRetry(inner.call, policy(), {});
  assert.equal((await svc(request(), undefined)).status, 200);
  assert.equal(short.starts, 1);
  assert.equal(short.canceled, undefined);
  assert.ok(long.canceled instanceof StreamResetError);
});

const GRPC = {
  version: "HTTP/2" as const,
  method: "POST",
  path: "/pkg.Echo/Unary",
  headers: { "content-type": "application/grpc" },
};

function grpcPolicy(codes: number[]): RetryPolicy {
  return retryPolicyOf({
    maxRetries: 2,
    maxRequestBytes: 64 * 1024,
    codes,
  });
}

Deno.test("newHttpRetry(): gRPC codes in headers or in trailers sent at once are retried", async () => {
  const inner = scripted(
    () => ({
      status: 200,
      headers: { "content-type": "application/grpc", "grpc-status": "14" },
      body: null,
    }),
    () => ({
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: bytesBody(new Uint8Array(5), { "grpc-status": "14" }),
    }),
    () => ({
      status: 200,
      headers: { "content-type": "application/grpc" },
      body: bytesBody("hello", { "grpc-status": "0" }),
    }),
  );
  const { counts, metrics } = counting();
  const svc = newHttpRetry(inner.call, grpcPolicy([14]), { metrics });
  const rsp = await svc(request({ ...GRPC, body: bytesBody("req") }), {});
  assert.equal(inner.attempts.length, 3);
  const got = collect(rsp.body!);
  await flush();
  assert.equal(got.text(), "hello");
  assert.deepEqual(got.trailers, { "grpc-status": "0" });
  assert.equal(counts.success, 1);
  for (const a of inner.attempts) assert.equal(await a.body, "req");
});

Deno.test("newHttpRetry(): other gRPC codes, and a streaming answer, go back as they are", async () => {
  let inner = scripted(() => ({
    status: 200,
    headers: { "content-type": "application/grpc" },
    body: trailersBody({ "grpc-status": "5" }),
  }), 200);
  let svc = newHttpRetry(inner.call, grpcPolicy([14]), {});
  await svc(request(GRPC), {});
  assert.equal(inner.attempts.length, 1);

  const stream = new PushBody();
  inner = scripted(() => ({
    status: 200,
    headers: { "content-type": "application/grpc" },
    body: stream,
  }), 200);
  svc = newHttpRetry(inner.call, grpcPolicy([14]), {});
  const p = svc(request(GRPC), {});
  await flush();
  stream.push("m1");
  const rsp = await p; // the next frame did not follow at once: streaming
  assert.equal(inner.attempts.length, 1);
  const got = collect(rsp.body!);
  stream.push("m2");
  stream.end({ "grpc-status": "14" });
  assert.equal(got.text(), "m1m2");
  assert.deepEqual(got.trailers, { "grpc-status": "14" });
});

Deno.test("newHttpRetry() with maxRetries 0 only applies the timeouts", async () => {
  const clock = new ManualClock();
  const inner = scripted(() => new Promise<HttpResponse>(() => {}));
  const svc = newHttpRetry(inner.call, policy({ maxRetries: 0 }), {
    clock,
    timeouts: { requestMs: 50 },
  });
  const p = svc(request(), undefined);
  clock.advance(50);
  const err = await p.catch((e) => e);
  assert.ok(err instanceof StreamTimeoutError);
  assert.equal(inner.attempts.length, 1);
});

Deno.test("newHttpRetry(): an early 503 while the body still streams is retried with the whole body", async () => {
  const src = new PushBody();
  const inner = scripted(503, async (_req, body) => {
    await body;
    return response(200);
  });
  const svc = newHttpRetry(inner.call, policy(), {});
  const p = svc(request({ method: "PUT", body: src }), undefined);
  await flush();
  src.push("part1-");
  await flush();
  src.push("part2");
  src.end();
  assert.equal((await p).status, 200);
  assert.equal(await inner.attempts[1]!.body, "part1-part2");
  assert.match(await inner.attempts[0]!.body, /error: request body taken over/);
});
