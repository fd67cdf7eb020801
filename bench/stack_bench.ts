/**
 * The per-request cost of Petrel's own outbound layers, in-process, with
 * the endpoint client replaced by an immediate answer: the real stack of
 * `src/outbound/sidecar.ts` (rescue + in-flight limit, logical lookup:
 * authority normalization + idle cache, the policy router's default route,
 * balancer pick: P2C over 10 endpoints, endpoint bookkeeping), built by
 * `mkHttpSidecar` with a fake endpoint stage.
 */
import type { Discovery, ServiceState } from "../src/discovery/resolve.ts";
import type { HttpRequest, HttpResponse } from "../src/http/message.ts";
import {
  type NewEndpoint,
  newHttpConcrete,
} from "../src/outbound/http/concrete.ts";
import { logicalAddr } from "../src/outbound/http/logical.ts";
import { mkHttpSidecar } from "../src/outbound/sidecar.ts";
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
  discovery: {
    resolve: () => Promise.resolve(new Watch(state)),
  } satisfies Discovery,
  metrics: {
    httpEndpoint: () => ({ request() {}, response() {} }),
    httpError() {},
  },
  log: { warn() {}, info() {}, debug() {} },
  random: Math.random,
};
const response: HttpResponse = { status: 200, headers: {}, body: null };
const fakeEndpoint: NewEndpoint = (t) => ({
  addr: t.meta.addr,
  pending: 0,
  service: () => Promise.resolve(response),
  [Symbol.dispose]() {},
});
const balancer = newHttpConcrete(ctx, fakeEndpoint)({
  logical: state.name,
  state: new Watch(state),
});
const sidecar = mkHttpSidecar(ctx, { newEndpoint: fakeEndpoint });
const service = sidecar.service;

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

Deno.bench("the whole stack (mkHttpSidecar), per request", async () => {
  await service(request());
});
