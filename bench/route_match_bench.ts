/**
 * Route selection per request (linkerd `http_route::find`) over tables of
 * 1, 100 and 1 000 HTTP routes and 100 gRPC routes, and the router's
 * per-request cost with and without routes. Goal: under 2 µs per request
 * at 100 routes.
 *
 * Each table mixes what real tables hold: path prefixes (most routes),
 * exact paths, regexes, header and method conditions, hostnames. Every
 * route is examined for every request (the best match wins, so there is no
 * early exit); the request matches the last route.
 */
import type { Discovery, ServiceState } from "../src/discovery/resolve.ts";
import type { HttpRequest, HttpResponse } from "../src/http/message.ts";
import { compileGrpcRoutes, findGrpcRoute } from "../src/http/route/grpc.ts";
import type {
  GrpcRoute,
  GrpcRule,
  HttpRoute,
  HttpRouteMatch,
  HttpRule,
  ServiceRoutes,
} from "../src/http/route/model.ts";
import { compileHttpRoutes, findHttpRoute } from "../src/http/route/select.ts";
import { Balancer, newHttpConcrete } from "../src/outbound/http/concrete.ts";
import { HttpRouter } from "../src/outbound/http/router.ts";
import type { OutboundCtx } from "../src/outbound/runtime.ts";
import { Watch } from "../src/svc/watch.ts";

const PARENT = "web.test:8080";

function backends(): HttpRule["backends"] {
  return {
    kind: "firstAvailable",
    backends: [{
      backend: {
        ref: { kind: "default", name: PARENT },
        dispatch: { kind: "balance", authority: PARENT },
      },
      filters: [],
    }],
  };
}

function httpMatch(i: number): HttpRouteMatch {
  const m: {
    path: NonNullable<HttpRouteMatch["path"]>;
    headers: HttpRouteMatch["headers"];
    queryParams: HttpRouteMatch["queryParams"];
    method?: string;
  } = {
    path: i % 10 === 3
      ? { kind: "regex", value: `/r${i}/[0-9]+` }
      : i % 7 === 2
      ? { kind: "exact", value: `/svc${i}/api/items` }
      : { kind: "prefix", value: `/svc${i}/api` },
    headers: i % 3 === 0
      ? [{ name: "x-tenant", kind: "exact", value: "a" }]
      : [],
    queryParams: [],
  };
  if (i % 5 === 0) m.method = "GET";
  return m;
}

function httpRoutes(n: number): HttpRoute[] {
  return Array.from({ length: n }, (_, i) => ({
    ref: { kind: "default", name: `route-${i}` },
    hosts: i % 4 === 0 ? [{ kind: "exact", host: "web.test" }] : [],
    rules: [{
      matches: [httpMatch(i)],
      filters: [],
      backends: backends(),
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  }));
}

function grpcRoutes(n: number): GrpcRoute[] {
  return Array.from({ length: n }, (_, i) => ({
    ref: { kind: "default", name: `route-${i}` },
    hosts: [],
    rules: [{
      matches: [{
        rpc: { service: `pkg.Service${i % 10}`, method: `Method${i}` },
        headers: i % 3 === 0
          ? [{ name: "x-tenant", kind: "exact", value: "a" }]
          : [],
      }],
      filters: [],
      backends: backends() as GrpcRule["backends"],
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  }));
}

function request(n: number): HttpRequest {
  const last = n - 1;
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test:8080",
    path: `/svc${last}/api/items?page=2`,
    version: "HTTP/1.1",
    headers: { "x-tenant": "a", "user-agent": "bench", accept: "*/*" },
    body: null,
    ext: {},
  };
}

for (const n of [1, 100, 1000]) {
  const table = compileHttpRoutes(httpRoutes(n));
  const req = request(n);
  if (findHttpRoute(table, req)?.routeIndex !== n - 1) {
    throw new Error(`bench setup: the request must match route ${n - 1}`);
  }
  Deno.bench(`findHttpRoute(): ${n} route${n === 1 ? "" : "s"}`, {
    group: "http",
    baseline: n === 100,
  }, () => {
    findHttpRoute(table, req);
  });
}

// The worst case for the index: no route names a path segment, so every
// route is tried (header-only matches, the request matching the last one).
for (const n of [100, 1000]) {
  const routes: HttpRoute[] = Array.from({ length: n }, (_, i) => ({
    ref: { kind: "default", name: `route-${i}` },
    hosts: [],
    rules: [{
      matches: [{
        headers: [{ name: "x-route", kind: "exact", value: String(i) }],
        queryParams: [],
      }],
      filters: [],
      backends: backends(),
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  }));
  const table = compileHttpRoutes(routes);
  const req = { ...request(1), headers: { "x-route": String(n - 1) } };
  if (findHttpRoute(table, req)?.routeIndex !== n - 1) {
    throw new Error("bench setup: the request must match the last route");
  }
  Deno.bench(`findHttpRoute(): ${n} header-only routes (no index)`, {
    group: "http-unindexed",
  }, () => {
    findHttpRoute(table, req);
  });
}

{
  const n = 100;
  const table = compileGrpcRoutes(grpcRoutes(n));
  const req: HttpRequest = {
    ...request(1),
    method: "POST",
    version: "HTTP/2",
    path: `/pkg.Service${(n - 1) % 10}/Method${n - 1}`,
    headers: { "content-type": "application/grpc", "x-tenant": "a" },
  };
  if (findGrpcRoute(table, req)?.routeIndex !== n - 1) {
    throw new Error("bench setup: the gRPC request must match the last route");
  }
  Deno.bench("findGrpcRoute(): 100 routes", { group: "grpc" }, () => {
    findGrpcRoute(table, req);
  });
}

// The router: no routes (the fast path) against 100 routes, with the
// endpoint replaced by an immediate answer.
const response: HttpResponse = { status: 200, headers: {}, body: null };
const ctx: OutboundCtx = {
  settings: {
    connectTimeoutMs: 1000,
    http1PoolIdleTimeoutMs: 3000,
    maxIdleConnsPerEndpoint: 10000,
    httpQueueCapacity: 10000,
    httpFailfastTimeoutMs: 3000,
    discoveryIdleTimeoutMs: 5000,
    maxInFlight: 100000,
    informationalHeaders: true,
  },
  discovery: {} as Discovery,
  metrics: {
    httpEndpoint: () => ({ request() {}, response() {} }),
    httpError() {},
  },
  log: { warn() {}, info() {}, debug() {} },
  random: Math.random,
};
const newEndpoint = (t: { meta: { addr: string } }) => ({
  addr: t.meta.addr,
  pending: 0,
  service: () => Promise.resolve(response),
  [Symbol.dispose]() {},
});

function state(routes?: ServiceRoutes): Watch<ServiceState> {
  return new Watch<ServiceState>({
    name: PARENT,
    protocol: "http1",
    source: "config",
    endpoints: [{ addr: "10.0.0.1:8080", host: "10.0.0.1", port: 8080 }],
    ...(routes ? { routes } : {}),
  });
}

const balancer = new Balancer(
  ctx,
  { logical: PARENT, state: state() },
  newEndpoint,
);
const plain = new HttpRouter(
  ctx,
  { logical: PARENT, state: state() },
  newHttpConcrete(ctx, newEndpoint),
);
const routed = new HttpRouter(ctx, {
  logical: PARENT,
  state: state({ kind: "http", routes: httpRoutes(100) }),
}, newHttpConcrete(ctx, newEndpoint));

Deno.bench("Balancer.call() alone", { group: "router" }, async () => {
  await balancer.call(request(100));
});

Deno.bench("HttpRouter.call(): no routes", {
  group: "router",
  baseline: true,
}, async () => {
  await plain.call(request(100));
});

Deno.bench("HttpRouter.call(): 100 routes", { group: "router" }, async () => {
  await routed.call(request(100));
});
