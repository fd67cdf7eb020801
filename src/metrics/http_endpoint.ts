/**
 * What the endpoint HTTP series (`request_total`, `response_total`,
 * `response_latency_ms`) record for failed requests, and the recorder the
 * inbound stack wraps around the application (linkerd
 * `http/metrics/src/requests/service.rs`, outbound `ClientRescue`).
 *
 * @module
 */
import { causeOf, ConnectTimeoutError, EndpointIoError } from "../errors.ts";
import { classifyError, classifyResponse } from "../http/classify.ts";
import type { Body, HttpRequest, HttpResponse } from "../http/message.ts";
import type { HttpEndpointMetrics } from "./registry.ts";

/**
 * The status linkerd's endpoint `ClientRescue` answers a connection error
 * with, before the endpoint metrics see it: 504 for a connect timeout, 502
 * for any other I/O error; 0 when the error is not a connection error (it
 * is then counted with its `error` label and no status).
 */
export function endpointRescueStatus(err: unknown): number {
  if (causeOf(err, ConnectTimeoutError)) return 504;
  if (causeOf(err, EndpointIoError)) return 502;
  return 0;
}

/**
 * True when a rescue of this metric kind was already counted by the
 * endpoint series as a 502/504 response (linkerd: "HTTP error metrics are
 * not incremented here so that errors are not double-counted").
 */
export function countedByEndpoint(kind: string): boolean {
  return kind === "i/o";
}

/**
 * Records one exchange into an endpoint handle (linkerd `Requests`
 * service): the request now, the response with its class once the class
 * is known (end of stream for gRPC), its latency at the first body frame.
 * A rejection is counted as a failure: a connection error as the 502/504
 * linkerd's rescue answers it with, any other error with its stream error
 * and no status (the inbound stack rescues before this, so its `p` never
 * rejects).
 */
export function recordExchange(
  m: HttpEndpointMetrics,
  req: HttpRequest,
  p: Promise<HttpResponse>,
  now: () => number = performance.now.bind(performance),
): Promise<HttpResponse> {
  m.request();
  const start = now();
  return p.then((rsp) => {
    let failure: boolean | undefined;
    let grpcStatus: number | undefined;
    let error: string | undefined;
    let latencyMs = -1;
    const report = () => {
      if (failure === undefined || latencyMs < 0) return;
      m.response(rsp.status, {
        classification: failure ? "failure" : "success",
        grpcStatus,
        error,
        latencyMs,
      });
    };
    const out = classifyResponse(req, rsp, (c) => {
      failure = c.failure;
      if (c.kind === "grpc" && c.code >= 0) grpcStatus = c.code;
      if (c.kind === "error") error = c.error;
      report();
    });
    const first = () => {
      latencyMs = now() - start;
      report();
    };
    if (out.body === null) first();
    else out.body = onFirst(out.body, first);
    return out;
  }, (err) => {
    const rescued = endpointRescueStatus(err);
    m.response(rescued, {
      classification: "failure",
      ...(rescued === 0 ? { error: classifyError(err).error } : {}),
      latencyMs: now() - start,
    });
    throw err;
  });
}

/** Wraps `body` to call `fn` once at its first frame, end, error or cancel. */
function onFirst(body: Body, fn: () => void): Body {
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    fn();
  };
  return {
    length: body.length,
    start(sink) {
      body.start({
        data(chunk) {
          if (!fired) fire();
          sink.data(chunk);
        },
        end(trailers) {
          fire();
          sink.end(trailers);
        },
        error(err) {
          fire();
          sink.error(err);
        },
      });
    },
    pause: () => body.pause(),
    resume: () => body.resume(),
    cancel(err) {
      fire();
      body.cancel(err);
    },
  };
}
