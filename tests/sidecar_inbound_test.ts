/**
 * Petrel as a real sidecar, inbound (issue 17): the "app" namespace is the
 * server pod (`petrel init` redirects its inbound TCP to 4143; Petrel runs
 * as its own uid with the variables linkerd2's injector sets in
 * `charts/partials/templates/_proxy.tpl`; the apps listen on loopback), the
 * "remote" namespace is a client pod whose own Petrel (explicit proxy, by
 * name) speaks mTLS to the server pod's IP and container ports. Clients are
 * real programs (curl, a python TCP client); certificates come from
 * `support/certs.ts`.
 */
import assert from "node:assert/strict";
import { makePki } from "./support/certs.ts";
import { Pod, podSkipReason, PROXY_UID, REPO_DIR } from "./support/pod.ts";
import { PYTHON, type RunResult } from "./support/proc.ts";

const skip = await podSkipReason();
if (skip !== undefined) {
  console.warn(`sidecar_inbound_test.ts skipped: ${skip}`);
}

const SERVER_ID = "web.test.serviceaccount.identity.linkerd.cluster.local";
const CLIENT_ID = "client.test.serviceaccount.identity.linkerd.cluster.local";
/** The chart's default opaque ports. */
const OPAQUE_PORTS = "25,587,3306,4444,5432,6379,9300,11211";

interface Served {
  servedBy: string;
  headers: Record<string, string>;
}

function served(r: RunResult): Served {
  assert.equal(r.code, 0, `client failed: ${r.stderr}`);
  return JSON.parse(r.stdout) as Served;
}

Deno.test({
  name:
    "sidecar inbound: redirected connections reach the app port they were sent to, with mTLS identities and per-port policy",
  ignore: skip !== undefined,
}, async (t) => {
  await using pki = await makePki();
  await using pod = await Pod.create();
  const podIp = pod.appIp;
  // The Petrel uid reads the identity files.
  const serverDir = await pki.identityDir(await pki.issue(SERVER_ID), "server");
  const clientDir = await pki.identityDir(await pki.issue(CLIENT_ID), "client");
  for (const d of [pki.dir, serverDir]) await Deno.chmod(d, 0o755);
  for (const f of ["tls.crt", "tls.key", "ca.crt"]) {
    await Deno.chmod(`${serverDir}/${f}`, 0o644).catch(() => {});
  }
  await pod.init(["--proxy-uid", String(PROXY_UID)]);
  // The server pod's containers: two HTTP ports, a server-first protocol on
  // an opaque port, and a port that requires an identity.
  await pod.startPeer(pod.app, Deno.execPath(), [
    "run",
    "-A",
    `${REPO_DIR}tests/support/pod_remote.ts`,
    JSON.stringify([
      { kind: "http", host: "127.0.0.1", port: 8080 },
      { kind: "http", host: "127.0.0.1", port: 8081 },
      { kind: "banner", host: "127.0.0.1", port: 3306 },
      { kind: "http", host: "127.0.0.1", port: 7000 },
    ]),
  ], { cwd: REPO_DIR });
  const server = await pod.startPetrel("services: []\n", {
    // As the injector sets them (ports, policy, identity).
    LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "[::]:4143",
    LINKERD2_PROXY_INBOUND_PORTS: "8080,8081,3306,7000",
    LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION: OPAQUE_PORTS,
    LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY: "7000",
    LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_TLS: "",
    LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: "all-unauthenticated",
    LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS: "10.0.0.0/8,fd00::/8",
    LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT: "100ms",
    LINKERD2_PROXY_INBOUND_ACCEPT_KEEPALIVE: "10000ms",
    LINKERD2_PROXY_IDENTITY_DIR: serverDir,
    LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS: pki.anchorPem,
    LINKERD2_PROXY_IDENTITY_LOCAL_NAME: SERVER_ID,
    LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: "127.0.0.1:4140,[::1]:4140",
  });
  // The client pod's Petrel: names → the server pod's IP and ports, mTLS.
  const clientYaml = await Deno.makeTempFile({ suffix: ".yaml" });
  await Deno.writeTextFile(
    clientYaml,
    `identity: { dir: ${clientDir} }
services:
${
      [8080, 8081, 7000].map((p) =>
        `  - name: web-${p}.test:80
    protocol: http1
    identity: ${SERVER_ID}
    endpoints: ["${podIp}:${p}"]`
      ).join("\n")
    }
`,
  );
  try {
    await pod.startPeer(pod.remote, Deno.execPath(), [
      "run",
      "-A",
      `${REPO_DIR}main.ts`,
      "--config",
      clientYaml,
    ], {
      cwd: REPO_DIR,
      env: {
        NO_COLOR: "1",
        LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:4140",
        LINKERD2_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:4191",
        LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "1s",
        LINKERD2_PROXY_LOG: "warn",
      },
    });
    const viaClientPetrel = (name: string, path = "/") =>
      pod.run(pod.remote, "curl", [
        "-sS",
        "-m",
        "10",
        "-x",
        "http://127.0.0.1:4140",
        `http://${name}${path}`,
      ]);
    const direct = (port: number, path = "/") =>
      pod.run(pod.remote, "curl", [
        "-sS",
        "-m",
        "10",
        "--noproxy",
        "*",
        "-o",
        "/dev/stdout",
        "-w",
        "\n%{http_code}",
        `http://${podIp}:${port}${path}`,
      ]);

    await t.step(
      "a client pod's request to the pod IP and container port reaches the app through mTLS with l5d-client-id",
      async () => {
        const body = served(await viaClientPetrel("web-8080.test", "/hello"));
        assert.equal(body.servedBy, "127.0.0.1:8080");
        assert.equal(body.headers["l5d-client-id"], CLIENT_ID);
        const m = await server.admin("/metrics");
        assert.match(
          m,
          new RegExp(
            `inbound_http_authz_allow_total\\{[^}]*target_addr="${podIp}:8080"[^}]*srv_name="all-unauthenticated"[^}]*tls="true",client_id="${CLIENT_ID}"`,
          ),
        );
      },
    );

    await t.step(
      "a second container port reaches the second app port",
      async () => {
        const body = served(await viaClientPetrel("web-8081.test"));
        assert.equal(body.servedBy, "127.0.0.1:8081");
        assert.equal(body.headers["l5d-client-id"], CLIENT_ID);
      },
    );

    await t.step(
      "a kubelet-style plaintext probe from outside the mesh is served by the app, without an identity",
      async () => {
        const r = await direct(8080, "/ready");
        assert.equal(r.code, 0, r.stderr);
        const [json = "", code] = r.stdout.split("\n");
        assert.equal(code, "200");
        const body = JSON.parse(json) as Served;
        assert.equal(body.servedBy, "127.0.0.1:8080");
        assert.equal(body.headers["l5d-client-id"], undefined);
      },
    );

    await t.step(
      "an opaque port carries a server-first protocol at once",
      async () => {
        const r = await pod.run(pod.remote, PYTHON, [
          `${REPO_DIR}tests/support/pod_tcp_client.py`,
          "banner",
          podIp,
          "3306",
        ]);
        assert.equal(r.code, 0, r.stderr);
        const got = JSON.parse(r.stdout) as {
          banner: string;
          elapsedMs: number;
          echo: string;
        };
        assert.equal(got.banner, "220 127.0.0.1:3306");
        assert.ok(got.elapsedMs < 2000, `banner after ${got.elapsedMs} ms`);
        assert.equal(got.echo, "ping\n");
      },
    );

    await t.step(
      "a require-identity port refuses plaintext and serves an mTLS client",
      async () => {
        const r = await direct(7000);
        assert.equal(r.code, 0, r.stderr);
        assert.equal(r.stdout.split("\n").at(-1), "403");
        const body = served(await viaClientPetrel("web-7000.test"));
        assert.equal(body.servedBy, "127.0.0.1:7000");
        assert.equal(body.headers["l5d-client-id"], CLIENT_ID);
      },
    );
  } finally {
    await Deno.remove(clientYaml).catch(() => {});
  }
});
