/**
 * Route stream timeouts, enforced per attempt (linkerd
 * `linkerd/http/stream-timeouts` `EnforceTimeouts`, with the
 * `StreamTimeouts` that `route/extensions.rs` sets per request):
 *
 * - `deadlineMs` (the route's `request` timeout, linkerd `limit`): an
 *   absolute deadline set when the request enters the route, so it spans
 *   every attempt and bounds the request body, the response headers and
 *   the response body;
 * - `responseMs` (`response`, linkerd `response_end`): from the end of the
 *   request body to the end of the response;
 * - `responseHeadersMs` (the retry `timeout`, linkerd `response_headers`):
 *   from the end of the request body to the response headers;
 * - `idleMs` (`idle`): no frame either way for that long, checked while the
 *   request body streams and on the response body;
 * - `headersDeadlineMs` (a ServiceProfile route's `timeout`, linkerd
 *   `http::ResponseTimeout` in `proxy/http/src/timeout.rs`): an absolute
 *   deadline on the response headers only, set when the request enters the
 *   route, so it spans every attempt; a response whose headers arrived in
 *   time streams its body for as long as it takes. It fails with a plain
 *   {@linkcode ResponseTimeoutError} ("HTTP response timeout after …").
 *
 * Before the response headers a timeout fails the call with
 * {@linkcode StreamTimeoutError} (504, gRPC DEADLINE_EXCEEDED, the client
 * connection kept) and cancels the upstream attempt through its own
 * `AbortSignal` (an HTTP/2 upstream stream is reset with CANCEL, an HTTP/1
 * exchange is dropped; a request still queued in the balancer leaves the
 * queue). Only that stream is touched: its siblings on the same connections
 * carry on. After the headers it fails the response body with the same
 * error and cancels the upstream body.
 *
 * The attempt's signal follows the downstream's (`req.ext.signal`): a
 * client that goes away still cancels the upstream, with its own reason.
 *
 * @module
 */
import type { Clock, TimerId } from "../balance/clock.ts";
import {
  ResponseTimeoutError,
  StreamResetError,
  StreamTimeoutError,
  type StreamTimeoutKind,
} from "../errors.ts";
import type { Body, BodySink, HttpRequest, HttpResponse } from "./message.ts";

/** The timeouts of one attempt (linkerd `StreamTimeouts`); absent = none. */
export interface StreamTimeouts {
  /** Absolute deadline on the clock, for the whole request (linkerd `limit`). */
  readonly deadlineMs?: number;
  /** The request timeout the deadline came from, for the error message. */
  readonly requestMs?: number;
  /** Request body end → response end (linkerd `response_end`). */
  readonly responseMs?: number;
  /** Request body end → response headers, per try (linkerd `response_headers`). */
  readonly responseHeadersMs?: number;
  /** Longest time without a frame either way (linkerd `idle`). */
  readonly idleMs?: number;
  /**
   * Absolute deadline on the clock for the response headers only, across
   * attempts (a profile route's `timeout`, linkerd `ResponseTimeout`).
   */
  readonly headersDeadlineMs?: number;
  /** The profile timeout the headers deadline came from, for the error message. */
  readonly headersMs?: number;
}

/** Which timeout fired: a stream timeout, or the profile headers deadline. */
type Expiry = StreamTimeoutKind | "headers-deadline";

/** A timer of {@linkcode SharedTimers}. */
interface Entry {
  readonly at: number;
  readonly seq: number;
  fn: (() => void) | undefined;
}

/**
 * Many timers on one real timer (undici's coarse `util/timers.js`, tokio's
 * timer wheel in spirit): a min-heap of deadlines, canceled entries dropped
 * lazily, and a single `setTimeout` for the earliest. A route timeout costs
 * a heap insert instead of a `setTimeout`/`clearTimeout` pair (about 1.6 µs
 * under Deno 2.9.6). The real timer is cleared as soon as no timer is live,
 * so nothing outlives the requests that set them.
 */
export class SharedTimers implements Clock {
  #heap: Entry[] = [];
  #live = 0;
  #seq = 0;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #timerAt = Infinity;

  now(): number {
    return performance.now();
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const e: Entry = { at: this.now() + Math.max(0, ms), seq: this.#seq++, fn };
    this.#push(e);
    this.#live++;
    if (e.at < this.#timerAt) this.#arm(e.at);
    return e;
  }

  clearTimeout(id: TimerId): void {
    const e = id as Entry | undefined;
    if (e?.fn === undefined) return;
    e.fn = undefined;
    if (--this.#live === 0) {
      this.#heap = [];
      clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = Infinity;
    } else if (this.#heap.length > 2 * this.#live + 64) {
      this.#heap = this.#heap.filter((x) => x.fn !== undefined);
      this.#heap.sort(before);
    }
  }

  /** Timers not yet fired nor canceled. */
  get pending(): number {
    return this.#live;
  }

  #arm(at: number): void {
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(this.#fire, Math.max(0, at - this.now()));
  }

  #fire = (): void => {
    this.#timer = undefined;
    this.#timerAt = Infinity;
    const now = this.now();
    // Callbacks may set and clear timers (which may replace the heap).
    for (let e = this.#heap[0]; e !== undefined && e.at <= now + 1;) {
      this.#pop();
      const fn = e.fn;
      if (fn !== undefined) {
        e.fn = undefined;
        this.#live--;
        fn();
      }
      e = this.#heap[0];
    }
    while (this.#heap.length > 0 && this.#heap[0]!.fn === undefined) {
      this.#pop();
    }
    const next = this.#heap[0];
    if (next !== undefined && next.at < this.#timerAt) this.#arm(next.at);
  };

  #push(e: Entry): void {
    const h = this.#heap;
    h.push(e);
    let i = h.length - 1;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (before(h[p]!, e) <= 0) break;
      h[i] = h[p]!;
      i = p;
    }
    h[i] = e;
  }

  #pop(): Entry | undefined {
    const h = this.#heap;
    const top = h[0];
    const last = h.pop();
    if (h.length === 0 || last === undefined) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && before(h[r]!, h[l]!) < 0 ? r : l;
      if (before(last, h[c]!) <= 0) break;
      h[i] = h[c]!;
      i = c;
    }
    h[i] = last;
    return top;
  }
}

function before(a: Entry, b: Entry): number {
  return a.at - b.at || a.seq - b.seq;
}

/** The timers route timeouts use by default. */
export const SHARED_TIMERS: SharedTimers = new SharedTimers();

/** HTTP/2 CANCEL, the code an abandoned upstream stream is reset with. */
const CANCEL = 8;

/** True when `t` sets any timeout. */
export function hasTimeouts(t: StreamTimeouts): boolean {
  return t.deadlineMs !== undefined || t.responseMs !== undefined ||
    t.responseHeadersMs !== undefined || t.idleMs !== undefined ||
    t.headersDeadlineMs !== undefined;
}

/** Options of {@linkcode callWithTimeouts}. */
export interface TimeoutOptions {
  readonly clock: Clock;
  /** Called when a timeout fires (before or after the response headers), for metrics. */
  readonly onTimeout?: (err: ResponseTimeoutError) => void;
}

/**
 * Calls `call` with a copy of `req` whose `ext.signal` is the attempt's own
 * (following the downstream's) and whose body is watched, and enforces `t`
 * on the exchange (linkerd `EnforceTimeouts`). Without any timeout in `t`,
 * just `call(req)`.
 */
export function callWithTimeouts(
  call: (req: HttpRequest) => Promise<HttpResponse>,
  req: HttpRequest,
  t: StreamTimeouts,
  opts: TimeoutOptions,
): Promise<HttpResponse> {
  if (!hasTimeouts(t)) return call(req);
  const downstream = req.ext.signal;
  if (downstream?.aborted) return Promise.reject(downstream.reason);
  return new TimedExchange(req, t, opts).run(call);
}

type Phase = "headers" | "body" | "done";

/** One attempt under timeouts. */
class TimedExchange {
  readonly #req: HttpRequest;
  readonly #t: StreamTimeouts;
  readonly #clock: Clock;
  readonly #onTimeout: ((err: ResponseTimeoutError) => void) | undefined;
  readonly #abort = new AbortController();
  #phase: Phase = "headers";
  /** When the request body ended (clock ms), if it did. */
  #requestEndAt: number | undefined;
  #lastActivity: number;
  #timer: TimerId | undefined;
  #timerAt = Infinity;
  #idleTimer: TimerId | undefined;
  #reject: ((err: unknown) => void) | undefined;
  #resolve: ((rsp: HttpResponse) => void) | undefined;
  /** After the headers: the upstream body and the downstream's sink. */
  #upstreamBody: Body | undefined;
  #sink: BodySink | undefined;
  #bodyError: Error | undefined;

  constructor(req: HttpRequest, t: StreamTimeouts, opts: TimeoutOptions) {
    this.#req = req;
    this.#t = t;
    this.#clock = opts.clock;
    this.#onTimeout = opts.onTimeout;
    this.#lastActivity = opts.clock.now();
  }

  run(
    call: (req: HttpRequest) => Promise<HttpResponse>,
  ): Promise<HttpResponse> {
    const req = this.#req;
    const attempt: HttpRequest = {
      ...req,
      body: req.body === null ? null : this.#watchRequestBody(req.body),
      ext: { ...req.ext, signal: this.#abort.signal },
    };
    if (req.body === null) this.#requestEndAt = this.#lastActivity;
    req.ext.signal?.addEventListener("abort", this.#onDownstreamAbort, {
      once: true,
    });
    const p = new Promise<HttpResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    this.#arm();
    let inner: Promise<HttpResponse>;
    try {
      inner = call(attempt);
    } catch (err) {
      inner = Promise.reject(err);
    }
    inner.then(this.#onHeaders, this.#onError);
    return p;
  }

  #onDownstreamAbort = (): void => {
    this.#abort.abort(this.#req.ext.signal!.reason);
  };

  #unlink(): void {
    this.#req.ext.signal?.removeEventListener("abort", this.#onDownstreamAbort);
  }

  #onHeaders = (rsp: HttpResponse): void => {
    if (this.#phase !== "headers") {
      // Timed out meanwhile: nobody will read this response.
      rsp.body?.cancel(new StreamResetError(CANCEL));
      return;
    }
    this.#unlink();
    const t = this.#t;
    if (
      rsp.body === null ||
      (t.deadlineMs === undefined && t.responseMs === undefined &&
        t.idleMs === undefined)
    ) {
      this.#finish();
      this.#resolve!(rsp);
      return;
    }
    this.#phase = "body";
    this.#touch();
    rsp.body = this.#watchResponseBody(rsp.body);
    this.#arm();
    this.#resolve!(rsp);
  };

  #onError = (err: unknown): void => {
    if (this.#phase !== "headers") return;
    this.#finish();
    this.#reject!(err);
  };

  #finish(): void {
    this.#phase = "done";
    this.#unlink();
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    if (this.#idleTimer !== undefined) {
      this.#clock.clearTimeout(this.#idleTimer);
    }
    this.#timer = this.#idleTimer = undefined;
  }

  /** A timeout fired: fail this attempt and cancel its upstream. */
  #expire(kind: Expiry, ms: number): void {
    const err = kind === "headers-deadline"
      ? new ResponseTimeoutError(ms, `HTTP response timeout after ${ms}ms`)
      : new StreamTimeoutError(kind, ms);
    const phase = this.#phase;
    this.#finish();
    this.#onTimeout?.(err);
    if (phase === "headers") {
      this.#abort.abort(new StreamResetError(CANCEL));
      this.#reject!(err);
      return;
    }
    if (phase === "body") {
      this.#upstreamBody?.cancel(new StreamResetError(CANCEL));
      const sink = this.#sink;
      if (sink !== undefined) sink.error(err);
      else this.#bodyError = err;
    }
  }

  #touch(): void {
    this.#lastActivity = this.#clock.now();
  }

  /** Sets the timer for the earliest hard deadline, and the idle timer. */
  #arm(): void {
    if (this.#phase === "done") return;
    const t = this.#t;
    let at = Infinity;
    let kind: Expiry = "request";
    let ms = 0;
    if (t.deadlineMs !== undefined) {
      at = t.deadlineMs;
      ms = t.requestMs ?? 0;
    }
    if (
      this.#phase === "headers" && t.headersDeadlineMs !== undefined &&
      t.headersDeadlineMs < at
    ) {
      at = t.headersDeadlineMs;
      kind = "headers-deadline";
      ms = t.headersMs ?? 0;
    }
    const end = this.#requestEndAt;
    if (end !== undefined) {
      if (
        this.#phase === "headers" && t.responseHeadersMs !== undefined &&
        end + t.responseHeadersMs < at
      ) {
        at = end + t.responseHeadersMs;
        kind = "response-headers";
        ms = t.responseHeadersMs;
      }
      if (t.responseMs !== undefined && end + t.responseMs < at) {
        at = end + t.responseMs;
        kind = "response";
        ms = t.responseMs;
      }
    }
    if (at !== this.#timerAt) {
      if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
      this.#timerAt = at;
      if (at !== Infinity) {
        this.#timer = this.#clock.setTimeout(
          () => {
            this.#timer = undefined;
            this.#expire(kind, ms);
          },
          Math.max(0, at - this.#clock.now()),
        );
      }
    }
    // Idle: while the request body streams, and on the response body.
    const idle = t.idleMs !== undefined &&
      (this.#phase === "body" || end === undefined);
    if (idle && this.#idleTimer === undefined) this.#armIdle(t.idleMs!);
    else if (!idle && this.#idleTimer !== undefined) {
      this.#clock.clearTimeout(this.#idleTimer);
      this.#idleTimer = undefined;
    }
  }

  #armIdle(idleMs: number): void {
    const wait = this.#lastActivity + idleMs - this.#clock.now();
    this.#idleTimer = this.#clock.setTimeout(() => {
      this.#idleTimer = undefined;
      if (this.#phase === "done") return;
      if (this.#clock.now() - this.#lastActivity >= idleMs) {
        this.#expire("idle", idleMs);
      } else if (this.#phase === "body" || this.#requestEndAt === undefined) {
        this.#armIdle(idleMs);
      }
    }, Math.max(0, wait));
  }

  #watchRequestBody(body: Body): Body {
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      length: body.length,
      start(sink) {
        body.start({
          data(chunk) {
            self.#touch();
            sink.data(chunk);
          },
          end(trailers) {
            self.#touch();
            if (self.#requestEndAt === undefined) {
              self.#requestEndAt = self.#lastActivity;
              self.#arm();
            }
            sink.end(trailers);
          },
          error: (err) => sink.error(err),
        });
      },
      pause: () => body.pause(),
      resume: () => body.resume(),
      cancel: (err) => body.cancel(err),
    };
  }

  #watchResponseBody(body: Body): Body {
    this.#upstreamBody = body;
    // deno-lint-ignore no-this-alias
    const self = this;
    return {
      length: body.length,
      start(sink) {
        const pending = self.#bodyError;
        if (pending !== undefined) {
          self.#bodyError = undefined;
          queueMicrotask(() => sink.error(pending));
          return;
        }
        if (self.#phase === "done") return; // canceled before it started
        self.#sink = sink;
        body.start({
          data(chunk) {
            if (self.#phase !== "body") return;
            self.#touch();
            sink.data(chunk);
          },
          end(trailers) {
            if (self.#phase !== "body") return;
            self.#finish();
            sink.end(trailers);
          },
          error(err) {
            if (self.#phase !== "body") return;
            self.#finish();
            sink.error(err);
          },
        });
      },
      pause: () => body.pause(),
      resume: () => body.resume(),
      cancel(err) {
        if (self.#phase === "body") self.#finish();
        body.cancel(err);
      },
    };
  }
}
