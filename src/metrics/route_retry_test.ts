import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { parsePromText } from "./_test_util.ts";
import { routeLabels, RouteMetricFamilies } from "./route_retry.ts";

Deno.test("RouteMetricFamilies.route() counts retries per route under linkerd's names, HTTP and gRPC apart", async () => {
  const registry = new Registry();
  const f = new RouteMetricFamilies(registry);
  const http = f.route(
    "http",
    routeLabels("web.test:80", { kind: "default", name: "api" }),
  );
  const grpc = f.route(
    "grpc",
    routeLabels("echo.test:50051", {
      kind: "resource",
      group: "gateway.networking.k8s.io",
      resourceKind: "GRPCRoute",
      name: "echo",
      namespace: "ns",
    }),
  );
  http.retry();
  http.retry();
  http.success();
  http.limitExceeded();
  http.error("RESPONSE_HEADERS_TIMEOUT");
  grpc.overflow();
  const { samples, types } = parsePromText(await registry.metrics());
  const value = (name: string, route: string) =>
    samples.find((s) => s.name === name && s.labels.route_name === route)
      ?.value;
  assert.equal(value("outbound_http_route_retry_requests_total", "api"), 2);
  assert.equal(value("outbound_http_route_retry_successes_total", "api"), 1);
  assert.equal(
    value("outbound_http_route_retry_limit_exceeded_total", "api"),
    1,
  );
  assert.equal(value("outbound_http_route_retry_overflow_total", "api"), 0);
  assert.equal(value("outbound_grpc_route_retry_overflow_total", "echo"), 1);
  assert.equal(value("outbound_grpc_route_retry_requests_total", "echo"), 0);
  assert.equal(
    types.get("outbound_http_route_retry_requests_total"),
    "counter",
  );
  const err = samples.find((s) =>
    s.name === "outbound_http_route_attempt_errors_total"
  )!;
  assert.equal(err.labels.error, "RESPONSE_HEADERS_TIMEOUT");
  const echo = samples.find((s) => s.labels.route_name === "echo")!;
  assert.equal(echo.labels.route_kind, "GRPCRoute");
  assert.equal(echo.labels.route_namespace, "ns");
  assert.equal(echo.labels.parent_name, "echo.test");
  assert.equal(echo.labels.parent_port, "50051");
});
