/**
 * The inbound server policy model (linkerd `linkerd/proxy/server-policy`:
 * `ServerPolicy`, `Protocol`, `Authorization`, `Authentication`, and
 * `app/inbound/src/policy/defaults.rs`): what a port speaks, who may reach
 * it, on which routes, at which rate. Filled from the default policy or
 * from `InboundServerPolicies.WatchPort` (`src/api/inbound.ts`).
 *
 * @module
 */
import { isIP } from "node:net";
import type {
  GrpcFailureInjector,
  GrpcRouteMatch,
  HeaderModifier,
  HostMatch,
  HttpFailureInjector,
  HttpRouteMatch,
  RequestRedirect,
} from "../http/route/model.ts";

/** A resource's metadata for metric labels (linkerd `Meta`). */
export interface PolicyMeta {
  /** "" for default resources. */
  readonly group: string;
  /** "default" for synthesized resources, else e.g. "server". */
  readonly kind: string;
  readonly name: string;
}

/** linkerd `Meta::new_default(name)`. */
export function defaultMeta(name: string): PolicyMeta {
  return { group: "", kind: "default", name };
}

/** An IP network, parsed once (linkerd `IpNet`). */
export interface Cidr {
  readonly family: 4 | 6;
  readonly bits: bigint;
  readonly prefixLen: number;
}

/** A client network minus sub-networks (linkerd `authz::Network`). */
export interface Network {
  readonly net: Cidr;
  readonly except: readonly Cidr[];
}

/** How a client must authenticate (linkerd `Authentication`). */
export type Authentication =
  | { readonly kind: "unauthenticated" }
  /** Mesh TLS, any identity or none. */
  | { readonly kind: "tls-unauthenticated" }
  | {
    readonly kind: "tls-authenticated";
    readonly identities: ReadonlySet<string>;
    /** Suffixes without a leading dot; "" matches every identity. */
    readonly suffixes: readonly string[];
  };

/** One authorization (linkerd `Authorization`). */
export interface Authorization {
  readonly meta: PolicyMeta;
  readonly networks: readonly Network[];
  readonly authentication: Authentication;
}

/** An inbound HTTP route filter (linkerd `inbound.HttpRoute.Filter`). */
export type InboundHttpFilter =
  | ({ readonly kind: "requestHeaderModifier" } & HeaderModifier)
  | ({ readonly kind: "requestRedirect" } & RequestRedirect)
  | ({ readonly kind: "failureInjector" } & HttpFailureInjector);

/** An inbound gRPC route filter (linkerd `inbound.GrpcRoute.Filter`). */
export type InboundGrpcFilter =
  | ({ readonly kind: "requestHeaderModifier" } & HeaderModifier)
  | ({ readonly kind: "failureInjector" } & GrpcFailureInjector);

/** An inbound route with its own authorizations (linkerd `http::Route` / `grpc::Route` with `RoutePolicy`). */
export interface InboundRoute<M, F> {
  readonly meta: PolicyMeta;
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly {
    readonly matches: readonly M[];
    readonly filters: readonly F[];
  }[];
  /** The route's authorizations followed by the server's. */
  readonly authorizations: readonly Authorization[];
}

/** An inbound HTTP route. */
export type InboundHttpRoute = InboundRoute<HttpRouteMatch, InboundHttpFilter>;
/** An inbound gRPC route. */
export type InboundGrpcRoute = InboundRoute<GrpcRouteMatch, InboundGrpcFilter>;

/** What a port speaks (linkerd `Protocol`). */
export type ServerProtocol =
  | {
    readonly kind: "detect";
    readonly timeoutMs: number;
    readonly http: readonly InboundHttpRoute[];
  }
  | { readonly kind: "http1"; readonly http: readonly InboundHttpRoute[] }
  | { readonly kind: "http2"; readonly http: readonly InboundHttpRoute[] }
  | { readonly kind: "grpc"; readonly grpc: readonly InboundGrpcRoute[] }
  | { readonly kind: "opaque" }
  | { readonly kind: "tls" };

/** Requests per second; 0 = no limit. */
export interface RateLimitSpec {
  readonly meta: PolicyMeta | undefined;
  readonly totalRps: number;
  readonly identityRps: number;
  /** Per-identity overrides: identity → rps. */
  readonly overrides: ReadonlyMap<string, number>;
}

/** One port's policy (linkerd `ServerPolicy`). */
export interface ServerPolicy {
  readonly meta: PolicyMeta;
  readonly protocol: ServerProtocol;
  /** Connection-level authorizations (opaque, TLS, undetected traffic). */
  readonly authorizations: readonly Authorization[];
  readonly rateLimit?: RateLimitSpec | undefined;
}

/** linkerd's default inbound policies (`LINKERD2_PROXY_INBOUND_DEFAULT_POLICY`). */
export type DefaultPolicyName =
  | "all-unauthenticated"
  | "all-authenticated"
  | "cluster-unauthenticated"
  | "cluster-authenticated"
  | "deny"
  | "audit";

/** Every default policy name, for validation. */
export const DEFAULT_POLICY_NAMES: readonly DefaultPolicyName[] = Object.freeze(
  [
    "all-unauthenticated",
    "all-authenticated",
    "cluster-unauthenticated",
    "cluster-authenticated",
    "deny",
    "audit",
  ],
);

/** Parses "10.0.0.0/8", "fd00::/64" or a bare address (a host network); throws `TypeError`. */
export function parseCidr(text: string): Cidr {
  const slash = text.indexOf("/");
  const addr = slash < 0 ? text : text.slice(0, slash);
  const family = isIP(addr);
  if (family === 0) {
    throw new TypeError(`Cannot parse network: current value is "${text}"`);
  }
  const max = family === 4 ? 32 : 128;
  const prefixLen = slash < 0 ? max : Number(text.slice(slash + 1));
  if (!Number.isInteger(prefixLen) || prefixLen < 0 || prefixLen > max) {
    throw new TypeError(`Cannot parse network: current value is "${text}"`);
  }
  return cidrOf(family as 4 | 6, ipBits(addr, family), prefixLen);
}

/** A network from its address bits; host bits are cleared. */
export function cidrOf(family: 4 | 6, bits: bigint, prefixLen: number): Cidr {
  const width = family === 4 ? 32n : 128n;
  const mask = prefixLen === 0
    ? 0n
    : ((1n << BigInt(prefixLen)) - 1n) << (width - BigInt(prefixLen));
  return { family, bits: bits & mask, prefixLen };
}

/** The address as a big integer (IPv4-mapped IPv6 is IPv4). */
export function ipBits(addr: string, family = isIP(addr)): bigint {
  if (family === 4) {
    return addr.split(".").reduce((acc, o) => acc * 256n + BigInt(o), 0n);
  }
  const v4 = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(addr);
  if (v4) return ipBits(v4[1]!, 4);
  let s = addr;
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as number[];
    s = s.slice(0, tail.index) + ((a! << 8) | b!).toString(16) + ":" +
      ((c! << 8) | d!).toString(16);
  }
  const [head, rest] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = rest ? rest.split(":") : [];
  const groups = rest === undefined
    ? h
    : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups.reduce((acc, g) => (acc << 16n) | BigInt(parseInt(g, 16)), 0n);
}

/** Whether `ip` ("10.0.0.1", "::ffff:10.0.0.1", "fd00::1") is in `net`. */
export function cidrContains(net: Cidr, ip: string): boolean {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  const addr = mapped ? mapped[1]! : ip;
  const family = isIP(addr);
  if (family !== net.family) return false;
  return cidrOf(family, ipBits(addr, family), net.prefixLen).bits === net.bits;
}

/** Whether the client `ip` is in the network and outside its exceptions. */
export function networkContains(n: Network, ip: string): boolean {
  return cidrContains(n.net, ip) && !n.except.some((e) => cidrContains(e, ip));
}

/** Every IPv4 and IPv6 address. */
export const ALL_NETWORKS: readonly Network[] = Object.freeze([
  { net: cidrOf(4, 0n, 0), except: [] },
  { net: cidrOf(6, 0n, 0), except: [] },
]);

/** What the policy sees of a connection's TLS (linkerd `ConditionalServerTls`). */
export type ConnTls =
  | {
    readonly kind: "none";
    readonly reason: "no_tls_from_remote" | "loopback";
  }
  | { readonly kind: "established"; readonly clientId: string | undefined };

/** linkerd `is_authorized`: the client's network, then its authentication. */
export function isAuthorized(
  authz: Authorization,
  clientIp: string,
  tls: ConnTls,
): boolean {
  if (!authz.networks.some((n) => networkContains(n, clientIp))) return false;
  const a = authz.authentication;
  switch (a.kind) {
    case "unauthenticated":
      return true;
    case "tls-unauthenticated":
      return tls.kind === "established";
    case "tls-authenticated": {
      if (tls.kind !== "established" || tls.clientId === undefined) {
        return false;
      }
      const id = tls.clientId;
      if (a.identities.has(id)) return true;
      // Suffixes match DNS-like identities only (linkerd `Suffix::contains`).
      if (id.includes("://")) return false;
      return a.suffixes.some((s) => s === "" || id.endsWith(`.${s}`));
    }
  }
}

/**
 * The localhost authorization every API server policy gets (linkerd adds
 * it so the kubelet's and the app's own loopback traffic pass).
 */
export const LOCALHOST_AUTHZ: Authorization = Object.freeze<Authorization>({
  meta: defaultMeta("localhost"),
  networks: [
    { net: parseCidr("127.0.0.1/32"), except: [] },
    { net: parseCidr("::1/128"), except: [] },
  ],
  authentication: { kind: "unauthenticated" },
});

/** linkerd `http::default`: one route matching every request. */
export function defaultHttpRoute(
  authorizations: readonly Authorization[],
): InboundHttpRoute {
  return {
    meta: defaultMeta("default"),
    hosts: [],
    rules: [{
      matches: [{
        path: { kind: "prefix", value: "/" },
        headers: [],
        queryParams: [],
      }],
      filters: [],
    }],
    authorizations,
  };
}

/** linkerd `grpc::default`: one route matching every call. */
export function defaultGrpcRoute(
  authorizations: readonly Authorization[],
): InboundGrpcRoute {
  return {
    meta: defaultMeta("default"),
    hosts: [],
    rules: [{ matches: [{ headers: [] }], filters: [] }],
    authorizations,
  };
}

/** Options of {@linkcode defaultPolicy}. */
export interface DefaultPolicyOptions {
  /** Protocol detection timeout. @default {10000} */
  detectTimeoutMs?: number;
  /** `LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS`, needed by the cluster-* policies. */
  clusterNetworks?: readonly Cidr[];
}

/**
 * One of linkerd's default policies (linkerd `policy::defaults`), or
 * `all-tls-unauthenticated` for `INBOUND_PORTS_REQUIRE_TLS` ports. Throws
 * `TypeError` for a cluster policy without cluster networks.
 */
export function defaultPolicy(
  name: DefaultPolicyName | "all-tls-unauthenticated",
  opts: DefaultPolicyOptions = {},
): ServerPolicy {
  const timeoutMs = opts.detectTimeoutMs ?? 10_000;
  const authenticated: Authentication = {
    kind: "tls-authenticated",
    identities: new Set(),
    suffixes: [""],
  };
  const cluster = () => {
    const nets = opts.clusterNetworks ?? [];
    if (nets.length === 0) {
      throw new TypeError(
        `Cannot use inbound policy "${name}" without cluster networks (LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS)`,
      );
    }
    return nets.map((net) => ({ net, except: [] }));
  };
  let authz: Authorization[];
  switch (name) {
    case "deny":
      authz = [];
      break;
    case "all-unauthenticated":
    case "audit":
      authz = [{
        meta: defaultMeta(name),
        networks: ALL_NETWORKS,
        authentication: { kind: "unauthenticated" },
      }];
      break;
    case "all-authenticated":
      authz = [{
        meta: defaultMeta(name),
        networks: ALL_NETWORKS,
        authentication: authenticated,
      }];
      break;
    case "all-tls-unauthenticated":
      authz = [{
        meta: defaultMeta(name),
        networks: ALL_NETWORKS,
        authentication: { kind: "tls-unauthenticated" },
      }];
      break;
    case "cluster-unauthenticated":
      authz = [{
        meta: defaultMeta(name),
        networks: cluster(),
        authentication: { kind: "unauthenticated" },
      }];
      break;
    case "cluster-authenticated":
      authz = [{
        meta: defaultMeta(name),
        networks: cluster(),
        authentication: authenticated,
      }];
      break;
  }
  return {
    meta: defaultMeta(name),
    protocol: { kind: "detect", timeoutMs, http: [defaultHttpRoute(authz)] },
    authorizations: authz,
  };
}

/** The same policy without protocol detection (linkerd `Store::make_opaque`). */
export function opaquePolicy(p: ServerPolicy): ServerPolicy {
  return { ...p, protocol: { kind: "opaque" } };
}

/** Whether an authorization only audits (linkerd `Meta::is_audit`). */
export function isAudit(meta: PolicyMeta): boolean {
  return meta.kind === "default" && meta.name === "audit";
}
