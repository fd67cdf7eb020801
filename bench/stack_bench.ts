/**
 * The per-request cost of Petrel's own outbound layers, in-process, with
 * the endpoint client replaced by an immediate answer: rescue + in-flight
 * limit, logical lookup (authority normalization + idle cache), balancer
 * pick (P2C over 10 endpoints) and endpoint bookkeeping.
 */
import type { Discovery, ServiceState } from "../src/discovery/resolve.ts";
import type { HttpRequest, HttpResponse } from "../src/http/message.ts";
import { Balancer } from "../src/outbound/http/concrete.ts";
import { logicalAddr } from "../src/outbound/http/logical.ts";
import { newHttpServer } from "../src/outbound/http/server.ts";
import type { OutboundCtx } from "../src/outbound/runtime.ts";
import { Watch } from "../src/svc/watch.ts";

const state: ServiceState = {
  name: "web.test:8080",
  protocol: "http1",
  source: "config",
  endpoints: Array.from({ length: 10 }, (_, i) => ({
    addr: `10.0.0.${i}:8080`,
    host: `10.0.0.${i}`,
    port: 8080,
  })),
};
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
const response: HttpResponse = { status: 200, headers: {}, body: null };
const balancer = new Balancer(
  ctx,
  { logical: state.name, state: new Watch(state) },
  (t) => ({
    addr: t.meta.addr,
    pending: 0,
    service: () => Promise.resolve(response),
    [Symbol.dispose]() {},
  }),
);
const service = newHttpServer(ctx)((req) => {
  logicalAddr(req);
  return balancer.call(req);
});

function request(): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "Web.Test:8080",
    path: "/",
    version: "HTTP/1.1",
    headers: { "user-agent": "bench", accept: "*/*" },
    body: null,
    ext: {},
  };
}

Deno.bench("logicalAddr() (memoized normalization)", () => {
  logicalAddr(request());
});

Deno.bench("Balancer.call(): P2C over 10 endpoints", async () => {
  await balancer.call(request());
});

Deno.bench("rescue + logical + balancer, per request", async () => {
  await service(request());
});
