/**
 * An OutboundPolicies controller sending policies laid out as upstream's
 * linkerd2-proxy-api (opaque and TLS routes, `Queue`, `EjectionConfig`,
 * `BalanceP2c.PeakEwma` at upstream's levels), encoded by grpc-js /
 * proto-loader from `proto/`: Petrel keeps serving the HTTP routes. The
 * same files compile with protoc (grpc_tools), every message sits at
 * upstream's full name, and python protobuf reads the bytes grpc-js wrote.
 */
import assert from "node:assert/strict";
import { OUTBOUND_POLICIES_SERVICE, rpcMethod } from "../src/api/proto.ts";
import { startHttpBackend } from "./support/backend.ts";
import { startControlPlane } from "./support/control_plane.ts";
import { runPython } from "./support/proc.ts";
import { httpRequest, startPetrel, waitFor } from "./support/petrel.ts";

const WEB = "web.test:8080";
const V2 = "web-v2.test:8080";
const dur = (s: number) => ({ seconds: s, nanos: 0 });
const backend = (path: string) => ({
  backend: {
    balancer: {
      discovery: { dst: { path } },
      peak_ewma: { default_rtt: { seconds: 0, nanos: 30e6 }, decay: dur(10) },
    },
    queue: { capacity: 100, failfast_timeout: dur(3) },
  },
});
const opaqueRoutes = (path: string) => ({
  routes: [{
    metadata: { default: "opaq" },
    rules: [{
      backends: { first_available: { backends: [backend(path)] } },
      filters: [{ forbidden: {} }],
    }],
  }],
});

Deno.test("outbound policy: opaque and TLS routes at upstream's layout parse; Petrel serves the HTTP routes", async () => {
  const b1 = await startHttpBackend();
  const b2 = await startHttpBackend();
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [{ addr: `127.0.0.1:${b1.port}` }]);
  cp.setEndpoints(V2, [{ addr: `127.0.0.1:${b2.port}` }]);
  const http1 = (v2: boolean) => ({
    routes: [{
      metadata: { default: "web" },
      rules: [
        ...(v2
          ? [{
            matches: [{ path: { prefix: "/v2" } }],
            backends: { first_available: { backends: [backend(V2)] } },
          }]
          : []),
        { backends: { first_available: { backends: [backend(WEB)] } } },
      ],
    }],
    failure_accrual: {
      consecutive_failures: {
        max_failures: 7,
        backoff: { min_backoff: dur(1), max_backoff: dur(60) },
      },
      ejection: { min_ready_endpoints: 1 },
    },
  });
  cp.setPolicy(WEB, {
    metadata: { default: WEB },
    protocol: {
      detect: {
        timeout: dur(10),
        opaque: opaqueRoutes(WEB),
        http1: http1(true),
      },
    },
  });
  cp.setPolicy(V2, {
    protocol: {
      tls: {
        routes: [{
          ...opaqueRoutes(V2).routes[0],
          snis: [{ suffix: { reverse_labels: ["test"] } }],
        }],
      },
    },
  });
  const petrel = await startPetrel(
    "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\nservices: []\n",
    {
      LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
      LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
      LINKERD2_PROXY_POLICY_SVC_ADDR: cp.addr,
      LINKERD2_PROXY_POLICY_WORKLOAD: '{"ns":"test","pod":"p"}',
    },
  );
  try {
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, WEB, "/v2/x")).body === b2.name,
      "the /v2 route of the detect policy",
      5_000,
    );
    assert.equal((await httpRequest(petrel.port, WEB, "/")).body, b1.name);
    // An update with the same opaque routes: the new HTTP table applies.
    cp.setPolicy(WEB, {
      protocol: {
        detect: {
          timeout: dur(10),
          opaque: opaqueRoutes(WEB),
          http1: http1(false),
        },
      },
    });
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, WEB, "/v2/x")).body === b1.name,
      "the updated policy",
      5_000,
    );
  } finally {
    await petrel.close();
    await cp.close();
    await Promise.all([b1, b2].map((b) => b.close()));
  }
});

Deno.test("outbound policy: protoc compiles proto/ with upstream's full names; python protobuf reads grpc-js's opaque/TLS routes, Queue, PenaltyPeakEwma and EjectionConfig", async () => {
  const names = await runPython("outbound_py.py", ["--names"]);
  assert.equal(names.code, 0, names.stderr);
  const all = new Set(JSON.parse(names.stdout) as string[]);
  for (
    const n of [
      "io.linkerd.proxy.outbound.Queue",
      "io.linkerd.proxy.outbound.EjectionConfig",
      "io.linkerd.proxy.outbound.Backend.BalanceP2c.PeakEwma",
      "io.linkerd.proxy.outbound.Backend.BalanceP2c.PenaltyPeakEwma",
      "io.linkerd.proxy.outbound.OpaqueRoute.RouteBackend",
      "io.linkerd.proxy.outbound.TlsRoute.Distribution.RandomAvailable",
      "io.linkerd.proxy.opaque_route.Invalid",
      "io.linkerd.proxy.opaque_route.Forbidden",
      "io.linkerd.proxy.tls_route.SniMatch.Suffix",
    ]
  ) assert.ok(all.has(n), n);
  for (
    const n of [
      "io.linkerd.proxy.outbound.Backend.Queue",
      "io.linkerd.proxy.outbound.Backend.PeakEwma",
      "io.linkerd.proxy.outbound.FailureAccrual.EjectionConfig",
    ]
  ) assert.ok(!all.has(n), n);

  const watch = rpcMethod(OUTBOUND_POLICIES_SERVICE, "Watch");
  const hex = (m: Record<string, unknown>) =>
    Array.from(
      watch.responseSerialize(m) as Uint8Array,
      (b) => b.toString(16).padStart(2, "0"),
    ).join("");
  const be = {
    backend: {
      balancer: {
        discovery: { dst: { path: WEB } },
        penalty_peak_ewma: { default_rtt: dur(1), penalty: dur(2) },
      },
      queue: { capacity: 55, failfast_timeout: dur(3) },
    },
  };
  const rule = {
    backends: { random_available: { backends: [{ backend: be, weight: 3 }] } },
    filters: [{ invalid: { message: "nope" } }],
  };
  const out = await runPython("outbound_py.py", [], {
    stdin: [
      hex({
        protocol: {
          detect: {
            timeout: dur(10),
            opaque: { routes: [{ rules: [rule] }] },
            http1: {
              routes: [],
              failure_accrual: { ejection: { min_ready_endpoints: 4 } },
            },
          },
        },
      }),
      hex({
        protocol: {
          tls: {
            routes: [{
              snis: [{ suffix: { reverse_labels: ["test", "web"] } }],
              rules: [rule],
            }],
          },
        },
      }),
    ].join("\n") + "\n",
  });
  assert.equal(out.code, 0, out.stderr);
  const [detect, tls] = out.stdout.trim().split("\n").map((l) =>
    // deno-lint-ignore no-explicit-any
    JSON.parse(l) as any
  );
  const opaqRule = detect.protocol.detect.opaque.routes[0].rules[0];
  assert.equal(opaqRule.filters[0].invalid.message, "nope");
  const rb = opaqRule.backends.random_available.backends[0];
  assert.equal(rb.weight, 3);
  assert.equal(rb.backend.backend.queue.capacity, 55);
  assert.equal(rb.backend.backend.balancer.penalty_peak_ewma.penalty, "2s");
  assert.equal(
    detect.protocol.detect.http1.failure_accrual.ejection.min_ready_endpoints,
    4,
  );
  assert.deepEqual(tls.protocol.tls.routes[0].snis, [{
    suffix: { reverse_labels: ["test", "web"] },
  }]);
});
