/**
 * The one internal discovery model every source feeds: YAML file, DNS and
 * (later) the Linkerd Destination/Policy APIs (linkerd `proxy/core` Resolve,
 * `client-policy`).
 *
 * @module
 */
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type { ServiceRoutes } from "../http/route/model.ts";
import type { EndpointMeta } from "../api/endpoint.ts";
import type { Watch } from "../svc/watch.ts";

export type { EndpointMeta };

/**
 * Upstream protocol for a service's endpoints: fixed, or "auto" to speak
 * the protocol the request arrived with (linkerd: H2 app traffic goes to the
 * endpoint as H2, HTTP/1 as HTTP/1).
 */
export type UpstreamProtocol = "http1" | "http2" | "auto";

/**
 * How a service's balancer weighs its endpoints: linkerd's P2C over
 * Peak-EWMA, or the same with the load peer Petrels report
 * (`balance/peer_load.ts`; not in linkerd).
 */
export type LoadBalancerKind = "p2c-ewma" | "peer-load";

/** What discovery knows about one logical service, as of now. */
export interface ServiceState {
  /** The logical authority, "host:port". */
  readonly name: string;
  readonly protocol: UpstreamProtocol;
  readonly endpoints: readonly EndpointMeta[];
  /** Where this state came from: "config", "dns", "destination". */
  readonly source: string;
  /** Circuit breaking for this service's endpoints; absent = none (linkerd default). */
  readonly failureAccrual?: FailureAccrualSpec;
  /** The balancer's cost rule; absent = "p2c-ewma" (linkerd's). */
  readonly loadBalancer?: LoadBalancerKind;
  /**
   * The service's HTTP or gRPC routes (linkerd `ProxyProtocol` routes);
   * absent = one default route to the service's own endpoints.
   */
  readonly routes?: ServiceRoutes;
  /**
   * Connections to this service skip protocol detection and are forwarded
   * as opaque TCP (linkerd: profile `opaque_protocol`, policy `Opaque`,
   * opaque ports).
   */
  readonly opaque?: boolean;
}

/** A discovery source (linkerd `Resolve`). */
export interface Discovery {
  /**
   * Resolves a logical authority "host:port" to a live view of its service.
   * Rejects with `ResolveError` when no source knows the name.
   */
  resolve(authority: string): Promise<Watch<ServiceState>>;
}
