/**
 * The load benchmark: the same load sent directly to a backend and through
 * Petrel, in one run, so the figures are same-run ratios.
 *
 *   deno task load            (or: deno run -A bench/load.ts [--seconds 5])
 *
 * Prints, for HTTP/1.1 (wrk) and h2c (h2load), when those tools are
 * installed: req/s direct and through Petrel, Petrel's CPU µs per request
 * (from /proc), and the latency Petrel adds (p50/p99) at a fixed 2 000 req/s
 * from an open-loop generator.
 *
 * When haproxy (Debian package) is installed it runs beside Petrel on the
 * same backends, pinned to the same core, and the ratios Petrel/haproxy are
 * printed: the same-run anchor every change is measured against. With
 * `taskset` present the proxy under test runs on core 1 and the load
 * generators and backends on core 0.
 *
 * The mesh hop: client → outbound Petrel → mTLS → inbound Petrel → backend,
 * HTTP/1 carried as HTTP/2 with `l5d-orig-proto` (`meshed: true`) beside the
 * plain HTTP/1 hop over mTLS (`meshed: false`), and a haproxy pair doing h2
 * + mTLS between them (certificates made with openssl at bench time). Both
 * proxies of a pair run on the proxy core; CPU µs/req is the pair's sum.
 *
 * `--access-log json|apache` runs Petrel with `LINKERD2_PROXY_ACCESS_LOG`
 * set and its stderr sent to /dev/null (the access log's own cost, without
 * a terminal's).
 */
import net from "node:net";
import { makePki, meshIdentity } from "../tests/support/certs.ts";
import { type Peer, startPeer } from "../tests/support/proc.ts";

const args = Deno.args;
const seconds = Number(args[args.indexOf("--seconds") + 1] || 5);
const ROOT = new URL("..", import.meta.url).pathname;
const accessLogAt = args.indexOf("--access-log");
const accessLog = accessLogAt >= 0 ? args[accessLogAt + 1] ?? "json" : "";
// `--only http1,h2c,mesh`: run only those parts.
const onlyAt = args.indexOf("--only");
const only = onlyAt >= 0 ? (args[onlyAt + 1] ?? "").split(",") : undefined;
const want = (part: string) => only === undefined || only.includes(part);

function has(cmd: string): boolean {
  try {
    return new Deno.Command("sh", {
      args: ["-c", `command -v ${cmd}`],
      stdout: "null",
    }).outputSync().success;
  } catch {
    return false;
  }
}

async function exec(cmd: string, a: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args: a,
    stdout: "piped",
    stderr: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
}

/** utime + stime of a process, in µs. */
async function cpuMicros(pid: number): Promise<number> {
  const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
  const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  const ticks = Number(fields[11]) + Number(fields[12]);
  return ticks * (1_000_000 / 100); // CLK_TCK = 100 on Linux
}

/** `cmd args` pinned to `core` when taskset is installed. */
function pinned(core: number, cmd: string, a: string[]): [string, string[]] {
  return TASKSET ? ["taskset", ["-c", String(core), cmd, ...a]] : [cmd, a];
}

const TASKSET = has("taskset");
const HAPROXY = has("haproxy");
const PROXY_CORE = 1;

/** A free TCP port on 127.0.0.1 (haproxy needs a fixed one). */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/**
 * haproxy in front of `backendPort`, one thread on the proxy core:
 * `h2` speaks h2c on both sides, else HTTP/1.1 keep-alive.
 */
function startHaproxy(
  backendPort: number,
  h2: boolean,
): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  const proto = h2 ? " proto h2" : "";
  return startHaproxyWith(
    (port) => `127.0.0.1:${port}${proto}`,
    `127.0.0.1:${backendPort}${proto}`,
  );
}

/** haproxy with `bind` (given its port) and one `server` line's address and options. */
async function startHaproxyWith(
  bind: (port: number) => string,
  server: string,
  port?: number,
): Promise<{ port: number; pid: number; stop: () => Promise<void> }> {
  port ??= await freePort();
  const dir = await Deno.makeTempDir({ prefix: "petrel-bench-haproxy-" });
  await Deno.writeTextFile(
    `${dir}/haproxy.cfg`,
    [
      "global",
      "  nbthread 1",
      "  maxconn 4000",
      "defaults",
      "  mode http",
      "  timeout connect 1s",
      "  timeout client 30s",
      "  timeout server 30s",
      "  http-reuse always",
      "frontend fe",
      `  bind ${bind(port)}`,
      "  default_backend be",
      "backend be",
      `  server s1 ${server}`,
      "",
    ].join("\n"),
  );
  const [cmd, a] = pinned(PROXY_CORE, "haproxy", [
    "-db",
    "-f",
    `${dir}/haproxy.cfg`,
  ]);
  const proc = new Deno.Command(cmd, {
    args: a,
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Ready once it accepts a connection.
  for (let i = 0; i < 500; i++) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port }, () => {
        s.destroy();
        resolve(true);
      });
      s.once("error", () => resolve(false));
    });
    if (ok) break;
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    port,
    pid: proc.pid,
    async stop() {
      try {
        proc.kill("SIGKILL");
      } catch {
        // it already exited
      }
      await proc.status;
      await Deno.remove(dir, { recursive: true });
    },
  };
}

async function rssBytes(pid: number): Promise<number> {
  const s = await Deno.readTextFile(`/proc/${pid}/status`);
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? 0) * 1024;
}

function parseWrk(out: string): number {
  const m = /Requests\/sec:\s+([\d.]+)/.exec(out);
  return m ? Number(m[1]) : NaN;
}

function parseH2load(out: string): { rps: number; ok: number } {
  const rps = Number(
    /finished in [\d.]+\w+, ([\d.]+) req\/s/.exec(out)?.[1] ?? NaN,
  );
  const ok = Number(/(\d+) succeeded/.exec(out)?.[1] ?? 0);
  return { rps, ok };
}

/**
 * Open-loop fixed-rate HTTP/1.1 load over `conns` keep-alive connections:
 * requests go out on schedule whether or not earlier ones were answered;
 * each latency is measured from the request's write.
 */
async function fixedRate(
  port: number,
  host: string,
  rate: number,
  durationMs: number,
  conns = 16,
): Promise<{ p50: number; p99: number; count: number; errors: number }> {
  const req = `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  const latencies: number[] = [];
  let errors = 0;
  const sockets = await Promise.all(
    Array.from(
      { length: conns },
      () =>
        new Promise<net.Socket>((resolve, reject) => {
          const s = net.connect(
            { host: "127.0.0.1", port, noDelay: true },
            () => resolve(s),
          );
          s.once("error", reject);
        }),
    ),
  );
  const queues: number[][] = sockets.map(() => []);
  sockets.forEach((s, i) => {
    let buf = "";
    s.on("data", (c) => {
      buf += c.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const len = Number(
          /content-length: (\d+)/i.exec(buf.slice(0, end))?.[1] ?? 0,
        );
        if (buf.length < end + 4 + len) return;
        if (!buf.startsWith("HTTP/1.1 200")) errors++;
        buf = buf.slice(end + 4 + len);
        const t0 = queues[i]!.shift()!;
        latencies.push(performance.now() - t0);
      }
    });
  });
  const start = performance.now();
  const interval = 1000 / rate;
  let sent = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      const due = Math.min(
        Math.floor((now - start) / interval),
        Math.floor(durationMs / interval),
      );
      while (sent < due) {
        const i = sent % conns;
        // Latency from the actual write: the generator's own timer lateness
        // (~1 ms ticks) would otherwise swamp a sub-millisecond difference.
        queues[i]!.push(now);
        sockets[i]!.write(req);
        sent++;
      }
      if (now - start >= durationMs) resolve();
      else setTimeout(tick, 1);
    };
    tick();
  });
  const waitUntil = performance.now() + 5000;
  while (latencies.length + errors < sent && performance.now() < waitUntil) {
    await new Promise((r) => setTimeout(r, 10));
  }
  for (const s of sockets) s.destroy();
  latencies.sort((a, b) => a - b);
  const pct = (p: number) =>
    latencies[
      Math.min(latencies.length - 1, Math.floor(latencies.length * p))
    ] ?? NaN;
  return { p50: pct(0.5), p99: pct(0.99), count: latencies.length, errors };
}

async function startPetrel(
  services: string,
  yaml?: string,
): Promise<{ peer: Peer; port: number; pid: number; dir: string }> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-bench-" });
  await Deno.writeTextFile(
    `${dir}/petrel.yaml`,
    yaml ??
      `outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\nservices:\n${services}`,
  );
  const [cmd0, args0] = pinned(PROXY_CORE, Deno.execPath(), [
    "run",
    "-A",
    `${ROOT}main.ts`,
  ]);
  const deno = [cmd0, ...args0];
  const config = ["--config", `${dir}/petrel.yaml`];
  // With the access log on, stderr goes to /dev/null (exec keeps the pid).
  const peer = accessLog === ""
    ? await startPeer(deno[0]!, [...deno.slice(1), ...config], {
      env: { LINKERD2_PROXY_LOG: "error" },
      startTimeoutMs: 30_000,
    })
    : await startPeer("sh", [
      "-c",
      'exec "$0" "$@" 2>/dev/null',
      ...deno,
      ...config,
    ], {
      env: {
        LINKERD2_PROXY_LOG: "error",
        LINKERD2_PROXY_ACCESS_LOG: accessLog,
      },
      startTimeoutMs: 30_000,
    });
  return {
    peer,
    port: peer.port,
    pid: (peer.info as { pid: number }).pid,
    dir,
  };
}

const results: Record<string, unknown> = {};
const fmt = (n: number, d = 0) => Number.isFinite(n) ? n.toFixed(d) : "n/a";

// ---------------------------------------------------------------- HTTP/1.1
if (want("http1")) {
  const backend = await startPeer(
    ...pinned(0, Deno.execPath(), [
      "run",
      "-A",
      `${ROOT}bench/_http1_backend.ts`,
    ]),
  );
  const petrel = await startPetrel(
    `  - name: bench.test:80\n    protocol: http1\n    endpoints: [127.0.0.1:${backend.port}]\n`,
  );
  try {
    // Warm-up.
    await fixedRate(petrel.port, "bench.test", 500, 1000);
    const lat = {
      direct: await fixedRate(backend.port, "bench.test", 2000, seconds * 1000),
      proxied: await fixedRate(petrel.port, "bench.test", 2000, seconds * 1000),
    };
    const row: Record<string, unknown> = {
      "p50 direct (ms)": fmt(lat.direct.p50, 3),
      "p50 via Petrel (ms)": fmt(lat.proxied.p50, 3),
      "added p50 (ms)": fmt(lat.proxied.p50 - lat.direct.p50, 3),
      "p99 direct (ms)": fmt(lat.direct.p99, 3),
      "p99 via Petrel (ms)": fmt(lat.proxied.p99, 3),
      "added p99 (ms)": fmt(lat.proxied.p99 - lat.direct.p99, 3),
      "errors at 2000 req/s": lat.proxied.errors,
    };
    if (has("wrk")) {
      const wrk = (port: number) =>
        exec(...pinned(0, "wrk", [
          "-t1",
          "-c32",
          `-d${seconds}s`,
          "-H",
          "Host: bench.test",
          `http://127.0.0.1:${port}/`,
        ]));
      const direct = parseWrk(await wrk(backend.port));
      const cpu0 = await cpuMicros(petrel.pid);
      const out = await wrk(petrel.port);
      const cpu1 = await cpuMicros(petrel.pid);
      const proxied = parseWrk(out);
      const reqs = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
      row["req/s direct"] = fmt(direct);
      row["req/s via Petrel"] = fmt(proxied);
      row["Petrel CPU µs/req"] = fmt((cpu1 - cpu0) / reqs, 1);
      row["Petrel RSS (MB)"] = fmt((await rssBytes(petrel.pid)) / 1e6, 1);
      if (HAPROXY) {
        const hap = await startHaproxy(backend.port, false);
        try {
          const h0 = await cpuMicros(hap.pid);
          const hout = await wrk(hap.port);
          const h1 = await cpuMicros(hap.pid);
          const hrps = parseWrk(hout);
          const hreqs = Number(/(\d+) requests in/.exec(hout)?.[1] ?? NaN);
          const hcpu = (h1 - h0) / hreqs;
          row["req/s via haproxy"] = fmt(hrps);
          row["haproxy CPU µs/req"] = fmt(hcpu, 1);
          row["req/s Petrel/haproxy"] = fmt(proxied / hrps, 2);
          row["CPU/req Petrel/haproxy"] = fmt(
            (cpu1 - cpu0) / reqs / hcpu,
            2,
          );
        } finally {
          await hap.stop();
        }
      } else row["haproxy"] = "not installed";
    } else row["wrk"] = "not installed";
    results["HTTP/1.1"] = row;
  } finally {
    await petrel.peer.stop();
    await backend.stop();
    await Deno.remove(petrel.dir, { recursive: true });
  }
}

// -------------------------------------------------------------------- h2c
if (!want("h2c")) {
  // skipped
} else if (has("h2load") && has("nghttpd")) {
  const docroot = await Deno.makeTempDir();
  await Deno.writeTextFile(`${docroot}/index.html`, "hello from nghttpd\n");
  const port = 20000 + Math.floor(Math.random() * 20000);
  const [ncmd, nargs] = pinned(0, "nghttpd", [
    "--no-tls",
    "-d",
    docroot,
    String(port),
  ]);
  const nghttpd = new Deno.Command(ncmd, {
    args: nargs,
    stdout: "null",
    stderr: "null",
  }).spawn();
  await new Promise((r) => setTimeout(r, 500));
  const petrel = await startPetrel(
    `  - name: bench.test:80\n    protocol: http2\n    endpoints: [127.0.0.1:${port}]\n`,
  );
  try {
    const load = (p: number) =>
      exec(...pinned(0, "h2load", [
        "-D",
        String(seconds),
        "-c",
        "4",
        "-m",
        "32",
        "-H",
        ":authority: bench.test",
        `http://127.0.0.1:${p}/index.html`,
      ]));
    await load(petrel.port); // warm-up
    const direct = parseH2load(await load(port));
    const cpu0 = await cpuMicros(petrel.pid);
    const proxied = parseH2load(await load(petrel.port));
    const cpu1 = await cpuMicros(petrel.pid);
    const row: Record<string, unknown> = {
      "req/s direct": fmt(direct.rps),
      "req/s via Petrel": fmt(proxied.rps),
      "Petrel CPU µs/req": fmt((cpu1 - cpu0) / proxied.ok, 1),
    };
    if (HAPROXY) {
      const hap = await startHaproxy(port, true);
      try {
        await load(hap.port); // warm-up
        const h0 = await cpuMicros(hap.pid);
        const h = parseH2load(await load(hap.port));
        const h1 = await cpuMicros(hap.pid);
        row["req/s via haproxy"] = fmt(h.rps);
        row["haproxy CPU µs/req"] = fmt((h1 - h0) / h.ok, 1);
        row["req/s Petrel/haproxy"] = fmt(proxied.rps / h.rps, 2);
      } finally {
        await hap.stop();
      }
    } else row["haproxy"] = "not installed";
    results["h2c"] = row;
  } finally {
    await petrel.peer.stop();
    nghttpd.kill();
    await nghttpd.status;
    await Deno.remove(petrel.dir, { recursive: true });
    await Deno.remove(docroot, { recursive: true });
  }
} else {
  results["h2c"] = {
    skipped: "h2load or nghttpd (nghttp2-server) not installed",
  };
}

// --------------------------------------------------------------- mesh hop
if (want("mesh") && has("wrk") && has("openssl")) {
  const backend = await startPeer(
    ...pinned(0, Deno.execPath(), [
      "run",
      "-A",
      `${ROOT}bench/_http1_backend.ts`,
    ]),
  );
  const pki = await makePki();
  const serverId = meshIdentity("server", "bench");
  const sleaf = await pki.issue(serverId);
  const cleaf = await pki.issue(meshIdentity("client", "bench"));
  const inPort = await freePort();
  const server = await startPetrel(
    "",
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${await pki.identityDir(sleaf)} }
inbound: { listen: 127.0.0.1:${inPort}, appPort: ${backend.port}, policy: all-authenticated }
services: []
`,
  );
  const client = await startPetrel(
    "",
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${await pki.identityDir(cleaf)} }
services:
  - { name: "mesh.test:80", identity: ${serverId}, meshed: true, endpoints: ["127.0.0.1:${inPort}"] }
  - { name: "plain.test:80", identity: ${serverId}, endpoints: ["127.0.0.1:${inPort}"] }
`,
  );
  /** wrk through `port` with `host`; req/s and the CPU µs/req of `pids` together. */
  const measure = async (port: number, host: string, pids: number[]) => {
    const wrk = () =>
      exec(...pinned(0, "wrk", [
        "-t1",
        "-c32",
        `-d${seconds}s`,
        "-H",
        `Host: ${host}`,
        `http://127.0.0.1:${port}/`,
      ]));
    await exec(...pinned(0, "wrk", [
      "-t1",
      "-c32",
      "-d1s",
      "-H",
      `Host: ${host}`,
      `http://127.0.0.1:${port}/`,
    ])); // warm-up (and the connections between the pair)
    const cpu = async () =>
      (await Promise.all(pids.map(cpuMicros))).reduce((a, b) => a + b, 0);
    const c0 = await cpu();
    const out = await wrk();
    const c1 = await cpu();
    const reqs = Number(/(\d+) requests in/.exec(out)?.[1] ?? NaN);
    const errors = /Non-2xx or 3xx responses: (\d+)/.exec(out)?.[1] ?? "0";
    return { rps: parseWrk(out), cpu: (c1 - c0) / reqs, errors };
  };
  try {
    const pids = [client.pid, server.pid];
    const plain = await measure(client.port, "plain.test", pids);
    const meshed = await measure(client.port, "mesh.test", pids);
    const row: Record<string, unknown> = {
      "plain HTTP/1 hop req/s": fmt(plain.rps),
      "plain hop CPU µs/req": fmt(plain.cpu, 1),
      "meshed (h2) hop req/s": fmt(meshed.rps),
      "meshed hop CPU µs/req": fmt(meshed.cpu, 1),
      "meshed/plain req/s": fmt(meshed.rps / plain.rps, 2),
      "non-2xx": `${plain.errors} / ${meshed.errors}`,
    };
    if (HAPROXY) {
      // The pair: haproxy A (plain HTTP/1 in) → mTLS → haproxy B → backend.
      const pem = async (name: string, leaf: typeof sleaf) => {
        const f = `${pki.dir}/${name}.pem`;
        await Deno.writeTextFile(f, leaf.certPem + leaf.keyPem);
        return f;
      };
      const spem = await pem("hap-server", sleaf);
      const cpem = await pem("hap-client", cleaf);
      const pair = async (alpn: string) => {
        const b = await startHaproxyWith(
          (port) =>
            `127.0.0.1:${port} ssl crt ${spem} ca-file ${pki.anchorFile} verify required alpn ${alpn}`,
          `127.0.0.1:${backend.port}`,
        );
        const a = await startHaproxyWith(
          (port) => `127.0.0.1:${port}`,
          `127.0.0.1:${b.port} ssl crt ${cpem} ca-file ${pki.anchorFile} verify required verifyhost ${serverId} sni str(${serverId}) alpn ${alpn}`,
        );
        try {
          return await measure(a.port, "bench.test", [a.pid, b.pid]);
        } finally {
          await a.stop();
          await b.stop();
        }
      };
      const h1 = await pair("http/1.1");
      const h2 = await pair("h2");
      row["haproxy pair HTTP/1 req/s"] = fmt(h1.rps);
      row["haproxy pair h2 req/s"] = fmt(h2.rps);
      row["haproxy pair h2 CPU µs/req"] = fmt(h2.cpu, 1);
      row["haproxy h2/HTTP/1"] = fmt(h2.rps / h1.rps, 2);
      row["meshed Petrel/haproxy h2"] = fmt(meshed.rps / h2.rps, 2);
      row["plain Petrel/haproxy HTTP/1"] = fmt(plain.rps / h1.rps, 2);
    } else row["haproxy"] = "not installed";
    results["mesh hop"] = row;
  } finally {
    await client.peer.stop();
    await server.peer.stop();
    await backend.stop();
    await Deno.remove(client.dir, { recursive: true });
    await Deno.remove(server.dir, { recursive: true });
    await pki.close();
  }
}

console.log(
  `\nPetrel load benchmark (${seconds}s per run, access log ${
    accessLog || "off"
  }, ${new Date().toISOString()})`,
);
for (const [name, row] of Object.entries(results)) {
  console.log(`\n${name}`);
  for (const [k, v] of Object.entries(row as Record<string, unknown>)) {
    console.log(`  ${k.padEnd(24)} ${v}`);
  }
}
console.log("\n" + JSON.stringify(results));
