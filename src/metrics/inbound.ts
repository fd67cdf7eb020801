/**
 * The inbound direction's endpoint HTTP series (`request_total`,
 * `response_total`, `response_latency_ms` with `direction="inbound"`;
 * linkerd `InboundEndpointLabels`): `authority`, `target_addr`/`_ip`/`_port`,
 * `tls` with `client_id` or `no_tls_reason`, then the authorizing server,
 * route and authorization (`srv_*`, `route_*`, `authz_*`), the labels
 * `linkerd viz stat` (no `--to`/`--from`) and `viz authz` group by.
 *
 * @module
 */
import type { HttpEndpointMetrics, ProxyMetrics } from "./registry.ts";

/** What a connection and its authorization give the inbound labels. */
export interface InboundRequestTarget {
  /** The connection's original destination, "ip:port". */
  readonly targetAddr: string;
  readonly port: number;
  readonly tls:
    | { readonly kind: "none"; readonly reason: string }
    | { readonly kind: "established"; readonly clientId: string | undefined };
}

/** A server, route or authorization reference (linkerd `Meta`). */
export interface InboundMeta {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
}

/**
 * Resolves inbound endpoint handles; each connection keeps the last
 * (route, authorization) pair's handle, so a request on the same route as
 * the one before costs two identity comparisons.
 */
export class InboundHttpMetrics {
  readonly #metrics: ProxyMetrics;

  constructor(metrics: ProxyMetrics) {
    this.#metrics = metrics;
  }

  /** A per-connection resolver of the handle for (server, route, authz). */
  forConnection(
    conn: InboundRequestTarget,
  ): (
    srv: InboundMeta,
    route: InboundMeta,
    authz: InboundMeta,
  ) => HttpEndpointMetrics {
    let lastSrv: InboundMeta | undefined;
    let lastRoute: InboundMeta | undefined;
    let lastAuthz: InboundMeta | undefined;
    let last: HttpEndpointMetrics | undefined;
    const metrics = this.#metrics;
    const tls = conn.tls.kind === "established"
      ? { clientId: conn.tls.clientId ?? "" }
      : { noTlsReason: conn.tls.reason };
    return (srv, route, authz) => {
      if (
        last !== undefined && srv === lastSrv && route === lastRoute &&
        authz === lastAuthz
      ) {
        return last;
      }
      lastSrv = srv;
      lastRoute = route;
      lastAuthz = authz;
      return last = metrics.httpEndpoint({
        direction: "inbound",
        authority: "",
        targetAddr: conn.targetAddr,
        tls,
        extra: {
          srv_group: srv.group,
          srv_kind: srv.kind,
          srv_name: srv.name,
          srv_port: String(conn.port),
          route_group: route.group,
          route_kind: route.kind,
          route_name: route.name,
          authz_group: authz.group,
          authz_kind: authz.kind,
          authz_name: authz.name,
        },
      });
    };
  }
}
