import assert from "node:assert/strict";
import type { ServiceConfig } from "./config.ts";
import { parseConfigYaml } from "./yaml.ts";

function service(yaml: string): ServiceConfig {
  const cfg = parseConfigYaml(yaml, "r.yaml");
  assert.equal(cfg.services.length, 1);
  return cfg.services[0]!;
}

const HEAD = "services:\n  - name: web.test:8080\n    endpoints: []\n";

Deno.test("parseConfigYaml() reads an HTTP route with every field", () => {
  const svc = service(`${HEAD}    routes:
      - name: api
        hostnames: [Web.Test, "*.example.com"]
        matches:
          - path: { prefix: /api }
            headers:
              - { name: X-User, exact: alice }
              - { name: x-id, regex: "[0-9]+" }
            queryParams: [{ name: debug, exact: 1 }]
            method: GET
          - path: { regex: "/v[0-9]+/.*" }
        filters:
          - requestHeaderModifier: { add: { x-a: "1" }, set: { X-B: 2 }, remove: [X-C] }
          - responseHeaderModifier: { set: { x-served-by: petrel } }
          - requestRedirect: { scheme: https, hostname: Other.Test, port: 8443, path: { replaceFullPath: /v2 }, statusCode: 302 }
          - failureInjector: { status: 503, message: chaos, ratio: 0.25 }
        backends:
          - web.test:8080
          - { name: Canary.Test:8080, weight: 10, filters: [{ requestHeaderModifier: { set: { x-canary: "yes" } } }] }
        timeouts: { request: 10s, response: 1s, idle: 1m }
        retry: { limit: 2, statuses: [5xx, gateway-error, 429, "500-504"], timeout: 200ms, maxRequestBytes: 1024, backoff: { min: 10ms, max: 1s, jitter: 0.5 } }
`);
  assert.deepEqual(svc.routes, {
    kind: "http",
    routes: [{
      ref: { kind: "default", name: "api" },
      hosts: [
        { kind: "exact", host: "web.test" },
        { kind: "suffix", reverseLabels: ["com", "example"] },
      ],
      rules: [{
        matches: [
          {
            path: { kind: "prefix", value: "/api" },
            headers: [
              { name: "x-user", kind: "exact", value: "alice" },
              { name: "x-id", kind: "regex", value: "[0-9]+" },
            ],
            queryParams: [{ name: "debug", kind: "exact", value: "1" }],
            method: "GET",
          },
          {
            path: { kind: "regex", value: "/v[0-9]+/.*" },
            headers: [],
            queryParams: [],
          },
        ],
        filters: [
          {
            kind: "requestHeaderModifier",
            add: [{ name: "x-a", value: "1" }],
            set: [{ name: "x-b", value: "2" }],
            remove: ["x-c"],
          },
          {
            kind: "responseHeaderModifier",
            add: [],
            set: [{ name: "x-served-by", value: "petrel" }],
            remove: [],
          },
          {
            kind: "requestRedirect",
            scheme: "https",
            host: "other.test",
            port: 8443,
            path: { kind: "full", value: "/v2" },
            status: 302,
          },
          {
            kind: "failureInjector",
            status: 503,
            message: "chaos",
            ratio: { numerator: 250_000, denominator: 1_000_000 },
          },
        ],
        backends: {
          kind: "randomAvailable",
          backends: [
            {
              backend: {
                ref: { kind: "default", name: "web.test:8080" },
                dispatch: { kind: "balance", authority: "web.test:8080" },
              },
              filters: [],
              weight: 1,
            },
            {
              backend: {
                ref: { kind: "default", name: "canary.test:8080" },
                dispatch: { kind: "balance", authority: "canary.test:8080" },
              },
              filters: [{
                kind: "requestHeaderModifier",
                add: [],
                set: [{ name: "x-canary", value: "yes" }],
                remove: [],
              }],
              weight: 10,
            },
          ],
        },
        timeouts: { requestMs: 10_000, responseMs: 1_000, idleMs: 60_000 },
        allowL5dRequestHeaders: false,
        retry: {
          maxRetries: 2,
          maxRequestBytes: 1024,
          backoff: { minMs: 10, maxMs: 1000, jitter: 0.5 },
          timeoutMs: 200,
          statusRanges: [
            { start: 500, end: 599 },
            { start: 502, end: 504 },
            { start: 429, end: 429 },
            { start: 500, end: 504 },
          ],
        },
      }],
    }],
  });
});

Deno.test("parseConfigYaml() route defaults: the service itself, linkerd's retry defaults", () => {
  const svc = service(`${HEAD}    routes:
      - matches: [{ path: { exact: /health } }]
        retry: {}
      - {}
`);
  assert.deepEqual(svc.routes, {
    kind: "http",
    routes: [0, 1].map((i) => ({
      ref: { kind: "default", name: `route-${i}` },
      hosts: [],
      rules: [{
        matches: i === 0
          ? [{
            path: { kind: "exact", value: "/health" },
            headers: [],
            queryParams: [],
          }]
          : [],
        filters: [],
        backends: {
          kind: "firstAvailable",
          backends: [{
            backend: {
              ref: { kind: "default", name: "web.test:8080" },
              dispatch: { kind: "balance", authority: "web.test:8080" },
            },
            filters: [],
          }],
        },
        timeouts: {},
        allowL5dRequestHeaders: false,
        ...(i === 0
          ? {
            retry: {
              maxRetries: 1,
              maxRequestBytes: 65_536,
              backoff: { minMs: 25, maxMs: 250, jitter: 1 },
              statusRanges: [],
            },
          }
          : {}),
      }],
    })),
  });
  assert.equal(service(HEAD).routes, undefined, "no routes: none");
  assert.equal(service(`${HEAD}    routes: []\n`).routes, undefined);
});

Deno.test("parseConfigYaml() reads gRPC routes", () => {
  const svc = service(`${HEAD}    protocol: http2
    routes:
      - kind: grpc
        hostnames: [web.test]
        matches:
          - method: { service: pkg.Echo, method: Unary }
            headers: [{ name: x-tenant, exact: a }]
          - method: { service: pkg.Echo }
          - {}
        filters:
          - requestHeaderModifier: { set: { x-grpc: "1" } }
          - failureInjector: { code: 14, ratio: { numerator: 1, denominator: 3 } }
        retry: { codes: [unavailable, cancelled, unavailable], limit: 3 }
`);
  assert.deepEqual(svc.routes, {
    kind: "grpc",
    routes: [{
      ref: { kind: "default", name: "route-0" },
      hosts: [{ kind: "exact", host: "web.test" }],
      rules: [{
        matches: [
          {
            rpc: { service: "pkg.Echo", method: "Unary" },
            headers: [{ name: "x-tenant", kind: "exact", value: "a" }],
          },
          { rpc: { service: "pkg.Echo" }, headers: [] },
          { headers: [] },
        ],
        filters: [
          {
            kind: "requestHeaderModifier",
            add: [],
            set: [{ name: "x-grpc", value: "1" }],
            remove: [],
          },
          {
            kind: "failureInjector",
            code: 14,
            message: "injected failure",
            ratio: { numerator: 1, denominator: 3 },
          },
        ],
        backends: {
          kind: "firstAvailable",
          backends: [{
            backend: {
              ref: { kind: "default", name: "web.test:8080" },
              dispatch: { kind: "balance", authority: "web.test:8080" },
            },
            filters: [],
          }],
        },
        timeouts: {},
        allowL5dRequestHeaders: false,
        retry: {
          maxRetries: 3,
          maxRequestBytes: 65_536,
          backoff: { minMs: 25, maxMs: 250, jitter: 1 },
          codes: [14, 1],
        },
      }],
    }],
  });
});

Deno.test("parseConfigYaml() reads failureAccrual with linkerd's defaults", () => {
  assert.deepEqual(
    service(`${HEAD}    failureAccrual: { kind: consecutive }\n`)
      .failureAccrual,
    {
      kind: "consecutive",
      maxFailures: 7,
      minPenaltyMs: 1000,
      maxPenaltyMs: 60_000,
      jitter: 0.5,
    },
  );
  assert.deepEqual(
    service(
      `${HEAD}    failureAccrual: { maxFailures: 3, minPenalty: 100ms, maxPenalty: 2s, jitter: 0 }\n`,
    ).failureAccrual,
    {
      kind: "consecutive",
      maxFailures: 3,
      minPenaltyMs: 100,
      maxPenaltyMs: 2000,
      jitter: 0,
    },
  );
  assert.equal(service(HEAD).failureAccrual, undefined);
});

/** [what, routes YAML (indented under `routes:`), expected error class, expected message]. */
const BAD_ROUTES: readonly [string, string, string, string][] = [
  [
    "bad path regex names the exact path",
    '      - {}\n      - {}\n      - matches:\n          - path: { regex: "/a(" }\n',
    "TypeError",
    'r.yaml:8:28: services[0].routes[2].matches[0].path.regex: Cannot parse regex: current value is "/a("',
  ],
  [
    "two path kinds",
    "      - matches: [{ path: { exact: /a, prefix: /a } }]\n",
    "TypeError",
    "r.yaml:5:27: services[0].routes[0].matches[0].path: Expected exactly one of: exact, prefix, regex (got exact, prefix)",
  ],
  [
    "a relative path",
    "      - matches: [{ path: { prefix: api } }]\n",
    "TypeError",
    'r.yaml:5:37: services[0].routes[0].matches[0].path.prefix: Cannot parse path: current value is "api"',
  ],
  [
    "a header match without a value",
    "      - matches: [{ headers: [{ name: x-a }] }]\n",
    "TypeError",
    "r.yaml:5:31: services[0].routes[0].matches[0].headers[0]: Expected exactly one of: exact, regex",
  ],
  [
    "a bad header name",
    "      - matches: [{ headers: [{ name: 'x a', exact: b }] }]\n",
    "TypeError",
    'r.yaml:5:39: services[0].routes[0].matches[0].headers[0].name: Cannot parse header name: current value is "x a"',
  ],
  [
    "a lower-case registered method",
    "      - matches: [{ method: get }]\n",
    "TypeError",
    'r.yaml:5:29: services[0].routes[0].matches[0].method: Cannot parse method: current value is "get" (methods are case-sensitive: write "GET")',
  ],
  [
    "an IP hostname",
    "      - hostnames: [10.0.0.1]\n",
    "TypeError",
    'r.yaml:5:21: services[0].routes[0].hostnames[0]: Cannot parse hostname: current value is "10.0.0.1"',
  ],
  [
    "unknown route field",
    "      - match: []\n",
    "TypeError",
    'r.yaml:5:9: services[0].routes[0].match: Unknown field "match"',
  ],
  [
    "unknown route kind",
    "      - kind: tcp\n",
    "TypeError",
    'r.yaml:5:15: services[0].routes[0].kind: Cannot parse route kind: current value is "tcp" (expected "http" or "grpc")',
  ],
  [
    "mixed route kinds",
    "      - {}\n      - kind: grpc\n",
    "TypeError",
    "r.yaml:6:15: services[0].routes[1].kind: Cannot mix http and grpc routes in one service",
  ],
  [
    "duplicate route names",
    "      - name: a\n      - name: a\n",
    "TypeError",
    'r.yaml:6:15: services[0].routes[1].name: Duplicate route name "a" (first defined at line 5, services[0].routes[0].name)',
  ],
  [
    "a filter with two kinds",
    "      - filters: [{ failureInjector: { status: 500 }, requestHeaderModifier: {} }]\n",
    "TypeError",
    "r.yaml:5:19: services[0].routes[0].filters[0]: Expected exactly one of: requestHeaderModifier, responseHeaderModifier, requestRedirect, failureInjector (got requestHeaderModifier, failureInjector)",
  ],
  [
    "a gRPC route cannot redirect",
    "      - kind: grpc\n        filters: [{ requestRedirect: {} }]\n",
    "TypeError",
    'r.yaml:6:21: services[0].routes[0].filters[0].requestRedirect: Unknown field "requestRedirect" (expected one of: requestHeaderModifier, failureInjector)',
  ],
  [
    "an HTTP failure injector needs a status",
    "      - filters: [{ failureInjector: { ratio: 0.5 } }]\n",
    "TypeError",
    'r.yaml:5:38: services[0].routes[0].filters[0].failureInjector: Missing required field "status"',
  ],
  [
    "a gRPC failure injector needs a code",
    "      - kind: grpc\n        filters: [{ failureInjector: { status: 500 } }]\n",
    "TypeError",
    'r.yaml:6:40: services[0].routes[0].filters[0].failureInjector.status: Unknown field "status"',
  ],
  [
    "a status out of range",
    "      - filters: [{ failureInjector: { status: 700 } }]\n",
    "RangeError",
    'r.yaml:5:48: services[0].routes[0].filters[0].failureInjector.status: Cannot parse status: current value is "700" (expected 100–599)',
  ],
  [
    "a ratio above 1",
    "      - filters: [{ failureInjector: { status: 500, ratio: 2 } }]\n",
    "RangeError",
    'r.yaml:5:60: services[0].routes[0].filters[0].failureInjector.ratio: Cannot parse ratio: current value is "2"',
  ],
  [
    "a ratio with a zero denominator",
    "      - filters: [{ failureInjector: { status: 500, ratio: { numerator: 1, denominator: 0 } } }]\n",
    "RangeError",
    'r.yaml:5:60: services[0].routes[0].filters[0].failureInjector.ratio: Cannot parse ratio: current value is "1/0"',
  ],
  [
    "a redirect status that is not 3xx",
    "      - filters: [{ requestRedirect: { statusCode: 200 } }]\n",
    "RangeError",
    'r.yaml:5:52: services[0].routes[0].filters[0].requestRedirect.statusCode: Cannot parse statusCode: current value is "200" (expected 300–399)',
  ],
  [
    "a prefix replacement after an exact match",
    "      - matches: [{ path: { exact: /a } }]\n        filters: [{ requestRedirect: { path: { replacePrefixMatch: /b } } }]\n",
    "TypeError",
    "r.yaml:6:68: services[0].routes[0].filters[0].requestRedirect.path.replacePrefixMatch: Cannot replace a path prefix: matches[0] does not match by path prefix",
  ],
  [
    "an empty backend list",
    "      - backends: []\n",
    "TypeError",
    "r.yaml:5:19: services[0].routes[0].backends: Expected at least one backend",
  ],
  [
    "every backend weight 0",
    "      - backends: [{ name: a.test, weight: 0 }]\n",
    "RangeError",
    "r.yaml:5:19: services[0].routes[0].backends: Cannot route: every backend has weight 0",
  ],
  [
    "a duplicate backend",
    "      - backends: [a.test, A.test:80]\n",
    "TypeError",
    'r.yaml:5:28: services[0].routes[0].backends[1]: Duplicate backend "a.test:80" (first defined at line 5, services[0].routes[0].backends[0])',
  ],
  [
    "a bad backend name",
    "      - backends: ['not a name']\n",
    "TypeError",
    'r.yaml:5:20: services[0].routes[0].backends[0]: Cannot parse service name: current value is "not a name"',
  ],
  [
    "a response timeout above the request timeout",
    "      - timeouts: { request: 1s, response: 2s }\n",
    "RangeError",
    "r.yaml:5:44: services[0].routes[0].timeouts.response: Cannot parse timeouts: response must not exceed request",
  ],
  [
    "a bad timeout",
    "      - timeouts: { request: soon }\n",
    "TypeError",
    'r.yaml:5:30: services[0].routes[0].timeouts.request: Cannot parse duration: current value is "soon"',
  ],
  [
    "a bad retry status",
    "      - retry: { statuses: [5xx, 600] }\n",
    "RangeError",
    'r.yaml:5:34: services[0].routes[0].retry.statuses[1]: Cannot parse status range: current value is "600"',
  ],
  [
    "a reversed retry status range",
    '      - retry: { statuses: ["504-500"] }\n',
    "RangeError",
    'r.yaml:5:29: services[0].routes[0].retry.statuses[0]: Cannot parse status range: current value is "504-500"',
  ],
  [
    "an unknown gRPC retry code",
    "      - kind: grpc\n        retry: { codes: [unknown] }\n",
    "TypeError",
    'r.yaml:6:26: services[0].routes[0].retry.codes[0]: Cannot parse gRPC retry code: current value is "unknown"',
  ],
  [
    "HTTP statuses on a gRPC route",
    "      - kind: grpc\n        retry: { statuses: [5xx] }\n",
    "TypeError",
    'r.yaml:6:18: services[0].routes[0].retry.statuses: Unknown field "statuses"',
  ],
  [
    "a retry limit too large",
    "      - retry: { limit: 70000 }\n",
    "RangeError",
    'r.yaml:5:25: services[0].routes[0].retry.limit: Cannot parse limit: current value is "70000"',
  ],
  [
    "a gRPC method match with a slash",
    "      - kind: grpc\n        matches: [{ method: { service: a/b } }]\n",
    "TypeError",
    'r.yaml:6:40: services[0].routes[0].matches[0].method.service: Cannot parse gRPC name: current value is "a/b"',
  ],
];

for (const [what, routes, type, message] of BAD_ROUTES) {
  Deno.test(`parseConfigYaml() names the route field: ${what}`, () => {
    assert.throws(
      () => parseConfigYaml(`${HEAD}    routes:\n${routes}`, "r.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.equal(err.name, type, err.message);
        assert.ok(
          err.message.startsWith(message),
          `got:  ${err.message}\nwant: ${message}`,
        );
        return true;
      },
    );
  });
}

/** [what, failureAccrual YAML, expected message start]. */
const BAD_ACCRUAL: readonly [string, string, string][] = [
  [
    "unknown kind",
    "{ kind: unified }",
    'r.yaml:4:29: services[0].failureAccrual.kind: Cannot parse failure accrual kind: current value is "unified"',
  ],
  [
    "min above max",
    "{ minPenalty: 2s, maxPenalty: 1s }",
    "r.yaml:4:21: services[0].failureAccrual: Cannot parse failureAccrual: minPenalty must not exceed maxPenalty",
  ],
  [
    "jitter above 1",
    "{ jitter: 1.5 }",
    'r.yaml:4:31: services[0].failureAccrual.jitter: Cannot parse jitter: current value is "1.5"',
  ],
  [
    "unknown field",
    "{ maxFailure: 1 }",
    'r.yaml:4:23: services[0].failureAccrual.maxFailure: Unknown field "maxFailure"',
  ],
];

for (const [what, accrual, message] of BAD_ACCRUAL) {
  Deno.test(`parseConfigYaml() names the failureAccrual field: ${what}`, () => {
    assert.throws(
      () =>
        parseConfigYaml(`${HEAD}    failureAccrual: ${accrual}\n`, "r.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(
          err.message.startsWith(message),
          `got:  ${err.message}\nwant: ${message}`,
        );
        return true;
      },
    );
  });
}

Deno.test("parseConfigYaml() retry.nonIdempotent opts a route in to retrying any method", () => {
  const svc = service(`${HEAD}    routes:
      - retry: { statuses: [5xx], nonIdempotent: true }
      - retry: { statuses: [5xx] }
`);
  const retry = (i: number) =>
    (svc.routes!.routes[i]!.rules[0] as { retry?: { nonIdempotent?: boolean } })
      .retry;
  assert.equal(retry(0)?.nonIdempotent, true);
  assert.equal(retry(1)?.nonIdempotent, undefined);
  assert.throws(
    () =>
      service(
        `${HEAD}    routes:\n      - retry: { nonIdempotent: yes please }\n`,
      ),
    /nonIdempotent/,
  );
});

Deno.test("parseConfigYaml() retryBudget per service, with linkerd's defaults and ttl range", () => {
  const svc = service(`${HEAD}    retryBudget: { ratio: 0.1, ttl: 5s }
    routes:
      - retry: { statuses: [5xx] }
`);
  assert.deepEqual(svc.routes!.retryBudget, {
    ratio: 0.1,
    minPerSecond: 10,
    ttlMs: 5000,
  });
  assert.equal(
    service(`${HEAD}    routes: [{}]\n`).routes!.retryBudget,
    undefined,
  );
  assert.throws(
    () => service(`${HEAD}    retryBudget: { ttl: 2m }\n    routes: [{}]\n`),
    /r\.yaml:4:\d+: services\[0\]\.retryBudget: Cannot parse retryBudget: ttl must be between 1s and 60s/,
  );
  assert.throws(
    () => service(`${HEAD}    retryBudget: {}\n`),
    /services\[0\]\.retryBudget: Cannot use retryBudget/,
  );
});
