/**
 * The inbound authorization metrics (linkerd `app/inbound/src/metrics/authz.rs`):
 * `inbound_http_authz_allow_total`, `inbound_http_authz_deny_total`,
 * `inbound_http_route_not_found_total`, `inbound_http_local_ratelimit_total`,
 * `inbound_tcp_authz_allow_total`, `inbound_tcp_authz_deny_total`, with
 * linkerd's labels: `target_addr`, the server (`srv_group`, `srv_kind`,
 * `srv_name`, `srv_port`), the route (`route_*`), the authorization
 * (`authz_*`), the rate limit (`ratelimit_*`, `ratelimit_scope`) and the
 * TLS state (`tls`, `client_id` or `no_tls_reason`).
 *
 * @module
 */
import { Counter, type Registry } from "prom-client";
import type { RateLimited } from "./rate_limit.ts";
import type { ConnTls, PolicyMeta, ServerPolicy } from "./server_policy.ts";

const TLS = ["tls", "client_id", "no_tls_reason"] as const;
const SRV = ["srv_group", "srv_kind", "srv_name", "srv_port"] as const;
const ROUTE = ["route_group", "route_kind", "route_name"] as const;
const AUTHZ = ["authz_group", "authz_kind", "authz_name"] as const;
const RL = [
  "ratelimit_group",
  "ratelimit_kind",
  "ratelimit_name",
  "ratelimit_scope",
] as const;

type Labels = Record<string, string>;

/** The connection's labels: target and TLS. */
export interface ConnLabels {
  readonly targetAddr: string;
  readonly port: number;
  readonly tls: ConnTls;
}

function base(c: ConnLabels, srv: PolicyMeta): Labels {
  const l: Labels = {
    target_addr: c.targetAddr,
    srv_group: srv.group,
    srv_kind: srv.kind,
    srv_name: srv.name,
    srv_port: String(c.port),
  };
  if (c.tls.kind === "established") {
    l.tls = "true";
    if (c.tls.clientId !== undefined) l.client_id = c.tls.clientId;
  } else {
    l.tls = "no_identity";
    l.no_tls_reason = c.tls.reason;
  }
  return l;
}

function route(l: Labels, r: PolicyMeta): Labels {
  l.route_group = r.group;
  l.route_kind = r.kind;
  l.route_name = r.name;
  return l;
}

function authz(l: Labels, a: PolicyMeta): Labels {
  l.authz_group = a.group;
  l.authz_kind = a.kind;
  l.authz_name = a.name;
  return l;
}

/** The inbound authorization counters (linkerd `HttpAuthzMetrics` + `TcpAuthzMetrics`). */
export class InboundAuthzMetrics {
  readonly #httpAllow: Counter;
  readonly #httpDeny: Counter;
  readonly #notFound: Counter;
  readonly #rateLimit: Counter;
  readonly #tcpAllow: Counter;
  readonly #tcpDeny: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    const counter = (name: string, help: string, labels: readonly string[]) =>
      new Counter({
        name,
        help,
        labelNames: ["target_addr", ...SRV, ...labels, ...TLS],
        registers,
      });
    this.#httpAllow = counter(
      "inbound_http_authz_allow_total",
      "The total number of inbound HTTP requests that were authorized",
      [...ROUTE, ...AUTHZ],
    );
    this.#httpDeny = counter(
      "inbound_http_authz_deny_total",
      "The total number of inbound HTTP requests that could not be processed due to a proxy error.",
      ROUTE,
    );
    this.#notFound = counter(
      "inbound_http_route_not_found_total",
      "The total number of inbound HTTP requests that could not be associated with a route",
      [],
    );
    this.#rateLimit = counter(
      "inbound_http_local_ratelimit_total",
      "The total number of inbound HTTP requests that were rate-limited",
      RL,
    );
    this.#tcpAllow = counter(
      "inbound_tcp_authz_allow_total",
      "The total number of inbound TCP connections that were authorized",
      AUTHZ,
    );
    this.#tcpDeny = counter(
      "inbound_tcp_authz_deny_total",
      "The total number of inbound TCP connections that were denied",
      [],
    );
  }

  /** An authorized request. */
  httpAllow(
    c: ConnLabels,
    p: ServerPolicy,
    r: PolicyMeta,
    a: PolicyMeta,
  ): void {
    this.#httpAllow.inc(authz(route(base(c, p.meta), r), a));
  }

  /** A request no authorization allowed. */
  httpDeny(c: ConnLabels, p: ServerPolicy, r: PolicyMeta): void {
    this.#httpDeny.inc(route(base(c, p.meta), r));
  }

  /** A request no route matched. */
  routeNotFound(c: ConnLabels, p: ServerPolicy): void {
    this.#notFound.inc(base(c, p.meta));
  }

  /** A request refused by the local rate limit. */
  rateLimited(c: ConnLabels, p: ServerPolicy, e: RateLimited): void {
    const l = base(c, p.meta);
    const m = p.rateLimit?.meta;
    if (m !== undefined) {
      l.ratelimit_group = m.group;
      l.ratelimit_kind = m.kind;
      l.ratelimit_name = m.name;
    }
    l.ratelimit_scope = e.scope;
    this.#rateLimit.inc(l);
  }

  /** An authorized opaque connection. */
  tcpAllow(c: ConnLabels, p: ServerPolicy, a: PolicyMeta): void {
    this.#tcpAllow.inc(authz(base(c, p.meta), a));
  }

  /** A refused connection. */
  tcpDeny(c: ConnLabels, p: ServerPolicy): void {
    this.#tcpDeny.inc(base(c, p.meta));
  }
}
