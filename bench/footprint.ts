/**
 * The footprint benchmark: what one Petrel costs a pod in memory and start-up
 * time, next to a bare Deno process measured in the same run.
 *
 *   deno run -A bench/footprint.ts [--conns 1000,10000] [--streams 100]
 *     [--petrel-flags "--v8-flags=..."]
 *
 * Prints, each as RSS (VmRSS of the process):
 * - a bare Deno process (an empty event loop; and one listening with node:net);
 * - Petrel idle on the embedded default config (petrel.yaml, listeners moved
 *   to port 0), and the time from spawn to the first `200` from `/ready`;
 * - Petrel holding N idle keep-alive client connections, each of which
 *   completed one request (and the cost per connection);
 * - Petrel carrying M concurrent HTTP/2 streams held open by the backend.
 *
 * Targets (issue 19): idle ≤ 50 MB, 1 000 connections ≤ 100 MB, 10 000
 * connections ≤ 400 MB, start to ready ≤ 300 ms.
 */
import http2 from "node:http2";
import net from "node:net";
import { type Peer, startPeer } from "../tests/support/proc.ts";

const ROOT = new URL("..", import.meta.url).pathname;
const arg = (name: string, def: string) => {
  const i = Deno.args.indexOf(name);
  return i >= 0 ? Deno.args[i + 1] ?? def : def;
};
const CONNS = arg("--conns", "1000,10000").split(",").map(Number);
const STREAMS = Number(arg("--streams", "100"));
/** Extra `deno run` flags for Petrel, e.g. `--v8-flags=--max-semi-space-size=1`. */
const PETREL_FLAGS = arg("--petrel-flags", "").split(" ").filter((f) => f);

async function rss(pid: number): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
}

const mb = (b: number) => (b / 1e6).toFixed(1);

/** RSS once it has stopped moving (GC and lazy pages settle). */
async function settledRss(pid: number): Promise<number> {
  let last = await rss(pid);
  for (let i = 0; i < 20; i++) {
    await new Promise((r) => setTimeout(r, 250));
    const now = await rss(pid);
    if (Math.abs(now - last) < 256 * 1024) return now;
    last = now;
  }
  return last;
}

async function bareDeno(code: string): Promise<number> {
  const peer = await startPeer(Deno.execPath(), ["eval", code]);
  try {
    return await settledRss(Number(peer.port));
  } finally {
    await peer.stop();
  }
}

/**
 * A backend that answers HTTP/1.1 at once, except `/hold`, which it keeps
 * until `release()`.
 */
function holdingBackend(): Promise<{
  port: number;
  held: () => number;
  release: () => void;
  close: () => Promise<void>;
}> {
  const ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
  const held: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const srv = net.createServer({ noDelay: true }, (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    s.on("error", () => s.destroy());
    let buf = "";
    s.on("data", (c) => {
      buf += c.toString("latin1");
      let i;
      while ((i = buf.indexOf("\r\n\r\n")) >= 0) {
        const head = buf.slice(0, i);
        buf = buf.slice(i + 4);
        if (head.includes(" /hold ")) held.push(s);
        else s.write(ok);
      }
    });
  });
  return new Promise((resolve) => {
    srv.listen(0, "127.0.0.1", () =>
      resolve({
        port: (srv.address() as net.AddressInfo).port,
        held: () => held.length,
        release: () => {
          for (const s of held.splice(0)) s.write(ok);
        },
        close: () => {
          for (const s of sockets) s.destroy();
          return new Promise((r) => srv.close(() => r()));
        },
      }));
  });
}

interface Spawned {
  peer: Peer;
  port: number;
  adminPort: number;
  pid: number;
  readyMs: number;
  dir: string;
}

async function spawnPetrel(yaml: string): Promise<Spawned> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-footprint-" });
  await Deno.writeTextFile(`${dir}/petrel.yaml`, yaml);
  const t0 = performance.now();
  const peer = await startPeer(
    Deno.execPath(),
    [
      "run",
      "-A",
      ...PETREL_FLAGS,
      `${ROOT}main.ts`,
      "--config",
      `${dir}/petrel.yaml`,
    ],
    { env: { LINKERD2_PROXY_LOG: "error" }, startTimeoutMs: 30_000 },
  );
  const info = peer.info as { adminPort: number; pid: number };
  for (;;) {
    const r = await fetch(`http://127.0.0.1:${info.adminPort}/ready`)
      .catch(() => undefined);
    await r?.body?.cancel();
    if (r?.status === 200) break;
    if (performance.now() - t0 > 30_000) throw new Error("never ready");
    await new Promise((r) => setTimeout(r, 2));
  }
  return {
    peer,
    port: peer.port,
    adminPort: info.adminPort,
    pid: info.pid,
    readyMs: performance.now() - t0,
    dir,
  };
}

/** Opens `n` keep-alive connections, each completing one GET. */
async function openIdle(port: number, n: number): Promise<net.Socket[]> {
  const out: net.Socket[] = [];
  const batch = 100;
  for (let i = 0; i < n; i += batch) {
    const part = await Promise.all(
      Array.from(
        { length: Math.min(batch, n - i) },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: "127.0.0.1", port }, () => {
              s.write("GET / HTTP/1.1\r\nHost: web.test:8080\r\n\r\n");
            });
            let got = "";
            const onData = (c: Uint8Array) => {
              got += new TextDecoder().decode(c);
              if (/\r\n\r\nok$/.test(got)) {
                s.off("data", onData);
                resolve(s);
              }
            };
            s.on("data", onData);
            s.once("error", reject);
          }),
      ),
    );
    out.push(...part);
  }
  return out;
}

const rows: [string, string][] = [];
rows.push([
  "bare Deno (empty loop)",
  `${
    mb(
      await bareDeno(
        "console.log('LISTENING ' + Deno.pid); setInterval(() => {}, 1e9);",
      ),
    )
  } MB`,
]);
rows.push([
  "bare Deno + node:net listener",
  `${
    mb(
      await bareDeno(
        "import net from 'node:net'; net.createServer().listen(0, () => console.log('LISTENING ' + Deno.pid)); ",
      ),
    )
  } MB`,
]);

const backend = await holdingBackend();
// The embedded default (petrel.yaml) with its listeners on port 0 and its
// service pointed at the bench backend.
const yaml = (await Deno.readTextFile(`${ROOT}petrel.yaml`))
  .replace("127.0.0.1:4140", "127.0.0.1:0")
  .replace("127.0.0.1:4191", "127.0.0.1:0")
  .replace(
    /endpoints: \[127\.0\.0\.1:9001, 127\.0\.0\.1:9002\]/,
    `endpoints: [127.0.0.1:${backend.port}]`,
  );
const starts: number[] = [];
for (let i = 0; i < 3; i++) {
  const p = await spawnPetrel(yaml);
  starts.push(p.readyMs);
  await p.peer.stop();
  await Deno.remove(p.dir, { recursive: true });
}
rows.push([
  "start to /ready (3 runs)",
  starts.map((ms) => `${ms.toFixed(0)} ms`).join(", "),
]);

const petrel = await spawnPetrel(yaml);
try {
  const idle = await settledRss(petrel.pid);
  rows.push(["Petrel idle (default config)", `${mb(idle)} MB`]);
  let sockets: net.Socket[] = [];
  for (const n of CONNS) {
    sockets.push(...await openIdle(petrel.port, n - sockets.length));
    const r = await settledRss(petrel.pid);
    rows.push([
      `Petrel, ${n} idle keep-alive conns`,
      `${mb(r)} MB (${((r - idle) / n / 1024).toFixed(1)} KiB per conn)`,
    ]);
  }
  for (const s of sockets) s.destroy();
  sockets = [];

  // M concurrent HTTP/2 streams, held at the backend.
  const session = http2.connect(`http://127.0.0.1:${petrel.port}`);
  const streams = Array.from({ length: STREAMS }, () => {
    const st = session.request({
      ":path": "/hold",
      ":authority": "web.test:8080",
    });
    st.resume();
    st.end();
    return new Promise<void>((r) => st.on("close", () => r()));
  });
  const t0 = performance.now();
  while (backend.held() < STREAMS && performance.now() - t0 < 20_000) {
    await new Promise((r) => setTimeout(r, 10));
  }
  const r = await settledRss(petrel.pid);
  rows.push([
    `Petrel, ${backend.held()} active HTTP/2 streams`,
    `${mb(r)} MB`,
  ]);
  backend.release();
  await Promise.all(streams);
  session.close();
} finally {
  await petrel.peer.stop();
  await backend.close();
  await Deno.remove(petrel.dir, { recursive: true });
}

console.log(`\nPetrel footprint (${new Date().toISOString()})`);
for (const [k, v] of rows) console.log(`  ${k.padEnd(40)} ${v}`);
