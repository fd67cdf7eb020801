/**
 * Per-request cost of the endpoint metric handles (style H2): one
 * `request()` + `response()` per iteration, against prom-client children
 * cached per series as the baseline.
 *
 * Run: `deno bench -A bench/metrics_bench.ts`
 */
import { Counter, Histogram, Registry } from "prom-client";
import { LATENCY_BUCKETS_MS, ProxyMetrics } from "../src/metrics/mod.ts";

const metrics = new ProxyMetrics({ processMetrics: false });
const handle = metrics.httpEndpoint({
  direction: "outbound",
  authority: "web.default.svc.cluster.local:8080",
  targetAddr: "10.1.2.3:8080",
  tls: {
    serverId: "web.default.serviceaccount.identity.linkerd.cluster.local",
  },
});
let i = 0;

Deno.bench("HttpEndpointMetrics request()+response() 200", {
  group: "endpoint",
  baseline: true,
}, () => {
  handle.request();
  handle.response(200, { classification: "success", latencyMs: i++ & 63 });
});

Deno.bench("HttpEndpointMetrics request()+response() gRPC status", {
  group: "endpoint",
}, () => {
  handle.request();
  handle.response(200, {
    classification: "failure",
    grpcStatus: 14,
    latencyMs: i++ & 63,
  });
});

const registry = new Registry();
const labelNames = [
  "direction",
  "authority",
  "target_addr",
  "target_ip",
  "target_port",
  "tls",
  "server_id",
] as const;
const endpoint = {
  direction: "outbound",
  authority: "web.default.svc.cluster.local:8080",
  target_addr: "10.1.2.3:8080",
  target_ip: "10.1.2.3",
  target_port: "8080",
  tls: "true",
  server_id: "web.default.serviceaccount.identity.linkerd.cluster.local",
};
const requests = new Counter({
  name: "request_total",
  help: "h",
  labelNames,
  registers: [registry],
});
const responses = new Counter({
  name: "response_total",
  help: "h",
  labelNames: [
    ...labelNames,
    "status_code",
    "classification",
    "grpc_status",
    "error",
  ],
  registers: [registry],
});
const latency = new Histogram({
  name: "response_latency_ms",
  help: "h",
  labelNames: [...labelNames, "status_code"],
  buckets: [...LATENCY_BUCKETS_MS],
  registers: [registry],
});
const reqChild = requests.labels(endpoint);
const rspChild = responses.labels({
  ...endpoint,
  status_code: "200",
  classification: "success",
  grpc_status: "",
  error: "",
});
const latChild = latency.labels({ ...endpoint, status_code: "200" });

Deno.bench("prom-client cached children inc()+inc()+observe()", {
  group: "endpoint",
}, () => {
  reqChild.inc();
  rspChild.inc();
  latChild.observe(i++ & 63);
});

const transport = metrics.transport({
  direction: "outbound",
  peer: "dst",
  targetAddr: "10.1.2.3:8080",
});
Deno.bench("TransportMetrics read()+write()", () => {
  transport.read(1024);
  transport.write(512);
});

// Route request + backend families (metrics/route_families.ts): handles
// resolved once per route and per route backend; per request one record()
// each. The baseline is the same promise chain without the recorders, so
// the difference is the metrics' own cost.
import {
  routeBackendMetaLabels,
  routeMetaLabels,
  RouteRequestFamilies,
} from "../src/metrics/route_families.ts";
import type { HttpRequest, HttpResponse } from "../src/http/message.ts";

const families = new RouteRequestFamilies(new Registry());
const parent = {
  kind: "default",
  name: "web.ns.svc.cluster.local:80",
} as const;
const routeRef = { kind: "default", name: "http" } as const;
const routeRec = families.route("http", routeMetaLabels(parent, routeRef));
const backendRec = families.backend(
  "http",
  routeBackendMetaLabels(parent, routeRef, parent),
);
const REQ = {
  version: "HTTP/1.1",
  headers: {},
  ext: {},
} as unknown as HttpRequest;
const RSP: HttpResponse = { status: 200, headers: {}, body: null };
const BATCH = 1000;

Deno.bench(`route: ${BATCH} requests without recorders`, {
  group: "route",
  baseline: true,
}, async () => {
  for (let n = 0; n < BATCH; n++) {
    await Promise.resolve(RSP).then((r) => r);
  }
});

Deno.bench(`route: ${BATCH} requests, route + backend record()`, {
  group: "route",
}, async () => {
  for (let n = 0; n < BATCH; n++) {
    await routeRec.record(REQ, backendRec.record(REQ, Promise.resolve(RSP)));
  }
});

// ServiceProfile route families (metrics/profile_route.ts): a profile
// route's request and attempt recorders, resolved once per route.
import { ProfileRouteFamilies } from "../src/metrics/profile_route.ts";

const profiles = new ProfileRouteFamilies(new Registry());
const profileLabels = {
  direction: "outbound",
  dst: "web.ns.svc.cluster.local:80",
  routeLabels: { route: "GET /books/{id}" },
};
const profileRec = profiles.route(profileLabels);
const attemptRec = profiles.actual(profileLabels);

Deno.bench(`route: ${BATCH} requests, profile route + attempt record()`, {
  group: "route",
}, async () => {
  for (let n = 0; n < BATCH; n++) {
    await profileRec.record(
      REQ,
      attemptRec.record(REQ, Promise.resolve({ ...RSP })),
    );
  }
});
