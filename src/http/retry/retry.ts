/**
 * Route retries (linkerd `linkerd/http/retry` `NewHttpRetry`,
 * `send_req_with_retries`, with the policy of
 * `out/http/logical/policy/route/retry.rs`), together with the route's
 * stream timeouts, which the retry loop hands to every attempt.
 *
 * Per request on a route with a retry policy:
 * 1. the body is wrapped in a {@linkcode ReplayBody} (kept up to
 *    `maxRequestBytes`, default 64 KiB; a longer body streams once and the
 *    request is then not retried);
 * 2. each attempt gets its own copy of the original headers (route filters
 *    run again per attempt), a replay of the body, its own `AbortSignal`
 *    (following the downstream's) and the timeouts: the request deadline is
 *    absolute, so it spans all attempts; the per-try `timeout` is dropped on
 *    the last attempt;
 * 3. after each attempt: is it retryable? Errors proving that nothing reached
 *    an endpoint (REFUSED_STREAM, failfast, a failed connect) always are.
 *    A response status in the policy's ranges (gRPC routes: a `grpc-status`
 *    in the policy's codes, read from the headers or from trailers peeked at
 *    once), a reset or connection loss before any response, and the per-try
 *    timeout are, for idempotent methods (GET, HEAD, OPTIONS, PUT, DELETE)
 *    and gRPC calls, or for every method when the route opts in;
 * 4. a retry needs a replayable body and, when the service has a retry
 *    budget, a withdrawal from it (else `overflow`), waits for the backoff
 *    (25 ms → 250 ms, jitter 1 by default), and goes back through the
 *    distribution and the balancer, so it usually lands on another
 *    endpoint.
 *
 * The budget is the ServiceProfile's (linkerd `out/http/retry.rs`: every
 * answer that needs no retry deposits, every retry withdraws) or a YAML
 * service's `retryBudget`. Policy routes (HTTPRoute/GRPCRoute) have none,
 * as in linkerd (`policy/route/retry.rs`, `linkerd/http/retry`): their
 * retries are bounded by the rule's limit only.
 *
 * Requests on routes without a retry policy never reach this module (the
 * route stack is built without it: no body buffering, no closures).
 *
 * @module
 */
import type { Clock } from "../../balance/clock.ts";
import {
  causeOf,
  ConnectTimeoutError,
  EndpointIoError,
  FailFastError,
  type ResponseTimeoutError,
  StreamResetError,
  StreamTimeoutError,
} from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { headerValue } from "../message.ts";
import { isGrpc } from "../respond.ts";
import type { GrpcRetry, HttpRetry, RouteTimeouts } from "../route/model.ts";
import {
  callWithTimeouts,
  SHARED_TIMERS,
  type StreamTimeouts,
  type TimeoutOptions,
} from "../timeouts.ts";
import { backoffDelayMs, type BackoffSpec, delay } from "./backoff.ts";
import type { TpsBudget } from "./budget.ts";
import { peekTrailers } from "./peek_trailers.ts";
import { ReplayBody } from "./replay_body.ts";

/** What the retry loop needs to know about a route's retries (linkerd `RetryPolicy`). */
export interface RetryPolicy {
  /** Retries after the first attempt (linkerd `max_retries`). */
  readonly maxRetries: number;
  /** Largest request body kept for replay (linkerd `max_request_bytes`). */
  readonly maxRequestBytes: number;
  /** HTTP statuses to retry (HTTP routes). */
  readonly retryStatus: (status: number) => boolean;
  /** gRPC codes to retry; set for gRPC routes, whose responses are classified by `grpc-status`. */
  readonly grpcCodes?: ReadonlySet<number>;
  /** Per-try response headers timeout, not applied to the last attempt. */
  readonly timeoutMs?: number;
  /** Pause between attempts; none when absent. */
  readonly backoff?: BackoffSpec;
  /**
   * Retry methods that are not idempotent (POST, PATCH, …) on a status or
   * after an error that may have reached an endpoint. @default false
   */
  readonly nonIdempotent?: boolean;
}

/** Builds the policy of an HTTP or gRPC route rule's `retry`. */
export function retryPolicyOf(
  retry: HttpRetry | GrpcRetry,
): RetryPolicy {
  const common = {
    maxRetries: retry.maxRetries,
    maxRequestBytes: retry.maxRequestBytes,
    ...(retry.timeoutMs === undefined ? {} : { timeoutMs: retry.timeoutMs }),
    ...(retry.backoff === undefined ? {} : { backoff: retry.backoff }),
  };
  if ("codes" in retry) {
    return {
      ...common,
      retryStatus: () => false,
      grpcCodes: new Set(retry.codes),
    };
  }
  const ranges = retry.statusRanges.map((r) => [r.start, r.end] as const);
  return {
    ...common,
    retryStatus: (s) => ranges.some(([a, b]) => s >= a && s <= b),
    ...(retry.nonIdempotent ? { nonIdempotent: true } : {}),
  };
}

/** Per-route retry counters (linkerd `outbound_{http,grpc}_route_retry_*`). */
export interface RetryMetrics {
  /** A retry was sent (`…_retry_requests_total`). */
  retry(): void;
  /** A retry got a response that needs no more retries (`…_retry_successes_total`). */
  success(): void;
  /** The last allowed retry was still retryable (`…_retry_limit_exceeded_total`). */
  limitExceeded(): void;
  /** The budget refused a retry (`…_retry_overflow_total`). */
  overflow(): void;
  /** An attempt ended with a timeout or a reset; `label` is linkerd's route error label. */
  error(label: string): void;
}

/** Options of {@linkcode newHttpRetry} and {@linkcode newStreamTimeouts}. */
export interface RetryOptions {
  /** The route's timeouts. @default {none} */
  timeouts?: RouteTimeouts;
  /** The retry budget shared by the service's routes (profiles, YAML `retryBudget`). @default {no budget} */
  budget?: TpsBudget;
  metrics?: RetryMetrics;
  /** Timers and time of the timeouts and the backoff. @default {SHARED_TIMERS} */
  clock?: Clock;
  /** Backoff jitter. @default {Math.random} */
  random?: () => number;
  /**
   * True for errors raised before any byte reached an endpoint (a failed
   * connect); such a request is retried whatever its method.
   */
  isUnsent?: (err: unknown) => boolean;
}

/** A route service: the request plus what route selection found (the path match). */
export type RouteCall<A> = (req: HttpRequest, arg: A) => Promise<HttpResponse>;

/** Methods retried after they may have reached an endpoint (RFC 9110 §9.2.2). */
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE"]);

/** H2 REFUSED_STREAM, ENHANCE_YOUR_CALM, CANCEL. */
const REFUSED_STREAM = 7;
const CANCEL = 8;
const ENHANCE_YOUR_CALM = 11;

/** Largest discarded response body read to its end (keeps HTTP/1 connections). */
const DRAIN_MAX_BYTES = 64 * 1024;

/**
 * linkerd's route error label of an attempt's failure (`route/metrics/labels.rs`),
 * or undefined when it is neither a timeout nor a reset.
 */
export function errorLabel(err: unknown): string | undefined {
  const t = causeOf(err, StreamTimeoutError);
  if (t) {
    switch (t.timeout) {
      case "request":
        return "REQUEST_TIMEOUT";
      case "response":
        return "RESPONSE_STREAM_TIMEOUT";
      case "response-headers":
        return "RESPONSE_HEADERS_TIMEOUT";
      case "idle":
        return "IDLE_TIMEOUT";
    }
  }
  const r = causeOf(err, StreamResetError);
  if (r) {
    switch (r.code) {
      case CANCEL:
        return "CANCEL";
      case REFUSED_STREAM:
        return "REFUSED";
      case ENHANCE_YOUR_CALM:
        return "ENHANCE_YOUR_CALM";
      default:
        return "RESET";
    }
  }
  return undefined;
}

/** An attempt's timeouts without the per-request deadlines. */
type Template = Omit<
  StreamTimeouts,
  "deadlineMs" | "responseHeadersMs" | "headersDeadlineMs"
>;

/** The route's timeouts as a template for each attempt. */
function attemptTimeouts(t: RouteTimeouts | undefined): Template {
  if (t === undefined) return {};
  return {
    ...(t.requestMs ? { requestMs: t.requestMs } : {}),
    ...(t.responseMs ? { responseMs: t.responseMs } : {}),
    ...(t.idleMs ? { idleMs: t.idleMs } : {}),
    ...(t.headersMs ? { headersMs: t.headersMs } : {}),
  };
}

/**
 * The absolute deadlines of a request entering the route: the request
 * deadline (linkerd `limit`) and the profile headers deadline (linkerd
 * `ResponseTimeout`), both spanning every attempt.
 */
function deadlines(
  template: Template,
  now: number,
): Pick<StreamTimeouts, "deadlineMs" | "headersDeadlineMs"> {
  const { requestMs, headersMs } = template;
  if (requestMs === undefined && headersMs === undefined) return {};
  return {
    ...(requestMs === undefined ? {} : { deadlineMs: now + requestMs }),
    ...(headersMs === undefined ? {} : { headersDeadlineMs: now + headersMs }),
  };
}

/** True when a route's timeouts set anything (0 = none, as in linkerd). */
export function hasRouteTimeouts(t: RouteTimeouts | undefined): boolean {
  return t !== undefined &&
    Boolean(t.requestMs || t.responseMs || t.idleMs || t.headersMs);
}

/** Reports a fired timeout to the route metrics (a profile timeout has no route label). */
function onTimeoutOf(
  metrics: RetryMetrics | undefined,
): ((err: ResponseTimeoutError) => void) | undefined {
  if (metrics === undefined) return undefined;
  return (e) => {
    const label = errorLabel(e);
    if (label !== undefined) metrics.error(label);
  };
}

/**
 * The route's stream timeouts without retries: one attempt with the
 * request deadline, response and idle timeouts (linkerd `EnforceTimeouts`).
 * Returns `inner` itself when the route sets none.
 */
export function newStreamTimeouts<A>(
  inner: RouteCall<A>,
  timeouts: RouteTimeouts | undefined,
  opts: Omit<RetryOptions, "timeouts" | "budget" | "isUnsent"> = {},
): RouteCall<A> {
  if (!hasRouteTimeouts(timeouts)) return inner;
  const template = attemptTimeouts(timeouts);
  const clock = opts.clock ?? SHARED_TIMERS;
  const metrics = opts.metrics;
  const perRequest = template.requestMs !== undefined ||
    template.headersMs !== undefined;
  const onTimeout = onTimeoutOf(metrics);
  const timeoutOpts: TimeoutOptions = onTimeout ? { clock, onTimeout } : {
    clock,
  };
  return function timeoutService(req, arg) {
    const t: StreamTimeouts = perRequest
      ? { ...template, ...deadlines(template, clock.now()) }
      : template;
    const p = callWithTimeouts((r) => inner(r, arg), req, t, timeoutOpts);
    if (metrics === undefined) return p;
    return p.catch((err) => {
      const label = causeOf(err, StreamTimeoutError) ? undefined : errorLabel(
        err,
      );
      if (label !== undefined) metrics.error(label);
      throw err;
    });
  };
}

/**
 * Retries requests on a route (linkerd `NewHttpRetry`), with the route's
 * timeouts on every attempt. Returns the timeouts layer alone when the
 * policy allows no retry.
 */
export function newHttpRetry<A>(
  inner: RouteCall<A>,
  policy: RetryPolicy,
  opts: RetryOptions = {},
): RouteCall<A> {
  if (policy.maxRetries <= 0) {
    return newStreamTimeouts(inner, opts.timeouts, opts);
  }
  const r = new Retrier(inner, policy, opts);
  return function retryService(req, arg) {
    return r.run(req, arg);
  };
}

/** The retry loop of one route rule. */
class Retrier<A> {
  readonly #inner: RouteCall<A>;
  readonly #policy: RetryPolicy;
  readonly #template: Template;
  readonly #budget: TpsBudget | undefined;
  readonly #metrics: RetryMetrics | undefined;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #isUnsent: (err: unknown) => boolean;
  readonly #timeoutOpts: TimeoutOptions;

  constructor(inner: RouteCall<A>, policy: RetryPolicy, opts: RetryOptions) {
    this.#inner = inner;
    this.#policy = policy;
    this.#template = attemptTimeouts(opts.timeouts);
    this.#budget = opts.budget;
    const metrics = opts.metrics;
    this.#metrics = metrics;
    this.#clock = opts.clock ?? SHARED_TIMERS;
    this.#random = opts.random ?? Math.random;
    this.#isUnsent = opts.isUnsent ?? (() => false);
    const onTimeout = onTimeoutOf(metrics);
    this.#timeoutOpts = onTimeout
      ? { clock: this.#clock, onTimeout }
      : { clock: this.#clock };
  }

  async run(req: HttpRequest, arg: A): Promise<HttpResponse> {
    const policy = this.#policy;
    const clock = this.#clock;
    const metrics = this.#metrics;
    const budget = this.#budget;
    const fixed = deadlines(this.#template, clock.now());
    const deadlineMs = fixed.deadlineMs;
    // The earliest time past which a retry cannot answer.
    const lastChance = Math.min(
      deadlineMs ?? Infinity,
      fixed.headersDeadlineMs ?? Infinity,
    );
    const methodSafe = policy.nonIdempotent === true ||
      IDEMPOTENT.has(req.method) || isGrpc(req);
    const replay = req.body === null
      ? undefined
      : new ReplayBody(req.body, policy.maxRequestBytes);
    const signal = req.ext.signal;
    const headers = req.headers;
    const grpcCodes = policy.grpcCodes;
    for (let attempt = 0;; attempt++) {
      const last = attempt >= policy.maxRetries;
      const t: StreamTimeouts = {
        ...this.#template,
        ...fixed,
        ...(last || policy.timeoutMs === undefined
          ? {}
          : { responseHeadersMs: policy.timeoutMs }),
      };
      const attemptReq: HttpRequest = {
        ...req,
        headers: { ...headers },
        body: replay === undefined ? null : replay.clone(),
      };
      let rsp: HttpResponse | undefined;
      let error: unknown;
      try {
        rsp = await callWithTimeouts(
          (r) => this.#inner(r, arg),
          attemptReq,
          t,
          this.#timeoutOpts,
        );
      } catch (err) {
        error = err;
        if (metrics && !causeOf(err, StreamTimeoutError)) {
          const label = errorLabel(err);
          if (label !== undefined) metrics.error(label);
        }
      }
      // Classify (gRPC: the status may be in trailers sent at once).
      let retryable: boolean;
      if (rsp !== undefined) {
        if (grpcCodes !== undefined) {
          let code = headerValue(rsp.headers, "grpc-status");
          if (code === undefined && rsp.body !== null) {
            try {
              const peeked = await peekTrailers(rsp, clock, signal);
              rsp = peeked.response;
              code = peeked.trailers &&
                headerValue(peeked.trailers, "grpc-status");
            } catch (err) {
              replay?.release();
              throw err;
            }
          }
          retryable = code !== undefined && grpcCodes.has(Number(code));
        } else {
          retryable = methodSafe && policy.retryStatus(rsp.status);
        }
      } else {
        retryable = this.#retryableError(error, methodSafe, signal);
      }
      if (!retryable) {
        // tower `TpsBudget` as linkerd's profile retries use it: every
        // answer that needs no retry deposits (`out/http/retry.rs`).
        budget?.deposit();
        if (attempt > 0 && rsp !== undefined) metrics?.success();
        return this.#done(replay, rsp, error);
      }
      if (last) {
        metrics?.limitExceeded();
        return this.#done(replay, rsp, error);
      }
      if (signal?.aborted) return this.#done(replay, rsp, error);
      if (replay !== undefined && !replay.replayable) {
        budget?.deposit(); // linkerd: a capped body is not retryable
        return this.#done(replay, rsp, error);
      }
      const backoff = policy.backoff;
      const wait = backoff === undefined
        ? 0
        : backoffDelayMs(backoff, attempt, this.#random);
      if (clock.now() + wait >= lastChance) {
        // The retry could not answer in time: the last answer is better than a 504.
        return this.#done(replay, rsp, error);
      }
      if (budget !== undefined && !budget.withdraw()) {
        metrics?.overflow();
        return this.#done(replay, rsp, error);
      }
      if (rsp !== undefined) discard(rsp, replay?.inUse ?? false);
      if (wait > 0) {
        try {
          await delay(wait, clock, signal);
        } catch (err) {
          replay?.release();
          throw err;
        }
      }
      metrics?.retry();
    }
  }

  #retryableError(
    err: unknown,
    methodSafe: boolean,
    signal: AbortSignal | undefined,
  ): boolean {
    if (signal?.aborted) return false;
    // Nothing reached an endpoint: always safe.
    if (causeOf(err, FailFastError)) return true;
    const reset = causeOf(err, StreamResetError);
    if (reset?.code === REFUSED_STREAM) return true;
    if (this.#isUnsent(err)) return true;
    if (!methodSafe) return false;
    const timeout = causeOf(err, StreamTimeoutError);
    if (timeout) return timeout.timeout === "response-headers";
    if (reset) return reset.code !== ENHANCE_YOUR_CALM;
    return causeOf(err, EndpointIoError) !== undefined ||
      causeOf(err, ConnectTimeoutError) !== undefined;
  }

  #done(
    replay: ReplayBody | undefined,
    rsp: HttpResponse | undefined,
    error: unknown,
  ): HttpResponse {
    replay?.release();
    if (rsp === undefined) throw error;
    return rsp;
  }
}

/**
 * Lets go of a response a retry replaces: a short body of known length is
 * read to its end (an HTTP/1 connection stays usable), anything else is
 * canceled (an HTTP/2 stream is reset with CANCEL).
 */
function discard(rsp: HttpResponse, requestStreaming: boolean): void {
  const body = rsp.body;
  if (body === null) return;
  if (
    requestStreaming || body.length === undefined ||
    body.length > DRAIN_MAX_BYTES
  ) {
    body.cancel(new StreamResetError(CANCEL));
    return;
  }
  body.start({ data() {}, end() {}, error() {} });
}
