/**
 * What Petrel's heap holds at idle and per idle connection: runs Petrel
 * in-process on the embedded default config (listeners on port 0, the
 * service pointed at a backend in another process), then prints RSS and V8
 * heap statistics, and the heap snapshot's largest items by constructor
 * (count and self size), idle and as the difference per connection with N
 * idle keep-alive HTTP/1 client connections (the clients run in another
 * process, `_idle_peer.ts`).
 *
 *   deno run -A bench/footprint_heap.ts [--conns 10000] [--top 25] [--h2 N]
 *
 * @module
 */
import v8 from "node:v8";
import { buildApp } from "../src/app.ts";
import { parseConfig } from "../src/config/env.ts";
import { type Peer, startPeer } from "../tests/support/proc.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] ?? def : def;
};
const CONNS = Number(arg("--conns", "10000"));
const TOP = Number(arg("--top", "25"));

function rss(): number {
  const s = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
}
const mb = (b: number) => (b / 1e6).toFixed(1);

/** Per (node type, name): count and self size. */
type Census = Map<string, { count: number; size: number }>;

/** Writes a heap snapshot and sums it by constructor (node type + name). */
function census(tag: string): { census: Census; total: number } {
  const path = `${Deno.makeTempDirSync()}/${tag}.heapsnapshot`;
  v8.writeHeapSnapshot(path);
  const snap = JSON.parse(Deno.readTextFileSync(path)) as {
    snapshot: { meta: { node_fields: string[]; node_types: string[][] } };
    nodes: number[];
    strings: string[];
  };
  Deno.removeSync(path);
  const f = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0]!;
  const w = f.length;
  const iType = f.indexOf("type"), iName = f.indexOf("name");
  const iSize = f.indexOf("self_size");
  const out: Census = new Map();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += w) {
    const type = types[snap.nodes[i + iType]!]!;
    let name = snap.strings[snap.nodes[i + iName]!]!;
    if (type === "string" || type === "concatenated string") name = "";
    if (type === "code") name = name.slice(0, 40);
    const key = `${type}:${name.slice(0, 60)}`;
    const size = snap.nodes[i + iSize]!;
    total += size;
    const e = out.get(key);
    if (e) {
      e.count++;
      e.size += size;
    } else out.set(key, { count: 1, size });
  }
  return { census: out, total };
}

function stats(label: string): void {
  const m = Deno.memoryUsage();
  const h = v8.getHeapStatistics();
  console.log(
    `${label.padEnd(28)} rss ${mb(rss())} MB  heapUsed ${mb(m.heapUsed)} MB` +
      `  heapTotal ${mb(m.heapTotal)} MB  external ${mb(m.external)} MB` +
      `  malloced ${mb(h.malloced_memory)} MB`,
  );
}

function gc(): void {
  // --v8-flags=--expose-gc gives a real collection; else allocation churn.
  const g = (globalThis as { gc?: () => void }).gc;
  if (g) {
    g();
    g();
  }
}

const backend: Peer = await startPeer(Deno.execPath(), [
  "run",
  "-A",
  `${ROOT}bench/_idle_peer.ts`,
  "backend",
]);
const dir = await Deno.makeTempDir({ prefix: "petrel-heap-" });
const yaml = (await Deno.readTextFile(`${ROOT}petrel.yaml`))
  .replace("127.0.0.1:4140", "127.0.0.1:0")
  .replace("127.0.0.1:4191", "127.0.0.1:0")
  .replace(
    /endpoints: \[127\.0\.0\.1:9001, 127\.0\.0\.1:9002\]/,
    `endpoints: [127.0.0.1:${backend.port}]`,
  );
await Deno.writeTextFile(`${dir}/petrel.yaml`, yaml);
stats("imported");
const app = await buildApp(
  parseConfig({ LINKERD2_PROXY_LOG: "error" }, [
    "--config",
    `${dir}/petrel.yaml`,
  ]),
);
await new Promise((r) => setTimeout(r, 500));
gc();
stats("started");
const idleRss = rss();
const idle = census("idle");

const clients = await startPeer(Deno.execPath(), [
  "run",
  "-A",
  `${ROOT}bench/_idle_peer.ts`,
  "clients",
  String(app.outbound.port),
  String(CONNS),
], { startTimeoutMs: 120_000 });
await new Promise((r) => setTimeout(r, 500));
gc();
stats(`${CONNS} idle conns`);
const connsRss = rss();
const busy = census("conns");
// The idle snapshot itself raised RSS: RSS per connection comes from
// footprint.ts, which takes no snapshot.
console.log(
  `RSS ${mb(idleRss)} MB idle (before the snapshot), ${
    mb(connsRss)
  } MB with ${CONNS} conns (inflated by the idle snapshot)`,
);

console.log(`\nIdle heap (snapshot total ${mb(idle.total)} MB), top ${TOP}:`);
for (
  const [k, v] of [...idle.census].sort((a, b) => b[1].size - a[1].size)
    .slice(0, TOP)
) {
  console.log(
    `  ${(v.size / 1024).toFixed(0).padStart(8)} KiB ${
      String(v.count).padStart(7)
    }  ${k}`,
  );
}
console.log(
  `\nPer connection (snapshot total +${
    ((busy.total - idle.total) / CONNS).toFixed(0)
  } B/conn), top ${TOP}:`,
);
const diff: [string, number, number][] = [];
for (const [k, v] of busy.census) {
  const before = idle.census.get(k) ?? { count: 0, size: 0 };
  diff.push([
    k,
    (v.size - before.size) / CONNS,
    (v.count - before.count) / CONNS,
  ]);
}
for (const [k, size, count] of diff.sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
  console.log(
    `  ${size.toFixed(0).padStart(6)} B ${count.toFixed(2).padStart(6)}  ${k}`,
  );
}

await clients.stop();
void app.shutdown();
await backend.stop();
await Deno.remove(dir, { recursive: true });
Deno.exit(0);
