/**
 * The whole outbound HTTP stack on one page (linkerd `out/sidecar.rs`,
 * `push_http_server`). Read top to bottom = innermost to outermost:
 * endpoint → concrete (balancer) → router (policy) → logical (discovery
 * cache) → server (rescue). Benches and tests build the same stages with
 * a fake endpoint.
 *
 * @module
 */
import { L5D_DST_OVERRIDE } from "../http/headers.ts";
import type { HttpRequest, HttpService } from "../http/message.ts";
import { stack } from "../svc/stack.ts";
import { newTapLayer } from "../tap/tap.ts";
import { type NewEndpoint, newHttpConcrete } from "./http/concrete.ts";
import { newHttpEndpoint } from "./http/endpoint.ts";
import { newHttpLogical } from "./http/logical.ts";
import { newHttpRouter } from "./http/router.ts";
import { newHttpServer } from "./http/server.ts";
import type { OutboundCtx } from "./runtime.ts";

/** The outbound HTTP service plus the resources it owns. */
export interface HttpSidecar extends Disposable {
  /** Requests routed by name: `l5d-dst-override`, else Host/`:authority` (explicit proxy). */
  readonly service: HttpService;
  /**
   * The service for a connection redirected to `origDst` ("ip:port"): its
   * requests go to that address as their logical target, whatever their
   * Host says, and an app's `l5d-dst-override` is dropped. In ingress mode
   * the header is honoured, and the original destination is the fallback
   * (linkerd `HttpSidecar` keyed by `OrigDstAddr`; `out/ingress.rs`).
   */
  forOrigDst(origDst: string): HttpService;
}

/** Options for {@linkcode mkHttpSidecar}. */
export interface HttpSidecarOptions {
  /** `LINKERD2_PROXY_INGRESS_MODE`. @default false */
  ingressMode?: boolean;
  /**
   * The endpoint stage (benches and tests pass a fake one).
   * @default {newHttpEndpoint(ctx): the real clients}
   */
  newEndpoint?: NewEndpoint;
}

/** Builds the outbound HTTP stack (linkerd `Outbound::mk_sidecar`). */
export function mkHttpSidecar(
  ctx: OutboundCtx,
  opts: HttpSidecarOptions = {},
): HttpSidecar {
  // Innermost first; each stage is built from the one before it.
  const endpoint = opts.newEndpoint ?? newHttpEndpoint(ctx); // one client per endpoint: H1 pool, H2, orig-proto, mTLS
  const concrete = newHttpConcrete(ctx, endpoint); // one P2C balancer + failfast queue per backend
  const router = newHttpRouter(ctx, concrete); // routes → weighted backends, retries, timeouts
  const logical = newHttpLogical(ctx, router); // destination → discovery, cached while in use
  const service = stack<HttpService>(logical)
    .push(newHttpServer(ctx)) // in-flight limit + the one error rescue
    .push(newTapLayer(ctx.taps, "outbound")) // tap events; one boolean check while no tap is active
    .into();
  const ingress = opts.ingressMode ?? false;
  return {
    service,
    forOrigDst(origDst) {
      // The logical layer routes by `ext.logical`; it still removes an
      // app's `l5d-dst-override` (honoured instead in ingress mode).
      return function origDstService(req: HttpRequest) {
        if (!ingress || req.headers[L5D_DST_OVERRIDE] === undefined) {
          req.ext.logical = origDst;
        }
        return service(req);
      };
    },
    [Symbol.dispose]: () => logical[Symbol.dispose](),
  };
}
