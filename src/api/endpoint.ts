/**
 * The endpoint model every discovery source produces and the stacks consume
 * (linkerd `proxy/api-resolve` `Metadata`): declared here, below discovery,
 * because the control-plane conversions (`destination.ts`, `outbound.ts`)
 * produce it too; `discovery/resolve.ts` re-exports it.
 *
 * @module
 */

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
  /**
   * "host:port" a gateway is reached under (linkerd `authority_override`,
   * multicluster): the request's authority is rewritten to it, and the
   * transport header carries its name and port.
   */
  readonly authorityOverride?: string;
  /**
   * Discovery's metric labels (the set's `metric_labels` overlaid with the
   * address's, linkerd `pb.rs` `to_addr_meta`), exported as `dst_<name>`.
   */
  readonly metricLabels?: Readonly<Record<string, string>>;
}
