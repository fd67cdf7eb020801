/**
 * One endpoint's HTTP clients with their metrics (linkerd
 * `out/http/endpoint.rs`, `phttp/client.rs`).
 *
 * @module
 */
import type {
  EndpointMeta,
  UpstreamProtocol,
} from "../../discovery/resolve.ts";
import { classifyError, classifyResponse } from "../../http/classify.ts";
import { H1Pool } from "../../http/h1/pool.ts";
import { H2Client } from "../../http/h2/client.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../../http/message.ts";
import { connectTcp } from "../../transport/connect.ts";
import type { HttpEndpointMetrics, OutboundCtx } from "../runtime.ts";

/** The target of an endpoint stack (linkerd `Endpoint`). */
export interface EndpointTarget {
  /** The logical service, "host:port". */
  readonly logical: string;
  readonly protocol: UpstreamProtocol;
  readonly meta: EndpointMeta;
}

/** An endpoint's service plus what the balancer reads from it. */
export interface HttpEndpoint extends Disposable {
  readonly addr: string;
  readonly service: HttpService;
  /** Requests dispatched and not yet answered (headers). */
  readonly pending: number;
}

/** Builds the client stack for one endpoint (linkerd `push_http_endpoint`). */
export function newHttpEndpoint(
  ctx: OutboundCtx,
): (target: EndpointTarget) => HttpEndpoint {
  return (target) => new Endpoint(ctx, target);
}

class Endpoint implements HttpEndpoint {
  readonly addr: string;
  readonly #ctx: OutboundCtx;
  readonly #target: EndpointTarget;
  readonly #metrics: HttpEndpointMetrics;
  #h1: H1Pool | undefined;
  #h2: H2Client | undefined;
  #pending = 0;
  readonly service: HttpService;

  constructor(ctx: OutboundCtx, target: EndpointTarget) {
    this.#ctx = ctx;
    this.#target = target;
    this.addr = target.meta.addr;
    this.#metrics = ctx.metrics.httpEndpoint({
      direction: "outbound",
      authority: target.logical,
      targetAddr: target.meta.addr,
    });
    this.service = (req) => this.#call(req);
  }

  get pending(): number {
    return this.#pending;
  }

  #connect = () =>
    connectTcp(this.#target.meta.host, this.#target.meta.port, {
      timeoutMs: this.#ctx.settings.connectTimeoutMs,
    });

  #client(req: HttpRequest): H1Pool | H2Client {
    const p = this.#target.protocol;
    const h2 = p === "http2" ||
      (p === "auto" && req.version === "HTTP/2" && !req.ext.upgrade);
    if (h2 && !req.ext.upgrade) {
      return this.#h2 ??= new H2Client(this.addr, { connect: this.#connect });
    }
    return this.#h1 ??= new H1Pool(this.addr, {
      connect: this.#connect,
      idleTimeoutMs: this.#ctx.settings.http1PoolIdleTimeoutMs,
      maxIdle: this.#ctx.settings.maxIdleConnsPerEndpoint,
    });
  }

  #call(req: HttpRequest): Promise<HttpResponse> {
    const m = this.#metrics;
    m.request();
    this.#pending++;
    const start = performance.now();
    return this.#client(req).request(req).then(
      (rsp) => {
        this.#pending--;
        const latencyMs = performance.now() - start;
        return classifyResponse(req, rsp, (c) => {
          m.response(rsp.status, {
            classification: c.failure ? "failure" : "success",
            ...(c.kind === "grpc" && c.code >= 0 ? { grpcStatus: c.code } : {}),
            ...(c.kind === "error" ? { error: c.error } : {}),
            latencyMs,
          });
        });
      },
      (err) => {
        this.#pending--;
        m.response(0, {
          classification: "failure",
          error: classifyError(err).error,
          latencyMs: performance.now() - start,
        });
        throw err;
      },
    );
  }

  [Symbol.dispose](): void {
    this.#h1?.close();
    this.#h2?.close();
  }
}
