/**
 * Turns proxy errors into synthetic responses (linkerd
 * `app/core/errors/respond.rs`, `ServerRescue`, `ClientRescue`).
 *
 * This is the only place that defines error semantics on the wire: the
 * outbound server layer and the inbound application stack both rescue with
 * {@linkcode rescuer}.
 *
 * @module
 */
import {
  BadRequestError,
  causeOf,
  ConnectTimeoutError,
  DispatcherFailedError,
  DrainingError,
  EndpointIoError,
  FailFastError,
  GrpcRouteInjectedFailureError,
  HttpRouteInjectedFailureError,
  HttpRouteRedirectError,
  IdentityRequiredError,
  LoadShedError,
  NoRouteError,
  ProxyError,
  ResolveError,
  ResponseTimeoutError,
  StreamResetError,
  UnauthorizedError,
} from "../errors.ts";
import { L5D_PROXY_CONNECTION, L5D_PROXY_ERROR } from "./headers.ts";
import {
  type HeaderMap,
  headerValue,
  type HttpRequest,
  type HttpResponse,
} from "./message.ts";

/** gRPC status codes used by the rescue table. */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  PERMISSION_DENIED: 7,
  FAILED_PRECONDITION: 9,
  INTERNAL: 13,
  UNAVAILABLE: 14,
} as const;

/** How one error is answered (a row of linkerd's rescue table). */
export interface Rescue {
  readonly status: number;
  readonly grpcStatus: number;
  readonly close: boolean;
  /** The error kind for metrics (`outbound_http_errors_total{error}`). */
  readonly kind: string;
  readonly message: string;
  /** The `location` header of a redirect. */
  readonly location?: string;
}

/**
 * Classifies an error as linkerd's ServerRescue + ClientRescue do (reference
 * §4.5): the first row whose error is in `err`'s cause chain answers; its
 * metric label is that error's `label` (errors.ts).
 */
export function rescue(err: unknown): Rescue {
  const message = err instanceof Error ? err.message : String(err);
  const row = (
    e: ProxyError,
    status: number,
    grpcStatus: number,
    close: boolean,
  ) => ({ status, grpcStatus, close, kind: e.label, message });
  let e: ProxyError | undefined;
  const bad = causeOf(err, BadRequestError);
  if (bad) return row(bad, bad.status, GrpcCode.INTERNAL, true);
  if ((e = causeOf(err, UnauthorizedError))) {
    return row(e, 403, GrpcCode.PERMISSION_DENIED, true);
  }
  if ((e = causeOf(err, FailFastError))) {
    return row(e, 504, GrpcCode.DEADLINE_EXCEEDED, true);
  }
  if ((e = causeOf(err, LoadShedError))) {
    return row(e, 503, GrpcCode.UNAVAILABLE, true);
  }
  if ((e = causeOf(err, DrainingError))) {
    return row(e, 503, GrpcCode.UNAVAILABLE, true);
  }
  if ((e = causeOf(err, ResponseTimeoutError))) {
    return row(e, 504, GrpcCode.DEADLINE_EXCEEDED, false);
  }
  if ((e = causeOf(err, DispatcherFailedError))) {
    return row(e, 502, GrpcCode.UNAVAILABLE, true);
  }
  if ((e = causeOf(err, IdentityRequiredError))) {
    return row(e, 502, GrpcCode.UNAVAILABLE, true);
  }
  if ((e = causeOf(err, NoRouteError))) {
    return row(e, 404, GrpcCode.NOT_FOUND, false);
  }
  const redirect = causeOf(err, HttpRouteRedirectError);
  if (redirect) {
    return {
      ...row(redirect, redirect.status, GrpcCode.NOT_FOUND, false),
      message: redirect.message,
      location: redirect.location,
    };
  }
  const injected = causeOf(err, HttpRouteInjectedFailureError);
  if (injected) {
    return {
      ...row(injected, injected.status, GrpcCode.FAILED_PRECONDITION, false),
      message: injected.message,
    };
  }
  const grpcInjected = causeOf(err, GrpcRouteInjectedFailureError);
  if (grpcInjected) {
    return {
      ...row(grpcInjected, 200, grpcInjected.code, false),
      message: grpcInjected.message,
    };
  }
  if ((e = causeOf(err, ResolveError))) {
    return row(e, 502, GrpcCode.UNAVAILABLE, true);
  }
  if ((e = causeOf(err, ConnectTimeoutError))) {
    return row(e, 504, GrpcCode.DEADLINE_EXCEEDED, true);
  }
  if ((e = causeOf(err, EndpointIoError))) {
    return row(e, 502, GrpcCode.UNAVAILABLE, true);
  }
  // An h2 reset reaching an HTTP/1 client (linkerd DowngradedH2Error).
  if ((e = causeOf(err, StreamResetError))) {
    return row(e, 502, GrpcCode.UNAVAILABLE, true);
  }
  const kind = err instanceof ProxyError ? err.label : "unexpected";
  return {
    status: 500,
    grpcStatus: GrpcCode.INTERNAL,
    close: true,
    kind,
    message: "unexpected error",
  };
}

/** True when the request is gRPC: HTTP/2 with `content-type: application/grpc*`. */
export function isGrpc(req: HttpRequest): boolean {
  if (req.version !== "HTTP/2") return false;
  const ct = headerValue(req.headers, "content-type");
  return ct !== undefined && ct.startsWith("application/grpc");
}

/** Options for {@linkcode errorResponse}. */
export interface RespondOptions {
  /** Add `l5d-proxy-error` / `grpc-message` (linkerd informational headers). @default true */
  informationalHeaders?: boolean;
}

/**
 * Builds the synthetic response for `err` (linkerd `SyntheticHttpResponse`):
 * an HTTP status with `content-length: 0`, or for gRPC an HTTP 200
 * trailers-only response carrying `grpc-status`.
 */
export function errorResponse(
  req: HttpRequest,
  err: unknown,
  opts: RespondOptions = {},
): { response: HttpResponse; rescue: Rescue } {
  const r = rescue(err);
  const info = opts.informationalHeaders ?? true;
  const headers: HeaderMap = {};
  if (isGrpc(req)) {
    headers["content-type"] = "application/grpc";
    headers["grpc-status"] = String(r.grpcStatus);
    if (info) {
      headers["grpc-message"] = encodeGrpcMessage(r.message);
      headers[L5D_PROXY_ERROR] = headerSafe(r.message);
    }
    if (r.close && info) headers[L5D_PROXY_CONNECTION] = "close";
    return {
      response: { status: 200, headers, body: null, closeConnection: r.close },
      rescue: r,
    };
  }
  headers["content-length"] = "0";
  if (r.location !== undefined) headers["location"] = r.location;
  if (info) headers[L5D_PROXY_ERROR] = headerSafe(r.message);
  if (r.close && info) headers[L5D_PROXY_CONNECTION] = "close";
  return {
    response: {
      status: r.status,
      headers,
      body: null,
      closeConnection: r.close,
    },
    rescue: r,
  };
}

/** A rescued error, as the admin dashboard's recent-errors list shows it. */
export interface RescuedError {
  /** Wall-clock time, ms since the epoch. */
  timeMs: number;
  /** The error's metric label (`failfast`, `loadshed`, ...). */
  kind: string;
  message: string;
  /** The synthetic response's status. */
  status: number;
  authority: string;
  path: string;
}

/** Options of {@linkcode rescuer}. */
export interface RescuerOptions extends RespondOptions {
  /** Told about every error answered: the request, its row and the response. */
  onRescue?: (req: HttpRequest, rescue: Rescue, response: HttpResponse) => void;
}

/**
 * The one rescue step of both proxy directions (linkerd `ServerRescue`): the
 * synthetic response for a failed request. An HTTP/2 stream reset is
 * rethrown instead, so the downstream stream is reset with the same code
 * (linkerd §8.1).
 */
export function rescuer(
  opts: RescuerOptions = {},
): (req: HttpRequest, err: unknown) => HttpResponse {
  const { onRescue } = opts;
  return (req, err) => {
    if (req.version === "HTTP/2" && err instanceof StreamResetError) {
      throw err;
    }
    const { response, rescue } = errorResponse(req, err, opts);
    onRescue?.(req, rescue, response);
    return response;
  };
}

/** gRPC trailers for an error after the response headers went out (linkerd gRPC body rescue). */
export function grpcErrorTrailers(
  err: unknown,
  opts: RespondOptions = {},
): HeaderMap {
  const r = rescue(err);
  const t: HeaderMap = { "grpc-status": String(r.grpcStatus) };
  if (opts.informationalHeaders ?? true) {
    t["grpc-message"] = encodeGrpcMessage(r.message);
  }
  return t;
}

/** Percent-encodes a gRPC message as the gRPC spec asks. */
export function encodeGrpcMessage(msg: string): string {
  let out = "";
  for (const b of new TextEncoder().encode(msg)) {
    out += b >= 0x20 && b <= 0x7e && b !== 0x25
      ? String.fromCharCode(b)
      : "%" + b.toString(16).toUpperCase().padStart(2, "0");
  }
  return out;
}

function headerSafe(msg: string): string {
  return msg.replace(/[^\x20-\x7e\t]/g, "?");
}
