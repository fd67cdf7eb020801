import assert from "node:assert/strict";
import type { Discovery, ServiceState } from "../../discovery/resolve.ts";
import { causeOf, StreamTimeoutError } from "../../errors.ts";
import type { Body, HttpRequest, HttpResponse } from "../../http/message.ts";
import { bytesBody } from "../../http/message.ts";
import type {
  HttpRetry,
  HttpRoute,
  RouteTimeouts,
} from "../../http/route/model.ts";
import { parsePromText } from "../../metrics/_test_util.ts";
import { ProxyMetrics } from "../../metrics/registry.ts";
import { Watch } from "../../svc/watch.ts";
import type { OutboundCtx } from "../runtime.ts";
import type { EndpointTarget, HttpEndpoint } from "./endpoint.ts";
import { newHttpConcrete } from "./concrete.ts";
import { HttpRouter } from "./router.ts";

const PARENT = "web.test:80";

/** A service of two endpoints whose answers the test scripts; real metrics. */
function world(answer: (n: number, req: HttpRequest) => Promise<HttpResponse>) {
  const metrics = new ProxyMetrics({ processMetrics: false });
  const seen: { addr: string; req: HttpRequest }[] = [];
  const state = new Watch<ServiceState>({
    name: PARENT,
    protocol: "http1",
    endpoints: [0, 1].map((i) => ({
      addr: `10.0.0.${i}:80`,
      host: `10.0.0.${i}`,
      port: 80,
    })),
    source: "test",
  });
  const discovery: Discovery = { resolve: () => Promise.resolve(state) };
  const ctx: OutboundCtx = {
    settings: {
      connectTimeoutMs: 1000,
      http1PoolIdleTimeoutMs: 3000,
      maxIdleConnsPerEndpoint: 10,
      httpQueueCapacity: 100,
      httpFailfastTimeoutMs: 50,
      discoveryIdleTimeoutMs: 5000,
      maxInFlight: 1000,
      informationalHeaders: true,
    },
    discovery,
    metrics,
    log: { warn() {}, info() {}, debug() {} },
    random: Math.random,
  };
  const newEndpoint = (t: EndpointTarget): HttpEndpoint => ({
    addr: t.meta.addr,
    pending: 0,
    service: (req) => {
      seen.push({ addr: t.meta.addr, req });
      return answer(seen.length, req);
    },
    [Symbol.dispose]() {},
  });
  const setRoutes = (r: HttpRoute) =>
    state.set({ ...state.get(), routes: { kind: "http", routes: [r] } });
  const router = () =>
    new HttpRouter(
      ctx,
      { logical: PARENT, state },
      newHttpConcrete(ctx, newEndpoint),
    );
  return { metrics, seen, setRoutes, router };
}

function route(
  opts: { retry?: HttpRetry; timeouts?: RouteTimeouts },
): HttpRoute {
  return {
    ref: { kind: "default", name: "r" },
    hosts: [],
    rules: [{
      matches: [],
      filters: [],
      backends: {
        kind: "firstAvailable",
        backends: [{
          backend: {
            ref: { kind: "default", name: PARENT },
            dispatch: { kind: "balance", authority: PARENT },
          },
          filters: [],
        }],
      },
      timeouts: opts.timeouts ?? {},
      ...(opts.retry ? { retry: opts.retry } : {}),
      allowL5dRequestHeaders: false,
    }],
  };
}

function req(over: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test",
    path: "/",
    version: "HTTP/1.1",
    headers: {},
    body: null,
    ext: {},
    ...over,
  };
}

const ok = (status: number): Promise<HttpResponse> =>
  Promise.resolve({ status, headers: {}, body: null });

Deno.test("HttpRouter: a rule's retry goes back through the balancer, with metrics per route", async () => {
  const w = world((n) => ok(n === 1 ? 503 : 200));
  w.setRoutes(route({
    retry: {
      maxRetries: 2,
      maxRequestBytes: 64 * 1024,
      statusRanges: [{ start: 500, end: 599 }],
    },
  }));
  using router = w.router();
  const rsp = await router.call(req({ body: bytesBody("hello") }));
  assert.equal(rsp.status, 200);
  assert.equal(w.seen.length, 2, "two dispatches by the balancer");
  const samples = parsePromText(await w.metrics.render()).samples;
  const get = (name: string) =>
    samples.find((s) => s.name === name && s.labels.route_name === "r");
  assert.equal(get("outbound_http_route_retry_requests_total")?.value, 1);
  assert.equal(get("outbound_http_route_retry_successes_total")?.value, 1);
  assert.equal(get("outbound_http_route_retry_overflow_total")?.value, 0);
  assert.deepEqual(get("outbound_http_route_retry_requests_total")?.labels, {
    parent_group: "",
    parent_kind: "default",
    parent_namespace: "",
    parent_name: "web.test",
    parent_port: "80",
    parent_section_name: "",
    route_group: "",
    route_kind: "default",
    route_namespace: "",
    route_name: "r",
    hostname: "",
  });
});

Deno.test("HttpRouter: a rule without retry or timeouts hands the request's own body to the endpoint", async () => {
  const w = world(() => ok(200));
  w.setRoutes(route({}));
  using router = w.router();
  const body: Body = bytesBody("streamed as is");
  await router.call(req({ method: "POST", body }));
  assert.equal(w.seen[0]!.req.body, body);
});

Deno.test("HttpRouter: a rule's request timeout fails a hanging request with StreamTimeoutError", async () => {
  const w = world(() => new Promise(() => {}));
  w.setRoutes(route({ timeouts: { requestMs: 30 } }));
  using router = w.router();
  const err = await router.call(req()).catch((e) => e);
  assert.equal(causeOf(err, StreamTimeoutError)?.timeout, "request");
  assert.ok(w.seen[0]!.req.ext.signal?.aborted, "the attempt was canceled");
  const samples = parsePromText(await w.metrics.render()).samples;
  const e = samples.find((s) =>
    s.name === "outbound_http_route_attempt_errors_total"
  );
  assert.equal(e?.labels.error, "REQUEST_TIMEOUT");
  assert.equal(e?.value, 1);
});
