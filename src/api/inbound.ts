/**
 * `io.linkerd.proxy.inbound` messages as decoded from the wire (see
 * `proto/inbound.proto` and `proto.ts`'s decoding options), and the
 * conversions that need only the wire types (linkerd2-proxy-api
 * `inbound.rs`, `net.rs` `IpNetwork`). The server policy model itself is
 * built in `src/inbound/api.ts`.
 *
 * @module
 */
import type { Duration } from "./duration.ts";
import type { GrpcFailureInjector, GrpcRouteMatch } from "./grpc_route.ts";
import type {
  HeaderModifier,
  HostMatch,
  HttpFailureInjector,
  HttpRouteMatch,
  RequestRedirect,
} from "./http_route.ts";
import type { Metadata } from "./meta.ts";
import { formatIp, type IPAddress, ipAddressOf } from "./net.ts";

/** A decoded `inbound.PortSpec`. */
export interface PortSpec {
  readonly workload: string;
  readonly port: number;
}

/** A decoded `net.IPNetwork`. */
export interface IPNetwork {
  readonly ip: IPAddress | null | undefined;
  readonly prefix_len: number;
}

/** A decoded `inbound.Network`. */
export interface Network {
  readonly net: IPNetwork | null | undefined;
  readonly except: readonly IPNetwork[];
}

/** A decoded `inbound.IdentitySuffix`. */
export interface IdentitySuffix {
  readonly parts: readonly string[];
}

/** A decoded `inbound.Authn` (`permit` names the member set). */
export interface Authn {
  readonly permit?: "unauthenticated" | "meshTLS";
  readonly unauthenticated?: object | null;
  readonly meshTLS?: {
    readonly clients?: "unauthenticated" | "identities";
    readonly unauthenticated?: object | null;
    readonly identities?: {
      readonly identities: readonly { readonly name: string }[];
      readonly suffixes: readonly IdentitySuffix[];
    } | null;
  } | null;
}

/** A decoded `inbound.Authz`. */
export interface Authz {
  readonly networks: readonly Network[];
  readonly authentication: Authn | null | undefined;
  readonly labels: Readonly<Record<string, string>>;
  readonly metadata: Metadata | null | undefined;
}

/** A decoded `inbound.HttpRoute.Filter`. */
export interface InboundHttpFilter {
  readonly kind?: "failure_injector" | "request_header_modifier" | "redirect";
  readonly failure_injector?: HttpFailureInjector | null;
  readonly request_header_modifier?: HeaderModifier | null;
  readonly redirect?: RequestRedirect | null;
}

/** A decoded `inbound.GrpcRoute.Filter`. */
export interface InboundGrpcFilter {
  readonly kind?: "failure_injector" | "request_header_modifier";
  readonly failure_injector?: GrpcFailureInjector | null;
  readonly request_header_modifier?: HeaderModifier | null;
}

/** A decoded `inbound.HttpRoute`. */
export interface InboundHttpRoute {
  readonly metadata: Metadata | null | undefined;
  readonly hosts: readonly HostMatch[];
  readonly authorizations: readonly Authz[];
  readonly rules: readonly {
    readonly matches: readonly HttpRouteMatch[];
    readonly filters: readonly InboundHttpFilter[];
  }[];
}

/** A decoded `inbound.GrpcRoute`. */
export interface InboundGrpcRoute {
  readonly metadata: Metadata | null | undefined;
  readonly hosts: readonly HostMatch[];
  readonly authorizations: readonly Authz[];
  readonly rules: readonly {
    readonly matches: readonly GrpcRouteMatch[];
    readonly filters: readonly InboundGrpcFilter[];
  }[];
}

/** A decoded `inbound.HttpLocalRateLimit.Limit`. */
export interface Limit {
  readonly requestsPerSecond: number;
}

/** A decoded `inbound.HttpLocalRateLimit`. */
export interface HttpLocalRateLimit {
  readonly metadata: Metadata | null | undefined;
  readonly total: Limit | null | undefined;
  readonly identity: Limit | null | undefined;
  readonly overrides: readonly {
    readonly limit: Limit | null | undefined;
    readonly clients:
      | {
        readonly identities: readonly { readonly name: string }[];
      }
      | null
      | undefined;
  }[];
}

/** A decoded `inbound.ProxyProtocol` (`kind` names the member set). */
export interface ProxyProtocol {
  readonly kind?: "detect" | "opaque" | "tls" | "http1" | "http2" | "grpc";
  readonly detect?: {
    readonly timeout: Duration | null | undefined;
    readonly http_routes: readonly InboundHttpRoute[];
    readonly http_local_rate_limit: HttpLocalRateLimit | null | undefined;
  } | null;
  readonly http1?: {
    readonly routes: readonly InboundHttpRoute[];
    readonly local_rate_limit: HttpLocalRateLimit | null | undefined;
  } | null;
  readonly http2?: {
    readonly routes: readonly InboundHttpRoute[];
    readonly local_rate_limit: HttpLocalRateLimit | null | undefined;
  } | null;
  readonly grpc?: { readonly routes: readonly InboundGrpcRoute[] } | null;
  readonly opaque?: object | null;
  readonly tls?: object | null;
}

/** A decoded `inbound.Server`. */
export interface Server {
  readonly protocol: ProxyProtocol | null | undefined;
  readonly server_ips: readonly IPAddress[];
  readonly authorizations: readonly Authz[];
  readonly labels: Readonly<Record<string, string>>;
}

/** "10.0.0.0/8" of an `IPNetwork`; throws `TypeError` when unset or out of range. */
export function formatIpNetwork(n: IPNetwork | null | undefined): string {
  if (n === null || n === undefined) {
    throw new TypeError("Cannot parse network: it is not set");
  }
  const ip = formatIp(n.ip);
  const max = ip.includes(":") ? 128 : 32;
  if (!Number.isInteger(n.prefix_len) || n.prefix_len > max) {
    throw new RangeError(
      `Cannot parse network: current prefix length is "${n.prefix_len}"`,
    );
  }
  return `${ip}/${n.prefix_len}`;
}

/** The `IPNetwork` message of "10.0.0.0/8" (tests and tools). */
export function ipNetworkOf(cidr: string): IPNetwork {
  const slash = cidr.indexOf("/");
  const ip = slash < 0 ? cidr : cidr.slice(0, slash);
  const prefix = slash < 0
    ? (ip.includes(":") ? 128 : 32)
    : Number(cidr.slice(slash + 1));
  return { ip: ipAddressOf(ip), prefix_len: prefix };
}
