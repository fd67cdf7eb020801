import assert from "node:assert/strict";
import { createLogger } from "../log.ts";
import { ProxyMetrics } from "../metrics/registry.ts";
import { findSamples, parsePromText } from "../metrics/_test_util.ts";
import { createNetns, netnsAvailable } from "../../tests/support/netns.ts";
import { DashboardStateBuilder } from "./state.ts";
import {
  adminHandler,
  type AdminHandlerOptions,
  isLoopback,
  parseListenAddr,
  startAdmin,
} from "./server.ts";

interface Harness extends AsyncDisposable {
  base: string;
  port: number;
  metrics: ProxyMetrics;
  lines: string[];
  shutdowns: number;
  ready: boolean;
}

async function harness(
  overrides: Partial<AdminHandlerOptions> & { listenAddr?: string } = {},
): Promise<Harness> {
  const lines: string[] = [];
  const metrics = new ProxyMetrics({ version: "9.9.9" });
  const h = {
    lines,
    metrics,
    shutdowns: 0,
    ready: false,
  } as Harness;
  const admin = await startAdmin({
    listenAddr: "127.0.0.1:0",
    metrics,
    logger: createLogger({
      level: "warn,linkerd=info",
      write: (l) => lines.push(l),
    }),
    isReady: () => h.ready,
    shutdownEnabled: false,
    onShutdown: () => {
      h.shutdowns++;
    },
    env: { A: "1", B: "two", LINKERD2_PROXY_LOG: "info" },
    ...overrides,
  });
  h.port = admin.addr.port;
  h.base = `http://127.0.0.1:${admin.addr.port}`;
  h[Symbol.asyncDispose] = () => admin.close();
  return h;
}

async function get(
  url: string,
  init?: RequestInit,
): Promise<{ status: number; body: string; headers: Headers }> {
  const res = await fetch(url, init);
  return { status: res.status, body: await res.text(), headers: res.headers };
}

/** One raw HTTP/1.1 exchange, so the body arrives exactly as sent. */
async function rawRequest(
  port: number,
  head: string,
): Promise<
  {
    status: number;
    headers: Map<string, string>;
    body: Uint8Array<ArrayBuffer>;
  }
> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const chunks: Uint8Array[] = [];
  try {
    await conn.write(new TextEncoder().encode(head));
    const buf = new Uint8Array(16 * 1024);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      chunks.push(buf.slice(0, n));
    }
  } finally {
    conn.close();
  }
  const all = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let off = 0;
  for (const c of chunks) {
    all.set(c, off);
    off += c.length;
  }
  let end = 0;
  while (
    end + 3 < all.length &&
    !(all[end] === 13 && all[end + 1] === 10 && all[end + 2] === 13 &&
      all[end + 3] === 10)
  ) end++;
  const lines = new TextDecoder().decode(all.subarray(0, end)).split("\r\n");
  const status = Number(lines[0]!.split(" ")[1]);
  const headers = new Map<string, string>();
  for (const line of lines.slice(1)) {
    const i = line.indexOf(":");
    headers.set(line.slice(0, i).toLowerCase(), line.slice(i + 1).trim());
  }
  let body = all.subarray(end + 4);
  if (headers.get("transfer-encoding") === "chunked") {
    const out: number[] = [];
    let p = 0;
    for (;;) {
      let e = p;
      while (!(body[e] === 13 && body[e + 1] === 10)) e++;
      const size = parseInt(new TextDecoder().decode(body.subarray(p, e)), 16);
      if (size === 0) break;
      out.push(...body.subarray(e + 2, e + 2 + size));
      p = e + 2 + size + 2;
    }
    body = new Uint8Array(out);
  }
  return { status, headers, body };
}

Deno.test("startAdmin() GET /live answers live", async () => {
  await using h = await harness();
  const res = await get(`${h.base}/live`);
  assert.equal(res.status, 200);
  assert.equal(res.body, "live\n");
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain/);
});

Deno.test("startAdmin() GET /ready follows isReady()", async () => {
  await using h = await harness();
  let res = await get(`${h.base}/ready`);
  assert.deepEqual([res.status, res.body], [503, "not ready\n"]);
  h.ready = true;
  res = await get(`${h.base}/ready`);
  assert.deepEqual([res.status, res.body], [200, "ready\n"]);
});

Deno.test("startAdmin() GET /metrics serves the registry as prometheus text", async () => {
  await using h = await harness();
  const ep = h.metrics.httpEndpoint({
    direction: "outbound",
    authority: "web.ns.svc.cluster.local:80",
    targetAddr: "10.0.0.9:80",
  });
  ep.request();
  ep.response(200, { classification: "success", latencyMs: 12 });
  ep.response(200, { classification: "success", latencyMs: 4 });
  h.metrics.httpError("failfast");
  h.metrics.detect("http/2");
  h.metrics.transport({
    direction: "outbound",
    peer: "src",
    targetAddr: "127.0.0.1:1",
  })
    .open();
  const res = await get(`${h.base}/metrics`, {
    headers: { "accept-encoding": "identity" },
  });
  assert.equal(res.status, 200);
  assert.match(
    res.headers.get("content-type") ?? "",
    /^text\/plain; version=0\.0\.4/,
  );
  assert.equal(res.headers.get("content-encoding"), null);
  const parsed = parsePromText(res.body);
  assert.equal(findSamples(parsed, "request_total")[0]?.value, 1);
  assert.equal(
    findSamples(parsed, "response_total", { status_code: "200" })[0]?.value,
    2,
  );
  assert.equal(
    findSamples(parsed, "response_latency_ms_bucket", { le: "10" })[0]?.value,
    1,
  );
  assert.equal(
    findSamples(parsed, "outbound_http_errors_total", { error: "failfast" })[0]
      ?.value,
    1,
  );
  assert.equal(
    findSamples(parsed, "outbound_tcp_detect_http_results_total")[0]?.labels
      .result,
    "http/2",
  );
  assert.equal(findSamples(parsed, "tcp_open_connections")[0]?.value, 1);
  assert.equal(
    findSamples(parsed, "proxy_build_info")[0]?.labels.version,
    "9.9.9",
  );
  assert.equal(parsed.types.get("process_resident_memory_bytes"), "gauge");
});

Deno.test("startAdmin() GET /metrics gzips when the client accepts gzip", async () => {
  await using h = await harness();
  h.metrics.httpError("loadshed");
  const res = await rawRequest(
    h.port,
    "GET /metrics HTTP/1.1\r\nHost: x\r\nAccept-Encoding: deflate, gzip\r\nConnection: close\r\n\r\n",
  );
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-encoding"), "gzip");
  // gzip magic bytes, then a body that inflates to the metrics text.
  assert.deepEqual([res.body[0], res.body[1]], [0x1f, 0x8b]);
  const text = await new Response(
    new Blob([res.body]).stream().pipeThrough(new DecompressionStream("gzip")),
  ).text();
  const parsed = parsePromText(text);
  assert.equal(
    findSamples(parsed, "outbound_http_errors_total", { error: "loadshed" })[0]
      ?.value,
    1,
  );

  const plain = await rawRequest(
    h.port,
    "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
  );
  assert.equal(plain.headers.get("content-encoding"), undefined);
  assert.match(new TextDecoder().decode(plain.body), /^# HELP /);

  // fetch() asks for gzip by default and inflates it transparently.
  const viaFetch = await get(`${h.base}/metrics`);
  assert.equal(viaFetch.headers.get("content-encoding"), "gzip");
  parsePromText(viaFetch.body);
});

Deno.test("startAdmin() GET|PUT /proxy-log-level reads and sets the filter", async () => {
  await using h = await harness();
  let res = await get(`${h.base}/proxy-log-level`);
  assert.deepEqual([res.status, res.body], [200, "warn,linkerd=info"]);

  res = await get(`${h.base}/proxy-log-level`, {
    method: "PUT",
    body: "warn,linkerd=debug\n",
  });
  assert.equal(res.status, 204);
  res = await get(`${h.base}/proxy-log-level`);
  assert.equal(res.body, "warn,linkerd=debug");

  res = await get(`${h.base}/proxy-log-level`, {
    method: "PUT",
    body: "linkerd=loud",
  });
  assert.equal(res.status, 400);
  assert.match(res.body, /unknown level "loud"/);
  res = await get(`${h.base}/proxy-log-level`);
  assert.equal(res.body, "warn,linkerd=debug");

  res = await get(`${h.base}/proxy-log-level`, { method: "POST", body: "x" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "GET, PUT");
  assert.ok(h.lines.some((l) => l.includes("Setting log level failed")));
});

Deno.test("startAdmin() GET /env.json returns all or selected variables", async () => {
  await using h = await harness();
  let res = await get(`${h.base}/env.json`);
  assert.equal(res.status, 200);
  assert.equal(res.headers.get("content-type"), "application/json");
  assert.deepEqual(JSON.parse(res.body), {
    A: "1",
    B: "two",
    LINKERD2_PROXY_LOG: "info",
  });

  res = await get(`${h.base}/env.json?A&MISSING`);
  assert.deepEqual(JSON.parse(res.body), { A: "1", MISSING: null });

  res = await get(`${h.base}/env.json?A=1`);
  assert.equal(res.status, 400);
  assert.deepEqual(JSON.parse(res.body), {
    error: "env.json query parameters may not contain key-value pairs",
    status: 400,
  });

  res = await get(`${h.base}/env.json`, { headers: { accept: "text/html" } });
  assert.equal(res.status, 406);
  res = await get(`${h.base}/env.json`, {
    headers: { accept: "text/html, */*;q=0.1" },
  });
  assert.equal(res.status, 200);

  res = await get(`${h.base}/env.json`, { method: "DELETE" });
  assert.equal(res.status, 405);
});

Deno.test("startAdmin() /env.json defaults to the process environment", async () => {
  await using h = await harness({ env: undefined });
  const res = await get(`${h.base}/env.json?PATH`);
  assert.deepEqual(JSON.parse(res.body), {
    PATH: Deno.env.get("PATH") ?? null,
  });
});

Deno.test("startAdmin() POST /shutdown is 404 unless enabled", async () => {
  await using h = await harness();
  const res = await get(`${h.base}/shutdown`, { method: "POST" });
  assert.equal(res.status, 404);
  assert.equal(h.shutdowns, 0);
});

Deno.test("startAdmin() POST /shutdown answers then calls onShutdown", async () => {
  await using h = await harness({ shutdownEnabled: true });
  let res = await get(`${h.base}/shutdown`, { method: "GET" });
  assert.equal(res.status, 405);
  assert.equal(res.headers.get("allow"), "POST");
  assert.equal(h.shutdowns, 0);
  res = await get(`${h.base}/shutdown`, { method: "POST" });
  assert.deepEqual([res.status, res.body], [200, "shutdown\n"]);
  assert.equal(h.shutdowns, 1);
});

Deno.test("startAdmin() unknown paths are 404 and wrong methods 405", async () => {
  await using h = await harness();
  for (const path of ["/", "/nope", "/live/", "/metrics.json"]) {
    const res = await get(`${h.base}${path}`);
    assert.equal(res.status, 404, path);
    assert.equal(res.body, "");
  }
  for (const path of ["/live", "/ready", "/metrics"]) {
    const res = await get(`${h.base}${path}`, { method: "POST", body: "" });
    assert.equal(res.status, 405, path);
    assert.equal(res.headers.get("allow"), "GET, HEAD");
  }
});

Deno.test("startAdmin() closes cleanly and rejects a bad address", async () => {
  const h = await harness();
  await get(`${h.base}/live`);
  await h[Symbol.asyncDispose]();
  await h[Symbol.asyncDispose](); // idempotent
  await assert.rejects(() => fetch(`${h.base}/live`));
  await assert.rejects(
    () => harness({ listenAddr: "localhost" }),
    TypeError,
  );
  assert.ok(
    h.lines.some((l) =>
      /INFO petrel: Admin interface on addr=127\.0\.0\.1:\d+/.test(l)
    ),
  );
});

function handlerOpts(shutdownEnabled: boolean) {
  let shutdowns = 0;
  const opts: AdminHandlerOptions = {
    metrics: new ProxyMetrics({ processMetrics: false }),
    logger: createLogger({ level: "off", write: () => {} }),
    isReady: () => true,
    shutdownEnabled,
    onShutdown: () => shutdowns++,
    env: {},
  };
  return { opts, shutdowns: () => shutdowns };
}

Deno.test("adminHandler() forbids non-loopback clients on localhost-only paths", async () => {
  const { opts, shutdowns } = handlerOpts(true);
  const handle = adminHandler(opts);
  const remote = { hostname: "10.1.2.3" };
  let res = await handle(new Request("http://admin/proxy-log-level"), remote);
  assert.equal(res.status, 403);
  assert.equal(await res.text(), "Requests are only permitted from localhost.");
  res = await handle(
    new Request("http://admin/proxy-log-level", { method: "PUT", body: "off" }),
    remote,
  );
  assert.equal(res.status, 403);
  await res.body?.cancel();
  assert.equal(opts.logger.filter, "off");
  res = await handle(
    new Request("http://admin/shutdown", { method: "POST" }),
    remote,
  );
  assert.equal(res.status, 403);
  await res.body?.cancel();
  await Promise.resolve();
  assert.equal(shutdowns(), 0);
  // The other routes are open to everyone.
  res = await handle(new Request("http://admin/live"), remote);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  res = await handle(new Request("http://admin/env.json"), remote);
  assert.equal(res.status, 200);
  await res.body?.cancel();
  // IPv6 and IPv4-mapped loopback are local.
  for (const hostname of ["::1", "::ffff:127.0.0.1", "127.8.9.10"]) {
    res = await handle(new Request("http://admin/proxy-log-level"), {
      hostname,
    });
    assert.equal(res.status, 200, hostname);
    await res.body?.cancel();
  }
});

function dashboardState(metrics: ProxyMetrics): DashboardStateBuilder {
  return new DashboardStateBuilder(metrics, {
    services: () => [
      { name: "web.test:80", protocol: "http1", endpoints: ["10.9.9.9:80"] },
    ],
    recentErrors: () => [],
  });
}

Deno.test("adminHandler() serves the dashboard and /state.json only to loopback clients unless dashboardPublic", async () => {
  const { opts } = handlerOpts(false);
  const state = dashboardState(opts.metrics);
  for (const path of ["/", "/state.json"]) {
    const closed = adminHandler({ ...opts, state });
    let res = await closed(new Request(`http://admin${path}`), {
      hostname: "10.1.2.3",
    });
    assert.equal(res.status, 403, path);
    assert.equal(
      await res.text(),
      "Requests are only permitted from localhost.",
    );
    res = await closed(new Request(`http://admin${path}`), {
      hostname: "::ffff:127.0.0.1",
    });
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
    const open = adminHandler({ ...opts, state, dashboardPublic: true });
    res = await open(new Request(`http://admin${path}`), {
      hostname: "10.1.2.3",
    });
    assert.equal(res.status, 200, path);
    await res.body?.cancel();
  }
});

Deno.test({
  name:
    "startAdmin() answers 403 on the dashboard to a client in another network namespace, 200 with dashboardPublic",
  ignore: !netnsAvailable(),
  fn: async () => {
    await using ns = await createNetns();
    const curl = async (port: number, path: string) => {
      const out = await ns.exec("curl", [
        "-s",
        "-o",
        "/dev/null",
        "-w",
        "%{http_code}",
        "--max-time",
        "10",
        `http://${ns.hostAddr}:${port}${path}`,
      ]);
      return out.stdout;
    };
    const metrics = new ProxyMetrics({ processMetrics: false });
    {
      await using h = await harness({
        listenAddr: `${ns.hostAddr}:0`,
        state: dashboardState(metrics),
      });
      assert.equal(await curl(h.port, "/state.json"), "403");
      assert.equal(await curl(h.port, "/"), "403");
      assert.equal(await curl(h.port, "/proxy-log-level"), "403");
      assert.equal(await curl(h.port, "/live"), "200");
    }
    {
      await using h = await harness({
        listenAddr: `${ns.hostAddr}:0`,
        state: dashboardState(metrics),
        dashboardPublic: true,
      });
      assert.equal(await curl(h.port, "/state.json"), "200");
      assert.equal(await curl(h.port, "/"), "200");
      assert.equal(await curl(h.port, "/proxy-log-level"), "403");
    }
  },
});

Deno.test("isLoopback() and parseListenAddr()", () => {
  assert.equal(isLoopback("127.0.0.1"), true);
  assert.equal(isLoopback("[::1]"), true);
  assert.equal(isLoopback("10.0.0.1"), false);
  assert.equal(isLoopback("::ffff:10.0.0.1"), false);
  assert.equal(isLoopback("1270.0.0.1"), false);
  assert.deepEqual(parseListenAddr("127.0.0.1:4191"), {
    hostname: "127.0.0.1",
    port: 4191,
  });
  assert.deepEqual(parseListenAddr("[::]:4191"), {
    hostname: "::",
    port: 4191,
  });
  assert.throws(() => parseListenAddr("127.0.0.1"), TypeError);
  assert.throws(() => parseListenAddr("127.0.0.1:70000"), TypeError);
  assert.throws(() => parseListenAddr("::1:80"), TypeError);
});
