/**
 * Large config files (issue 13 item 4): writing a big YAML file over the
 * live config must not stall request handling. A file over
 * `PETREL_CONFIG_MAX_BYTES` (1 MiB by default) is refused without being
 * read, naming the file and the limit; a file under it is parsed in a
 * Worker. Before the fix a 10 MB file stopped all requests for 7–13 s and
 * took the process to ~1 GB; a 1 MB file stopped them for ~1.2 s.
 *
 * Gaps are measured between the answers of a sequential request loop; the
 * bound (500 ms) is generous for a loaded CI machine and still far below
 * the old stalls.
 */
import assert from "node:assert/strict";
import { type Backend, startHttpBackend } from "./support/backend.ts";
import {
  httpRequest,
  servicesYaml,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

const MAX_GAP_MS = 500;

/** `web.test:80` → `backend`, padded with bulk services to about `bytes`. */
function bulkYaml(backend: Backend, bytes: number): string {
  const parts = [
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
  ];
  let size = parts[0]!.length;
  for (let i = 0; size < bytes; i++) {
    const port = 10_000 + (i % 50_000);
    const s = `  - name: svc-${i}.bulk.test:8080\n    protocol: http1\n` +
      `    endpoints: [127.0.0.1:${port}, 127.0.0.2:${port}]\n`;
    if (size + s.length > bytes) break;
    parts.push(s);
    size += s.length;
  }
  return parts.join("");
}

/** A sequential request loop that records latencies and the gaps between answers. */
function gapLoop(petrel: TestPetrel) {
  const bodies: string[] = [];
  const failures: string[] = [];
  let latencies: number[] = [];
  let maxGapMs = 0;
  let last = performance.now();
  let windowStart = last;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      const start = performance.now();
      try {
        const r = await httpRequest(petrel.port, "web.test", "/");
        if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        else bodies.push(r.body);
      } catch (err) {
        failures.push(String(err));
      }
      const now = performance.now();
      // Only requests sent inside the window count (the one in flight at
      // reset() waited for the test's own work, e.g. building the file).
      if (start >= windowStart) latencies.push(now - start);
      maxGapMs = Math.max(maxGapMs, now - last);
      last = now;
    }
  })();
  return {
    bodies,
    failures,
    get maxGapMs() {
      return maxGapMs;
    },
    /** Starts a new measurement window. */
    reset() {
      latencies = [];
      maxGapMs = 0;
      last = windowStart = performance.now();
    },
    p99(): number {
      const sorted = [...latencies].sort((a, b) => a - b);
      return sorted[Math.floor(sorted.length * 0.99)] ?? 0;
    },
    get count() {
      return latencies.length;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}

Deno.test("config large: a 10 MB file is refused by size without stalling requests; the last good config stays", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] } }),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  const loop = gapLoop(petrel);
  try {
    await waitFor(() => loop.bodies.length >= 20, "requests to the backend");
    const big = bulkYaml(b, 10 * 1024 * 1024 + 100);
    const rssBefore = Deno.memoryUsage().rss;
    loop.reset();
    await Deno.writeTextFile(petrel.configPath, big);
    const refused = () =>
      logs.find((l) =>
        /config rejected/.test(l) && l.includes(petrel.configPath) &&
        /over the limit of 1048576 bytes \(PETREL_CONFIG_MAX_BYTES\)/.test(l)
      );
    await waitFor(() => refused() !== undefined, "the refusal", 15_000);
    const after = loop.count;
    await waitFor(() => loop.count >= after + 20, "requests after it");
    const rssGrowthMb = (Deno.memoryUsage().rss - rssBefore) / 2 ** 20;
    await loop.stop();
    console.log(
      `10 MB refused: ${loop.count} requests, p99 ${
        loop.p99().toFixed(1)
      } ms, largest gap ${loop.maxGapMs.toFixed(1)} ms, RSS +${
        rssGrowthMb.toFixed(0)
      } MB`,
    );
    assert.deepEqual(loop.failures, [], "every request answered");
    assert.ok(
      loop.maxGapMs < MAX_GAP_MS,
      `largest gap between answers ${loop.maxGapMs.toFixed(0)} ms`,
    );
    assert.ok(
      loop.bodies.every((body) => body === a.name),
      "the last good config stays in force",
    );
    assert.ok(rssGrowthMb < 200, `RSS grew ${rssGrowthMb.toFixed(0)} MB`);
  } finally {
    await loop.stop();
    await petrel.close();
    await a.close();
    await b.close();
  }
});

Deno.test("config large: a 1 MB file under the limit is parsed off the request path and applied", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] } }),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  const loop = gapLoop(petrel);
  try {
    await waitFor(() => loop.bodies.length >= 20, "requests to the backend");
    const text = bulkYaml(b, 1_000_000);
    loop.reset();
    await Deno.writeTextFile(petrel.configPath, text);
    await waitFor(
      () => loop.bodies.at(-1) === b.name,
      "the switch to the new backend",
      30_000,
    );
    const after = loop.count;
    await waitFor(() => loop.count >= after + 20, "requests after it");
    await loop.stop();
    console.log(
      `1 MB applied: ${loop.count} requests, p99 ${
        loop.p99().toFixed(1)
      } ms, largest gap ${loop.maxGapMs.toFixed(1)} ms`,
    );
    assert.deepEqual(loop.failures, [], "every request answered");
    assert.ok(
      loop.maxGapMs < MAX_GAP_MS,
      `largest gap between answers ${loop.maxGapMs.toFixed(0)} ms`,
    );
    assert.ok(
      logs.some((l) => /config reloaded/.test(l) && /services=\d{4}/.test(l)),
      `the reload was logged:\n${logs.join("\n")}`,
    );
  } finally {
    await loop.stop();
    await petrel.close();
    await a.close();
    await b.close();
  }
});
