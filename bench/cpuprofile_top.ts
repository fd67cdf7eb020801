/**
 * Sums a `.cpuprofile` (from `deno run --cpu-prof`) by function and by file:
 * self time and share of the sampled time.
 *
 *   deno run -A bench/cpuprofile_top.ts FILE.cpuprofile [--top 30]
 *     [--last-ms 5000]   (only the samples of the profile's last 5 s: the
 *                         load, without start-up)
 *
 * @module
 */
interface Node {
  id: number;
  callFrame: {
    functionName: string;
    url: string;
    lineNumber: number;
  };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = Deno.args[0];
if (file === undefined) throw new TypeError("Usage: cpuprofile_top.ts FILE");
const topAt = Deno.args.indexOf("--top");
const TOP = topAt >= 0 ? Number(Deno.args[topAt + 1]) : 30;
const lastAt = Deno.args.indexOf("--last-ms");
const LAST_US = lastAt >= 0 ? Number(Deno.args[lastAt + 1]) * 1000 : Infinity;
const p = JSON.parse(await Deno.readTextFile(file)) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<number, number>();
const span = p.timeDeltas.reduce((a, b) => a + b, 0);
let t = 0;
for (let i = 0; i < p.samples.length; i++) {
  t += p.timeDeltas[i] ?? 0;
  if (span - t > LAST_US) continue;
  const id = p.samples[i]!;
  self.set(id, (self.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
}
const short = (url: string) =>
  url.replace(/^.*\/work\/main\//, "").replace(/^.*node_modules\//, "npm:")
    .replace(/^ext:/, "ext:");
const parent = new Map<number, number>();
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
const byFn = new Map<string, number>();
const inclusive = new Map<string, number>();
const byFile = new Map<string, number>();
let total = 0, idle = 0;
for (const [id, us] of self) {
  const f = byId.get(id)!.callFrame;
  total += us;
  if (f.functionName === "(idle)") idle += us;
  const name = `${f.functionName || "(anonymous)"} ${short(f.url)}:${
    f.lineNumber + 1
  }`;
  byFn.set(name, (byFn.get(name) ?? 0) + us);
  // Inclusive: every function on the sample's stack, once per sample.
  const seen = new Set<string>();
  for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) {
    const cf = byId.get(x)!.callFrame;
    if (!cf.url.includes("/src/")) continue;
    const k = `${cf.functionName || "(anonymous)"} ${short(cf.url)}:${
      cf.lineNumber + 1
    }`;
    if (seen.has(k)) continue;
    seen.add(k);
    inclusive.set(k, (inclusive.get(k) ?? 0) + us);
  }
  const fileKey = f.url === "" ? f.functionName : short(f.url);
  byFile.set(fileKey, (byFile.get(fileKey) ?? 0) + us);
}
const busy = total - idle;
const print = (title: string, m: Map<string, number>) => {
  console.log(`\n${title} (share of ${(busy / 1000).toFixed(0)} ms busy)`);
  for (const [k, us] of [...m].sort((a, b) => b[1] - a[1]).slice(0, TOP)) {
    if (k.startsWith("(idle)")) continue;
    console.log(
      `  ${(100 * us / busy).toFixed(1).padStart(5)}%  ${
        (us / 1000).toFixed(0).padStart(6)
      } ms  ${k}`,
    );
  }
};
print("Self time by function", byFn);
print("Self time by file", byFile);
print("Inclusive time of Petrel's own functions (src/)", inclusive);
