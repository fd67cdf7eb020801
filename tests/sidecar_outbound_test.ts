/**
 * Petrel as a real sidecar (issue 16): in a pod made of network namespaces,
 * `petrel init` redirects the app's outbound TCP to Petrel, which runs as
 * its own uid and routes every connection by its original destination.
 * Every client is a real program run inside the app namespace with no
 * proxy settings (curl, a python TCP client); the servers live in the
 * remote namespace.
 */
import assert from "node:assert/strict";
import {
  Pod,
  type PodPetrel,
  podSkipReason,
  PROXY_UID,
  removeLeftoverNamespaces,
  REPO_DIR,
} from "./support/pod.ts";
import { PYTHON, run, type RunResult } from "./support/proc.ts";

const skip = await podSkipReason();
if (skip !== undefined) {
  console.warn(`sidecar_outbound_test.ts skipped: ${skip}`);
}

/** The ClusterIP-like address of the YAML service (no host has it). */
const SERVICE_VIP = "10.79.0.100:80";

const YAML = `
services:
  - name: web.pod.test:80
    addresses: [${SERVICE_VIP}]
    endpoints: [10.79.0.3:8081, 10.79.0.4:8081]
  - name: override.pod.test:80
    endpoints: [10.79.0.3:8081]
  - name: banner.pod.test:25
    addresses: [10.79.0.100:25]
    opaque: true
    endpoints: [10.79.0.2:25]
`;

const ENV = {
  LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: "127.0.0.1:4140,[::1]:4140",
  LINKERD2_PROXY_OUTBOUND_DETECT_TIMEOUT: "500ms",
  // The inbound side of the pod: the app listens on 127.0.0.1:8080.
  LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "0.0.0.0:4143",
  PETREL_INBOUND_APP_PORT: "8080",
};

/** Sum of the samples of `name` whose labels contain every `labels` text. */
function metric(text: string, name: string, ...labels: string[]): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`)) continue;
    if (labels.every((l) => line.includes(l))) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

interface Served {
  servedBy: string;
  httpVersion?: string;
  headers: Record<string, string>;
}

function served(r: RunResult): Served {
  assert.equal(r.code, 0, `client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Served;
}

Deno.test({
  name:
    "sidecar outbound: redirected connections are routed by their original destination",
  ignore: skip !== undefined,
}, async (t) => {
  await using pod = await Pod.create();
  const [r2, r3, r4] = pod.remoteIps;
  const [v6] = pod.remoteIps6;
  await pod.init([
    "--proxy-uid",
    String(PROXY_UID),
    "--outbound-ports-to-ignore",
    "9090",
  ]);
  await pod.startRemote([
    { kind: "http", host: r2, port: 80 },
    { kind: "http", host: r2, port: 9090 },
    { kind: "h2c", host: r2, port: 81 },
    { kind: "http", host: r3, port: 8081 },
    { kind: "http", host: r4, port: 8081 },
    { kind: "https", host: r2, port: 443 },
    { kind: "echo", host: r2, port: 7 },
    { kind: "banner", host: r2, port: 25 },
    { kind: "http", host: v6, port: 80 },
    { kind: "https", host: v6, port: 443 },
    { kind: "echo", host: v6, port: 7 },
  ]);
  const curl = (args: string[], opts: { uid?: number } = {}) =>
    pod.run(pod.app, "curl", ["-sS", "--noproxy", "*", "-m", "10", ...args], {
      ...opts,
    });
  const tcp = (args: string[]) =>
    pod.run(pod.app, PYTHON, [
      `${REPO_DIR}tests/support/pod_tcp_client.py`,
      ...args,
    ]);

  // The application itself, inside the pod.
  await pod.startServers(pod.app, [
    { kind: "http", host: "127.0.0.1", port: 8080 },
    { kind: "http", host: pod.appIp, port: 4190 },
  ]);
  let petrel: PodPetrel = await pod.startPetrel(YAML, ENV);

  await t.step(
    "curl http://<remote ip>/ goes through Petrel, counted with target_addr = the original destination",
    async () => {
      const body = served(await curl([`http://${r2}/hello`]));
      assert.equal(body.servedBy, `${r2}:80`);
      const m = await petrel.admin("/metrics");
      const target = `target_addr="${r2}:80"`;
      assert.equal(metric(m, "request_total", target), 1);
      assert.equal(metric(m, "response_total", target, 'status_code="200"'), 1);
      assert.equal(
        metric(m, "tcp_open_total", 'peer="src"', target),
        1,
        "the accepted connection is labelled with its original destination",
      );
    },
  );

  await t.step(
    "a YAML service listing the address in `addresses` is balanced over its endpoints",
    async () => {
      // 40 requests on one connection, each through the balancer.
      const r = await curl([`http://${SERVICE_VIP}/r[1-40]`]);
      assert.equal(r.code, 0, r.stderr);
      const by = r.stdout.match(/"servedBy":"[^"]+"/g) ?? [];
      assert.equal(by.length, 40);
      const counts = new Map<string, number>();
      for (const b of by) counts.set(b, (counts.get(b) ?? 0) + 1);
      assert.deepEqual([...counts.keys()].sort(), [
        `"servedBy":"${r3}:8081"`,
        `"servedBy":"${r4}:8081"`,
      ]);
      const m = await petrel.admin("/metrics");
      assert.equal(
        metric(m, "request_total", `target_addr="${r3}:8081"`) +
          metric(m, "request_total", `target_addr="${r4}:8081"`),
        40,
      );
    },
  );

  await t.step(
    "an HTTP/1.0 request without Host is routed by the original destination (not a 400)",
    async () => {
      const r = await tcp([
        "raw",
        r2,
        "80",
        "GET /nohost HTTP/1.0\\r\\n\\r\\n",
      ]);
      assert.equal(r.code, 0, r.stderr);
      const response: string = JSON.parse(r.stdout).response;
      assert.match(response, /^HTTP\/1\.[01] 200 /);
      assert.match(response, new RegExp(`"servedBy":"${r2}:80"`));
    },
  );

  await t.step(
    "HTTP/2 (prior knowledge) through the redirect is routed by the original destination too",
    async () => {
      const body = served(
        await curl([
          "--http2-prior-knowledge",
          "-H",
          "l5d-dst-override: override.pod.test:80",
          `http://${r2}:81/h2`,
        ]),
      );
      assert.equal(body.servedBy, `${r2}:81`);
      assert.equal(body.httpVersion, "2.0");
      assert.equal(body.headers["l5d-dst-override"], undefined);
    },
  );

  await t.step(
    "HTTPS (TLS not for Petrel) passes through untouched: the server's certificate verifies",
    async () => {
      const body = served(
        await curl(["--cacert", pod.remoteCertFile!, `https://${r2}/tls`]),
      );
      assert.equal(body.servedBy, `${r2}:443`);
      const m = await petrel.admin("/metrics");
      assert.equal(metric(m, "tcp_open_total", `target_addr="${r2}:443"`), 1);
    },
  );

  await t.step(
    "a raw TCP echo client: bytes identical, half-close kept",
    async () => {
      const r = await tcp(["echo", r2, "7", "300000"]);
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), {
        sent: 300000,
        received: 300000,
        same: true,
      });
      const m = await petrel.admin("/metrics");
      assert.equal(metric(m, "tcp_open_total", `target_addr="${r2}:7"`), 1);
    },
  );

  await t.step(
    "a server-first protocol works once the detect timeout passes",
    async () => {
      const r = await tcp(["banner", r2, "25"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.banner, `220 ${r2}:25`);
      assert.equal(out.echo, "ping\n");
      assert.ok(
        out.elapsedMs >= 450,
        `the banner came after the 500 ms detect timeout (${out.elapsedMs} ms)`,
      );
      const m = await petrel.admin("/metrics");
      assert.equal(
        metric(
          m,
          "outbound_tcp_detect_http_results_total",
          'result="read_timeout"',
        ),
        1,
      );
    },
  );

  await t.step(
    "an opaque service address skips detection: a server-first protocol works at once",
    async () => {
      const detected = (m: string) =>
        metric(m, "outbound_tcp_detect_http_results_total");
      const before = detected(await petrel.admin("/metrics"));
      const r = await tcp(["banner", "10.79.0.100", "25"]);
      assert.equal(r.code, 0, r.stderr);
      const out = JSON.parse(r.stdout);
      assert.equal(out.banner, `220 ${r2}:25`, "forwarded to the endpoint");
      assert.equal(out.echo, "ping\n");
      const m = await petrel.admin("/metrics");
      assert.equal(detected(m), before, "no detection ran");
      assert.equal(
        metric(m, "tcp_open_total", 'target_addr="10.79.0.100:25"'),
        1,
      );
      console.log(`opaque-port banner after ${out.elapsedMs} ms`);
    },
  );

  await t.step(
    "IPv6: HTTP, TLS passthrough and TCP echo over fd00:: addresses",
    async () => {
      const body = served(await curl(["-g", `http://[${v6}]/v6`]));
      assert.equal(body.servedBy, `[${v6}]:80`);
      const tls = served(
        await curl(["-g", "--cacert", pod.remoteCertFile!, `https://[${v6}]/`]),
      );
      assert.equal(tls.servedBy, `[${v6}]:443`);
      const r = await tcp(["echo", v6, "7", "100000"]);
      assert.equal(r.code, 0, r.stderr);
      assert.equal(JSON.parse(r.stdout).same, true);
      const m = await petrel.admin("/metrics");
      assert.equal(metric(m, "request_total", `target_addr="[${v6}]:80"`), 1);
      assert.equal(
        metric(m, "tcp_open_total", 'peer="src"', `target_addr="[${v6}]:443"`),
        1,
      );
    },
  );

  await t.step(
    "traffic of Petrel's own uid and of ignored ports is not redirected",
    async () => {
      const before = metric(
        await petrel.admin("/metrics"),
        "tcp_open_total",
        'peer="src"',
      );
      // As the proxy's uid: straight to the server (a loop would hang here).
      const own = served(await curl([`http://${r2}/own`], { uid: PROXY_UID }));
      assert.equal(own.servedBy, `${r2}:80`);
      // --outbound-ports-to-ignore 9090.
      const ignored = served(await curl([`http://${r2}:9090/`]));
      assert.equal(ignored.servedBy, `${r2}:9090`);
      const m = await petrel.admin("/metrics");
      assert.equal(metric(m, "tcp_open_total", 'peer="src"'), before);
    },
  );

  await t.step(
    "inbound (harness): the remote's connections to the pod go through Petrel's inbound listener, 4190 does not",
    async () => {
      const curlRemote = (url: string) =>
        pod.run(pod.remote, "curl", ["-sS", "--noproxy", "*", "-m", "10", url]);
      // The app listens on 127.0.0.1 only: from another namespace the one
      // way in is PREROUTING's redirect to Petrel's inbound listener.
      const app = served(await curlRemote(`http://${pod.appIp}:8080/in`));
      assert.equal(app.servedBy, "127.0.0.1:8080");
      const ignored = served(await curlRemote(`http://${pod.appIp}:4190/`));
      assert.equal(ignored.servedBy, `${pod.appIp}:4190`);
    },
  );

  await t.step(
    "l5d-dst-override from the app is ignored and removed in sidecar mode",
    async () => {
      const body = served(
        await curl([
          "-H",
          "l5d-dst-override: override.pod.test:80",
          `http://${r2}/override`,
        ]),
      );
      assert.equal(
        body.servedBy,
        `${r2}:80`,
        "routed by the original destination",
      );
      assert.equal(body.headers["l5d-dst-override"], undefined);
      assert.equal(body.headers["host"], r2, "Host is left as the app sent it");
    },
  );

  await petrel.stop();
  petrel = await pod.startPetrel(YAML, {
    ...ENV,
    LINKERD2_PROXY_INGRESS_MODE: "true",
  });

  await t.step(
    "LINKERD2_PROXY_INGRESS_MODE=true honours l5d-dst-override, else the original destination",
    async () => {
      const body = served(
        await curl([
          "-H",
          "l5d-dst-override: override.pod.test:80",
          `http://${r2}/override`,
        ]),
      );
      assert.equal(body.servedBy, `${r3}:8081`);
      assert.equal(body.headers["l5d-dst-override"], undefined);
      const plain = served(await curl([`http://${r2}/plain`]));
      assert.equal(plain.servedBy, `${r2}:80`);
    },
  );

  await t.step(
    "load: HTTP/1.1 through the redirect vs Petrel as an explicit proxy (figures, no assertion)",
    async () => {
      // Petrel's own CPU per request is steadier than req/s on a shared
      // machine: utime + stime of its process (clock ticks, 100 Hz).
      const pid = petrel.peer.proc.pid;
      const cpuTicks = async () => {
        const stat = await Deno.readTextFile(`/proc/${pid}/stat`);
        const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
        return Number(f[11]) + Number(f[12]);
      };
      const wrk = async (args: string[]) => {
        const t0 = await cpuTicks();
        const r = await pod.run(pod.app, "wrk", [
          "-t1",
          "-c16",
          "-d3s",
          ...args,
        ], { timeoutMs: 30_000 });
        const ticks = await cpuTicks() - t0;
        assert.equal(r.code, 0, r.stderr);
        const requests = Number(/(\d+) requests in/.exec(r.stdout)?.[1] ?? 0);
        const rps = Number(
          /Requests\/sec:\s+([\d.]+)/.exec(r.stdout)?.[1] ?? 0,
        );
        return {
          rps: Math.round(rps),
          cpuUsPerReq: Math.round(ticks * 10_000 / Math.max(requests, 1)),
        };
      };
      const results: Record<string, { rps: number; cpuUsPerReq: number }> = {};
      const modes: Record<string, string[]> = {
        redirect: [`http://${r2}/`],
        explicit: ["-H", `Host: ${r2}:80`, "http://127.0.0.1:4140/"],
      };
      // Warm both paths up (JIT), then interleave, alternating which goes
      // first: the machine is shared.
      for (const args of Object.values(modes)) await wrk(args);
      for (const round of [1, 2, 3]) {
        const order = round % 2 === 1
          ? ["redirect", "explicit"]
          : ["explicit", "redirect"];
        for (const m of order) results[`${m}#${round}`] = await wrk(modes[m]!);
      }
      const mean = (m: string, k: "rps" | "cpuUsPerReq") =>
        Math.round(
          [1, 2, 3].reduce((a, r) => a + results[`${m}#${r}`]![k], 0) / 3,
        );
      console.log(
        `sidecar load: ${JSON.stringify(results)}; mean req/s redirect ${
          mean("redirect", "rps")
        } explicit ${mean("explicit", "rps")}; mean CPU µs/req redirect ${
          mean("redirect", "cpuUsPerReq")
        } explicit ${mean("explicit", "cpuUsPerReq")}`,
      );
      assert.ok(Object.values(results).every((v) => v.rps > 0));
    },
  );
});

Deno.test({
  name:
    "removeLeftoverNamespaces() removes the namespaces of dead test processes only",
  ignore: skip !== undefined,
}, async () => {
  let dead = 4_000_000;
  while (await Deno.stat(`/proc/${dead}`).then(() => true, () => false)) dead--;
  const stale = `ptl-${dead}-0-app`;
  const mine = `ptl-${Deno.pid}-9999-app`;
  const netns = async () =>
    (await run("ip", ["netns", "list"])).stdout.split("\n").map((l) =>
      l.split(" ")[0]
    );
  try {
    for (const ns of [stale, mine]) {
      assert.equal((await run("ip", ["netns", "add", ns])).code, 0);
    }
    assert.ok(await removeLeftoverNamespaces() >= 1);
    const left = await netns();
    assert.ok(!left.includes(stale), "the dead process's namespace is gone");
    assert.ok(left.includes(mine), "a live process's namespace stays");
  } finally {
    for (const ns of [stale, mine]) await run("ip", ["netns", "del", ns]);
  }
});
