/**
 * `io.linkerd.proxy.destination` (the Destination API) as decoded from the
 * wire, and the conversion of its endpoints to Petrel's discovery model
 * (linkerd `proxy/api-resolve` `pb.rs` `to_addr_meta`).
 *
 * @module
 */
import type { EndpointMeta } from "./endpoint.ts";
import type { Duration } from "./duration.ts";
import type { HttpMethod } from "./http_types.ts";
import type { Metadata } from "./meta.ts";
import { formatIp, formatTcpAddress, type TcpAddress } from "./net.ts";

/** A decoded `destination.GetDestination`. */
export interface GetDestination {
  readonly scheme: string;
  readonly path: string;
  readonly context_token: string;
}

/** A decoded `destination.TlsIdentity`. */
export interface TlsIdentity {
  readonly strategy?: "dns_like_identity" | "uri_like_identity";
  readonly dns_like_identity?: { readonly name: string } | null;
  readonly uri_like_identity?: { readonly uri: string } | null;
  readonly server_name?: { readonly name: string } | null;
}

/** A decoded `destination.ProtocolHint`. */
export interface ProtocolHint {
  readonly protocol?: "h2" | "opaque";
  readonly h2?: unknown;
  readonly opaque?: unknown;
  readonly opaque_transport?: { readonly inbound_port: number } | null;
}

/** A decoded `destination.WeightedAddr`. */
export interface WeightedAddr {
  readonly addr: TcpAddress | null | undefined;
  readonly weight: number;
  readonly metric_labels?: Readonly<Record<string, string>>;
  readonly tls_identity?: TlsIdentity | null;
  readonly protocol_hint?: ProtocolHint | null;
  readonly authority_override?: { readonly authority_override: string } | null;
  readonly resource_ref?: Metadata | null;
}

/** A decoded `destination.Update` (`update` names the member set). */
export interface Update {
  readonly update?: "add" | "remove" | "no_endpoints";
  readonly add?: {
    readonly addrs: readonly WeightedAddr[];
    readonly metric_labels?: Readonly<Record<string, string>>;
  } | null;
  readonly remove?: { readonly addrs: readonly TcpAddress[] } | null;
  readonly no_endpoints?: { readonly exists: boolean } | null;
}

/** A decoded `destination.RequestMatch` (`match` names the member set). */
export interface RequestMatch {
  readonly match?: "all" | "any" | "not" | "path" | "method";
  readonly all?: { readonly matches: readonly RequestMatch[] } | null;
  readonly any?: { readonly matches: readonly RequestMatch[] } | null;
  readonly not?: RequestMatch | null;
  readonly path?: { readonly regex: string } | null;
  readonly method?: HttpMethod | null;
}

/** A decoded `destination.ResponseMatch`. */
export interface ResponseMatch {
  readonly match?: "all" | "any" | "not" | "status";
  readonly all?: { readonly matches: readonly ResponseMatch[] } | null;
  readonly any?: { readonly matches: readonly ResponseMatch[] } | null;
  readonly not?: ResponseMatch | null;
  readonly status?: { readonly min: number; readonly max: number } | null;
}

/** A decoded `destination.Route` (a service-profile route). */
export interface ProfileRoute {
  readonly condition: RequestMatch | null | undefined;
  readonly response_classes: readonly {
    readonly condition: ResponseMatch | null | undefined;
    readonly is_failure: boolean;
  }[];
  readonly metrics_labels?: Readonly<Record<string, string>>;
  readonly is_retryable: boolean;
  readonly timeout: Duration | null | undefined;
}

/** A decoded `destination.RetryBudget`. */
export interface RetryBudget {
  readonly retry_ratio: number;
  readonly min_retries_per_second: number;
  readonly ttl: Duration | null | undefined;
}

/** A decoded `destination.WeightedDst`. */
export interface WeightedDst {
  readonly authority: string;
  readonly weight: number;
  readonly backend_ref?: Metadata | null;
}

/** A decoded `destination.DestinationProfile`. */
export interface DestinationProfile {
  readonly routes: readonly ProfileRoute[];
  readonly retry_budget: RetryBudget | null | undefined;
  readonly dst_overrides: readonly WeightedDst[];
  readonly opaque_protocol: boolean;
  readonly fully_qualified_name: string;
  readonly endpoint?: WeightedAddr | null;
  readonly parent_ref?: Metadata | null;
  readonly profile_ref?: Metadata | null;
}

/** One endpoint from discovery: the model's metadata plus the protocol hint. */
export interface DiscoveredEndpoint {
  readonly meta: EndpointMeta;
  /** The endpoint accepts HTTP/2 (`protocol_hint.h2`: it is meshed). */
  readonly h2: boolean;
}

/**
 * Converts a `WeightedAddr` (linkerd `to_addr_meta`): the address, the TLS
 * identity (the DNS-like name, else the URI), the weight, the protocol
 * hint and the metric labels (the set's, overridden by the address's). Throws `TypeError` when the address is missing.
 */
export function endpointOf(
  wa: WeightedAddr,
  setLabels?: Readonly<Record<string, string>>,
): DiscoveredEndpoint {
  const addr = formatTcpAddress(wa.addr);
  const host = formatIp(wa.addr?.ip);
  const id = wa.tls_identity;
  const identity = id?.dns_like_identity?.name || id?.uri_like_identity?.uri ||
    undefined;
  const metricLabels = mergeLabels(setLabels, wa.metric_labels);
  const meta: EndpointMeta = {
    addr,
    host,
    port: wa.addr!.port,
    ...(identity === undefined ? {} : { identity }),
    ...(wa.weight > 0 ? { weight: wa.weight } : {}),
    ...(metricLabels === undefined ? {} : { metricLabels }),
  };
  const h2 = wa.protocol_hint?.protocol === "h2" ||
    (wa.protocol_hint?.h2 !== undefined && wa.protocol_hint?.h2 !== null);
  const inboundPort = wa.protocol_hint?.opaque_transport?.inbound_port ?? 0;
  const override = authorityOverrideOf(wa.authority_override);
  if (h2 || inboundPort > 0 || override !== undefined) {
    return {
      meta: {
        ...meta,
        ...(h2 ? { meshed: true } : {}),
        ...(inboundPort > 0 ? { opaqueTransportPort: inboundPort } : {}),
        ...(override === undefined ? {} : { authorityOverride: override }),
      },
      h2,
    };
  }
  return { meta, h2 };
}

/**
 * The `authority_override` as "host:port", or undefined when unset or
 * without a port (linkerd `to_authority`; the tagged transport then keeps
 * the endpoint's port and no name).
 */
function authorityOverrideOf(
  o: { readonly authority_override: string } | null | undefined,
): string | undefined {
  const a = o?.authority_override?.trim().toLowerCase() ?? "";
  return /^[a-z0-9.-]+:[0-9]{1,5}$/.test(a) && Number(a.split(":")[1]) <= 65535
    ? a
    : undefined;
}

/** The set's labels overlaid with the address's (linkerd merges them so), or none. */
function mergeLabels(
  set: Readonly<Record<string, string>> | undefined,
  addr: Readonly<Record<string, string>> | undefined,
): Readonly<Record<string, string>> | undefined {
  const hasSet = set !== undefined && Object.keys(set).length > 0;
  const hasAddr = addr !== undefined && Object.keys(addr).length > 0;
  if (!hasSet && !hasAddr) return undefined;
  return { ...set, ...addr };
}
