/**
 * `InboundServerPolicies` messages to the server policy model (linkerd
 * `server-policy` `TryFrom<api::Server>`, `authz::proto`, `http::proto`,
 * `grpc::proto`, `local_rate_limit::proto`), with linkerd's validation: a
 * missing protocol, detect timeout, authentication or network is an error
 * (the watch keeps its last good policy).
 *
 * @module
 */
import { durationMs } from "../api/duration.ts";
import { grpcFailureInjectorOf, grpcRouteMatchOf } from "../api/grpc_route.ts";
import {
  headerModifierOf,
  hostMatchOf,
  httpFailureInjectorOf,
  httpRouteMatchOf,
  requestRedirectOf,
} from "../api/http_route.ts";
import {
  type Authz,
  formatIpNetwork,
  type HttpLocalRateLimit,
  type InboundGrpcRoute as WireGrpcRoute,
  type InboundHttpRoute as WireHttpRoute,
  type Server,
} from "../api/inbound.ts";
import type { Metadata } from "../api/meta.ts";
import {
  type Authentication,
  type Authorization,
  defaultGrpcRoute,
  defaultHttpRoute,
  type InboundGrpcFilter,
  type InboundGrpcRoute,
  type InboundHttpFilter,
  type InboundHttpRoute,
  LOCALHOST_AUTHZ,
  parseCidr,
  type PolicyMeta,
  type RateLimitSpec,
  type ServerPolicy,
  type ServerProtocol,
} from "./server_policy.ts";

/** linkerd `Meta::try_new_with_default` over a labels map. */
function metaOfLabels(
  labels: Readonly<Record<string, string>>,
  group: string,
  kind: string,
): PolicyMeta {
  const name = labels["name"];
  if (name === undefined || name === "") {
    throw new TypeError("Cannot parse policy metadata: no name label");
  }
  return {
    group: labels["group"] ?? group,
    kind: labels["kind"] ?? kind,
    name,
  };
}

/** linkerd `Meta::try_from(api::meta::Metadata)`. */
function metaOf(m: Metadata | null | undefined): PolicyMeta | undefined {
  if (m === null || m === undefined) return undefined;
  if (m.kind === "default" || (m.kind === undefined && m.default)) {
    return { group: "", kind: "default", name: m.default ?? "" };
  }
  const r = m.resource;
  if (r === null || r === undefined) return undefined;
  return { group: r.group, kind: r.kind, name: r.name };
}

/** One authorization (linkerd `Authorization::try_from(api::Authz)`). */
export function authorizationOf(a: Authz): Authorization {
  const meta = metaOf(a.metadata) ??
    metaOfLabels(a.labels, "policy.linkerd.io", "serverauthorization");
  if (a.networks.length === 0) {
    throw new TypeError(
      `Cannot parse authorization "${meta.name}": no networks`,
    );
  }
  const networks = a.networks.map((n) => ({
    net: parseCidr(formatIpNetwork(n.net)),
    except: n.except.map((e) => parseCidr(formatIpNetwork(e))),
  }));
  const authn = a.authentication;
  let authentication: Authentication;
  if (
    authn?.permit === "unauthenticated" ||
    (authn?.permit === undefined && authn?.unauthenticated)
  ) {
    authentication = { kind: "unauthenticated" };
  } else if (authn?.meshTLS) {
    const m = authn.meshTLS;
    if (
      m.clients === "identities" || (m.clients === undefined && m.identities)
    ) {
      const ids = m.identities;
      authentication = {
        kind: "tls-authenticated",
        identities: new Set((ids?.identities ?? []).map((i) => i.name)),
        suffixes: (ids?.suffixes ?? []).map((s) => s.parts.join(".")),
      };
    } else if (m.clients === "unauthenticated" || m.unauthenticated) {
      authentication = { kind: "tls-unauthenticated" };
    } else {
      throw new TypeError(
        `Cannot parse authorization "${meta.name}": meshTLS without clients`,
      );
    }
  } else {
    throw new TypeError(
      `Cannot parse authorization "${meta.name}": no authentication`,
    );
  }
  return { meta, networks, authentication };
}

/** The server's authorizations, then localhost's (linkerd `mk_authorizations`). */
function authorizationsOf(
  list: readonly Authz[],
  tail: readonly Authorization[],
): Authorization[] {
  return [...list.map(authorizationOf), ...tail];
}

function httpRouteOf(
  r: WireHttpRoute,
  server: readonly Authorization[],
): InboundHttpRoute {
  const meta = metaOf(r.metadata) ??
    { group: "", kind: "default", name: "default" };
  if (r.rules.length === 0) {
    throw new TypeError(`Cannot parse HTTP route "${meta.name}": no rules`);
  }
  return {
    meta,
    hosts: r.hosts.map(hostMatchOf),
    authorizations: authorizationsOf(r.authorizations, server),
    rules: r.rules.map((rule) => ({
      matches: rule.matches.length === 0
        ? [{
          path: { kind: "prefix", value: "/" },
          headers: [],
          queryParams: [],
        }]
        : rule.matches.map(httpRouteMatchOf),
      filters: rule.filters.map((f): InboundHttpFilter => {
        if (f.failure_injector) {
          return {
            kind: "failureInjector",
            ...httpFailureInjectorOf(f.failure_injector),
          };
        }
        if (f.request_header_modifier) {
          return {
            kind: "requestHeaderModifier",
            ...headerModifierOf(f.request_header_modifier),
          };
        }
        if (f.redirect) {
          return { kind: "requestRedirect", ...requestRedirectOf(f.redirect) };
        }
        throw new TypeError(
          `Cannot parse HTTP route "${meta.name}": a filter has no kind`,
        );
      }),
    })),
  };
}

function grpcRouteOf(
  r: WireGrpcRoute,
  server: readonly Authorization[],
): InboundGrpcRoute {
  const meta = metaOf(r.metadata) ??
    { group: "", kind: "default", name: "default" };
  if (r.rules.length === 0) {
    throw new TypeError(`Cannot parse gRPC route "${meta.name}": no rules`);
  }
  return {
    meta,
    hosts: r.hosts.map(hostMatchOf),
    authorizations: authorizationsOf(r.authorizations, server),
    rules: r.rules.map((rule) => ({
      matches: rule.matches.length === 0
        ? [{ headers: [] }]
        : rule.matches.map(grpcRouteMatchOf),
      filters: rule.filters.map((f): InboundGrpcFilter => {
        if (f.failure_injector) {
          return {
            kind: "failureInjector",
            ...grpcFailureInjectorOf(f.failure_injector),
          };
        }
        if (f.request_header_modifier) {
          return {
            kind: "requestHeaderModifier",
            ...headerModifierOf(f.request_header_modifier),
          };
        }
        throw new TypeError(
          `Cannot parse gRPC route "${meta.name}": a filter has no kind`,
        );
      }),
    })),
  };
}

/** linkerd `LocalRateLimit::try_from(api::HttpLocalRateLimit)`. */
function rateLimitOf(
  r: HttpLocalRateLimit | null | undefined,
): RateLimitSpec | undefined {
  if (r === null || r === undefined) return undefined;
  const overrides = new Map<string, number>();
  for (const o of r.overrides) {
    const rps = o.limit?.requestsPerSecond ?? 0;
    if (rps <= 0) continue;
    for (const id of o.clients?.identities ?? []) overrides.set(id.name, rps);
  }
  return {
    meta: metaOf(r.metadata),
    totalRps: r.total?.requestsPerSecond ?? 0,
    identityRps: r.identity?.requestsPerSecond ?? 0,
    overrides,
  };
}

/**
 * The policy of a `Server` message (linkerd `ServerPolicy::try_from`);
 * throws `TypeError` / `RangeError` on an invalid message.
 */
export function serverPolicyOf(s: Server): ServerPolicy {
  const p = s.protocol;
  if (p === null || p === undefined || p.kind === undefined) {
    throw new TypeError("Cannot parse server policy: no proxy protocol");
  }
  const meta = metaOfLabels(s.labels, "policy.linkerd.io", "server");
  const authorizations = authorizationsOf(s.authorizations, [LOCALHOST_AUTHZ]);
  const http = (routes: readonly WireHttpRoute[]) =>
    routes.length === 0
      ? [defaultHttpRoute(authorizations)]
      : routes.map((r) => httpRouteOf(r, authorizations));
  let protocol: ServerProtocol;
  let rateLimit: RateLimitSpec | undefined;
  switch (p.kind) {
    case "detect": {
      const timeoutMs = durationMs(p.detect?.timeout);
      if (timeoutMs === undefined) {
        throw new TypeError(
          "Cannot parse server policy: detect has no timeout",
        );
      }
      protocol = {
        kind: "detect",
        timeoutMs,
        http: http(p.detect?.http_routes ?? []),
      };
      rateLimit = rateLimitOf(p.detect?.http_local_rate_limit);
      break;
    }
    case "http1":
    case "http2": {
      const v = p.kind === "http1" ? p.http1 : p.http2;
      protocol = { kind: p.kind, http: http(v?.routes ?? []) };
      rateLimit = rateLimitOf(v?.local_rate_limit);
      break;
    }
    case "grpc": {
      const routes = p.grpc?.routes ?? [];
      protocol = {
        kind: "grpc",
        grpc: routes.length === 0
          ? [defaultGrpcRoute(authorizations)]
          : routes.map((r) => grpcRouteOf(r, authorizations)),
      };
      break;
    }
    case "opaque":
      protocol = { kind: "opaque" };
      break;
    case "tls":
      protocol = { kind: "tls" };
      break;
  }
  return {
    meta,
    protocol,
    authorizations,
    ...(rateLimit ? { rateLimit } : {}),
  };
}
