/**
 * The outermost HTTP layer of the outbound stack: the in-flight limit and
 * the rescue of every error into a response (`http/respond.ts` `rescuer`;
 * linkerd
 * `out/http/server.rs` `ServerRescue`, `LoadShed` over `ConcurrencyLimit`).
 *
 * @module
 */
import { countedByEndpoint } from "../../metrics/http_endpoint.ts";
import { LoadShedError } from "../../errors.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../../http/message.ts";
import { type RescuedError, rescuer } from "../../http/respond.ts";
import type { AccessLog } from "../../access_log.ts";
import type { OutboundCtx } from "../runtime.ts";

/**
 * Optional extras of the outermost layer, carried on the outbound context
 * object (they belong in `OutboundCtx`; kept here so it stays unchanged).
 */
export interface HttpServerExtras {
  /** One access-log line per request; absent = no layer at all. */
  readonly accessLog?: AccessLog | undefined;
  /** Told about every rescued error (the admin dashboard's ring buffer). */
  readonly onRescue?: ((e: RescuedError) => void) | undefined;
}

/**
 * Wraps the logical stack: sheds load above `maxInFlight`, and rescues every
 * error into a synthetic response (status, `l5d-proxy-error`, gRPC status).
 * HTTP/2 stream resets are not rescued: they propagate so the downstream
 * stream is reset with the same code (linkerd §8.1).
 */
export function newHttpServer(
  ctx: OutboundCtx & HttpServerExtras,
): (inner: HttpService) => HttpService {
  const { maxInFlight, informationalHeaders } = ctx.settings;
  const { accessLog, onRescue } = ctx;
  return (inner) => {
    let inFlight = 0;
    const rescue = rescuer({
      informationalHeaders,
      onRescue(req, rescue, response) {
        // Connection errors were counted by the endpoint as 502/504.
        if (!countedByEndpoint(rescue.kind)) ctx.metrics.httpError(rescue.kind);
        onRescue?.({
          timeMs: Date.now(),
          kind: rescue.kind,
          message: rescue.message,
          status: response.status,
          authority: req.authority,
          path: req.path,
        });
        ctx.log.info(
          req.version === "HTTP/2" && response.headers["grpc-status"]
            ? "gRPC request failed"
            : `${req.version} request failed`,
          { error: rescue.message, path: req.path },
        );
      },
    });
    function serverService(req: HttpRequest): Promise<HttpResponse> {
      if (inFlight >= maxInFlight) {
        return Promise.resolve(
          rescue(req, new LoadShedError("max in-flight requests reached")),
        );
      }
      inFlight++;
      let p: Promise<HttpResponse>;
      try {
        p = inner(req);
      } catch (err) {
        p = Promise.reject(err);
      }
      return p.then(
        (rsp) => {
          inFlight--;
          return rsp;
        },
        (err) => {
          inFlight--;
          return rescue(req, err);
        },
      );
    }
    return accessLog === undefined
      ? serverService
      : accessLog.wrap(serverService);
  };
}
