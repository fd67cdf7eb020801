/**
 * Load balancing through the whole proxy over real sockets (linkerd
 * `app/integration` balancer tests): Peak-EWMA keeps traffic off a slow
 * endpoint, a refusing endpoint costs GETs nothing, a removed endpoint
 * drains without failures, no endpoint at all fails fast (504, then 503)
 * and recovers, and 5xx responses trip the failure-accrual breaker, which
 * recovers once the endpoint heals.
 *
 * Each test drives at most 16 concurrent requests for a second or two: one
 * load at a time on a small machine.
 */
import assert from "node:assert/strict";
import { parsePromText } from "../src/metrics/_test_util.ts";
import { type Backend, settled, startHttpBackend } from "./support/backend.ts";
import {
  freePort,
  httpRequest,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** YAML for one HTTP/1 service `web.test:80` (plus extra service lines). */
function webYaml(endpoints: string[], serviceExtra = ""): string {
  return "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n" +
    "services:\n  - name: web.test:80\n    protocol: http1\n" +
    `    endpoints: [${endpoints.join(", ")}]\n` + serviceExtra;
}

const at = (b: Backend | number) =>
  `127.0.0.1:${typeof b === "number" ? b : b.port}`;

/**
 * `concurrency` workers sending GETs back to back (fresh connection each)
 * until stopped; outcomes are counted by status, failures kept.
 */
function load(petrel: TestPetrel, path: string, concurrency: number) {
  const statuses = new Map<number, number>();
  const failures: string[] = [];
  let stopped = false;
  let sent = 0;
  const worker = async () => {
    while (!stopped) {
      sent++;
      try {
        const r = await httpRequest(petrel.port, "web.test", path);
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        if (r.status !== 200) {
          failures.push(`${r.status} ${r.headers["l5d-proxy-error"] ?? ""}`);
        }
      } catch (err) {
        failures.push(String(err));
      }
    }
  };
  const done = Promise.all(Array.from({ length: concurrency }, worker));
  return {
    failures,
    statuses,
    get sent() {
      return sent;
    },
    ok: () => statuses.get(200) ?? 0,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

async function metrics(petrel: TestPetrel) {
  const rsp = await httpRequest(petrel.adminPort, "localhost", "/metrics");
  return parsePromText(rsp.body).samples;
}

Deno.test("balance: a backend 50 ms slower than the others gets under 10 % of requests at concurrency 16", async () => {
  const fast1 = await startHttpBackend();
  const fast2 = await startHttpBackend();
  const slow = await startHttpBackend(async () => {
    await sleep(50);
    return undefined; // then the default route
  });
  const petrel = await startPetrel(webYaml([at(fast1), at(slow), at(fast2)]));
  const l = load(petrel, "/", 16);
  try {
    await sleep(1000); // warm-up: the estimates settle
    const before = [fast1.requests, fast2.requests, slow.requests];
    await sleep(2000);
    const counts = [fast1.requests, fast2.requests, slow.requests].map((n, i) =>
      n - before[i]!
    );
    await l.stop();
    assert.deepEqual(l.failures, []);
    const total = counts.reduce((a, b) => a + b, 0);
    const share = counts[2]! / total;
    console.log(
      `slow backend: ${counts[2]} of ${total} requests (${
        (share * 100).toFixed(1)
      } %); fast: ${counts[0]}, ${counts[1]}`,
    );
    assert.ok(total > 200, `enough requests (${total})`);
    assert.ok(share < 0.1, `slow share ${(share * 100).toFixed(1)} %`);
  } finally {
    await l.stop();
    await petrel.close();
    await Promise.all([fast1.close(), fast2.close(), slow.close()]);
  }
});

Deno.test("balance: one backend refusing connections costs GETs nothing, also after a live one goes down", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const refusing = freePort();
  const petrel = await startPetrel(webYaml([at(a), at(refusing), at(b)]));
  try {
    // From the first request on (the endpoints are still connecting).
    let l = load(petrel, "/", 8);
    await waitFor(() => l.ok() >= 300, "300 answers", 10_000);
    await l.stop();
    assert.deepEqual(l.failures, []);
    assert.equal(a.requests + b.requests, l.sent);

    // b stops listening: its pooled connections die, new connects are refused.
    await b.close();
    l = load(petrel, "/", 8);
    await waitFor(() => l.ok() >= 200, "200 more answers", 10_000);
    await l.stop();
    assert.deepEqual(l.failures, [], "requests refused by b went to a");

    const endpoints = (await metrics(petrel)).filter((s) =>
      s.name === "outbound_http_balancer_endpoints"
    );
    const by = Object.fromEntries(
      endpoints.map((s) => [s.labels.endpoint_state, s.value]),
    );
    assert.deepEqual(by, { ready: 1, pending: 2 });
  } finally {
    await petrel.close();
    await a.close();
  }
});

Deno.test("balance: an endpoint removed from the config mid-load drains with zero failed requests", async () => {
  const backends = await Promise.all([1, 2, 3].map(() => startHttpBackend()));
  const [a, b, c] = backends as [Backend, Backend, Backend];
  const logs: string[] = [];
  const petrel = await startPetrel(
    webYaml([at(a), at(b), at(c)]),
    {},
    { logLevel: "info", logWrite: (line) => logs.push(line) },
  );
  // 20 ms responses: requests are in flight on c when it is removed.
  const l = load(petrel, "/slow?ms=20", 8);
  try {
    await waitFor(() => c.requests >= 20, "traffic on c", 5_000);
    await Deno.writeTextFile(petrel.configPath, webYaml([at(a), at(b)]));
    await waitFor(
      () => logs.some((line) => /config reloaded/.test(line)),
      "the reload",
      5_000,
    );
    // Requests sent to c before the reload may still be arriving there.
    const cAfter = await settled(() => c.requests, "c's last requests", 200);
    const okAfter = l.ok();
    await waitFor(() => l.ok() >= okAfter + 100, "100 more answers", 10_000);
    await l.stop();
    assert.deepEqual(l.failures, []);
    assert.equal(c.requests, cAfter, "no new request reached c");
    assert.equal(a.requests + b.requests + c.requests, l.sent);
  } finally {
    await l.stop();
    await petrel.close();
    await Promise.all(backends.map((x) => x.close()));
  }
});

Deno.test("balance: with every endpoint gone requests fail fast (504, then 503), and traffic resumes by itself", async () => {
  const a = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    webYaml([at(a)]),
    { LINKERD2_PROXY_OUTBOUND_HTTP_FAILFAST_TIMEOUT: "500ms" },
    { logLevel: "info", logWrite: (line) => logs.push(line) },
  );
  const reloads = () => logs.filter((l) => /config reloaded/.test(l)).length;
  try {
    assert.equal((await httpRequest(petrel.port, "web.test", "/")).status, 200);
    await Deno.writeTextFile(petrel.configPath, webYaml([]));
    await waitFor(() => reloads() === 1, "the reload", 5_000);

    // Queued for the failfast time, then 504; meanwhile a second one too.
    const t0 = performance.now();
    const [first, second] = await Promise.all([
      httpRequest(petrel.port, "web.test", "/"),
      sleep(200).then(() => httpRequest(petrel.port, "web.test", "/")),
    ]);
    const waited = performance.now() - t0;
    assert.equal(first.status, 504);
    assert.equal(second.status, 504, "queued behind the first: fails with it");
    assert.match(first.headers["l5d-proxy-error"] ?? "", /fail-fast/);
    assert.ok(waited >= 450 && waited < 2000, `waited ${waited.toFixed(0)} ms`);
    // In failfast: refused at once with 503.
    const t1 = performance.now();
    const shed = await httpRequest(petrel.port, "web.test", "/");
    assert.equal(shed.status, 503);
    assert.ok(performance.now() - t1 < 300, "503 at once");
    assert.ok(
      logs.some((l) => /Unavailable; entering failfast/.test(l)),
      "failfast was logged",
    );

    // An endpoint comes back: no restart needed.
    await Deno.writeTextFile(petrel.configPath, webYaml([at(a)]));
    await waitFor(() => reloads() === 2, "the second reload", 5_000);
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, "web.test", "/")).status === 200,
      "recovery",
      5_000,
    );
    for (let i = 0; i < 5; i++) {
      assert.equal(
        (await httpRequest(petrel.port, "web.test", "/")).status,
        200,
      );
    }
    const m = await metrics(petrel);
    const v = (name: string) =>
      m.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
    assert.equal(v("outbound_http_balancer_queue_gate_shut_total"), 1);
    assert.equal(v("outbound_http_balancer_queue_gate_open_total"), 1);
    assert.ok(v("outbound_http_balancer_queue_failfast_total") >= 2);
    assert.ok(v("outbound_http_balancer_queue_loadshed_total") >= 1);
  } finally {
    await petrel.close();
    await a.close();
  }
});

Deno.test("balance: consecutive 500s trip an endpoint's breaker; it gets traffic again once healed", async () => {
  let sick = true;
  const flaky = await startHttpBackend(() =>
    sick ? { status: 500, body: "sick" } : undefined
  );
  const healthy = await startHttpBackend();
  const petrel = await startPetrel(webYaml(
    [at(flaky), at(healthy)],
    "    failureAccrual: { kind: consecutive, maxFailures: 7, minPenalty: 1s, maxPenalty: 60s, jitter: 0.5 }\n",
  ));
  const get = () => httpRequest(petrel.port, "web.test", "/");
  try {
    // Sequential requests: the 7th 500 from flaky shuts it before the next pick.
    let n = 0;
    while (flaky.requests < 7) {
      await get();
      assert.ok(++n < 500, "flaky got 7 requests");
    }
    const tripped = flaky.requests;
    assert.equal(tripped, 7);
    sick = false; // healed, but the breaker does not know yet
    const shutUntil = performance.now() + 900; // min penalty 1 s
    while (performance.now() < shutUntil) {
      assert.equal((await get()).status, 200);
    }
    assert.equal(flaky.requests, tripped, "no traffic while shut");
    // Probation (after 1–1.5 s): one probe succeeds, the gate reopens.
    await waitFor(
      async () => {
        await get();
        return flaky.requests >= tripped + 5;
      },
      "traffic back on the healed endpoint",
      5_000,
      0,
    );
    const m = await metrics(petrel);
    const transitions = Object.fromEntries(
      m.filter((s) =>
        s.name === "outbound_http_balancer_breaker_transitions_total"
      )
        .map((s) => [s.labels.to, s.value]),
    );
    assert.deepEqual(transitions, { open: 1, shut: 1, probation: 1 });
  } finally {
    await petrel.close();
    await Promise.all([flaky.close(), healthy.close()]);
  }
});
