/**
 * Petrel driven by a Linkerd control plane over real sockets (linkerd
 * `app/integration` `controller` tests): a grpc-js test control plane built
 * from Petrel's own `proto/` files adds and removes endpoints while load
 * runs, goes away and comes back, and changes a service profile; a python
 * grpcio Destination server generated from the same files drives Petrel
 * too; the Identity service signs Petrel's CSR and renews it.
 *
 * One load at a time, 8 concurrent requests for a second or two.
 */
import assert from "node:assert/strict";
import { createPrivateKey, X509Certificate } from "node:crypto";
import { join } from "node:path";
import { controlChannel, PROTO_DIR } from "../src/api/proto.ts";
import { IdentityCertifier } from "../src/identity_client/certify.ts";
import {
  type Backend,
  startH2Backend,
  startHttpBackend,
} from "./support/backend.ts";
import {
  makeTestCa,
  serverCertificate,
  startControlPlane,
  type TestEndpoint,
} from "./support/control_plane.ts";
import { startPythonPeer } from "./support/proc.ts";
import {
  httpRequest,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const YAML =
  "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\nservices: []\n";
const WEB = "web.test:8080";
const ep = (b: Backend, extra: Partial<TestEndpoint> = {}): TestEndpoint => ({
  addr: `127.0.0.1:${b.port}`,
  ...extra,
});

/** Petrel with its Destination (and policy) service at `cp`. */
function petrelFor(
  cp: { addr: string },
  env: Record<string, string> = {},
): Promise<TestPetrel> {
  return startPetrel(YAML, {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
    ...env,
  });
}

/**
 * `concurrency` workers sending GETs to `authority` back to back (a fresh
 * connection each) until stopped; counts answers by backend (the body of
 * the backends' default route) and keeps every failure.
 */
function load(petrel: TestPetrel, authority: string, concurrency = 8) {
  const byBody = new Map<string, number>();
  const failures: string[] = [];
  let stopped = false;
  let ok = 0;
  const worker = async () => {
    while (!stopped) {
      try {
        const r = await httpRequest(petrel.port, authority, "/");
        if (r.status === 200) {
          ok++;
          byBody.set(r.body, (byBody.get(r.body) ?? 0) + 1);
        } else {
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
    byBody,
    get ok() {
      return ok;
    },
    async stop() {
      stopped = true;
      await done;
    },
  };
}

/** The backends that answer `n` fresh requests to `authority`. */
async function servedBy(
  petrel: TestPetrel,
  authority: string,
  n = 12,
  path = "/",
): Promise<Set<string>> {
  const seen = new Set<string>();
  for (let i = 0; i < n; i++) {
    const r = await httpRequest(petrel.port, authority, path);
    assert.equal(r.status, 200, `${r.status} ${r.headers["l5d-proxy-error"]}`);
    seen.add(r.body);
  }
  return seen;
}

Deno.test("control plane: endpoints added and removed while load runs, zero failed requests", async () => {
  const [b1, b2, b3] = await Promise.all([
    startHttpBackend(),
    startHttpBackend(),
    startHttpBackend(),
  ]);
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [ep(b1)]);
  const petrel = await petrelFor(cp);
  try {
    assert.deepEqual(await servedBy(petrel, WEB, 3), new Set([b1.name]));
    const l = load(petrel, WEB);
    const steps = [
      [b1, b2],
      [b1, b2, b3],
      [b2, b3],
      [b3],
      [b1, b3],
    ];
    for (const step of steps) {
      await sleep(300);
      cp.setEndpoints(WEB, step.map((b) => ep(b)));
    }
    await sleep(300);
    await l.stop();
    console.log(
      `  ${l.ok} requests during 5 endpoint changes, ${l.failures.length} failed; by backend: ${
        JSON.stringify(Object.fromEntries(l.byBody))
      }`,
    );
    assert.deepEqual(l.failures, []);
    for (const b of [b1, b2, b3]) assert.ok((l.byBody.get(b.name) ?? 0) > 0);
    // The last set is in force: b2 was removed.
    const after = b2.requests;
    const last = await servedBy(petrel, WEB, 16);
    assert.ok(!last.has(b2.name), [...last].join());
    assert.equal(b2.requests, after);
    assert.equal(cp.getRequests[0]?.path, WEB);
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1, b2, b3].map((b) => b.close()));
  }
});

Deno.test("control plane: goes away and comes back; traffic keeps flowing on the last known endpoints", async () => {
  const [b1, b2, b3] = await Promise.all([
    startHttpBackend(),
    startHttpBackend(),
    startHttpBackend(),
  ]);
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [ep(b1), ep(b2)]);
  const petrel = await petrelFor(cp);
  try {
    await servedBy(petrel, WEB, 2);
    const l = load(petrel, WEB);
    await sleep(300);
    await cp.stop();
    const before = l.ok;
    await sleep(1_000);
    const whileDown = l.ok - before;
    // While it is away, the set changes: b3 replaces b1 and b2.
    cp.setEndpoints(WEB, [ep(b3)]);
    const gets = cp.getRequests.length;
    await cp.restart();
    const restartedAt = performance.now();
    // The first add after the reconnect replaces the stale set.
    await waitFor(
      () => {
        const n = l.byBody.get(b3.name) ?? 0;
        return n > 0;
      },
      "traffic on b3 after the control plane came back",
      8_000,
    );
    const switchMs = Math.round(performance.now() - restartedAt);
    const b1Before = b1.requests;
    const b2Before = b2.requests;
    await sleep(300);
    await l.stop();
    console.log(
      `  ${l.ok} requests, ${whileDown} in the 1 s the control plane was down, ${l.failures.length} failed; new endpoints in use ${switchMs} ms after it came back`,
    );
    assert.deepEqual(l.failures, []);
    assert.ok(whileDown > 0, "no traffic while the control plane was down");
    assert.ok(cp.getRequests.length > gets, "Petrel did not reconnect");
    // Only requests in flight at the switch may still land on b1/b2.
    assert.ok(b1.requests + b2.requests - b1Before - b2Before <= 8);
    assert.deepEqual(await servedBy(petrel, WEB, 8), new Set([b3.name]));
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1, b2, b3].map((b) => b.close()));
  }
});

/** A backend whose `/flaky` fails every other request and `/slow` answers after 1 s. */
function flakyBackend(): Promise<Backend> {
  let flaky = 0;
  return startHttpBackend(async (req, ctx) => {
    if (req.path === "/flaky") {
      flaky++;
      return { status: flaky % 2 === 1 ? 500 : 200, body: ctx.name };
    }
    if (req.path === "/slow") {
      await sleep(1_000);
      return { status: 200, body: ctx.name };
    }
    return undefined;
  });
}

const BUDGET = {
  retry_ratio: 0.2,
  min_retries_per_second: 10,
  ttl: { seconds: 10 },
};

Deno.test("control plane: a profile's routes, split and retry policy change and apply to new requests", async () => {
  const b1 = await flakyBackend();
  const b2 = await startHttpBackend();
  const cp = await startControlPlane();
  const V2 = "web-v2.test:8080";
  cp.setEndpoints(WEB, [ep(b1)]);
  cp.setEndpoints(V2, [ep(b2)]);
  // v1: a route, not retryable, no split.
  cp.setProfile(WEB, {
    routes: [{
      condition: { path: { regex: "/flaky" } },
      metrics_labels: { route: "flaky" },
      is_retryable: false,
    }],
    retry_budget: BUDGET,
  });
  const petrel = await petrelFor(cp);
  try {
    const statuses = async (path: string, n: number) => {
      const out: number[] = [];
      for (let i = 0; i < n; i++) {
        out.push((await httpRequest(petrel.port, WEB, path)).status);
      }
      return out;
    };
    assert.deepEqual(await statuses("/flaky", 4), [500, 200, 500, 200]);
    assert.deepEqual(await servedBy(petrel, WEB, 4), new Set([b1.name]));

    // v2: the route becomes retryable with a 300 ms timeout on /slow.
    cp.setProfile(WEB, {
      routes: [
        {
          condition: { path: { regex: "/flaky" } },
          is_retryable: true,
          response_classes: [{
            condition: { status: { min: 500, max: 599 } },
            is_failure: true,
          }],
        },
        {
          condition: { path: { regex: "/slow" } },
          timeout: { seconds: 0, nanos: 300_000_000 },
        },
      ],
      retry_budget: BUDGET,
    });
    const before = b1.requests;
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, WEB, "/flaky")).status === 200 &&
        (await httpRequest(petrel.port, WEB, "/flaky")).status === 200,
      "the retryable route",
      3_000,
    );
    const sent = 10;
    const base = b1.requests;
    assert.deepEqual(await statuses("/flaky", sent), Array(sent).fill(200));
    const attempts = b1.requests - base;
    console.log(
      `  retryable route: ${sent} requests, all 200, ${attempts} attempts at the backend (${
        b1.requests - before
      } since the change)`,
    );
    assert.equal(attempts, 2 * sent, "each request retried once");
    const t0 = performance.now();
    const slow = await httpRequest(petrel.port, WEB, "/slow");
    const tookMs = performance.now() - t0;
    assert.equal(slow.status, 504);
    assert.ok(tookMs < 900, `the route timeout took ${tookMs} ms`);

    // v3: a traffic split sends every new request to web-v2.
    cp.setProfile(WEB, {
      dst_overrides: [{ authority: V2, weight: 10_000 }],
      retry_budget: BUDGET,
    });
    await waitFor(
      async () => (await httpRequest(petrel.port, WEB, "/")).body === b2.name,
      "the split to web-v2",
      3_000,
    );
    assert.deepEqual(await servedBy(petrel, WEB, 6), new Set([b2.name]));
    assert.ok(cp.profileRequests.some((r) => r.path === WEB));
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1, b2].map((b) => b.close()));
  }
});

Deno.test("control plane: an OutboundPolicies route table routes and modifies requests; an update replaces it", async () => {
  const b1 = await startHttpBackend((req, ctx) =>
    req.path.startsWith("/echo-header")
      ? { status: 200, body: `${ctx.name} ${req.header("x-policy") ?? "-"}` }
      : undefined
  );
  const b2 = await startHttpBackend();
  const cp = await startControlPlane();
  const V2 = "web-v2.test:8080";
  cp.setEndpoints(WEB, [ep(b1)]);
  cp.setEndpoints(V2, [ep(b2)]);
  const balancer = (path: string) => ({
    backend: { balancer: { discovery: { dst: { path } } } },
  });
  cp.setPolicy(WEB, {
    metadata: { default: WEB },
    protocol: {
      http1: {
        routes: [{
          metadata: { default: "web" },
          rules: [
            {
              matches: [{ path: { prefix: "/v2" } }],
              backends: { first_available: { backends: [balancer(V2)] } },
            },
            {
              matches: [{ path: { prefix: "/" } }],
              filters: [{
                request_header_modifier: {
                  set: {
                    headers: [{
                      name: "x-policy",
                      value: new TextEncoder().encode("on"),
                    }],
                  },
                },
              }],
              backends: { first_available: { backends: [balancer(WEB)] } },
            },
          ],
        }],
      },
    },
  });
  const petrel = await petrelFor(cp, {
    LINKERD2_PROXY_POLICY_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_POLICY_WORKLOAD: '{"ns":"test","pod":"p"}',
  });
  try {
    const r = await httpRequest(petrel.port, WEB, "/echo-header");
    assert.equal(r.body, `${b1.name} on`);
    assert.equal((await httpRequest(petrel.port, WEB, "/v2/x")).body, b2.name);
    assert.equal(cp.policyRequests[0]?.authority, WEB);
    assert.equal(
      cp.policyRequests[0]?.source_workload,
      '{"ns":"test","pod":"p"}',
    );
    // An update replaces the table for new requests: /v2 is gone.
    cp.setPolicy(WEB, {
      protocol: {
        http1: {
          routes: [{
            rules: [{
              backends: { first_available: { backends: [balancer(WEB)] } },
            }],
          }],
        },
      },
    });
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, WEB, "/v2/x")).body === b1.name,
      "the new policy",
      3_000,
    );
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1, b2].map((b) => b.close()));
  }
});

Deno.test("control plane: a python grpcio Destination server generated from proto/ drives Petrel", async () => {
  const h2 = await startH2Backend();
  const h1 = await startHttpBackend();
  const tmp = await Deno.makeTempDir({ prefix: "petrel-dst-py-" });
  const scriptFile = join(tmp, "script.json");
  await Deno.writeTextFile(
    scriptFile,
    JSON.stringify({
      [WEB]: [
        // a meshed endpoint: HTTP/2 upstream (the backend speaks only h2c)
        { after_ms: 0, add: [{ addr: `127.0.0.1:${h2.port}`, h2: true }] },
        // then it is replaced by a plain HTTP/1 one
        {
          after_ms: 800,
          add: [{ addr: `127.0.0.1:${h1.port}` }],
          remove: [`127.0.0.1:${h2.port}`],
        },
      ],
    }),
  );
  const py = await startPythonPeer("destination_py.py", [
    "--proto",
    PROTO_DIR,
    "--out",
    join(tmp, "gen"),
    "--script",
    scriptFile,
  ], { startTimeoutMs: 20_000 });
  const petrel = await petrelFor({ addr: `127.0.0.1:${py.port}` }, {
    LINKERD2_PROXY_DESTINATION_CONTEXT: '{"ns":"test"}',
  });
  try {
    const first = await httpRequest(petrel.port, WEB, "/");
    assert.equal(first.status, 200, first.headers["l5d-proxy-error"] ?? "");
    assert.equal(first.body, h2.name);
    await waitFor(
      async () => (await httpRequest(petrel.port, WEB, "/")).body === h1.name,
      "the update from the python server",
      5_000,
    );
    assert.deepEqual(await servedBy(petrel, WEB, 4), new Set([h1.name]));
    // A name the python server does not know falls back to DNS: unresolved.
    const unknown = await httpRequest(petrel.port, "nowhere.invalid:80", "/");
    assert.equal(unknown.status, 502);
    const gets = py.stdoutLines().map((l) => JSON.parse(l));
    assert.deepEqual(gets[0], { get: WEB, context: '{"ns":"test"}' });
  } finally {
    await petrel.close();
    await py.stop();
    await Promise.all([h2.close(), h1.close()]);
    await Deno.remove(tmp, { recursive: true });
  }
});

Deno.test("control plane: names it does not serve fall back to the YAML file; idle watches are dropped", async () => {
  const b1 = await startHttpBackend();
  const b2 = await startHttpBackend();
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [ep(b1)]);
  const yaml = YAML.replace(
    "services: []\n",
    `services:\n  - name: local.test:80\n    endpoints: [127.0.0.1:${b2.port}]\n`,
  );
  const petrel = await startPetrel(yaml, {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_OUTBOUND_DISCOVERY_IDLE_TIMEOUT: "300ms",
  });
  try {
    assert.equal((await httpRequest(petrel.port, WEB, "/")).body, b1.name);
    // Rejected (InvalidArgument) by the control plane: the file serves it.
    assert.equal(
      (await httpRequest(petrel.port, "local.test", "/")).body,
      b2.name,
    );
    assert.ok(cp.getRequests.some((r) => r.path === "local.test:80"));
    assert.equal(cp.openStreams(WEB), 1);
    await waitFor(
      () => cp.openStreams(WEB) === 0,
      "the idle Destination.Get stream to be dropped",
      5_000,
    );
    // A new request opens a new watch.
    assert.equal((await httpRequest(petrel.port, WEB, "/")).body, b1.name);
    assert.equal(cp.openStreams(WEB), 1);
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1.close(), b2.close()]);
  }
});

Deno.test("control plane: Identity.Certify signs Petrel's CSR; the certificate carries the identity and is renewed before expiry", async () => {
  const ca = await makeTestCa();
  const cp = await startControlPlane({ ca, certLifetimeMs: 3_000 });
  const tmp = await Deno.makeTempDir({ prefix: "petrel-identity-" });
  const dir = join(tmp, "id");
  const tokenFile = join(tmp, "token");
  const name = "web.test.serviceaccount.identity.linkerd.cluster.local";
  await Deno.writeTextFile(tokenFile, "wrong-token");
  const petrel = await startPetrel(YAML, {
    LINKERD2_PROXY_IDENTITY_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_IDENTITY_SVC_NAME:
      "identity.linkerd.serviceaccount.identity.linkerd.cluster.local",
    LINKERD2_PROXY_IDENTITY_TOKEN_FILE: tokenFile,
    LINKERD2_PROXY_IDENTITY_LOCAL_NAME: name,
    LINKERD2_PROXY_IDENTITY_DIR: dir,
    LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS: ca.certPem,
    LINKERD2_PROXY_IDENTITY_MIN_REFRESH: "200ms",
  });
  const ready = async () =>
    (await httpRequest(petrel.adminPort, "localhost", "/ready")).status;
  try {
    // The identity service refuses the token: not ready.
    await waitFor(() => cp.certifyRequests.length >= 1, "a Certify call");
    assert.equal(await ready(), 503);
    await Deno.writeTextFile(tokenFile, "test-token");
    await waitFor(async () => (await ready()) === 200, "/ready", 5_000);

    const certFile = join(dir, "tls.crt");
    const first = new X509Certificate(await Deno.readTextFile(certFile));
    assert.equal(first.subjectAltName, `DNS:${name}`);
    assert.ok(first.checkIssued(new X509Certificate(ca.certPem)));
    assert.ok(first.verify(new X509Certificate(ca.certPem).publicKey));
    const key = await Deno.readTextFile(join(dir, "tls.key"));
    assert.ok(first.checkPrivateKey(createPrivateKey(key)));
    assert.equal(await Deno.readTextFile(join(dir, "ca.crt")), ca.certPem);
    const req = cp.certifyRequests.at(-1)!;
    assert.equal(req.identity, name);
    assert.equal(new TextDecoder().decode(req.token), "test-token");
    // The TLS layer loaded it.
    await waitFor(
      () => petrel.app.identity?.current?.serial === first.serialNumber,
      "the TLS layer to load the certificate",
      3_000,
    );

    // 3 s of validity: renewed at 70 % of it, well before expiry.
    const expiresAt = Date.parse(first.validTo);
    let renewed: X509Certificate | undefined;
    await waitFor(
      async () => {
        const c = new X509Certificate(await Deno.readTextFile(certFile));
        if (c.serialNumber !== first.serialNumber) renewed = c;
        return renewed !== undefined;
      },
      "a renewed certificate",
      5_000,
    );
    const renewedAt = Date.now();
    console.log(
      `  renewed ${
        expiresAt - renewedAt
      } ms before the first certificate expired`,
    );
    assert.ok(renewedAt < expiresAt, "renewed after expiry");
    assert.equal(renewed!.subjectAltName, `DNS:${name}`);
    assert.ok(renewed!.checkPrivateKey(createPrivateKey(key)), "same key");
    // linkerd reuses its CSR for every renewal.
    const csrs = cp.certifyRequests.map((r) =>
      new TextDecoder().decode(r.certificate_signing_request)
    );
    assert.equal(new Set(csrs).size, 1);
    assert.equal(await ready(), 200);
  } finally {
    await petrel.close();
    await cp.close();
    await ca.close();
    await Deno.remove(tmp, { recursive: true });
  }
});

const IDENTITY_SVC =
  "linkerd-identity.linkerd.serviceaccount.identity.linkerd.cluster.local";

Deno.test({
  name:
    "control plane: the identity service is reached over TLS, verified against the trust anchors and its name",
  async fn() {
    const ca = await makeTestCa();
    const cp = await startControlPlane({
      ca,
      tls: await serverCertificate(ca, IDENTITY_SVC),
    });
    const tmp = await Deno.makeTempDir({ prefix: "petrel-identity-tls-" });
    const tokenFile = join(tmp, "token");
    await Deno.writeTextFile(tokenFile, "test-token");
    const certify = async (svcName: string) => {
      const certifier = new IdentityCertifier({
        addr: cp.addr,
        localName: "web.test.serviceaccount.identity.linkerd.cluster.local",
        tokenFile,
        dir: join(tmp, svcName),
        ...tlsTo(cp.addr, svcName, ca.certPem),
        minRefreshMs: 60_000,
      });
      try {
        return await Promise.race([
          certifier.ready.then(() => "certified"),
          sleep(1_500).then(() => "not certified"),
        ]);
      } finally {
        await certifier[Symbol.asyncDispose]();
      }
    };
    try {
      assert.equal(await certify(IDENTITY_SVC), "certified");
      const calls = cp.certifyRequests.length;
      assert.equal(
        await certify("someone-else.linkerd.cluster.local"),
        "not certified",
      );
      assert.equal(
        cp.certifyRequests.length,
        calls,
        "no request without a verified server",
      );
    } finally {
      await cp.close();
      await ca.close();
      await Deno.remove(tmp, { recursive: true });
    }
  },
});

function tlsTo(addr: string, name: string, anchors: string) {
  // Loopback control-plane addresses use plaintext, as linkerd's: this
  // test asks for the TLS path on its loopback control plane.
  const c = controlChannel(addr, {
    name,
    trustAnchorsPem: anchors,
    tlsOnLoopback: true,
  });
  return { credentials: c.credentials, channelOptions: c.options };
}
