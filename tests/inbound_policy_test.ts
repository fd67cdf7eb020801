/**
 * linkerd's inbound policy API end to end: a test policy controller
 * (grpc-js from `proto/inbound.proto`, `support/policy_server.ts`) serves
 * `InboundServerPolicies.WatchPort`; Petrel's inbound, started with the
 * injector's variables, authorizes real clients over loopback. Clients
 * come from 127.0.0.2 / 127.0.0.3 (not 127.0.0.1, which linkerd's
 * `localhost` authorization always admits), over plaintext or mTLS with
 * certificates from `support/certs.ts`.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import { startHttpBackend } from "./support/backend.ts";
import { type Leaf, makePki, type TestPki } from "./support/certs.ts";
import { startPetrel, type TestPetrel } from "./support/petrel.ts";
import {
  authz,
  httpRoute,
  networks,
  rateLimit,
  server,
  startPolicyServer,
  startPythonPolicyServer,
  type TestPolicyServer,
} from "./support/policy_server.ts";

/** The two controllers: grpc-js, and python grpcio generated from the same proto. */
type Impl = "grpc-js" | "python";

const SERVER_ID = "server.test.serviceaccount.identity.linkerd.cluster.local";
const ALICE = "alice.test.serviceaccount.identity.linkerd.cluster.local";
const BOB = "bob.test.serviceaccount.identity.linkerd.cluster.local";

interface Reply {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** One HTTP/1.1 request from `from` (a loopback source), plaintext or mTLS with `leaf`. */
function request(
  port: number,
  path: string,
  opts: { from?: string; leaf?: Leaf; pki?: TestPki } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const raw = net.connect({
      host: "127.0.0.1",
      port,
      localAddress: opts.from ?? "127.0.0.2",
    });
    let socket: net.Socket = raw;
    const send = () =>
      socket.write(
        `GET ${path} HTTP/1.1\r\nHost: app.test\r\nConnection: close\r\n\r\n`,
      );
    if (opts.leaf !== undefined) {
      socket = tls.connect({
        socket: raw,
        servername: SERVER_ID,
        ca: opts.pki!.anchorPem,
        cert: opts.leaf.certPem,
        key: opts.leaf.keyPem,
        checkServerIdentity: () => undefined,
      });
      socket.once("secureConnect", send);
    } else raw.once("connect", send);
    const chunks: Buffer[] = [];
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error("no response in 10 s"));
    }, 10_000);
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    socket.on("end", () => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString();
      const [head = "", ...rest] = text.split("\r\n\r\n");
      const [statusLine = "", ...lines] = head.split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({
        status: Number(statusLine.split(" ")[1]),
        headers,
        body: rest.join("\r\n\r\n"),
      });
    });
  });
}

function metric(
  text: string,
  name: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    if (
      Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))
    ) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

async function waitFor(what: string, cond: () => Promise<boolean> | boolean) {
  const deadline = Date.now() + 10_000;
  while (!(await cond())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

interface Fixture extends AsyncDisposable {
  pki: TestPki;
  ps: TestPolicyServer;
  petrel: TestPetrel;
  appPort: number;
  port: number;
  alice: Leaf;
  bob: Leaf;
  metrics(): Promise<string>;
}

/** The server side: an app, the policy controller, Petrel with the injected env. */
async function fixture(
  initial: (appPort: number) => Record<string, unknown>,
  impl: Impl = "grpc-js",
): Promise<Fixture> {
  const pki = await makePki();
  const app = await startHttpBackend();
  const ps = impl === "grpc-js"
    ? await startPolicyServer()
    : await startPythonPolicyServer();
  ps.set(app.port, initial(app.port));
  const dir = await pki.identityDir(await pki.issue(SERVER_ID));
  const petrel = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port} }
services: []
`,
    {
      LINKERD2_PROXY_DESTINATION_SVC_ADDR: ps.addr,
      LINKERD2_PROXY_POLICY_SVC_ADDR: ps.addr,
      LINKERD2_PROXY_POLICY_WORKLOAD: '{"ns":"test", "pod":"server-0"}',
      LINKERD2_PROXY_INBOUND_PORTS: String(app.port),
    },
  );
  const port = petrel.app.inbound!.port;
  // The policy is watched from the start (INBOUND_PORTS).
  await waitFor("the WatchPort stream", () => ps.streams > 0);
  const close = async () => {
    await petrel.close();
    await ps.close();
    await app.close();
    await pki.close();
  };
  return {
    pki,
    ps,
    petrel,
    appPort: app.port,
    port,
    alice: await pki.issue(ALICE),
    bob: await pki.issue(BOB),
    metrics: () => petrel.app.metrics.render(),
    [Symbol.asyncDispose]: close,
  };
}

Deno.test("inbound policy: the audit default policy allows everything and counts it under authz_name=audit", async () => {
  const app = await startHttpBackend();
  const petrel = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port} }
services: []
`,
    { LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: "audit" },
  );
  try {
    const port = petrel.app.inbound!.port;
    for (let i = 0; i < 3; i++) {
      assert.equal(
        (await request(port, "/", { from: "127.0.0.2" })).status,
        200,
      );
    }
    const m = await petrel.app.metrics.render();
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", {
        srv_kind: "default",
        srv_name: "audit",
        authz_kind: "default",
        authz_name: "audit",
      }),
      3,
    );
    assert.equal(metric(m, "inbound_http_authz_deny_total"), 0);
  } finally {
    await petrel.close();
    await app.close();
  }
});

function suite(impl: Impl): void {
  Deno.test(`inbound policy (${impl}): a Server with a MeshTLSAuthentication admits one identity and denies another (403, counted)`, async () => {
    await using f = await fixture((_port) =>
      server("web", {
        authorizations: [authz("alice-only", { identities: [ALICE] })],
      }), impl);
    assert.deepEqual(f.ps.requests, [
      `{"ns":"test", "pod":"server-0"} ${f.appPort}`,
    ]);
    await waitFor(
      "the first policy",
      async () =>
        (await request(f.port, "/headers", { leaf: f.bob, pki: f.pki }))
          .status === 403,
    );
    const ok = await request(f.port, "/headers", { leaf: f.alice, pki: f.pki });
    assert.equal(ok.status, 200, JSON.stringify(ok));
    assert.equal(JSON.parse(ok.body)["l5d-client-id"], ALICE);
    const denied = await request(f.port, "/headers", {
      leaf: f.bob,
      pki: f.pki,
    });
    assert.equal(denied.status, 403);
    assert.equal(
      denied.headers["l5d-proxy-error"],
      "unauthorized request on route",
    );
    const plain = await request(f.port, "/headers");
    assert.equal(plain.status, 403, "plaintext from a non-local address");
    const local = await request(f.port, "/headers", { from: "127.0.0.1" });
    assert.equal(local.status, 200, "linkerd's localhost authorization");
    const m = await f.metrics();
    const srv = {
      srv_kind: "server",
      srv_name: "web",
      srv_port: String(f.appPort),
    };
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", {
        ...srv,
        authz_kind: "AuthorizationPolicy",
        authz_name: "alice-only",
        tls: "true",
        client_id: ALICE,
      }),
      1,
    );
    assert.ok(
      metric(m, "inbound_http_authz_deny_total", {
        ...srv,
        route_kind: "default",
        client_id: BOB,
      }) >= 2,
    );
    assert.equal(
      metric(m, "inbound_http_authz_deny_total", {
        ...srv,
        tls: "no_identity",
      }),
      1,
    );
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", {
        ...srv,
        authz_name: "localhost",
      }),
      1,
    );
  });

  Deno.test(`inbound policy (${impl}): a NetworkAuthentication admits clients by CIDR, with exceptions`, async () => {
    await using f = await fixture((_port) =>
      server("net", {
        authorizations: [
          authz(
            "loopback-two",
            { unauthenticated: true },
            networks({ net: "127.0.0.0/24", except: ["127.0.0.3/32"] }),
          ),
        ],
      }), impl);
    await waitFor(
      "the first policy",
      async () =>
        (await request(f.port, "/", { from: "127.0.0.3" })).status === 403,
    );
    assert.equal(
      (await request(f.port, "/", { from: "127.0.0.2" })).status,
      200,
    );
    assert.equal(
      (await request(f.port, "/", { from: "127.0.1.2" })).status,
      403,
    );
    const m = await f.metrics();
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", {
        authz_name: "loopback-two",
      }),
      1,
    );
  });

  Deno.test(`inbound policy (${impl}): an inbound HTTPRoute authorizes only /public`, async () => {
    await using f = await fixture((_port) =>
      server("web", {
        authorizations: [],
        httpRoutes: [
          httpRoute("public", "/public", [
            authz("anyone", { unauthenticated: true }),
          ]),
          httpRoute("private", "/"),
        ],
      }), impl);
    await waitFor(
      "the first policy",
      async () => (await request(f.port, "/public/a")).status === 200,
    );
    assert.equal((await request(f.port, "/private")).status, 403);
    assert.equal((await request(f.port, "/")).status, 403);
    const m = await f.metrics();
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", {
        route_kind: "HTTPRoute",
        route_name: "public",
      }) >= 1,
      true,
    );
    assert.equal(
      metric(m, "inbound_http_authz_deny_total", { route_name: "private" }),
      2,
    );
  });

  Deno.test(`inbound policy (${impl}): an update applies to new requests and fails no request in flight`, async () => {
    await using f = await fixture(
      (_port) =>
        server("web", {
          authorizations: [authz("all", { unauthenticated: true })],
        }),
      impl,
    );
    await waitFor(
      "the first policy",
      async () => (await request(f.port, "/")).status === 200,
    );
    // A slow request in flight while the policy turns to deny-all.
    let slowDone = false;
    const slow = request(f.port, "/slow?ms=1500").finally(() =>
      slowDone = true
    );
    await new Promise((r) => setTimeout(r, 100));
    f.ps.set(f.appPort, server("web", { authorizations: [] }));
    await waitFor(
      "the update",
      async () => (await request(f.port, "/")).status === 403,
    );
    assert.equal(
      slowDone,
      false,
      "the update landed while the request was in flight",
    );
    const s = await slow;
    assert.equal(s.status, 200, "the in-flight request finishes");
    assert.match(s.body, /slow/);
    if (impl === "python") return;
    // A broken stream reconnects; the last policy stays in force meanwhile.
    f.ps.breakStreams();
    assert.equal((await request(f.port, "/")).status, 403);
    await waitFor("the reconnect", () => f.ps.streams > 0);
    f.ps.set(
      f.appPort,
      server("web", {
        authorizations: [authz("all", { unauthenticated: true })],
      }),
    );
    await waitFor(
      "the second update",
      async () => (await request(f.port, "/")).status === 200,
    );
  });

  Deno.test(`inbound policy (${impl}): a rate limit of N req/s under 3N req/s refuses the expected share with 429`, async () => {
    const N = 20;
    await using f = await fixture(
      () =>
        server("web", {
          authorizations: [authz("all", { unauthenticated: true })],
          rateLimit: rateLimit("rl", { total: N }),
        }),
      impl,
    );
    await waitFor("the first policy", async () => {
      const m = await f.metrics();
      const r = await request(f.port, "/");
      return r.status === 200 &&
        metric(m, "inbound_http_authz_allow_total", { authz_name: "all" }) >= 0;
    });
    // Let the bucket refill after the probe.
    await new Promise((r) => setTimeout(r, 1100));
    const total = 3 * N * 3; // 3 s at 3N req/s
    const start = performance.now();
    const statuses: number[] = [];
    const pending: Promise<void>[] = [];
    for (let i = 0; i < total; i++) {
      const due = start + (i * 1000) / (3 * N);
      const wait = due - performance.now();
      if (wait > 0) await new Promise((r) => setTimeout(r, wait));
      pending.push(
        request(f.port, "/").then((r) => void statuses.push(r.status)),
      );
    }
    await Promise.all(pending);
    const elapsedS = (performance.now() - start) / 1000;
    const limited = statuses.filter((s) => s === 429).length;
    assert.equal(statuses.filter((s) => s !== 429 && s !== 200).length, 0);
    // GCRA with a burst of N: N at once, then N per second.
    const allowed = Math.min(total, N + N * elapsedS);
    const expected = 1 - allowed / total;
    const share = limited / total;
    console.log(
      `rate limit ${N}/s, ${total} requests in ${
        elapsedS.toFixed(2)
      } s: 429 share ${share.toFixed(3)}, expected ${expected.toFixed(3)}`,
    );
    assert.ok(
      Math.abs(share - expected) <= 0.1,
      `429 share ${share} vs ${expected}`,
    );
    const m = await f.metrics();
    assert.equal(
      metric(m, "inbound_http_local_ratelimit_total", {
        ratelimit_kind: "HTTPLocalRateLimitPolicy",
        ratelimit_name: "rl",
        ratelimit_scope: "total",
      }),
      limited,
    );
    const one = await request(f.port, "/");
    if (one.status === 429) {
      assert.equal(
        one.headers["l5d-proxy-error"],
        `total rate limit exceeded: ${N}rps`,
      );
    }
  });

  Deno.test(`inbound policy (${impl}): an opaque Server closes unauthorized connections and forwards authorized ones, counted per connection`, async () => {
    await using f = await fixture((_port) =>
      server("db", {
        protocol: "opaque",
        authorizations: [
          authz("two", { unauthenticated: true }, networks("127.0.0.2/32")),
        ],
      }), impl);
    const exchange = (from: string) =>
      new Promise<string>((resolve) => {
        const s = net.connect({
          host: "127.0.0.1",
          port: f.port,
          localAddress: from,
        });
        let got = "";
        s.on("data", (d) => got += d);
        s.on("error", () => {});
        s.on("close", () => resolve(got));
        s.on("connect", () =>
          s.end("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"));
      });
    await waitFor(
      "the opaque policy",
      async () =>
        metric(await f.metrics(), "inbound_tcp_authz_deny_total") > 0 ||
        (await exchange("127.0.0.3")) === "" &&
          metric(await f.metrics(), "inbound_tcp_authz_deny_total") > 0,
    );
    assert.match(
      await exchange("127.0.0.2"),
      /^HTTP\/1\.1 200/,
      "bytes forwarded as they are",
    );
    assert.equal(await exchange("127.0.0.3"), "", "closed");
    const m = await f.metrics();
    assert.ok(
      metric(m, "inbound_tcp_authz_allow_total", {
        srv_name: "db",
        authz_name: "two",
      }) >= 1,
    );
    assert.ok(
      metric(m, "inbound_tcp_authz_deny_total", {
        srv_name: "db",
        tls: "no_identity",
      }) >= 2,
    );
    assert.equal(
      metric(m, "inbound_http_authz_allow_total", { srv_name: "db" }),
      0,
      "no HTTP detection",
    );
  });
}

suite("grpc-js");
suite("python");
