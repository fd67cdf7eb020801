/**
 * Proxy errors with stable kinds (linkerd `linkerd/error`, `app/core/errors`).
 *
 * Only `http/respond.ts` turns them into responses (its `rescuer()`, used by
 * the outbound server layer and the inbound application stack).
 *
 * @module
 */

/** A runtime proxy failure with a stable `kind` (linkerd error kinds). */
export abstract class ProxyError extends Error {
  /** What failed, stable (logs, tests). */
  abstract readonly kind: string;
  /**
   * The error's `error="..."` label in `outbound_http_errors_total` and the
   * dashboard, as linkerd's `ServerRescue` labels it (the one vocabulary:
   * `http/respond.ts` reads it, never spells one). Defaults to `kind`.
   */
  get label(): string {
    return this.kind;
  }
}

/** No endpoint became ready within the failfast timeout (linkerd `FailFastError`). */
export class FailFastError extends ProxyError {
  readonly kind = "failfast";
  constructor(readonly backend: string, readonly timeoutMs: number) {
    super(`${backend}: service in fail-fast`);
    this.name = "FailFastError";
  }
}

/** Too many requests in flight, or no ready backend (tower `Overloaded`). */
export class LoadShedError extends ProxyError {
  readonly kind = "loadshed";
  constructor(message = "service unavailable") {
    super(message);
    this.name = "LoadShedError";
  }
}

/** Response did not arrive in time (linkerd `ResponseTimeoutError`). */
export class ResponseTimeoutError extends ProxyError {
  readonly kind = "response timeout";
  constructor(readonly timeoutMs: number, message?: string) {
    super(message ?? `response timeout after ${timeoutMs}ms`);
    this.name = "ResponseTimeoutError";
  }
}

/**
 * Which route stream timeout fired (linkerd `stream-timeouts`): the request
 * deadline (`limit`), the response (`response_end`), the per-try response
 * headers timeout (`response_headers`) or the idle timeout.
 */
export type StreamTimeoutKind =
  | "request"
  | "response"
  | "response-headers"
  | "idle";

/**
 * A route's stream timeout fired (linkerd `ResponseTimeoutError::{Lifetime,
 * Response,Headers}` before the response headers, `BodyTimeoutError` and
 * `StreamIdleError` after). Rescued like every `ResponseTimeoutError`: 504,
 * gRPC DEADLINE_EXCEEDED, the client connection kept.
 */
export class StreamTimeoutError extends ResponseTimeoutError {
  constructor(readonly timeout: StreamTimeoutKind, timeoutMs: number) {
    super(timeoutMs, `${STREAM_TIMEOUT_NAMES[timeout]} after ${timeoutMs}ms`);
    this.name = "StreamTimeoutError";
  }
}

const STREAM_TIMEOUT_NAMES: Readonly<Record<StreamTimeoutKind, string>> = {
  "request": "request timed out",
  "response": "response timed out",
  "response-headers": "response headers timed out",
  "idle": "stream idle",
};

/** Connecting to an endpoint timed out (linkerd `ConnectTimeout`). */
export class ConnectTimeoutError extends ProxyError {
  readonly kind = "connect timeout";
  override get label(): string {
    return "i/o";
  }
  constructor(readonly addr: string, readonly timeoutMs: number) {
    super(`connect timed out after ${timeoutMs}ms: ${addr}`);
    this.name = "ConnectTimeoutError";
  }
}

/** An I/O error talking to an endpoint (linkerd `std::io::Error` in ClientRescue). */
export class EndpointIoError extends ProxyError {
  readonly kind = "i/o";
  constructor(readonly addr: string, options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      `endpoint ${addr}: ${
        cause instanceof Error ? cause.message : "i/o error"
      }`,
      options,
    );
    this.name = "EndpointIoError";
  }
}

/** A backend that can never dispatch (linkerd `DispatcherFailed`). */
export class DispatcherFailedError extends ProxyError {
  readonly kind = "dispatcher failed";
  override get label(): string {
    return "unexpected";
  }
  constructor(message: string) {
    super(message);
    this.name = "DispatcherFailedError";
  }
}

/** The logical destination could not be resolved. */
export class ResolveError extends ProxyError {
  readonly kind = "unresolved";
  override get label(): string {
    return "unexpected";
  }
  constructor(readonly authority: string, options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      `cannot resolve ${authority}${
        cause instanceof Error ? `: ${cause.message}` : ""
      }`,
      options,
    );
    this.name = "ResolveError";
  }
}

/** The request names no destination Petrel can route to. */
export class NoRouteError extends ProxyError {
  readonly kind = "no route";
  override get label(): string {
    return "unexpected";
  }
  constructor(message = "no route found for request") {
    super(message);
    this.name = "NoRouteError";
  }
}

/** A route's redirect filter answers the request (linkerd `HttpRouteRedirect`). */
export class HttpRouteRedirectError extends ProxyError {
  readonly kind = "redirect";
  override get label(): string {
    return "unexpected";
  }
  constructor(readonly status: number, readonly location: string) {
    super(`redirected to ${location}`);
    this.name = "HttpRouteRedirectError";
  }
}

/** A route's failure injector failed the request (linkerd `HttpRouteInjectedFailure`). */
export class HttpRouteInjectedFailureError extends ProxyError {
  readonly kind = "injected failure";
  override get label(): string {
    return "unexpected";
  }
  constructor(readonly status: number, message: string) {
    super(message);
    this.name = "HttpRouteInjectedFailureError";
  }
}

/** A gRPC route's failure injector failed the request (linkerd `GrpcRouteInjectedFailure`). */
export class GrpcRouteInjectedFailureError extends ProxyError {
  readonly kind = "injected failure";
  override get label(): string {
    return "unexpected";
  }
  constructor(readonly code: number, message: string) {
    super(message);
    this.name = "GrpcRouteInjectedFailureError";
  }
}

/** A redirect filter cannot apply to this match (linkerd `InvalidRedirect`): a 500. */
export class InvalidRedirectError extends ProxyError {
  readonly kind = "invalid redirect";
  constructor(message: string) {
    super(message);
    this.name = "InvalidRedirectError";
  }
}

/** A service's routes could not be built (linkerd `ClientPolicy::invalid`): every request fails with a 500. */
export class InvalidPolicyError extends ProxyError {
  readonly kind = "invalid policy";
  constructor(readonly authority: string, options?: ErrorOptions) {
    const cause = options?.cause;
    super(
      `invalid routes for ${authority}${
        cause instanceof Error ? `: ${cause.message}` : ""
      }`,
      options,
    );
    this.name = "InvalidPolicyError";
  }
}

/** The request itself is malformed (HTTP 400 before routing). */
export class BadRequestError extends ProxyError {
  readonly kind = "bad request";
  constructor(message: string, readonly status = 400) {
    super(message);
    this.name = "BadRequestError";
  }
}

/**
 * An HTTP/2 stream was reset (or the connection went away) with `code`.
 * Never turned into a synthetic response for HTTP/2 clients: the downstream
 * stream is reset with the same code (linkerd §8.1).
 */
export class StreamResetError extends ProxyError {
  readonly kind = "reset";
  override get label(): string {
    return "i/o";
  }
  constructor(readonly code: number, message?: string) {
    super(message ?? `stream reset: ${h2CodeName(code)}`);
    this.name = "StreamResetError";
  }
}

/** The proxy is draining and refuses new work. */
export class DrainingError extends ProxyError {
  readonly kind = "draining";
  override get label(): string {
    return "loadshed";
  }
  constructor() {
    super("proxy is shutting down");
    this.name = "DrainingError";
  }
}

/**
 * The inbound policy refused the connection or request (linkerd
 * `HttpRouteUnauthorized` / `ServerUnauthorized`): 403, gRPC
 * PERMISSION_DENIED, and the connection closed.
 */
export class UnauthorizedError extends ProxyError {
  readonly kind = "unauthorized";
  constructor(reason: string) {
    super(reason);
    this.name = "UnauthorizedError";
  }
}

/**
 * A request's `l5d-require-id` names another identity than the endpoint's
 * (or the endpoint has none; linkerd `IdentityRequired`): 502.
 */
export class IdentityRequiredError extends ProxyError {
  readonly kind = "identity required";
  constructor(readonly required: string, readonly found: string | undefined) {
    super(
      `required id ${required}; found ${found ?? "none (no TLS identity)"}`,
    );
    this.name = "IdentityRequiredError";
  }
}

const H2_CODES = [
  "NO_ERROR",
  "PROTOCOL_ERROR",
  "INTERNAL_ERROR",
  "FLOW_CONTROL_ERROR",
  "SETTINGS_TIMEOUT",
  "STREAM_CLOSED",
  "FRAME_SIZE_ERROR",
  "REFUSED_STREAM",
  "CANCEL",
  "COMPRESSION_ERROR",
  "CONNECT_ERROR",
  "ENHANCE_YOUR_CALM",
  "INADEQUATE_SECURITY",
  "HTTP_1_1_REQUIRED",
];

/** The RFC 9113 name of an HTTP/2 error code. */
export function h2CodeName(code: number): string {
  return H2_CODES[code] ?? `0x${code.toString(16)}`;
}

/** Finds the first `E` in `err`'s cause chain (linkerd `cause_ref`). */
export function causeOf<E extends Error>(
  err: unknown,
  // deno-lint-ignore no-explicit-any
  type: abstract new (...args: any[]) => E,
): E | undefined {
  for (let e = err; e instanceof Error; e = e.cause) {
    if (e instanceof type) return e;
  }
  return undefined;
}
