/**
 * Per-request inbound policy (linkerd `app/inbound/src/policy/http.rs`
 * `HttpPolicyService`): each request reads the port's current policy,
 * finds its route (HTTP or gRPC), takes the first authorization that
 * admits the client's network and TLS, applies the route's filters, checks
 * the local rate limit, then goes on to the application.
 *
 * Refusals are answered here as linkerd's inbound `ServerRescue` does: no
 * route 404 (gRPC NOT_FOUND), unauthorized 403 (gRPC PERMISSION_DENIED),
 * rate limited 429 (gRPC RESOURCE_EXHAUSTED), gRPC ones in a 200 with
 * `grpc-status`. `l5d-proxy-error` carries the reason when informational
 * headers are on (linkerd adds it for meshed clients only; Petrel's inbound
 * has always told every client).
 *
 * @module
 */
import { recordExchange } from "../metrics/http_endpoint.ts";
import type { InboundHttpMetrics } from "../metrics/inbound.ts";
import type {
  HeaderMap,
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../http/message.ts";
import { L5D_PROXY_CONNECTION, L5D_PROXY_ERROR } from "../http/headers.ts";
import { encodeGrpcMessage, isGrpc } from "../http/respond.ts";
import { compileGrpcRoutes, findGrpcRoute } from "../http/route/grpc.ts";
import { compileHttpRoutes, findHttpRoute } from "../http/route/select.ts";
import { modifyHeaders } from "../http/route/filter_modify_header.ts";
import { redirectRequest } from "../http/route/filter_redirect.ts";
import { shouldInjectFailure } from "../http/route/filter_inject_failure.ts";
import type { Log } from "../log.ts";
import type { Watch } from "../svc/watch.ts";
import type { ConnLabels, InboundAuthzMetrics } from "./metrics.ts";
import { LocalRateLimit } from "./rate_limit.ts";
import {
  type Authorization,
  type ConnTls,
  type InboundGrpcRoute,
  type InboundHttpRoute,
  isAudit,
  isAuthorized,
  type ServerPolicy,
} from "./server_policy.ts";

/** gRPC status codes of the inbound refusals. */
const GRPC = { NOT_FOUND: 5, PERMISSION_DENIED: 7, RESOURCE_EXHAUSTED: 8 };

/** A policy compiled once (route tables, rate limiter), on first use. */
interface Compiled {
  readonly find: (req: HttpRequest) =>
    | {
      route: InboundHttpRoute | InboundGrpcRoute;
      ruleIndex: number;
      path: import("../http/route/match_path.ts").PathSummary | undefined;
    }
    | undefined;
  readonly rateLimit: LocalRateLimit | undefined;
}

const compiled = new WeakMap<ServerPolicy, Compiled>();

/** The compiled form of `p` (linkerd builds it when the watch changes). */
export function compilePolicy(p: ServerPolicy): Compiled {
  let c = compiled.get(p);
  if (c !== undefined) return c;
  const rl = p.rateLimit;
  const rateLimit = rl !== undefined &&
      (rl.totalRps > 0 || rl.identityRps > 0 || rl.overrides.size > 0)
    ? new LocalRateLimit(rl)
    : undefined;
  const proto = p.protocol;
  let find: Compiled["find"];
  if (proto.kind === "grpc") {
    const routes = proto.grpc;
    const table = compileGrpcRoutes(routes);
    find = (req) => {
      const m = findGrpcRoute(table, req);
      return m === undefined ? undefined : {
        route: routes[m.routeIndex]!,
        ruleIndex: m.ruleIndex,
        path: undefined,
      };
    };
  } else if (
    proto.kind === "detect" || proto.kind === "http1" || proto.kind === "http2"
  ) {
    const routes = proto.http;
    const table = compileHttpRoutes(routes);
    find = (req) => {
      const m = findHttpRoute(table, req);
      return m === undefined ? undefined : {
        route: routes[m.routeIndex]!,
        ruleIndex: m.ruleIndex,
        path: m.summary.path,
      };
    };
  } else {
    find = () => undefined;
  }
  c = { find, rateLimit };
  compiled.set(p, c);
  return c;
}

/** What a connection brings to authorization. */
export interface InboundConn extends ConnLabels {
  /** The client's IP address. */
  readonly clientIp: string;
}

/** Options of {@linkcode newHttpPolicy}. */
export interface HttpPolicyOptions {
  metrics?: InboundAuthzMetrics | undefined;
  /** The `direction="inbound"` endpoint series (metrics/inbound.ts); absent = none. */
  http?: InboundHttpMetrics | undefined;
  log: Log;
  /** @default {Math.random} */
  random?: () => number;
  /** Add `l5d-proxy-error` to refusals. @default {true} */
  informationalHeaders?: boolean;
}

/** The authorization of `conn` on `authorizations`: the first that admits it. */
export function findAuthorization(
  authorizations: readonly Authorization[],
  clientIp: string,
  tls: ConnTls,
): Authorization | undefined {
  for (const a of authorizations) if (isAuthorized(a, clientIp, tls)) return a;
  return undefined;
}

/**
 * Wraps `inner` with the port's live policy for one connection (linkerd
 * `NewHttpPolicy`): every request is checked against the policy current
 * when it arrives, so an update applies to new requests only.
 */
export function newHttpPolicy(
  policy: Watch<ServerPolicy>,
  conn: InboundConn,
  inner: HttpService,
  opts: HttpPolicyOptions,
): HttpService {
  const metrics = opts.metrics;
  const log = opts.log;
  const random = opts.random ?? Math.random;
  const clientId = conn.tls.kind === "established"
    ? conn.tls.clientId
    : undefined;
  const emit = opts.informationalHeaders ?? true;
  const endpoint = opts.http?.forConnection(conn);
  return function httpPolicyService(req: HttpRequest): Promise<HttpResponse> {
    const p = policy.get();
    const c = compilePolicy(p);
    const found = c.find(req);
    if (found === undefined) {
      metrics?.routeNotFound(conn, p);
      return refuse(
        req,
        404,
        GRPC.NOT_FOUND,
        "no route found for request",
        emit,
      );
    }
    const { route } = found;
    const authz = findAuthorization(
      route.authorizations,
      conn.clientIp,
      conn.tls,
    );
    if (authz === undefined) {
      metrics?.httpDeny(conn, p, route.meta);
      log.info("Request denied", {
        server: p.meta.name,
        route: route.meta.name,
        client: conn.clientIp,
        ...(clientId === undefined ? {} : { client_id: clientId }),
      });
      return refuse(
        req,
        403,
        GRPC.PERMISSION_DENIED,
        "unauthorized request on route",
        emit,
      );
    }
    if (isAudit(authz.meta)) {
      log.info("Request allowed", {
        server: p.meta.name,
        route: route.meta.name,
        authz: authz.meta.name,
        client: conn.clientIp,
      });
    }
    metrics?.httpAllow(conn, p, route.meta, authz.meta);
    const rule = route.rules[found.ruleIndex];
    if (rule !== undefined) {
      for (const f of rule.filters) {
        switch (f.kind) {
          case "requestHeaderModifier":
            modifyHeaders(req.headers, f);
            break;
          case "failureInjector":
            if (shouldInjectFailure(f.ratio, random)) {
              return "status" in f
                ? refuse(req, f.status, 0, f.message, emit, true)
                : refuse(req, 200, f.code, f.message, emit);
            }
            break;
          case "requestRedirect": {
            if (found.path === undefined) break;
            const r = redirectRequest(f, req, found.path);
            if (r !== undefined) {
              const headers: HeaderMap = {
                location: r.location,
                "content-length": "0",
              };
              return Promise.resolve({ status: r.status, headers, body: null });
            }
            break;
          }
        }
      }
    }
    if (c.rateLimit !== undefined) {
      const limited = c.rateLimit.check(clientId);
      if (limited !== undefined) {
        metrics?.rateLimited(conn, p, limited);
        return refuse(
          req,
          429,
          GRPC.RESOURCE_EXHAUSTED,
          limited.message,
          emit,
        );
      }
    }
    // Header hygiene: a peer proxy's error headers never reach the app.
    const h = req.headers;
    if (h[L5D_PROXY_ERROR] !== undefined) delete h[L5D_PROXY_ERROR];
    if (h[L5D_PROXY_CONNECTION] !== undefined) delete h[L5D_PROXY_CONNECTION];
    if (endpoint === undefined) return inner(req);
    return recordExchange(
      endpoint(p.meta, route.meta, authz.meta),
      req,
      inner(req),
    );
  };
}

/**
 * A synthetic refusal: `status` for HTTP, or for gRPC a 200 with
 * `grpcStatus` (`httpOnly`: the HTTP failure injector answers gRPC with
 * its HTTP status too).
 */
function refuse(
  req: HttpRequest,
  status: number,
  grpcStatus: number,
  message: string,
  emit: boolean,
  httpOnly = false,
): Promise<HttpResponse> {
  const headers: HeaderMap = {};
  const text = message.replace(/[^\x20-\x7e\t]/g, "?");
  if (emit) headers[L5D_PROXY_ERROR] = text;
  if (!httpOnly && (isGrpc(req) || status === 200)) {
    headers["content-type"] = "application/grpc";
    headers["grpc-status"] = String(grpcStatus);
    headers["grpc-message"] = encodeGrpcMessage(text);
    return Promise.resolve({ status: 200, headers, body: null });
  }
  headers["content-length"] = "0";
  return Promise.resolve({ status, headers, body: null });
}
