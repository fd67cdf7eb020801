/**
 * Response classification: success or failure of each response, decided at
 * the end of the stream when it depends on trailers (linkerd
 * `linkerd/http/classify`, `app/core/classify.rs`).
 *
 * Used by endpoint metrics (`classification` label) and failure accrual,
 * with the classifier the request carries (`req.ext.classify`, linkerd's
 * `classify::Response` extension): a ServiceProfile route's response
 * classes (linkerd `app/core/src/classify.rs` `Response::Profile`), else
 * the default. Profile retries use the same classes.
 *
 * @module
 */
import {
  causeOf,
  h2CodeName,
  ProxyError,
  StreamResetError,
} from "../errors.ts";
import type {
  Body,
  BodySink,
  HeaderMap,
  HttpRequest,
  HttpResponse,
} from "./message.ts";
import { headerValue } from "./message.ts";
import { isGrpc } from "./respond.ts";
import type { ResponseClasses } from "./route/model.ts";

/** The class of one response (linkerd `Class`). */
export type ResponseClass =
  | {
    readonly kind: "http";
    readonly status: number;
    readonly failure: boolean;
  }
  | { readonly kind: "grpc"; readonly code: number; readonly failure: boolean }
  | {
    readonly kind: "error";
    readonly error: string;
    readonly failure: boolean;
  };

/** What counts as a failure (linkerd `StatusRanges`, `Codes`). */
export interface ClassifyPolicy {
  /** HTTP statuses that are failures. @default 500–599 */
  readonly httpFailure: (status: number) => boolean;
  /** gRPC codes that are failures. @default DATA_LOSS, DEADLINE_EXCEEDED, INTERNAL, PERMISSION_DENIED, UNAVAILABLE, UNKNOWN */
  readonly grpcFailureCodes: ReadonlySet<number>;
  /**
   * A ServiceProfile route's response classes (linkerd `Response::Profile`):
   * true = failure, false = success, undefined = no class matches the
   * status; then a `grpc-status` in the headers or the trailers decides
   * with `grpcFailureCodes` whatever the request's content type, else
   * `httpFailure`. Absent = not a profile route.
   */
  readonly profileClass?: (status: number) => boolean | undefined;
}

/** The class of a request that failed with an error. */
export type ErrorClass = Extract<ResponseClass, { kind: "error" }>;

/** linkerd's default classification: 5xx, and the default gRPC failure codes. */
export const DEFAULT_CLASSIFY: ClassifyPolicy = {
  httpFailure: (status) => status >= 500 && status <= 599,
  grpcFailureCodes: new Set([2, 4, 7, 13, 14, 15]),
};

/**
 * The classifier of a profile route with these response classes (linkerd
 * `classify::Request::Profile`; the fallback is the default one).
 */
export function profileClassifyOf(classes: ResponseClasses): ClassifyPolicy {
  const failure = classes.failure.map((r) => [r.start, r.end] as const);
  const success = classes.success.map((r) => [r.start, r.end] as const);
  return {
    ...DEFAULT_CLASSIFY,
    profileClass(status) {
      for (const [a, b] of failure) if (status >= a && status <= b) return true;
      for (const [a, b] of success) {
        if (status >= a && status <= b) return false;
      }
      return undefined;
    },
  };
}

/** gRPC "OK" with an unknown status: a stream that ended without `grpc-status` (linkerd treats it as success). */
const GRPC_UNKNOWN_OK = -1;

/**
 * Classifies `rsp` to `req` and calls `onClass` exactly once with the final
 * class. Plain HTTP responses are classified at once by status; gRPC ones by
 * `grpc-status` in the headers (trailers-only) or else in the trailers, so
 * their body is wrapped to see the end of the stream. Returns the response
 * to pass on (the same object when no wrapping was needed).
 */
export function classifyResponse(
  req: HttpRequest,
  rsp: HttpResponse,
  onClass: (c: ResponseClass) => void,
  policy: ClassifyPolicy = req.ext.classify ?? DEFAULT_CLASSIFY,
): HttpResponse {
  if (policy.profileClass !== undefined) {
    return classifyProfile(rsp, onClass, policy, policy.profileClass);
  }
  if (!isGrpc(req)) {
    onClass({
      kind: "http",
      status: rsp.status,
      failure: policy.httpFailure(rsp.status),
    });
    return rsp;
  }
  const inHeaders = headerValue(rsp.headers, "grpc-status");
  if (inHeaders !== undefined || rsp.body === null) {
    onClass(grpcClass(inHeaders, policy));
    return rsp;
  }
  rsp.body = observeBody(rsp.body, {
    end: (trailers) =>
      onClass(
        grpcClass(trailers && headerValue(trailers, "grpc-status"), policy),
      ),
    error: (err) => onClass(classifyError(err)),
  });
  return rsp;
}

/**
 * linkerd `Response::Profile`: the first matching class decides; unmatched,
 * a `grpc-status` (headers, else trailers) with the default codes, else
 * 5xx is a failure, known at the end of the stream.
 */
function classifyProfile(
  rsp: HttpResponse,
  onClass: (c: ResponseClass) => void,
  policy: ClassifyPolicy,
  profileClass: (status: number) => boolean | undefined,
): HttpResponse {
  const status = rsp.status;
  const verdict = profileClass(status);
  if (verdict !== undefined) {
    onClass({ kind: "http", status, failure: verdict });
    return rsp;
  }
  const inHeaders = headerValue(rsp.headers, "grpc-status");
  if (inHeaders !== undefined) {
    onClass(grpcClass(inHeaders, policy));
    return rsp;
  }
  const http: ResponseClass = {
    kind: "http",
    status,
    failure: policy.httpFailure(status),
  };
  if (rsp.body === null) {
    onClass(http);
    return rsp;
  }
  rsp.body = observeBody(rsp.body, {
    end(trailers) {
      const code = trailers && headerValue(trailers, "grpc-status");
      onClass(code === undefined ? http : grpcClass(code, policy));
    },
    error: (err) => onClass(classifyError(err)),
  });
  return rsp;
}

function grpcClass(
  value: string | undefined,
  policy: ClassifyPolicy,
): ResponseClass {
  const code = value === undefined ? GRPC_UNKNOWN_OK : Number(value);
  return { kind: "grpc", code, failure: policy.grpcFailureCodes.has(code) };
}

/**
 * Classifies an error (no response, or a failed body): always a failure,
 * except a cancel from the downstream, which says nothing about the
 * endpoint. Labels as linkerd's: `h2(<REASON>)`, `timeout`, else the kind.
 */
export function classifyError(err: unknown): ErrorClass {
  const reset = causeOf(err, StreamResetError);
  if (reset) {
    return {
      kind: "error",
      error: `h2(${h2CodeName(reset.code)})`,
      failure: true,
    };
  }
  if (causeOf(err, Canceled)) {
    return { kind: "error", error: "canceled", failure: false };
  }
  const kind = err instanceof ProxyError ? err.kind : "unclassified";
  return {
    kind: "error",
    error: kind.includes("timeout") ? "timeout" : kind,
    failure: true,
  };
}

/** The downstream dropped a response body before its end. */
export class Canceled extends Error {
  constructor() {
    super("response body canceled by the client");
    this.name = "Canceled";
  }
}

/** Hooks for {@linkcode observeBody}. */
export interface BodyObserver {
  end(trailers: HeaderMap | undefined): void;
  error(err: Error): void;
}

/**
 * Wraps `body` so `observer` learns how it ended: normally, with an error,
 * or canceled by the consumer (reported as `error(new Canceled())`). Data
 * passes through untouched, with the same backpressure.
 */
export function observeBody(body: Body, observer: BodyObserver): Body {
  let done = false;
  const finish = (f: () => void) => {
    if (done) return;
    done = true;
    f();
  };
  return {
    length: body.length,
    start(sink: BodySink) {
      body.start({
        data: (chunk) => sink.data(chunk),
        end(trailers) {
          finish(() => observer.end(trailers));
          sink.end(trailers);
        },
        error(err) {
          finish(() => observer.error(err));
          sink.error(err);
        },
      });
    },
    pause: () => body.pause(),
    resume: () => body.resume(),
    cancel(err) {
      finish(() => observer.error(new Canceled()));
      body.cancel(err);
    },
  };
}
