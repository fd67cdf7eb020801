import assert from "node:assert/strict";
import { Registry } from "prom-client";
import { EndpointIoError, FailFastError } from "../errors.ts";
import type { HttpRequest, HttpResponse } from "../http/message.ts";
import { findSamples, parsePromText } from "./_test_util.ts";
import {
  routeBackendMetaLabels,
  routeMetaLabels,
  RouteRequestFamilies,
} from "./route_families.ts";

const REQ = {
  version: "HTTP/2",
  headers: {},
  ext: {},
} as unknown as HttpRequest;
const PARENT = {
  kind: "resource",
  group: "core",
  resourceKind: "Service",
  name: "web",
  namespace: "ns",
  port: 8080,
} as const;
const ROUTE = {
  kind: "resource",
  group: "gateway.networking.k8s.io",
  resourceKind: "HTTPRoute",
  name: "api",
  namespace: "ns",
} as const;

Deno.test("RouteRequestFamilies records statuses, errors and durations with the policy's labels", async () => {
  const registry = new Registry();
  const f = new RouteRequestFamilies(registry);
  const route = f.route("http", routeMetaLabels(PARENT, ROUTE));
  const backend = f.backend(
    "http",
    routeBackendMetaLabels(PARENT, ROUTE, PARENT),
  );
  const ok: HttpResponse = { status: 200, headers: {}, body: null };
  await route.record(REQ, backend.record(REQ, Promise.resolve(ok)));
  await route.record(REQ, Promise.resolve({ ...ok, status: 503 }));
  await route.record(REQ, Promise.reject(new FailFastError("web", 3000))).catch(
    () => {},
  );
  await route.record(REQ, Promise.reject(new EndpointIoError("1.2.3.4:80")))
    .catch(() => {});
  const text = parsePromText(await registry.metrics());
  const statuses = findSamples(
    text,
    "outbound_http_route_request_statuses_total",
  )
    .map((s) => `${s.labels.http_status}|${s.labels.error}=${s.value}`);
  assert.deepEqual(statuses.sort(), [
    "200|=1",
    "502|=1",
    "503|=1",
    "|FAIL_FAST=1",
  ]);
  const one = findSamples(
    text,
    "outbound_http_route_request_statuses_total",
  )[0]!;
  assert.equal(one.labels.parent_kind, "Service");
  assert.equal(one.labels.parent_group, "core");
  assert.equal(one.labels.parent_port, "8080");
  assert.equal(one.labels.route_kind, "HTTPRoute");
  assert.equal(one.labels.route_name, "api");
  assert.equal(
    findSamples(text, "outbound_http_route_request_duration_seconds_count")[0]
      ?.value,
    4,
  );
  const b = findSamples(text, "outbound_http_route_backend_requests_total")[0]!;
  assert.equal(b.value, 1);
  assert.equal(b.labels.backend_kind, "Service");
  assert.equal(b.labels.backend_name, "web");
});

Deno.test("RouteRequestFamilies labels gRPC statuses by name, read from trailers-only headers", async () => {
  const registry = new Registry();
  const f = new RouteRequestFamilies(registry);
  const route = f.route(
    "grpc",
    routeMetaLabels({ kind: "default", name: "svc.test:80" }, {
      kind: "default",
      name: "grpc",
    }),
  );
  await route.record(
    REQ,
    Promise.resolve({
      status: 200,
      headers: { "grpc-status": "14" },
      body: null,
    }),
  );
  const text = parsePromText(await registry.metrics());
  const s = findSamples(text, "outbound_grpc_route_request_statuses_total")[0]!;
  assert.equal(s.labels.grpc_status, "UNAVAILABLE");
  assert.equal(s.labels.parent_kind, "default");
  assert.equal(s.labels.parent_name, "svc.test");
});
