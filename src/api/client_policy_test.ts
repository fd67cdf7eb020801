import assert from "node:assert/strict";
import { tcpAddressOf } from "./net.ts";
import { clientPolicyOf } from "./client_policy.ts";
import type { OutboundPolicy } from "./outbound.ts";
import { OUTBOUND_POLICIES_SERVICE, rpcMethod } from "./proto.ts";

/** Encodes `policy` as the controller would and decodes it as Petrel does. */
function wire(policy: Record<string, unknown>): OutboundPolicy {
  const watch = rpcMethod(OUTBOUND_POLICIES_SERVICE, "Watch");
  return watch.responseDeserialize(
    watch.responseSerialize(policy),
  ) as OutboundPolicy;
}

const SVC = "web.ns.svc.cluster.local:8080";
const b = (s: string) => new TextEncoder().encode(s);
const dur = (s: number, ms = 0) => ({ seconds: s, nanos: ms * 1e6 });
const parentMeta = {
  resource: {
    group: "core",
    kind: "Service",
    name: "web",
    namespace: "ns",
    port: 8080,
  },
};
const balancer = (path: string) => ({
  balancer: {
    discovery: { dst: { path } },
    peak_ewma: { default_rtt: dur(0, 30), decay: dur(10) },
  },
});

Deno.test("clientPolicyOf() maps the controller's default HTTP policy", () => {
  const policy = wire({
    metadata: parentMeta,
    protocol: {
      detect: {
        timeout: dur(10),
        http1: {
          routes: [{
            metadata: { default: "http" },
            rules: [{
              matches: [{ path: { prefix: "/" } }],
              backends: {
                first_available: {
                  backends: [{
                    backend: { metadata: parentMeta, ...balancer(SVC) },
                  }],
                },
              },
            }],
          }],
        },
        http2: { routes: [] },
      },
    },
  });
  const p = clientPolicyOf(policy, SVC);
  assert.deepEqual(p, {
    parent: {
      kind: "resource",
      group: "core",
      resourceKind: "Service",
      name: "web",
      namespace: "ns",
      port: 8080,
    },
    routes: {
      kind: "http",
      parent: {
        kind: "resource",
        group: "core",
        resourceKind: "Service",
        name: "web",
        namespace: "ns",
        port: 8080,
      },
      routes: [{
        ref: { kind: "default", name: "http" },
        hosts: [],
        rules: [{
          matches: [{
            path: { kind: "prefix", value: "/" },
            headers: [],
            queryParams: [],
          }],
          filters: [],
          backends: {
            kind: "firstAvailable",
            backends: [{
              backend: {
                ref: {
                  kind: "resource",
                  group: "core",
                  resourceKind: "Service",
                  name: "web",
                  namespace: "ns",
                  port: 8080,
                },
                dispatch: { kind: "balance", authority: SVC },
              },
              filters: [],
            }],
          },
          timeouts: {},
          allowL5dRequestHeaders: false,
        }],
      }],
    },
    opaque: false,
  });
});

Deno.test("clientPolicyOf() maps matches, filters, split, retries, timeouts and failure accrual", () => {
  const policy = wire({
    protocol: {
      http1: {
        failure_accrual: {
          consecutive_failures: {
            max_failures: 5,
            backoff: {
              min_backoff: dur(2),
              max_backoff: dur(30),
              jitter_ratio: 0.25,
            },
          },
        },
        routes: [{
          metadata: {
            resource: {
              group: "gateway.networking.k8s.io",
              kind: "HTTPRoute",
              name: "api",
              namespace: "ns",
            },
          },
          hosts: [{ exact: "Web.Example" }, {
            suffix: { reverse_labels: ["example", "web"] },
          }],
          rules: [{
            matches: [{
              path: { regex: "/v[0-9]+/.*" },
              headers: [
                { name: "X-User", exact: new TextEncoder().encode("alice") },
                { name: "x-id", regex: "[0-9]+" },
              ],
              query_params: [{ name: "debug", exact: "1" }],
              method: { registered: "POST" },
            }],
            filters: [
              {
                request_header_modifier: {
                  add: { headers: [{ name: "X-A", value: b("1") }] },
                  set: { headers: [{ name: "x-b", value: b("2") }] },
                  remove: ["X-C"],
                },
              },
              {
                response_header_modifier: {
                  set: { headers: [{ name: "x-s", value: b("p") }] },
                },
              },
              {
                redirect: {
                  scheme: { registered: "HTTPS" },
                  host: "other.example",
                  path: { prefix: "/new" },
                  port: 8443,
                  status: 302,
                },
              },
              {
                failure_injector: {
                  status: 503,
                  message: "chaos",
                  ratio: { numerator: 1, denominator: 10 },
                },
              },
            ],
            backends: {
              random_available: {
                backends: [
                  {
                    weight: 90,
                    backend: { backend: { ...balancer(SVC) } },
                  },
                  {
                    weight: 10,
                    backend: {
                      backend: {
                        metadata: { default: "canary" },
                        ...balancer("web-canary.ns.svc.cluster.local.:8080"),
                      },
                      filters: [{
                        request_header_modifier: {
                          set: {
                            headers: [{ name: "x-canary", value: b("1") }],
                          },
                        },
                      }],
                    },
                  },
                  {
                    weight: 0,
                    backend: {
                      backend: {
                        forward: {
                          addr: tcpAddressOf("10.0.0.9:8080"),
                          weight: 1,
                          tls_identity: {
                            dns_like_identity: {
                              name:
                                "web.ns.serviceaccount.identity.linkerd.cluster.local",
                            },
                          },
                        },
                      },
                    },
                  },
                  { weight: 1, backend: { backend: {} } },
                ],
              },
            },
            timeouts: { request: dur(10), response: dur(2), idle: dur(60) },
            retry: {
              max_retries: 3,
              max_request_bytes: 0,
              conditions: {
                status_ranges: [{ start: 500, end: 599 }, {
                  start: 429,
                  end: 429,
                }],
              },
              timeout: dur(0, 500),
              backoff: {
                min_backoff: dur(0, 25),
                max_backoff: dur(0, 250),
                jitter_ratio: 1,
              },
            },
            allow_l5d_request_headers: true,
          }],
        }],
      },
    },
  });
  const p = clientPolicyOf(policy, SVC);
  assert.deepEqual(p.failureAccrual, {
    kind: "consecutive",
    maxFailures: 5,
    minPenaltyMs: 2000,
    maxPenaltyMs: 30000,
    jitter: 0.25,
  });
  assert.equal(p.routes?.kind, "http");
  const route = p.routes!.routes[0]!;
  assert.deepEqual(route.ref, {
    kind: "resource",
    group: "gateway.networking.k8s.io",
    resourceKind: "HTTPRoute",
    name: "api",
    namespace: "ns",
  });
  assert.deepEqual(route.hosts, [
    { kind: "exact", host: "web.example" },
    { kind: "suffix", reverseLabels: ["example", "web"] },
  ]);
  const rule = route.rules[0]!;
  if (p.routes!.kind !== "http") throw new Error("http routes expected");
  assert.deepEqual(rule.matches, [{
    path: { kind: "regex", value: "/v[0-9]+/.*" },
    headers: [
      { name: "x-user", kind: "exact", value: "alice" },
      { name: "x-id", kind: "regex", value: "[0-9]+" },
    ],
    queryParams: [{ name: "debug", kind: "exact", value: "1" }],
    method: "POST",
  }]);
  assert.deepEqual(rule.filters, [
    {
      kind: "requestHeaderModifier",
      add: [{ name: "x-a", value: "1" }],
      set: [{ name: "x-b", value: "2" }],
      remove: ["x-c"],
    },
    {
      kind: "responseHeaderModifier",
      add: [],
      set: [{ name: "x-s", value: "p" }],
      remove: [],
    },
    {
      kind: "requestRedirect",
      scheme: "https",
      host: "other.example",
      path: { kind: "prefix", value: "/new" },
      port: 8443,
      status: 302,
    },
    {
      kind: "failureInjector",
      status: 503,
      message: "chaos",
      ratio: { numerator: 1, denominator: 10 },
    },
  ]);
  assert.equal(rule.backends.kind, "randomAvailable");
  const backends = rule.backends.kind === "randomAvailable"
    ? rule.backends.backends
    : [];
  assert.deepEqual(backends.map((b) => [b.weight, b.backend.dispatch]), [
    [90, { kind: "balance", authority: SVC }],
    [10, {
      kind: "balance",
      authority: "web-canary.ns.svc.cluster.local:8080",
    }],
    [0, {
      kind: "forward",
      addr: "10.0.0.9:8080",
      identity: "web.ns.serviceaccount.identity.linkerd.cluster.local",
    }],
    [1, { kind: "fail", message: `backend for ${SVC} has no dispatcher` }],
  ]);
  assert.deepEqual(backends[1]!.backend.ref, {
    kind: "default",
    name: "canary",
  });
  assert.deepEqual(backends[1]!.filters, [{
    kind: "requestHeaderModifier",
    add: [],
    set: [{ name: "x-canary", value: "1" }],
    remove: [],
  }]);
  assert.deepEqual(rule.timeouts, {
    requestMs: 10_000,
    responseMs: 2_000,
    idleMs: 60_000,
  });
  assert.deepEqual(rule.retry, {
    maxRetries: 3,
    maxRequestBytes: 65536,
    statusRanges: [{ start: 500, end: 599 }, { start: 429, end: 429 }],
    nonIdempotent: true,
    timeoutMs: 500,
    backoff: { minMs: 25, maxMs: 250, jitter: 1 },
  });
  assert.equal(rule.allowL5dRequestHeaders, true);
});

Deno.test("clientPolicyOf() maps gRPC routes and retry conditions", () => {
  const policy = wire({
    protocol: {
      grpc: {
        routes: [{
          rules: [{
            matches: [
              { rpc: { service: "pkg.Echo", method: "Unary" }, headers: [] },
              { rpc: { service: "pkg.Echo" } },
              {},
            ],
            filters: [{
              failure_injector: { code: 14, message: "down" },
            }],
            backends: {
              first_available: { backends: [{ backend: balancer(SVC) }] },
            },
            requestTimeout: dur(3),
            retry: {
              max_retries: 2,
              conditions: {
                cancelled: true,
                deadine_exceeded: true,
                unavailable: true,
              },
            },
          }],
        }],
      },
    },
  });
  const p = clientPolicyOf(policy, SVC);
  assert.equal(p.routes?.kind, "grpc");
  const rule = p.routes!.routes[0]!.rules[0]!;
  assert.deepEqual(rule.matches, [
    { rpc: { service: "pkg.Echo", method: "Unary" }, headers: [] },
    { rpc: { service: "pkg.Echo" }, headers: [] },
    { headers: [] },
  ]);
  assert.deepEqual(rule.filters, [{
    kind: "failureInjector",
    code: 14,
    message: "down",
    ratio: { numerator: 1, denominator: 1 },
  }]);
  assert.deepEqual(rule.timeouts, { requestMs: 3000 });
  assert.deepEqual(rule.retry, {
    maxRetries: 2,
    maxRequestBytes: 65536,
    codes: [1, 4, 14],
  });
});

Deno.test("clientPolicyOf() rejects invalid policies as linkerd does", () => {
  const bad = (protocol: Record<string, unknown>) => () =>
    clientPolicyOf(wire({ protocol }), SVC);
  const withRule = (rule: Record<string, unknown>) => ({
    http1: { routes: [{ rules: [rule] }] },
  });
  assert.throws(bad({}), /no protocol/);
  assert.throws(
    bad(
      withRule({
        retry: {
          max_retries: 1,
          conditions: { status_ranges: [{ start: 600, end: 700 }] },
        },
      }),
    ),
    RangeError,
  );
  assert.throws(bad(withRule({ retry: { max_retries: 1 } })), /no conditions/);
  assert.throws(bad(withRule({ filters: [{}] })), /no filter/);
  assert.throws(
    bad(withRule({ matches: [{ path: { regex: "(" } }] })),
    SyntaxError,
  );
  assert.throws(
    bad(withRule({ filters: [{ failure_injector: { status: 99 } }] })),
    RangeError,
  );
  assert.deepEqual(clientPolicyOf(wire({ protocol: { opaque: {} } }), SVC), {
    parent: { kind: "default", name: SVC },
    opaque: true,
  });
});

Deno.test("OutboundPolicy at upstream's nesting: opaque and TLS routes, Queue, BalanceP2c.PeakEwma and EjectionConfig parse; the HTTP routes are still served", () => {
  const backend = {
    backend: {
      metadata: parentMeta,
      ...balancer(SVC),
      queue: { capacity: 77, failfast_timeout: dur(3) },
    },
  };
  const opaqueRoute = {
    metadata: { default: "opaq" },
    rules: [{
      backends: { first_available: { backends: [backend] } },
      filters: [{ forbidden: {} }, { invalid: { message: "bad" } }],
    }],
  };
  const policy = wire({
    metadata: parentMeta,
    protocol: {
      detect: {
        timeout: dur(10),
        opaque: { routes: [opaqueRoute] },
        http1: {
          routes: [{
            metadata: { default: "http" },
            rules: [{ backends: { first_available: { backends: [backend] } } }],
          }],
          failure_accrual: {
            consecutive_failures: {
              max_failures: 4,
              backoff: { min_backoff: dur(1), max_backoff: dur(60) },
            },
            ejection: { min_ready_endpoints: 2 },
          },
        },
      },
    },
  });
  const detect = policy.protocol?.detect;
  const opaq = detect?.opaque?.routes[0];
  assert.equal(opaq?.rules[0]?.filters[0]?.kind, "forbidden");
  assert.equal(opaq?.rules[0]?.filters[1]?.invalid?.message, "bad");
  const wireBackend = detect?.http1?.routes[0]?.rules[0]?.backends
    ?.first_available?.backends[0]?.backend as unknown as Record<
      string,
      Record<string, unknown>
    >;
  assert.equal(wireBackend.queue?.capacity, 77);
  assert.deepEqual(
    (wireBackend.balancer?.peak_ewma as Record<string, unknown>).default_rtt,
    { seconds: "0", nanos: 30e6 },
  );
  const fa = detect?.http1?.failure_accrual as unknown as Record<
    string,
    Record<string, unknown>
  >;
  assert.equal(fa.ejection?.min_ready_endpoints, 2);
  const p = clientPolicyOf(policy, SVC);
  assert.equal(p.opaque, false);
  assert.equal(p.routes?.kind, "http");
  assert.equal(p.routes?.routes.length, 1);

  const tls = wire({
    protocol: {
      tls: {
        routes: [{
          ...opaqueRoute,
          snis: [{ exact: "a.example.com" }, {
            suffix: { reverse_labels: ["com", "example"] },
          }],
        }],
      },
    },
  });
  const snis = tls.protocol?.tls?.routes[0]?.snis;
  assert.equal(snis?.[0]?.exact, "a.example.com");
  assert.deepEqual(snis?.[1]?.suffix?.reverse_labels, ["com", "example"]);
  assert.deepEqual(clientPolicyOf(tls, SVC), {
    parent: { kind: "default", name: SVC },
    opaque: true,
  });
});
