/**
 * The one internal discovery model every source feeds: YAML file, DNS and
 * (later) the Linkerd Destination/Policy APIs (linkerd `proxy/core` Resolve,
 * `client-policy`).
 *
 * @module
 */
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type { ServiceRoutes } from "../http/route/model.ts";
import type { Watch } from "../svc/watch.ts";

/**
 * Upstream protocol for a service's endpoints: fixed, or "auto" to speak
 * the protocol the request arrived with (linkerd: H2 app traffic goes to the
 * endpoint as H2, HTTP/1 as HTTP/1).
 */
export type UpstreamProtocol = "http1" | "http2" | "auto";

/** One endpoint of a service (linkerd `WeightedAddr` + metadata). */
export interface EndpointMeta {
  /** "ip:port" (or "host:port" for a DNS name not yet resolved); the pool key. */
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** Expected TLS identity (SAN) when the endpoint is meshed. */
  readonly identity?: string;
  /** Discovery weight (linkerd parses it but P2C ignores it). */
  readonly weight?: number;
  /**
   * The endpoint is another Petrel or linkerd proxy (linkerd
   * `ProtocolHint::Http2`): HTTP/1 requests travel to it as HTTP/2 streams
   * with `l5d-orig-proto` (reference §8.4–8.5).
   */
  readonly meshed?: boolean;
  /**
   * The endpoint's inbound proxy port for opaque TCP with the transport
   * header (linkerd `protocol_hint.opaque_transport.inbound_port`, §9.4).
   */
  readonly opaqueTransportPort?: number;
}

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
