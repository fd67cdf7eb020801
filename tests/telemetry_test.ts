/**
 * Metrics after real traffic through Petrel: `GET /metrics` on the admin port
 * counts exactly what was sent (linkerd's legacy `request_total`,
 * `response_total`, `response_latency_ms`, `outbound_http_errors_total` and
 * `outbound_tcp_detect_http_results_total` families).
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import {
  freePort,
  httpRequest,
  servicesYaml,
  startPetrel,
} from "./support/petrel.ts";

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** Parses Prometheus text format 0.0.4 samples (comments skipped). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    assert.ok(m, `bad metrics line: ${line}`);
    const labels: Record<string, string> = {};
    const re = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)",?/g;
    for (const l of (m[2] ?? "").matchAll(re)) labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

/** Samples of `name` whose labels include every pair of `match`. */
function select(
  samples: Sample[],
  name: string,
  match: Record<string, string>,
): Sample[] {
  return samples.filter((s) =>
    s.name === name &&
    Object.entries(match).every(([k, v]) => s.labels[k] === v)
  );
}

function sum(
  samples: Sample[],
  name: string,
  match: Record<string, string>,
): number {
  return select(samples, name, match).reduce((n, s) => n + s.value, 0);
}

/** One h2c (prior knowledge) GET through Petrel; returns the status. */
async function h2Get(port: number, authority: string): Promise<number> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    return await new Promise<number>((resolve, reject) => {
      const req = session.request({ ":path": "/", ":authority": authority });
      let status = 0;
      req.on("response", (h) => (status = Number(h[":status"])));
      req.on("data", () => {});
      req.on("end", () => resolve(status));
      req.on("error", reject);
      req.end();
    });
  } finally {
    await new Promise<void>((r) => session.close(() => r()));
  }
}

/** Sends non-HTTP bytes and resolves once Petrel closes the connection. */
function opaqueAndClosed(port: number): Promise<void> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.on("error", () => {});
    s.on("connect", () => s.write("hello, not http\n"));
    s.on("data", () => {});
    s.on("close", () => resolve());
  });
}

Deno.test("telemetry: /metrics counts requests, responses, latency, errors and detection exactly", async () => {
  const backend = await startHttpBackend();
  const deadPort = freePort();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    "dead.test:80": { endpoints: [`127.0.0.1:${deadPort}`] },
  }));
  try {
    const OK = 5, FAIL = 3;
    for (let i = 0; i < OK; i++) {
      assert.equal(
        (await httpRequest(petrel.port, "web.test", "/")).status,
        200,
      );
    }
    // One slow 200: its latency is at least 150 ms.
    const slow = await httpRequest(petrel.port, "web.test", "/slow?ms=150");
    assert.equal(slow.status, 200);
    for (let i = 0; i < FAIL; i++) {
      const r = await httpRequest(petrel.port, "web.test", "/status?code=500");
      assert.equal(r.status, 500);
    }
    const dead = await httpRequest(petrel.port, "dead.test", "/");
    assert.equal(dead.status, 502);
    assert.ok(dead.headers["l5d-proxy-error"], "l5d-proxy-error is set");
    assert.equal(await h2Get(petrel.port, "web.test"), 200);
    await opaqueAndClosed(petrel.port);

    const rsp = await httpRequest(petrel.adminPort, "localhost", "/metrics");
    assert.equal(rsp.status, 200);
    assert.match(rsp.headers["content-type"] ?? "", /^text\/plain/);
    const m = parseMetrics(rsp.body);
    const web = {
      direction: "outbound",
      authority: "web.test:80",
      target_addr: `127.0.0.1:${backend.port}`,
      target_ip: "127.0.0.1",
      target_port: String(backend.port),
    };
    const deadEp = {
      direction: "outbound",
      authority: "dead.test:80",
      target_addr: `127.0.0.1:${deadPort}`,
    };
    const OK_ALL = OK + 2; // the slow one and the h2 one

    // request_total: one series per endpoint.
    assert.equal(select(m, "request_total", web).length, 1);
    assert.equal(sum(m, "request_total", web), OK_ALL + FAIL);
    assert.equal(sum(m, "request_total", deadEp), 1);
    assert.equal(sum(m, "request_total", {}), OK_ALL + FAIL + 1);

    // response_total by status and classification.
    const ok = select(m, "response_total", { ...web, status_code: "200" });
    assert.equal(ok.length, 1, JSON.stringify(ok));
    assert.equal(ok[0]!.labels.classification, "success");
    assert.equal(ok[0]!.value, OK_ALL);
    const failed = select(m, "response_total", {
      ...web,
      status_code: "500",
    });
    assert.equal(failed.length, 1, JSON.stringify(failed));
    assert.equal(failed[0]!.labels.classification, "failure");
    assert.equal(failed[0]!.value, FAIL);
    const deadRsp = select(m, "response_total", deadEp);
    assert.equal(deadRsp.length, 1, JSON.stringify(deadRsp));
    assert.equal(deadRsp[0]!.labels.classification, "failure");
    // The refused connect is the endpoint's 502 (linkerd ClientRescue),
    // counted once: as a response, not again as an error.
    assert.equal(deadRsp[0]!.labels.status_code, "502");
    assert.equal(deadRsp[0]!.value, 1);
    assert.equal(sum(m, "response_total", {}), OK_ALL + FAIL + 1);

    // response_latency_ms: cumulative buckets per status, +Inf = count.
    for (const [status, n] of [["200", OK_ALL], ["500", FAIL]] as const) {
      const labels = { ...web, status_code: status };
      const buckets = select(m, "response_latency_ms_bucket", labels);
      assert.equal(buckets.length, 26, `25 bounds and +Inf for ${status}`);
      for (let i = 1; i < buckets.length; i++) {
        assert.ok(buckets[i]!.value >= buckets[i - 1]!.value, "cumulative");
      }
      const inf = buckets.find((b) => b.labels.le === "+Inf")!;
      assert.equal(inf.value, n);
      assert.equal(sum(m, "response_latency_ms_count", labels), n);
    }
    const le100 = select(m, "response_latency_ms_bucket", {
      ...web,
      status_code: "200",
      le: "100",
    });
    assert.ok(
      le100[0]!.value <= OK_ALL - 1,
      "the 150 ms response is not in the 100 ms bucket",
    );
    assert.ok(
      sum(m, "response_latency_ms_sum", { ...web, status_code: "200" }) >=
        150,
    );

    // Proxy errors: none. The refused connect was answered by the endpoint
    // (a 502 response above), not by the server-side rescue.
    const errors = select(m, "outbound_http_errors_total", {});
    assert.deepEqual(errors.map((e) => [e.labels.error, e.value]), []);

    // Detection: one result per accepted connection (the admin port is
    // not the outbound listener).
    const detect = Object.fromEntries(
      select(m, "outbound_tcp_detect_http_results_total", {}).map((
        s,
      ) => [s.labels.result, s.value]),
    );
    assert.deepEqual(detect, {
      "http/1": OK + 1 + FAIL + 1,
      "http/2": 1,
      "not_http": 1,
    });

    // Transport: every accepted connection was opened once, bytes counted.
    const src = { direction: "outbound", peer: "src" };
    assert.equal(
      sum(m, "tcp_open_total", src),
      OK + 1 + FAIL + 1 + 1 + 1,
    );
    assert.ok(sum(m, "tcp_read_bytes_total", src) > 0);
  } finally {
    await backend.close();
  }
});
