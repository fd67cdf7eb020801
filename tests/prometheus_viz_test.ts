/**
 * A real Prometheus (Debian `prometheus`) scraping two Petrels, the client
 * and the server side of a meshed hop (client → outbound Petrel → mTLS,
 * HTTP/2 with orig-proto → inbound Petrel → app), and linkerd viz's own
 * PromQL (`viz/metrics-api` `stat_summary.go`, `edges.go`, `top_routes.go`,
 * `authz.go`, `policy.go`) evaluated against the traffic sent.
 *
 * Each scrape target gets the labels linkerd's Prometheus relabelling puts
 * on a pod's proxy (`namespace`, `deployment`, `pod`); Destination gives the
 * endpoint's `metric_labels` (Petrel's `dst_*`), and a ServiceProfile names
 * the routes (`rt_route`).
 *
 * Windows: each query runs at the time of the target's last scrape after
 * the traffic, with a window that starts just before its last scrape before
 * the traffic, so `increase()` sees exactly the traffic sent (its
 * extrapolation adds 1 ms over a window of seconds, < 0.1%).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parsePromText } from "../src/metrics/_test_util.ts";
import { startHttpBackend } from "./support/backend.ts";
import { makePki, meshIdentity } from "./support/certs.ts";
import { startControlPlane } from "./support/control_plane.ts";
import {
  freePort,
  httpRequest,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

const CLIENT_ID = meshIdentity("front", "front-ns");
const SERVER_ID = meshIdentity("back", "back-ns");
const FQN = "web.back-ns.svc.cluster.local";
const WEB = `${FQN}:8080`;
const N_OK = 30;
const N_FAIL = 10;
const N_DENY = 3;
/** Every app response takes at least this long. */
const APP_DELAY_MS = 25;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}

interface Prometheus extends AsyncDisposable {
  query(q: string, time?: number): Promise<PromVector[]>;
  queryRange(
    q: string,
    start: number,
    end: number,
  ): Promise<{ metric: Record<string, string>; values: [number, string][] }[]>;
}

/** Starts Prometheus on a free loopback port, scraping `jobs` every second. */
async function startPrometheus(
  jobs: { name: string; target: string; labels: Record<string, string> }[],
): Promise<Prometheus> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-prom-" });
  const config = {
    global: { scrape_interval: "1s", scrape_timeout: "1s" },
    scrape_configs: jobs.map((j) => ({
      job_name: j.name,
      static_configs: [{ targets: [j.target], labels: j.labels }],
    })),
  };
  // JSON is YAML.
  await Deno.writeTextFile(join(dir, "prometheus.yml"), JSON.stringify(config));
  const port = freePort();
  const child = new Deno.Command("/usr/bin/prometheus", {
    args: [
      `--config.file=${join(dir, "prometheus.yml")}`,
      `--storage.tsdb.path=${join(dir, "data")}`,
      `--web.listen-address=127.0.0.1:${port}`,
      "--log.level=warn",
    ],
    stdout: "null",
    stderr: "piped",
  }).spawn();
  let log = "";
  const logDone = child.stderr.pipeThrough(new TextDecoderStream()).pipeTo(
    new WritableStream({
      write(s) {
        if (log.length < 20_000) log += s;
      },
    }),
  ).catch(() => {});
  const base = `http://127.0.0.1:${port}`;
  const close = async () => {
    try {
      child.kill("SIGTERM");
    } catch { /* already gone */ }
    await child.status;
    await logDone;
    await Deno.remove(dir, { recursive: true });
  };
  const api = async (path: string, params: Record<string, string>) => {
    const rsp = await fetch(`${base}${path}?${new URLSearchParams(params)}`);
    const body = await rsp.json();
    if (body.status !== "success") {
      throw new Error(`${params.query}: ${JSON.stringify(body)}`);
    }
    return body.data.result;
  };
  try {
    await waitFor(
      async () => {
        try {
          const rsp = await fetch(`${base}/-/ready`);
          await rsp.body?.cancel();
          return rsp.status === 200;
        } catch {
          return false;
        }
      },
      `prometheus ready (${log})`,
      30_000,
      100,
    );
  } catch (err) {
    await close();
    throw err;
  }
  return {
    query: (q, time) =>
      api("/api/v1/query", {
        query: q,
        ...(time === undefined ? {} : { time: String(time) }),
      }),
    queryRange: (q, start, end) =>
      api("/api/v1/query_range", {
        query: q,
        start: String(start),
        end: String(end),
        step: "1",
      }),
    [Symbol.asyncDispose]: close,
  };
}

/** Sum of the samples of `name` (by label subset) in a Petrel's own /metrics. */
async function own(
  p: TestPetrel,
  name: string,
  labels: Record<string, string>,
): Promise<number> {
  const text = (await httpRequest(p.adminPort, "localhost", "/metrics")).body;
  return parsePromText(text).samples.filter((s) =>
    s.name === name &&
    Object.entries(labels).every(([k, v]) => s.labels[k] === v)
  ).reduce((a, s) => a + s.value, 0);
}

/** The value of the one result whose labels include `labels` (0 when none). */
function valueOf(
  rows: PromVector[],
  labels: Record<string, string>,
): number {
  const hits = rows.filter((r) =>
    Object.entries(labels).every(([k, v]) => (r.metric[k] ?? "") === v)
  );
  assert.ok(hits.length <= 1, `one row for ${JSON.stringify(labels)}`);
  return hits.length === 0 ? 0 : Number(hits[0]!.value[1]);
}

Deno.test("prometheus + linkerd viz PromQL: stat (workload, --to, --from, service), routes, edges and authz match the traffic across a meshed hop", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend(async (req) => {
    await sleep(APP_DELAY_MS);
    if (req.path === "/ok") return { status: 200, body: "ok" };
    if (req.path === "/fail") return { status: 500, body: "fail" };
    return { status: 404, body: "" };
  });
  const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
  const server = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port}, policy: all-authenticated }
services: []
`);
  const inboundPort = server.app.inbound!.port;
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [{
    addr: `127.0.0.1:${inboundPort}`,
    identity: SERVER_ID,
    h2: true,
    labels: {
      namespace: "back-ns",
      service: "web",
      deployment: "back",
      pod: "back-0",
      serviceaccount: "back",
    },
  }]);
  cp.setProfile(WEB, {
    fully_qualified_name: FQN,
    routes: [
      {
        condition: { path: { regex: "/ok" } },
        metrics_labels: { route: "GET /ok" },
      },
      {
        condition: { path: { regex: "/fail" } },
        metrics_labels: { route: "GET /fail" },
      },
    ],
  });
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services: []
`,
    {
      LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
      LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "svc.cluster.local.",
    },
  );
  let prom: Prometheus | undefined;
  try {
    prom = await startPrometheus([
      {
        name: "front",
        target: `127.0.0.1:${client.adminPort}`,
        labels: { namespace: "front-ns", deployment: "front", pod: "front-0" },
      },
      {
        name: "back",
        target: `127.0.0.1:${server.adminPort}`,
        labels: { namespace: "back-ns", deployment: "back", pod: "back-0" },
      },
    ]);
    // Warm-up: the profile is in force and every series exists.
    await waitFor(
      async () => {
        await httpRequest(client.port, WEB, "/ok");
        return await own(client, "route_request_total", {
          rt_route: "GET /ok",
        }) > 0;
      },
      "the profile's routes",
      10_000,
    );
    assert.equal((await httpRequest(client.port, WEB, "/fail")).status, 500);
    assert.equal(
      (await httpRequest(inboundPort, WEB, "/ok")).status,
      403,
      "a plaintext request is refused by all-authenticated",
    );

    // Prometheus has the warm-up: its last scrape of each target shows it.
    const front = { job: "front", direction: "outbound" };
    const back = { job: "back", direction: "inbound" };
    const counts = async (p: TestPetrel, l: Record<string, string>) =>
      await own(p, "response_total", { direction: l.direction! });
    const promCount = async (l: Record<string, string>) =>
      valueOf(
        await prom!.query(
          `sum(response_total{job="${l.job}",direction="${l.direction}"})`,
        ),
        {},
      );
    const denyNow = () => own(server, "inbound_http_authz_deny_total", {});
    const promDeny = async () =>
      valueOf(
        await prom!.query(`sum(inbound_http_authz_deny_total{job="back"})`),
        {},
      );
    let seen = "";
    const caughtUp = async (frontN: number, backN: number, deny: number) => {
      const got = [
        await promCount(front),
        await promCount(back),
        await promDeny(),
      ];
      seen = `${got} (want ${[frontN, backN, deny]}; own ${[
        await counts(client, front),
        await counts(server, back),
        await denyNow(),
      ]})`;
      return got[0] === frontN && got[1] === backN && got[2] === deny;
    };
    const waitScraped = (
      cond: () => Promise<boolean>,
      what: string,
      ms: number,
      every: number,
    ) =>
      waitFor(cond, what, ms, every).catch((err) => {
        throw new Error(`${err.message}: ${seen}`);
      });
    const pre = {
      front: await counts(client, front),
      back: await counts(server, back),
      deny: await denyNow(),
    };
    await waitScraped(
      () => caughtUp(pre.front, pre.back, pre.deny),
      "prometheus scraped the warm-up",
      20_000,
      100,
    );
    const scrapeTime = async (job: string) =>
      Number((await prom!.query(`timestamp(up{job="${job}"})`))[0]!.value[1]);
    const start = {
      front: await scrapeTime("front"),
      back: await scrapeTime("back"),
    };

    // The traffic: 30 200s and 10 500s across the hop, 3 refused.
    const paths = [
      ...Array(N_OK).fill("/ok"),
      ...Array(N_FAIL).fill("/fail"),
    ];
    let next = 0;
    await Promise.all(Array.from({ length: 5 }, async () => {
      while (next < paths.length) {
        const path = paths[next++]!;
        const r = await httpRequest(client.port, WEB, path);
        assert.equal(r.status, path === "/ok" ? 200 : 500);
      }
    }));
    for (let i = 0; i < N_DENY; i++) {
      assert.equal((await httpRequest(inboundPort, WEB, "/ok")).status, 403);
    }
    await waitScraped(
      () =>
        caughtUp(
          pre.front + N_OK + N_FAIL,
          pre.back + N_OK + N_FAIL,
          pre.deny + N_DENY,
        ),
      "prometheus scraped the traffic",
      20_000,
      100,
    );
    const end = {
      front: await scrapeTime("front"),
      back: await scrapeTime("back"),
    };
    const window = (job: "front" | "back") =>
      `${Math.round((end[job] - start[job]) * 1000) + 1}ms`;
    const at = (job: "front" | "back", q: string) => prom!.query(q, end[job]);
    const rounded = (rows: PromVector[], labels: Record<string, string>) =>
      Math.round(valueOf(rows, labels));
    const report: Record<string, unknown> = {
      windows: { front: window("front"), back: window("back") },
    };

    // viz stat deploy/back (inbound): reqQuery by (namespace, deployment, classification, tls).
    const W = window("back");
    const inboundLabels =
      `{deployment="back", direction="inbound", namespace="back-ns"}`;
    const stat = await at(
      "back",
      `sum(increase(response_total${inboundLabels}[${W}])) by (namespace, deployment, classification, tls)`,
    );
    const statRow = { namespace: "back-ns", deployment: "back", tls: "true" };
    report.statInbound = stat.map((r) => [r.metric, r.value[1]]);
    assert.equal(
      rounded(stat, { ...statRow, classification: "success" }),
      N_OK,
    );
    assert.equal(
      rounded(stat, { ...statRow, classification: "failure" }),
      N_FAIL,
    );
    const success = valueOf(stat, { ...statRow, classification: "success" });
    const failure = valueOf(stat, { ...statRow, classification: "failure" });
    // viz: success rate = success / (success + failure).
    assert.ok(
      Math.abs(success / (success + failure) - N_OK / (N_OK + N_FAIL)) < 1e-6,
    );

    // Latency quantiles (irate over the last two scrapes, at each scrape).
    const quantiles = async (
      job: "front" | "back",
      bucket: string,
      labels: string,
      by: string,
    ) => {
      const out: number[][] = [];
      // viz's irate sees the last two scrapes: evaluate at each scrape after
      // the window's start (the traffic may fit within one interval).
      const scrapes = await at(
        job,
        `up{job="${job}"}[${window(job)}]`,
      ) as unknown as { values: [number, string][] }[];
      const times = scrapes[0]!.values.map(([t]) => t).filter((t) =>
        t > start[job]
      );
      for (const t of times) {
        const q = async (p: string) =>
          Number(
            (await prom!.query(
              `histogram_quantile(${p}, sum(irate(${bucket}${labels}[${
                window(job)
              }])) by (le, ${by}))`,
              t,
            ))[0]?.value[1],
          );
        const row = [await q("0.5"), await q("0.95"), await q("0.99")];
        if (row.every(Number.isFinite)) out.push(row);
      }
      return out;
    };
    const checkQuantiles = (what: string, rows: number[][]) => {
      report[what] = rows;
      assert.ok(rows.length > 0, `${what}: some scrape saw the traffic`);
      for (const [p50, p95, p99] of rows) {
        // Every response took >= 25 ms: no quantile below the 20 ms bucket.
        assert.ok(p50! >= 20 && p50! <= 5_000, `${what} p50 ${p50}`);
        assert.ok(p50! <= p95! && p95! <= p99!, `${what} ordered`);
      }
    };
    checkQuantiles(
      "latencyInbound",
      await quantiles(
        "back",
        "response_latency_ms_bucket",
        inboundLabels,
        "namespace, deployment",
      ),
    );

    // TCP stats of the inbound: the meshed connection is open, bytes moved.
    const tcpOpen = await at(
      "back",
      `sum(tcp_open_connections${inboundLabels}) by (namespace, deployment)`,
    );
    assert.ok(
      valueOf(tcpOpen, {}) >= 1,
      `an open inbound connection: ${
        JSON.stringify(await at("back", `tcp_open_connections{job="back"}`))
      }`,
    );
    const tcpRead = await at(
      "back",
      `sum(increase(tcp_read_bytes_total{deployment="back", direction="inbound", namespace="back-ns", peer="src"}[${W}])) by (namespace, deployment)`,
    );
    report.inboundReadBytes = valueOf(tcpRead, {});
    assert.ok(valueOf(tcpRead, {}) > 0, "inbound read bytes moved");

    // viz stat deploy/front --to deploy/back, and deploy/back --from deploy/front.
    const WF = window("front");
    const toLabels =
      `{deployment="front", direction="outbound", dst_deployment="back", dst_namespace="back-ns", namespace="front-ns"}`;
    const to = await at(
      "front",
      `sum(increase(response_total${toLabels}[${WF}])) by (namespace, deployment, classification, tls)`,
    );
    report.statTo = to.map((r) => [r.metric, r.value[1]]);
    const toRow = { namespace: "front-ns", deployment: "front", tls: "true" };
    assert.equal(rounded(to, { ...toRow, classification: "success" }), N_OK);
    assert.equal(rounded(to, { ...toRow, classification: "failure" }), N_FAIL);
    const from = await at(
      "front",
      `sum(increase(response_total${toLabels}[${WF}])) by (dst_namespace, dst_deployment, classification, tls)`,
    );
    const fromRow = {
      dst_namespace: "back-ns",
      dst_deployment: "back",
      tls: "true",
    };
    assert.equal(
      rounded(from, { ...fromRow, classification: "success" }),
      N_OK,
    );
    assert.equal(
      rounded(from, { ...fromRow, classification: "failure" }),
      N_FAIL,
    );
    checkQuantiles(
      "latencyTo",
      await quantiles(
        "front",
        "response_latency_ms_bucket",
        toLabels,
        "namespace, deployment",
      ),
    );
    const tcpTo = await at(
      "front",
      `sum(increase(tcp_write_bytes_total{deployment="front", direction="outbound", dst_deployment="back", dst_namespace="back-ns", namespace="front-ns", peer="dst"}[${WF}])) by (namespace, deployment)`,
    );
    report.outboundWriteBytes = valueOf(tcpTo, {});
    assert.ok(valueOf(tcpTo, {}) > 0, "outbound (peer=dst) bytes written");

    // viz stat svc/web: authority regex, by (dst_namespace, dst_service).
    const svc = await at(
      "front",
      `sum(increase(response_total{authority=~"^${FQN}.*", direction="outbound"}[${WF}])) by (dst_namespace, dst_service, classification, tls)`,
    );
    report.statService = svc.map((r) => [r.metric, r.value[1]]);
    const svcRow = {
      dst_namespace: "back-ns",
      dst_service: "web",
      tls: "true",
    };
    assert.equal(rounded(svc, { ...svcRow, classification: "success" }), N_OK);
    assert.equal(
      rounded(svc, { ...svcRow, classification: "failure" }),
      N_FAIL,
    );

    // viz edges deploy: open outbound connections by source and destination.
    const edges = await at(
      "front",
      `sum(tcp_open_connections{deployment!="", direction="outbound", dst_deployment!=""}) by (deployment, dst_deployment, pod, server_id, namespace, dst_namespace, no_tls_reason)`,
    );
    report.edges = edges.map((r) => [r.metric, r.value[1]]);
    assert.ok(
      valueOf(edges, {
        deployment: "front",
        dst_deployment: "back",
        pod: "front-0",
        server_id: SERVER_ID,
        namespace: "front-ns",
        dst_namespace: "back-ns",
        no_tls_reason: "",
      }) >= 1,
      "an edge front → back with the server's identity",
    );
    // The server side names the client (`viz edges` shows it as the client identity).
    const clients = await at(
      "back",
      `sum(tcp_open_connections{deployment="back", direction="inbound", namespace="back-ns"}) by (client_id)`,
    );
    assert.ok(valueOf(clients, { client_id: CLIENT_ID }) >= 1);

    // viz routes deploy/front --to svc/web: the profile route families.
    const routeLabels =
      `{deployment="front", direction="outbound", dst=~"(${FQN})(:\\\\d+)?", namespace="front-ns"}`;
    const routes = await at(
      "front",
      `sum(increase(route_response_total${routeLabels}[${WF}])) by (rt_route, dst, classification)`,
    );
    report.routes = routes.map((r) => [r.metric, r.value[1]]);
    assert.equal(
      rounded(routes, {
        rt_route: "GET /ok",
        dst: WEB,
        classification: "success",
      }),
      N_OK,
    );
    assert.equal(
      rounded(routes, {
        rt_route: "GET /fail",
        dst: WEB,
        classification: "failure",
      }),
      N_FAIL,
    );
    assert.equal(
      rounded(routes, { rt_route: "GET /ok", classification: "failure" }),
      0,
    );
    const actual = await at(
      "front",
      `sum(increase(route_actual_response_total${routeLabels}[${WF}])) by (rt_route, dst, classification)`,
    );
    assert.equal(
      rounded(actual, {
        rt_route: "GET /fail",
        dst: WEB,
        classification: "failure",
      }),
      N_FAIL,
    );
    checkQuantiles(
      "latencyRoutes",
      await quantiles(
        "front",
        "route_response_latency_ms_bucket",
        `{deployment="front", direction="outbound", dst=~"(${FQN})(:\\\\d+)?", namespace="front-ns", rt_route="GET /ok"}`,
        "dst, rt_route",
      ),
    );

    // viz authz deploy/back: requests, allows and denials by server, route, authorization.
    const by =
      "route_kind, route_name, authz_kind, authz_name, srv_kind, srv_name";
    const authzReq = await at(
      "back",
      `sum(increase(response_total${inboundLabels}[${W}])) by (${by}, classification, tls)`,
    );
    report.authz = authzReq.map((r) => [r.metric, r.value[1]]);
    const authzRows = authzReq.filter((r) =>
      r.metric.classification === "success" && Number(r.value[1]) > 0.5
    );
    assert.equal(authzRows.length, 1, "one authorization served the traffic");
    const authzRow = authzRows[0]!.metric;
    for (const k of by.split(", ")) {
      assert.ok(authzRow[k], `${k} is set`);
    }
    assert.equal(Math.round(Number(authzRows[0]!.value[1])), N_OK);
    const { classification: _c, tls: _t, ...authzKey } = authzRow;
    const allow = await at(
      "back",
      `sum(increase(inbound_http_authz_allow_total{deployment="back", namespace="back-ns"}[${W}])) by (${by})`,
    );
    assert.equal(rounded(allow, authzKey), N_OK + N_FAIL);
    const deny = await at(
      "back",
      `sum(increase(inbound_http_authz_deny_total{deployment="back", namespace="back-ns"}[${W}])) by (${by})`,
    );
    report.deny = deny.map((r) => [r.metric, r.value[1]]);
    assert.equal(
      rounded(deny, {
        srv_kind: authzKey.srv_kind!,
        srv_name: authzKey.srv_name!,
      }),
      N_DENY,
    );
    console.log(`  ${JSON.stringify(report)}`);
  } finally {
    await prom?.[Symbol.asyncDispose]();
    await client.close();
    await server.close();
    await cp.close();
    await app.close();
  }
});
