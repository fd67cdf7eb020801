/**
 * Fault injection through the whole proxy over real sockets (issue 6; linkerd
 * `app/integration` retry and timeout tests): every case counts its
 * outcomes and prints them.
 *
 * - one of three endpoints refusing connections under load;
 * - an endpoint that hangs: per-try timeout, then another endpoint;
 * - a backend killed mid-load: only what it had in flight and could not
 *   retry (POSTs) fails;
 * - endpoints removed from discovery mid-load;
 * - 50 % of responses 503, with the retry budget;
 * - a 1 MiB POST whose first attempt fails: not retried, delivered once;
 * - a 10 KiB POST: retried, the same bytes at the backend (after a 503 and
 *   after REFUSED_STREAM);
 * - 100 concurrent HTTP/2 streams, one reset, one timed out: 98 succeed;
 * - gRPC: a code retried from trailers, a timeout as DEADLINE_EXCEEDED.
 *
 * Loads are short (≤ 2 s, ≤ 16 concurrent requests), one at a time.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import http2 from "node:http2";
import type net from "node:net";
import { seededRandom } from "../src/balance/_test_util.ts";
import { buildApp } from "../src/app.ts";
import { parseConfig } from "../src/config/env.ts";
import { parseConfigYaml } from "../src/config/yaml.ts";
import type { FileConfig } from "../src/config/config.ts";
import { createLogger } from "../src/log.ts";
import { parsePromText, type PromSample } from "../src/metrics/_test_util.ts";
import {
  type Backend,
  type BackendHandler,
  patternSha256,
  sha256Hex,
  startHttpBackend,
} from "./support/backend.ts";
import { h2Streams, startH2FaultServer } from "./support/h2_fault.ts";
import {
  freePort,
  httpRequest,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const at = (b: Backend | number) =>
  `127.0.0.1:${typeof b === "number" ? b : b.port}`;

/** YAML for `web.test:80` with one catch-all route carrying `route` (flow YAML). */
function routeYaml(
  endpoints: string[],
  route: string,
  protocol = "http1",
): string {
  return "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n" +
    "services:\n  - name: web.test:80\n" +
    `    protocol: ${protocol}\n` +
    `    endpoints: [${endpoints.join(", ")}]\n` +
    `    routes:\n      - { name: all, ${route} }\n`;
}

/**
 * Petrel started from `yaml` with its parsed config changed by `patch`
 * first: for model fields the YAML does not have yet (the retry opt-in for
 * non-idempotent methods).
 */
async function startPatched(
  yaml: string,
  patch: (f: FileConfig) => FileConfig,
): Promise<{ port: number; adminPort: number; close(): Promise<void> }> {
  const file = patch(parseConfigYaml(yaml, "test.yaml"));
  const env = { LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "2s" };
  const config = parseConfig(env, [], file);
  const app = await buildApp(config, {
    env,
    logger: createLogger({
      level: Deno.env.get("PETREL_TEST_LOG") ?? "error",
    }),
  });
  return {
    port: app.outbound.port,
    adminPort: app.admin.port,
    close: () => app.shutdown(),
  };
}

/** Sets `nonIdempotent: true` on the retry of every route rule. */
function optInNonIdempotent(f: FileConfig): FileConfig {
  const file = structuredClone(f) as unknown as {
    services: { routes?: { routes: { rules: { retry?: object }[] }[] } }[];
  };
  for (const s of file.services) {
    for (const r of s.routes?.routes ?? []) {
      for (const rule of r.rules) {
        if (rule.retry) rule.retry = { ...rule.retry, nonIdempotent: true };
      }
    }
  }
  return file as unknown as FileConfig;
}

async function scrape(adminPort: number): Promise<PromSample[]> {
  const rsp = await httpRequest(adminPort, "localhost", "/metrics");
  return parsePromText(rsp.body).samples;
}

/** Sum of the samples of `name` whose labels include `labels`. */
function metric(
  samples: PromSample[],
  name: string,
  labels: Record<string, string> = {},
): number {
  return samples
    .filter((s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    )
    .reduce((a, s) => a + s.value, 0);
}

interface Outcome {
  status: number;
  ms: number;
  headers: Record<string, string>;
}

/**
 * Runs `total` requests (or until `stop()`), `concurrency` at a time, each
 * made by `send(i)`; outcomes and failures are kept.
 */
function drive(
  concurrency: number,
  send: (i: number) => Promise<Outcome>,
  total = Infinity,
) {
  const outcomes: Outcome[] = [];
  const failures: string[] = [];
  let next = 0;
  let stopped = false;
  const worker = async () => {
    while (!stopped && next < total) {
      const i = next++;
      const t0 = performance.now();
      try {
        const o = await send(i);
        outcomes.push({ ...o, ms: performance.now() - t0 });
        if (o.status >= 500) {
          failures.push(`${o.status} ${o.headers["l5d-proxy-error"] ?? ""}`);
        }
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    outcomes,
    failures,
    get sent() {
      return next;
    },
    ok: () => outcomes.filter((o) => o.status === 200).length,
    async stop() {
      stopped = true;
      await done;
    },
    done,
  };
}

function get(port: number, path: string, headers: Record<string, string> = {}) {
  return async (): Promise<Outcome> => {
    const r = await httpRequest(port, "web.test", path, { headers });
    return { status: r.status, ms: 0, headers: r.headers };
  };
}

const pct = (n: number, d: number) => `${(100 * n / d).toFixed(1)} %`;

// ------------------------------------------------------------ the suite

Deno.test("resilience: one of three endpoints refusing connections costs GETs nothing under load", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const refusing = freePort();
  const petrel = await startPetrel(
    routeYaml([at(a), at(refusing), at(b)], "retry: { limit: 2 }"),
  );
  try {
    const l = drive(8, get(petrel.port, "/"), 600);
    await l.done;
    const m = await scrape(petrel.adminPort);
    console.log(
      `refusing endpoint: ${l.ok()} of ${l.sent} GETs ok, ${l.failures.length} errors; ` +
        `backends a=${a.requests} b=${b.requests}; retries ${
          metric(m, "outbound_http_route_retry_requests_total")
        }`,
    );
    assert.deepEqual(l.failures, []);
    assert.equal(l.ok(), 600);
  } finally {
    await petrel.close();
    await Promise.all([a.close(), b.close()]);
  }
});

Deno.test("resilience: an endpoint that hangs costs a per-try timeout, then another endpoint answers", async () => {
  const good = await startHttpBackend();
  let hung = 0;
  const hanging = await startHttpBackend(() => {
    hung++;
    return new Promise(() => {}); // never answers
  });
  const petrel = await startPetrel(
    routeYaml(
      [at(hanging), at(good)],
      "retry: { limit: 2, timeout: 200ms }",
    ),
  );
  try {
    // A burst first: the balancer knows nothing yet, so some land on the hanging one.
    const burst = drive(12, get(petrel.port, "/"), 12);
    await burst.done;
    const after = drive(4, get(petrel.port, "/"), 40);
    await after.done;
    const all = [...burst.outcomes, ...after.outcomes];
    const slow = all.filter((o) => o.ms >= 190);
    const m = await scrape(petrel.adminPort);
    const timeouts = metric(m, "outbound_http_route_attempt_errors_total", {
      error: "RESPONSE_HEADERS_TIMEOUT",
    });
    console.log(
      `hanging endpoint: ${
        all.filter((o) => o.status === 200).length
      } of ${all.length} GETs ok, ` +
        `${
          burst.failures.length + after.failures.length
        } errors; ${hung} attempts hung, ` +
        `${timeouts} per-try timeouts; ${slow.length} answers took ≥ 200 ms (max ${
          Math.max(...all.map((o) => o.ms)).toFixed(0)
        } ms), the others ≤ ${
          Math.max(...all.filter((o) => o.ms < 190).map((o) => o.ms)).toFixed(0)
        } ms`,
    );
    assert.deepEqual([...burst.failures, ...after.failures], []);
    assert.ok(hung >= 1, "some attempt hit the hanging endpoint");
    assert.equal(timeouts, hung);
    assert.ok(slow.length >= 1 && slow.length <= hung);
  } finally {
    await petrel.close();
    await Promise.all([good.close(), hanging.close()]);
  }
});

Deno.test("resilience: a backend killed mid-load fails only the POSTs it had in flight", async () => {
  const inflight = new Map<number, { GET: number; POST: number }>();
  const slowHandler: BackendHandler = async (req, ctx) => {
    const f = inflight.get(ctx.port) ?? { GET: 0, POST: 0 };
    inflight.set(ctx.port, f);
    const m = req.method as "GET" | "POST";
    await req.readBody();
    f[m]++;
    await sleep(15);
    f[m]--;
    return { status: 200, body: "ok" };
  };
  const backends = await Promise.all(
    [0, 1, 2].map(() => startHttpBackend(slowHandler)),
  );
  const victim = backends[2]!;
  const petrel = await startPetrel(
    routeYaml(backends.map(at), "retry: { limit: 2 }"),
  );
  try {
    const l = drive(12, async (i) => {
      const method = i % 2 === 0 ? "GET" : "POST";
      const r = await httpRequest(petrel.port, "web.test", `/${method}`, {
        method,
        ...(method === "POST" ? { body: `payload ${i}` } : {}),
      });
      return { status: r.status, ms: 0, headers: { ...r.headers, method } };
    });
    await sleep(600);
    const killedWith = { ...inflight.get(victim.port)! };
    const servedBefore = victim.requests;
    await victim.close();
    await sleep(700);
    await l.stop();
    const failedByMethod = { GET: 0, POST: 0 };
    for (const o of l.outcomes) {
      if (o.status !== 200) {
        failedByMethod[o.headers["method"] as "GET" | "POST"]++;
      }
    }
    const m = await scrape(petrel.adminPort);
    console.log(
      `killed backend: ${l.sent} requests, ${l.ok()} ok; it had ${killedWith.GET} GET + ${killedWith.POST} POST in flight ` +
        `(after ${servedBefore} answered); client errors: ${failedByMethod.GET} GET, ${failedByMethod.POST} POST ` +
        `(${l.failures.length} total); retries ${
          metric(m, "outbound_http_route_retry_requests_total")
        }`,
    );
    assert.equal(failedByMethod.GET, 0, "GETs are retried elsewhere");
    // The exchanges Petrel had open with the victim when it died: sent to it
    // and never answered. (The handler's own count misses requests still in
    // the victim's socket buffers, so it can be lower.)
    const victimAddr = `127.0.0.1:${victim.port}`;
    const unanswered = metric(m, "request_total", { target_addr: victimAddr }) -
      metric(m, "response_total", {
        target_addr: victimAddr,
        classification: "success",
      });
    assert.ok(
      failedByMethod.POST <= Math.max(killedWith.POST, unanswered),
      `only POSTs in flight on the victim fail (${failedByMethod.POST} > ${killedWith.POST} counted by the handler, ${unanswered} unanswered by the victim)`,
    );
    assert.equal(l.failures.length, failedByMethod.POST);
  } finally {
    await petrel.close();
    await Promise.all(backends.slice(0, 2).map((b) => b.close()));
  }
});

Deno.test("resilience: endpoints removed from discovery mid-load cost no request", async () => {
  const handler: BackendHandler = async () => {
    await sleep(5);
    return { status: 200, body: "ok" };
  };
  const [a, b, c] = await Promise.all(
    [0, 1, 2].map(() => startHttpBackend(handler)),
  );
  const yaml = (eps: Backend[]) =>
    routeYaml(eps.map(at), "retry: { limit: 1 }");
  const petrel = await startPetrel(yaml([a!, b!, c!]));
  try {
    const l = drive(8, get(petrel.port, "/"));
    await sleep(400);
    const t0 = performance.now();
    await Deno.writeTextFile(petrel.configPath, yaml([a!]));
    // The update is in force once b and c see no new requests for 200 ms.
    let last = b!.requests + c!.requests;
    let stableSince = performance.now();
    await waitFor(
      () => {
        const n = b!.requests + c!.requests;
        if (n !== last) {
          last = n;
          stableSince = performance.now();
        }
        return performance.now() - stableSince > 200;
      },
      "the removed endpoints to drain",
      5000,
    );
    const tookMs = stableSince - t0;
    const aBefore = a!.requests;
    await sleep(400);
    await l.stop();
    console.log(
      `removed endpoints: ${l.ok()} of ${l.sent} GETs ok, ${l.failures.length} errors; ` +
        `update in force after ${tookMs.toFixed(0)} ms; served a=${
          a!.requests
        } b=${b!.requests} c=${c!.requests}, ` +
        `a alone afterwards: ${a!.requests - aBefore}`,
    );
    assert.deepEqual(l.failures, []);
    assert.ok(a!.requests - aBefore > 0);
  } finally {
    await petrel.close();
    await Promise.all([a!.close(), b!.close(), c!.close()]);
  }
});

/**
 * Whether attempt `n` of request `id` gets a 503: a fixed coin flip per
 * (seed, id, attempt), so the failure pattern does not depend on how the
 * concurrent requests interleave.
 */
function fails(seed: number, id: string, n: number): boolean {
  let h = 0x811c9dc5 ^ seed;
  for (const ch of `${id}/${n}`) h = Math.imul(h ^ ch.charCodeAt(0), 16777619);
  return seededRandom(h >>> 0)() < 0.5;
}

/** A backend answering 503 to half of the attempts (see `fails`), 200 otherwise. */
async function flakyBackend(seed: number) {
  const attempts = new Map<string, number>();
  const stats = { attempts: 0, failed: 0 };
  const backend = await startHttpBackend((req) => {
    const id = req.header("x-req-id") ?? "";
    const n = (attempts.get(id) ?? 0) + 1;
    attempts.set(id, n);
    stats.attempts++;
    if (fails(seed, id, n)) {
      stats.failed++;
      return { status: 503, body: "flaky" };
    }
    return { status: 200, headers: { "x-attempt": String(n) }, body: "ok" };
  });
  return { backend, stats };
}

Deno.test("resilience: 50 % of responses 503, retries under the budget (ratio 0.2, ≥ 10/s, 10 s)", async () => {
  const route = "retry: { limit: 7, statuses: [5xx] }";
  // Set explicitly: YAML and policy routes have no budget otherwise (as linkerd's).
  const budget =
    "    retryBudget: { ratio: 0.2, minPerSecond: 10, ttl: 10s }\n";
  // Light traffic: the budget's floor (10 retries/s, 100 per 10 s) covers it.
  {
    const { backend, stats } = await flakyBackend(1);
    const petrel = await startPetrel(
      routeYaml([at(backend)], route) + budget,
    );
    try {
      const n = 80;
      const l = drive(
        8,
        (i) => get(petrel.port, "/", { "x-req-id": `${i}` })(),
        n,
      );
      await l.done;
      const m = await scrape(petrel.adminPort);
      const byAttempt = new Map<number, number[]>();
      for (const o of l.outcomes.filter((o) => o.status === 200)) {
        const k = Number(o.headers["x-attempt"]);
        byAttempt.set(k, [...(byAttempt.get(k) ?? []), o.ms]);
      }
      const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
      const lat = [...byAttempt.keys()].sort((a, b) => a - b).map((k) =>
        `${k}: ${byAttempt.get(k)!.length}× ${
          mean(byAttempt.get(k)!).toFixed(0)
        } ms`
      ).join(", ");
      console.log(
        `50 % 503, light traffic (${n} requests): success ${
          pct(l.ok(), n)
        } (${l.ok()}/${n}), ` +
          `backend attempts ${stats.attempts} (extra load ${
            pct(stats.attempts - n, n)
          }, ${stats.failed} answered 503); ` +
          `retries ${
            metric(m, "outbound_http_route_retry_requests_total")
          }, overflow ${
            metric(m, "outbound_http_route_retry_overflow_total")
          }; mean latency by attempt that succeeded: ${lat}`,
      );
      // Exactly the requests with a success among their 8 allowed attempts.
      let expected = 0;
      for (let i = 0; i < n; i++) {
        if ([1, 2, 3, 4, 5, 6, 7, 8].some((k) => !fails(1, `${i}`, k))) {
          expected++;
        }
      }
      assert.equal(l.ok(), expected);
      assert.equal(metric(m, "outbound_http_route_retry_overflow_total"), 0);
      assert.ok(l.ok() / n > 0.99, `success ${pct(l.ok(), n)}`);
    } finally {
      await petrel.close();
      await backend.close();
    }
  }
  // Heavy traffic: the budget caps the extra load at 20 % plus the floor.
  {
    const { backend, stats } = await flakyBackend(2);
    const petrel = await startPetrel(
      routeYaml([at(backend)], route) + budget,
    );
    try {
      const n = 1500;
      const l = drive(
        16,
        (i) => get(petrel.port, "/", { "x-req-id": `${i}` })(),
        n,
      );
      await l.done;
      const m = await scrape(petrel.adminPort);
      const retries = metric(m, "outbound_http_route_retry_requests_total");
      const overflow = metric(m, "outbound_http_route_retry_overflow_total");
      const extra = stats.attempts - n;
      console.log(
        `50 % 503, heavy traffic (${n} requests in one 10 s window): success ${
          pct(l.ok(), n)
        }, ` +
          `backend attempts ${stats.attempts}: extra load ${
            pct(extra, n)
          } = ${extra} retries ` +
          `(budget: 0.2 × ${n} = ${
            0.2 * n
          } + reserve 100), ${overflow} retries refused by the budget; ` +
          `without retries success would be ~50 %`,
      );
      assert.equal(retries, extra);
      assert.ok(extra <= 0.2 * n + 100 + 1, `extra load ${extra}`);
      assert.ok(overflow > 0);
      assert.ok(l.ok() / n > 0.55, `retries still help (${pct(l.ok(), n)})`);
    } finally {
      await petrel.close();
      await backend.close();
    }
  }
});

/**
 * An HTTP/1 backend recording every upload it receives (bytes, sha256);
 * it answers 503 to the first one and 200 after.
 */
async function uploadBackend() {
  const receipts: { bytes: number; sha256: string }[] = [];
  const backend = await startHttpBackend(async (req) => {
    const body = await req.readBody();
    receipts.push({ bytes: body.length, sha256: sha256Hex(body) });
    return receipts.length === 1
      ? { status: 503, body: "first attempt fails" }
      : { status: 200, body: "stored" };
  });
  return { backend, receipts };
}

Deno.test("resilience: a 1 MiB POST whose first attempt fails is not retried and is delivered exactly once", async () => {
  const { backend, receipts } = await uploadBackend();
  const petrel = await startPatched(
    routeYaml([at(backend)], "retry: { limit: 2, statuses: [5xx] }"),
    optInNonIdempotent, // only the size keeps it from a retry
  );
  try {
    const body = "p".repeat(1 << 20);
    const r = await httpRequest(petrel.port, "web.test", "/upload", {
      method: "POST",
      body,
    });
    const m = await scrape(petrel.adminPort);
    console.log(
      `1 MiB POST (content-length): client got ${r.status}; backend received ${receipts.length} upload(s) of ${
        receipts.map((x) => x.bytes).join(", ")
      } bytes; retries ${
        metric(m, "outbound_http_route_retry_requests_total")
      }`,
    );
    assert.equal(r.status, 503);
    assert.equal(receipts.length, 1);
    assert.equal(receipts[0]!.bytes, 1 << 20);
    assert.equal(
      receipts[0]!.sha256,
      sha256Hex(new TextEncoder().encode(body)),
    );
    assert.equal(metric(m, "outbound_http_route_retry_requests_total"), 0);
  } finally {
    await petrel.close();
    await backend.close();
  }
});

Deno.test("resilience: a 1 MiB POST streamed over HTTP/2 (no length) whose first attempt fails is not retried", async () => {
  const { backend, receipts } = await uploadBackend();
  const petrel = await startPatched(
    routeYaml([at(backend)], "retry: { limit: 2, statuses: [5xx] }"),
    optInNonIdempotent,
  );
  try {
    const [s] = await h2Streams(`127.0.0.1:${petrel.port}`, ["/upload"], {
      authority: "web.test",
      method: "POST",
      bodyBytes: 1 << 20,
    });
    console.log(
      `1 MiB streamed POST: client got ${
        s!.status
      }; backend received ${receipts.length} upload(s) of ${
        receipts.map((x) => x.bytes).join(", ")
      } bytes`,
    );
    assert.equal(s!.status, 503);
    assert.equal(receipts.length, 1);
    assert.deepEqual(receipts[0], {
      bytes: 1 << 20,
      sha256: patternSha256(1 << 20),
    });
  } finally {
    await petrel.close();
    await backend.close();
  }
});

Deno.test("resilience: a 10 KiB POST is retried after a 503 with the same bytes", async () => {
  const { backend, receipts } = await uploadBackend();
  const petrel = await startPatched(
    routeYaml([at(backend)], "retry: { limit: 2, statuses: [5xx] }"),
    optInNonIdempotent,
  );
  try {
    const body = Array.from(
      { length: 10 * 1024 },
      (_, i) => String.fromCharCode(97 + i % 26),
    ).join("");
    const r = await httpRequest(petrel.port, "web.test", "/upload", {
      method: "POST",
      body,
    });
    const want = sha256Hex(new TextEncoder().encode(body));
    console.log(
      `10 KiB POST after a 503: client got ${r.status}; backend received ${receipts.length} uploads: ${
        receipts.map((x) => `${x.bytes} B sha ${x.sha256.slice(0, 12)}`).join(
          ", ",
        )
      } (sent sha ${want.slice(0, 12)})`,
    );
    assert.equal(r.status, 200);
    assert.equal(receipts.length, 2);
    for (const x of receipts) {
      assert.deepEqual(x, { bytes: 10 * 1024, sha256: want });
    }
  } finally {
    await petrel.close();
    await backend.close();
  }
});

/**
 * An h2c backend that refuses (RST_STREAM REFUSED_STREAM) the first upload
 * after reading all of it, and stores the next ones.
 */
async function refusingH2Backend() {
  const receipts: { bytes: number; sha256: string }[] = [];
  let refused = 0;
  const server = http2.createServer();
  const sockets = new Set<net.Socket>();
  server.on("connection", (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });
  server.on("stream", async (stream: http2.ServerHttp2Stream) => {
    stream.on("error", () => {});
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    if (refused === 0) {
      refused++;
      stream.close(http2.constants.NGHTTP2_REFUSED_STREAM);
      return;
    }
    receipts.push({ bytes: body.length, sha256: sha256Hex(body) });
    stream.respond({ ":status": 200 });
    stream.end("stored");
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    receipts,
    get refused() {
      return refused;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

Deno.test("resilience: a 10 KiB POST refused with REFUSED_STREAM after the backend read it is sent again, same bytes", async () => {
  const backend = await refusingH2Backend();
  // No opt-in, no statuses: REFUSED_STREAM proves the request was not processed.
  const petrel = await startPetrel(
    routeYaml([at(backend.port)], "retry: { limit: 1 }", "http2"),
  );
  try {
    const body = "z".repeat(10 * 1024);
    const r = await httpRequest(petrel.port, "web.test", "/upload", {
      method: "POST",
      body,
    });
    const m = await scrape(petrel.adminPort);
    console.log(
      `10 KiB POST refused once: client got ${r.status}; ${backend.refused} refused, stored ${
        backend.receipts.map((x) => `${x.bytes} B`).join(", ")
      }; REFUSED counted ${
        metric(m, "outbound_http_route_attempt_errors_total", {
          error: "REFUSED",
        })
      }, retries ${metric(m, "outbound_http_route_retry_requests_total")}`,
    );
    assert.equal(r.status, 200);
    assert.deepEqual(backend.receipts, [{
      bytes: body.length,
      sha256: sha256Hex(new TextEncoder().encode(body)),
    }]);
  } finally {
    await petrel.close();
    await backend.close();
  }
});

Deno.test("resilience: 100 concurrent HTTP/2 streams, one reset and one timed out: the other 98 succeed", async () => {
  const server = await startH2FaultServer();
  const yaml =
    "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n" +
    "services:\n  - name: web.test:80\n    protocol: http2\n" +
    `    endpoints: [127.0.0.1:${server.port}]\n` +
    "    routes:\n" +
    "      - { name: slow, matches: [{ path: { prefix: /slow } }], timeouts: { request: 300ms } }\n" +
    "      - { name: all, retry: { limit: 1 }, timeouts: { request: 5s } }\n";
  const petrel = await startPetrel(yaml);
  try {
    const paths = Array.from(
      { length: 100 },
      (_, i) => i === 30 ? "/cancel" : i === 70 ? "/slow?ms=3000" : "/ok",
    );
    const t0 = performance.now();
    const results = await h2Streams(`127.0.0.1:${petrel.port}`, paths, {
      authority: "web.test",
    });
    const ms = performance.now() - t0;
    const ok = results.filter((r) => r.status === 200 && r.body === "ok");
    const reset = results[30]!;
    const timedOut = results[70]!;
    const m = await scrape(petrel.adminPort);
    console.log(
      `100 h2 streams on one connection: ${ok.length} ok; /cancel → status ${reset.status}, ` +
        `reset ${reset.reset_code}; /slow → ${timedOut.status} "${
          timedOut.headers["l5d-proxy-error"]
        }"; ` +
        `all done in ${ms.toFixed(0)} ms; REQUEST_TIMEOUT counted ${
          metric(m, "outbound_http_route_attempt_errors_total", {
            error: "REQUEST_TIMEOUT",
          })
        }`,
    );
    assert.equal(ok.length, 98);
    for (const r of results) assert.equal(r.error, null, r.path);
    // The upstream's reset after the headers is passed on with its code.
    assert.equal(reset.reset_code, 8);
    assert.equal(timedOut.status, 504);
    assert.match(
      timedOut.headers["l5d-proxy-error"] ?? "",
      /request timed out after 300ms/,
    );
  } finally {
    await petrel.close();
    await server.stop();
  }
});

Deno.test("resilience: an HTTP/1 request past its timeout gets a 504 and its keep-alive connection serves the next one", async () => {
  const backend = await startHttpBackend((req) =>
    req.path === "/hang" ? new Promise(() => {}) : undefined
  );
  const yaml =
    "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n" +
    "services:\n  - name: web.test:80\n    protocol: http1\n" +
    `    endpoints: [${at(backend)}]\n` +
    "    routes:\n" +
    "      - { name: hang, matches: [{ path: { exact: /hang } }], timeouts: { request: 200ms } }\n" +
    "      - { name: all }\n";
  const petrel = await startPetrel(yaml);
  const conn = await Deno.connect({ hostname: "127.0.0.1", port: petrel.port });
  try {
    const exchange = async (path: string) => {
      await conn.write(
        new TextEncoder().encode(
          `GET ${path} HTTP/1.1\r\nHost: web.test\r\n\r\n`,
        ),
      );
      let text = "";
      const buf = new Uint8Array(4096);
      for (;;) {
        const n = await conn.read(buf);
        if (n === null) throw new Error(`closed after ${JSON.stringify(text)}`);
        text += new TextDecoder().decode(buf.subarray(0, n));
        const end = text.indexOf("\r\n\r\n");
        const len = /content-length: (\d+)/i.exec(text)?.[1];
        if (
          end >= 0 && len !== undefined && text.length >= end + 4 + Number(len)
        ) {
          return text;
        }
      }
    };
    const t0 = performance.now();
    const first = await exchange("/hang");
    const ms = performance.now() - t0;
    const second = await exchange("/");
    console.log(
      `HTTP/1 timeout: ${first.split("\r\n")[0]} after ${ms.toFixed(0)} ms (${
        /l5d-proxy-error: ([^\r]*)/.exec(first)?.[1]
      }); next request on the same connection: ${second.split("\r\n")[0]}`,
    );
    assert.match(first, /^HTTP\/1\.1 504 /);
    assert.doesNotMatch(first, /connection: close/i);
    assert.match(second, /^HTTP\/1\.1 200 /);
  } finally {
    conn.close();
    await petrel.close();
    await backend.close();
  }
});

/** An h2c gRPC-ish backend: /pkg.Echo/Flaky answers UNAVAILABLE in trailers first, /pkg.Echo/Hang never answers. */
async function grpcBackend() {
  let flaky = 0;
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
  });
  const hung: http2.ServerHttp2Stream[] = [];
  server.on("stream", async (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ) => {
    stream.on("error", () => {});
    for await (const _ of stream) { /* drain */ }
    const path = headers[":path"];
    if (path === "/pkg.Echo/Hang") {
      hung.push(stream);
      return;
    }
    flaky++;
    stream.respond(
      { ":status": 200, "content-type": "application/grpc" },
      { waitForTrailers: true },
    );
    stream.on(
      "wantTrailers",
      () => stream.sendTrailers({ "grpc-status": flaky === 1 ? "14" : "0" }),
    );
    stream.end(new Uint8Array([0, 0, 0, 0, 0]));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get calls() {
      return flaky;
    },
    hung,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sessions) s.destroy();
        server.close(() => r());
      }),
  };
}

/** One gRPC-shaped call over `session`: status, headers and trailers. */
function grpcCall(session: http2.ClientHttp2Session, path: string) {
  return new Promise<
    { headers: Record<string, unknown>; trailers: Record<string, unknown> }
  >(
    (resolve, reject) => {
      const s = session.request({
        ":method": "POST",
        ":path": path,
        ":authority": "echo.test:50051",
        "content-type": "application/grpc",
        "te": "trailers",
      });
      let headers: Record<string, unknown> = {};
      let trailers: Record<string, unknown> = {};
      s.on("response", (h) => headers = { ...h });
      s.on("trailers", (t) => trailers = { ...t });
      s.on("data", () => {});
      s.on("end", () => resolve({ headers, trailers }));
      s.on("error", reject);
      s.end(new Uint8Array([0, 0, 0, 0, 0]));
    },
  );
}

Deno.test("resilience: gRPC UNAVAILABLE in trailers is retried; a timeout is DEADLINE_EXCEEDED in a 200 on a kept connection", async () => {
  const backend = await grpcBackend();
  const yaml =
    "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n" +
    "services:\n  - name: echo.test:50051\n    protocol: http2\n" +
    `    endpoints: [127.0.0.1:${backend.port}]\n` +
    "    routes:\n" +
    "      - kind: grpc\n" +
    "        matches: [{ method: { service: pkg.Echo }, headers: [] }]\n" +
    "        retry: { codes: [unavailable], limit: 2 }\n" +
    "        timeouts: { request: 300ms }\n";
  await using petrel: TestPetrel = await startPetrel(yaml);
  const session = http2.connect(`http://127.0.0.1:${petrel.port}`);
  try {
    const flaky = await grpcCall(session, "/pkg.Echo/Flaky");
    const t0 = performance.now();
    const hang = await grpcCall(session, "/pkg.Echo/Hang");
    const hangMs = performance.now() - t0;
    const again = await grpcCall(session, "/pkg.Echo/Flaky");
    const m = await scrape(petrel.adminPort);
    console.log(
      `gRPC: Flaky → grpc-status ${flaky.trailers["grpc-status"]} after ${
        backend.calls - 1
      } backend calls ` +
        `(retries ${
          metric(m, "outbound_grpc_route_retry_requests_total")
        }); Hang → :status ${hang.headers[":status"]} ` +
        `grpc-status ${hang.headers["grpc-status"]} after ${
          hangMs.toFixed(0)
        } ms; same connection still serves: ${again.trailers["grpc-status"]}`,
    );
    assert.equal(flaky.trailers["grpc-status"], "0");
    assert.equal(hang.headers[":status"], 200);
    assert.equal(hang.headers["grpc-status"], "4");
    assert.equal(again.trailers["grpc-status"], "0");
    assert.equal(metric(m, "outbound_grpc_route_retry_requests_total"), 1);
    assert.equal(metric(m, "outbound_grpc_route_retry_successes_total"), 1);
    // The upstream stream was reset (CANCEL), not left hanging.
    await waitFor(
      () => backend.hung.every((s) => s.closed),
      "the hung stream to close",
    );
    assert.equal(backend.hung[0]!.rstCode, 8);
  } finally {
    session.destroy();
    await backend.close();
  }
});
