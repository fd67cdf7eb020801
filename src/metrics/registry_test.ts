import assert from "node:assert/strict";
import {
  LATENCY_BUCKETS_MS,
  ProxyMetrics,
  splitTargetAddr,
} from "./registry.ts";
import { findSamples, parsePromText } from "./_test_util.ts";

const ENDPOINT = {
  direction: "outbound",
  authority: "web.ns.svc.cluster.local:8080",
  targetAddr: "10.0.0.7:8080",
};

async function scrape(m: ProxyMetrics) {
  return parsePromText(await m.render());
}

Deno.test("ProxyMetrics.render() is valid text with every family declared", async () => {
  const m = new ProxyMetrics({ version: "1.2.3" });
  const h = m.httpEndpoint(ENDPOINT);
  h.request();
  h.response(200, { classification: "success", latencyMs: 3 });
  m.httpError("loadshed");
  const t = m.transport({
    direction: "outbound",
    peer: "dst",
    targetAddr: "10.0.0.7:8080",
  });
  t.open();
  m.detect("http/1");
  const text = await m.render();
  // Every non-comment line parses as `name{labels} value`.
  const parsed = parsePromText(text);
  const expected: Record<string, string> = {
    request_total: "counter",
    response_total: "counter",
    response_latency_ms: "histogram",
    outbound_http_errors_total: "counter",
    tcp_open_total: "counter",
    tcp_open_connections: "gauge",
    tcp_close_total: "counter",
    tcp_read_bytes_total: "counter",
    tcp_write_bytes_total: "counter",
    outbound_tcp_detect_http_results_total: "counter",
    proxy_build_info: "gauge",
    process_cpu_seconds_total: "counter",
    process_start_time_seconds: "gauge",
    process_resident_memory_bytes: "gauge",
  };
  for (const [name, type] of Object.entries(expected)) {
    assert.equal(parsed.types.get(name), type, name);
  }
  assert.equal(parsed.types.has("nodejs_gc_duration_seconds"), false);
  assert.deepEqual(findSamples(parsed, "proxy_build_info")[0]?.labels, {
    date: "",
    git_sha: "",
    profile: "release",
    vendor: "petrel",
    version: "1.2.3",
  });
  const cpu = findSamples(parsed, "process_cpu_seconds_total")[0];
  assert.ok(cpu !== undefined && cpu.value > 0);
  assert.match(m.contentType, /^text\/plain; version=0\.0\.4/);
});

Deno.test("ProxyMetrics.httpEndpoint() renders linkerd's endpoint labels", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const h = m.httpEndpoint({
    ...ENDPOINT,
    tls: { serverId: "web.ns.serviceaccount.identity.linkerd.cluster.local" },
    dstLabels: { namespace: "ns", service: "web", "pod-template": "x" },
  });
  h.request();
  h.request();
  const parsed = await scrape(m);
  const [req] = findSamples(parsed, "request_total");
  assert.deepEqual(req, {
    name: "request_total",
    labels: {
      direction: "outbound",
      authority: "web.ns.svc.cluster.local:8080",
      target_addr: "10.0.0.7:8080",
      target_ip: "10.0.0.7",
      target_port: "8080",
      tls: "true",
      server_id: "web.ns.serviceaccount.identity.linkerd.cluster.local",
      dst_namespace: "ns",
      dst_service: "web",
      dst_pod_template: "x",
    },
    value: 2,
  });
  // Label order follows linkerd: endpoint labels first.
  const text = await m.render();
  assert.match(
    text,
    /request_total\{direction="outbound",authority="web\.ns\.svc\.cluster\.local:8080",target_addr="10\.0\.0\.7:8080",target_ip="10\.0\.0\.7",target_port="8080",tls="true",server_id=/,
  );
});

Deno.test("ProxyMetrics.httpEndpoint() without TLS says no_identity", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  m.httpEndpoint(ENDPOINT).request();
  const [req] = findSamples(await scrape(m), "request_total");
  assert.equal(req?.labels.tls, "no_identity");
  assert.equal(req?.labels.no_tls_reason, "not_provided_by_service_discovery");
  assert.equal(req?.labels.server_id, undefined);
});

Deno.test("HttpEndpointMetrics.response() caches one series per key", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const h = m.httpEndpoint(ENDPOINT);
  for (let i = 0; i < 5; i++) {
    h.response(200, { classification: "success", latencyMs: 2 });
  }
  h.response(200, { classification: "failure", latencyMs: 2 });
  h.response(200, { classification: "failure", grpcStatus: 14, latencyMs: 2 });
  h.response(200, { classification: "failure", grpcStatus: 14, latencyMs: 2 });
  h.response(200, { classification: "success", grpcStatus: 0, latencyMs: 2 });
  h.response(502, {
    classification: "failure",
    error: "h2(CANCEL)",
    latencyMs: 2,
  });
  h.response(502, {
    classification: "failure",
    error: "h2(CANCEL)",
    latencyMs: 2,
  });
  const parsed = await scrape(m);
  const rows = findSamples(parsed, "response_total").map((s) => [
    s.labels.status_code,
    s.labels.classification,
    s.labels.grpc_status,
    s.labels.error,
    s.value,
  ]);
  assert.deepEqual(rows.sort(), [
    ["200", "failure", "", "", 1],
    ["200", "failure", "14", "", 2],
    ["200", "success", "", "", 5],
    ["200", "success", "0", "", 1],
    ["502", "failure", "", "h2(CANCEL)", 2],
  ]);
  // Latency is one histogram per status code, shared by the classifications.
  const counts = findSamples(parsed, "response_latency_ms_count").map((
    s,
  ) => [s.labels.status_code, s.value]);
  assert.deepEqual(counts, [["200", 9], ["502", 2]]);
});

Deno.test("ProxyMetrics.httpEndpoint() shares the handle for equal labels", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const a = m.httpEndpoint(ENDPOINT);
  const b = m.httpEndpoint({ ...ENDPOINT });
  assert.equal(a, b);
  const c = m.httpEndpoint({ ...ENDPOINT, targetAddr: "10.0.0.8:8080" });
  assert.notEqual(a, c);
  a.request();
  b.request();
  c.request();
  const values = findSamples(await scrape(m), "request_total").map((s) => [
    s.labels.target_ip,
    s.value,
  ]);
  assert.deepEqual(values, [["10.0.0.7", 2], ["10.0.0.8", 1]]);
});

Deno.test("HttpEndpointMetrics.response() fills cumulative latency buckets", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const h = m.httpEndpoint(ENDPOINT);
  for (const ms of [0.5, 1, 1.5, 7, 50, 60_000]) {
    h.response(200, { classification: "success", latencyMs: ms });
  }
  const parsed = await scrape(m);
  const buckets = findSamples(parsed, "response_latency_ms_bucket");
  assert.deepEqual(
    buckets.map((b) => b.labels.le),
    [...LATENCY_BUCKETS_MS.map(String), "+Inf"],
  );
  const byLe = new Map(buckets.map((b) => [b.labels.le, b.value]));
  assert.equal(byLe.get("1"), 2); // 0.5 and 1 (le is inclusive)
  assert.equal(byLe.get("2"), 3);
  assert.equal(byLe.get("5"), 3);
  assert.equal(byLe.get("10"), 4);
  assert.equal(byLe.get("50"), 5);
  assert.equal(byLe.get("50000"), 5);
  assert.equal(byLe.get("+Inf"), 6);
  assert.equal(findSamples(parsed, "response_latency_ms_sum")[0]?.value, 60060);
  assert.equal(findSamples(parsed, "response_latency_ms_count")[0]?.value, 6);
  assert.equal(buckets[0]?.labels.status_code, "200");
});

Deno.test("ProxyMetrics.httpError() counts by error kind", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  m.httpError("loadshed");
  m.httpError("loadshed");
  m.httpError("response timeout");
  const parsed = await scrape(m);
  assert.deepEqual(
    findSamples(parsed, "outbound_http_errors_total").map((s) => [
      s.labels.error,
      s.value,
    ]),
    [["loadshed", 2], ["response timeout", 1]],
  );
});

Deno.test("ProxyMetrics.transport() counts opens, closes and bytes", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const dst = m.transport({
    direction: "outbound",
    peer: "dst",
    targetAddr: "10.0.0.7:8080",
    tls: { serverId: "web.ns.serviceaccount.identity.linkerd.cluster.local" },
  });
  const src = m.transport({
    direction: "outbound",
    peer: "src",
    targetAddr: "127.0.0.1:50000",
  });
  dst.open();
  dst.open();
  dst.open();
  dst.read(100);
  dst.write(40);
  dst.read(1);
  dst.close();
  dst.close("ECONNRESET");
  src.open();
  const parsed = await scrape(m);
  const dstMatch = { peer: "dst" };
  assert.equal(findSamples(parsed, "tcp_open_total", dstMatch)[0]?.value, 3);
  assert.equal(
    findSamples(parsed, "tcp_open_connections", dstMatch)[0]?.value,
    1,
  );
  assert.equal(
    findSamples(parsed, "tcp_read_bytes_total", dstMatch)[0]?.value,
    101,
  );
  assert.equal(
    findSamples(parsed, "tcp_write_bytes_total", dstMatch)[0]?.value,
    40,
  );
  assert.deepEqual(
    findSamples(parsed, "tcp_close_total", dstMatch).map((s) => [
      s.labels.errno,
      s.value,
    ]),
    [["", 1], ["ECONNRESET", 1]],
  );
  const [open] = findSamples(parsed, "tcp_open_total", dstMatch);
  assert.deepEqual(open?.labels, {
    direction: "outbound",
    peer: "dst",
    target_addr: "10.0.0.7:8080",
    target_ip: "10.0.0.7",
    target_port: "8080",
    tls: "true",
    server_id: "web.ns.serviceaccount.identity.linkerd.cluster.local",
  });
  const [srcOpen] = findSamples(parsed, "tcp_open_total", { peer: "src" });
  assert.equal(srcOpen?.labels.tls, "no_identity");
  assert.equal(srcOpen?.labels.no_tls_reason, "loopback");
  assert.equal(
    findSamples(parsed, "tcp_open_connections", { peer: "src" })[0]?.value,
    1,
  );
});

Deno.test("ProxyMetrics.detect() counts results", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  m.detect("http/1");
  m.detect("http/2");
  m.detect("http/1");
  m.detect("not_http");
  const parsed = await scrape(m);
  assert.deepEqual(
    findSamples(parsed, "outbound_tcp_detect_http_results_total").map((s) => [
      s.labels.result,
      s.value,
    ]),
    [["http/1", 2], ["http/2", 1], ["not_http", 1]],
  );
});

Deno.test("ProxyMetrics instances do not share series", async () => {
  const a = new ProxyMetrics();
  const b = new ProxyMetrics();
  a.httpEndpoint(ENDPOINT).request();
  a.httpError("failfast");
  assert.notEqual(a.registry, b.registry);
  const parsed = await scrape(b);
  assert.equal(findSamples(parsed, "request_total").length, 0);
  assert.equal(findSamples(parsed, "outbound_http_errors_total").length, 0);
  // Both expose the shared process collectors.
  assert.equal(parsed.types.get("process_cpu_seconds_total"), "counter");
});

Deno.test("splitTargetAddr() splits IPv4 and IPv6 addresses", () => {
  assert.deepEqual(splitTargetAddr("10.0.0.1:80"), {
    ip: "10.0.0.1",
    port: "80",
  });
  assert.deepEqual(splitTargetAddr("[::1]:4143"), { ip: "::1", port: "4143" });
  assert.deepEqual(splitTargetAddr("10.0.0.1"), { ip: "10.0.0.1", port: "" });
  assert.deepEqual(splitTargetAddr("::1"), { ip: "::1", port: "" });
});

Deno.test("parsePromText() rejects malformed lines", () => {
  assert.throws(() => parsePromText('x{a="1" 2\n'), SyntaxError);
  assert.throws(() => parsePromText("x 1 2 3\n"), SyntaxError);
  assert.throws(() => parsePromText('x{a="1",a="2"} 1\n'), SyntaxError);
  assert.deepEqual(parsePromText('x{a="q\\"\\\\"} +Inf\n').samples, [
    { name: "x", labels: { a: 'q"\\' }, value: Infinity },
  ]);
});
