/**
 * Turns proxy errors into synthetic responses (linkerd
 * `app/core/errors/respond.rs`, `ServerRescue`, `ClientRescue`).
 *
 * This is the only place that defines error semantics on the wire; the
 * outbound server layer calls it for every failed request.
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
  LoadShedError,
  NoRouteError,
  ProxyError,
  ResolveError,
  ResponseTimeoutError,
  StreamResetError,
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

/** Classifies an error as linkerd's ServerRescue + ClientRescue do (reference §4.5). */
export function rescue(err: unknown): Rescue {
  const message = err instanceof Error ? err.message : String(err);
  const row = (
    status: number,
    grpcStatus: number,
    close: boolean,
    kind: string,
  ) => ({ status, grpcStatus, close, kind, message });
  if (causeOf(err, BadRequestError)) {
    const e = causeOf(err, BadRequestError)!;
    return row(e.status, GrpcCode.INTERNAL, true, e.kind);
  }
  if (causeOf(err, FailFastError)) {
    return row(504, GrpcCode.DEADLINE_EXCEEDED, true, "failfast");
  }
  if (causeOf(err, LoadShedError)) {
    return row(503, GrpcCode.UNAVAILABLE, true, "loadshed");
  }
  if (causeOf(err, DrainingError)) {
    return row(503, GrpcCode.UNAVAILABLE, true, "loadshed");
  }
  if (causeOf(err, ResponseTimeoutError)) {
    return row(504, GrpcCode.DEADLINE_EXCEEDED, false, "response timeout");
  }
  if (causeOf(err, DispatcherFailedError)) {
    return row(502, GrpcCode.UNAVAILABLE, true, "unexpected");
  }
  if (causeOf(err, NoRouteError)) {
    return row(404, GrpcCode.NOT_FOUND, false, "unexpected");
  }
  const redirect = causeOf(err, HttpRouteRedirectError);
  if (redirect) {
    return {
      ...row(redirect.status, GrpcCode.NOT_FOUND, false, "unexpected"),
      message: redirect.message,
      location: redirect.location,
    };
  }
  const injected = causeOf(err, HttpRouteInjectedFailureError);
  if (injected) {
    return {
      ...row(
        injected.status,
        GrpcCode.FAILED_PRECONDITION,
        false,
        "unexpected",
      ),
      message: injected.message,
    };
  }
  const grpcInjected = causeOf(err, GrpcRouteInjectedFailureError);
  if (grpcInjected) {
    return {
      ...row(200, grpcInjected.code, false, "unexpected"),
      message: grpcInjected.message,
    };
  }
  if (causeOf(err, ResolveError)) {
    return row(502, GrpcCode.UNAVAILABLE, true, "unexpected");
  }
  if (causeOf(err, ConnectTimeoutError)) {
    return row(504, GrpcCode.DEADLINE_EXCEEDED, true, "i/o");
  }
  if (causeOf(err, EndpointIoError)) {
    return row(502, GrpcCode.UNAVAILABLE, true, "i/o");
  }
  // An h2 reset reaching an HTTP/1 client (linkerd DowngradedH2Error).
  if (causeOf(err, StreamResetError)) {
    return row(502, GrpcCode.UNAVAILABLE, true, "i/o");
  }
  const kind = err instanceof ProxyError ? err.kind : "unexpected";
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
