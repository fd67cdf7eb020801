import assert from "node:assert/strict";
import { EMBEDDED_CONFIG, EMBEDDED_CONFIG_SOURCE } from "./env.ts";
import { parseConfigYaml } from "./yaml.ts";

Deno.test("parseConfigYaml() parses every field", () => {
  const cfg = parseConfigYaml(
    `
outbound:
  listen: 127.0.0.1:4140
  opaqueTarget: 127.0.0.1:6379
  forwards:
    - { listen: 127.0.0.1:4150, target: Redis.Test:6379 }
    - listen: "[::1]:4151"
      target: 10.0.0.1:5432
  connectTimeout: 2s
  connectBackoff: { min: 10ms, max: 1m, jitter: 0.5 }
  detectTimeout: 0
  http1PoolIdleTimeout: 1m
  maxIdleConnsPerEndpoint: 5
  maxInFlight: 7
  httpQueueCapacity: 9
  httpFailfastTimeout: 1h
  discoveryIdleTimeout: 30s
  disableInformationalHeaders: true
admin: { listen: 0.0.0.0:0, shutdownEnabled: false }
shutdownGracePeriod: 1d
logLevel: debug
services:
  - name: Web.Test
    protocol: http2
    identity: web.ns.serviceaccount.identity.linkerd.cluster.local
    endpoints:
      - 127.0.0.1:9001
      - { addr: "[::1]:9002", identity: other.ns, weight: 3 }
      - backend.test:9003
  - name: api.test:8080
    endpoints: []
`,
    "full.yaml",
  );
  assert.deepEqual(cfg, {
    outbound: {
      listenAddr: "127.0.0.1:4140",
      opaqueTarget: "127.0.0.1:6379",
      forwards: [
        { listenAddr: "127.0.0.1:4150", target: "redis.test:6379" },
        { listenAddr: "[::1]:4151", target: "10.0.0.1:5432" },
      ],
      connectTimeoutMs: 2000,
      connectBackoff: { minMs: 10, maxMs: 60_000, jitter: 0.5 },
      detectTimeoutMs: 0,
      http1PoolIdleTimeoutMs: 60_000,
      maxIdleConnsPerEndpoint: 5,
      maxInFlight: 7,
      httpQueueCapacity: 9,
      httpFailfastTimeoutMs: 3_600_000,
      discoveryIdleTimeoutMs: 30_000,
      disableInformationalHeaders: true,
    },
    admin: { listenAddr: "0.0.0.0:0", shutdownEnabled: false },
    shutdownGracePeriodMs: 86_400_000,
    logLevel: "debug",
    services: [
      {
        name: "web.test:80",
        protocol: "http2",
        identity: "web.ns.serviceaccount.identity.linkerd.cluster.local",
        endpoints: [
          {
            addr: "127.0.0.1:9001",
            host: "127.0.0.1",
            port: 9001,
            identity: "web.ns.serviceaccount.identity.linkerd.cluster.local",
          },
          {
            addr: "[::1]:9002",
            host: "::1",
            port: 9002,
            identity: "other.ns",
            weight: 3,
          },
          {
            addr: "backend.test:9003",
            host: "backend.test",
            port: 9003,
            identity: "web.ns.serviceaccount.identity.linkerd.cluster.local",
          },
        ],
      },
      { name: "api.test:8080", protocol: "http1", endpoints: [] },
    ],
  });
});

Deno.test("parseConfigYaml() accepts an empty file and empty sections", () => {
  assert.deepEqual(parseConfigYaml("", "e.yaml"), { services: [] });
  assert.deepEqual(parseConfigYaml("# nothing\n", "e.yaml"), { services: [] });
  assert.deepEqual(parseConfigYaml("outbound:\nservices:\n", "e.yaml"), {
    outbound: {},
    services: [],
  });
});

Deno.test("parseConfigYaml() resolves anchors and aliases", () => {
  const cfg = parseConfigYaml(
    `
services:
  - name: a.test:80
    endpoints: &eps [127.0.0.1:1, 127.0.0.1:2]
  - name: b.test:80
    endpoints: *eps
`,
    "a.yaml",
  );
  assert.deepEqual(cfg.services[1]?.endpoints.map((e) => e.addr), [
    "127.0.0.1:1",
    "127.0.0.1:2",
  ]);
});

Deno.test("parseConfigYaml() parses the embedded petrel.yaml", () => {
  const cfg = parseConfigYaml(EMBEDDED_CONFIG, EMBEDDED_CONFIG_SOURCE);
  assert.equal(cfg.outbound?.listenAddr, "127.0.0.1:4140");
  assert.equal(cfg.admin?.listenAddr, "127.0.0.1:4191");
  assert.deepEqual(cfg.services, [{
    name: "web.test:8080",
    protocol: "http1",
    endpoints: [
      { addr: "127.0.0.1:9001", host: "127.0.0.1", port: 9001 },
      { addr: "127.0.0.1:9002", host: "127.0.0.1", port: 9002 },
    ],
  }]);
});

/** [what, file text, expected error class, expected message]. */
const BAD_FILES: readonly [string, string, string, string][] = [
  [
    "YAML syntax error",
    "services:\n  - name: a.test\n    endpoints: [127.0.0.1:1\n",
    "SyntaxError",
    "bad.yaml:4:1: Cannot parse YAML: ",
  ],
  [
    "duplicate key",
    "outbound:\n  listen: 127.0.0.1:1\n  listen: 127.0.0.1:2\n",
    "SyntaxError",
    "bad.yaml:3:3: Cannot parse YAML: Map keys must be unique",
  ],
  [
    "tab indentation",
    "outbound:\n\tlisten: 127.0.0.1:1\n",
    "SyntaxError",
    "bad.yaml:2:1: Cannot parse YAML: ",
  ],
  [
    "top level not a mapping",
    "- a\n- b\n",
    "TypeError",
    "bad.yaml:1:1: (top level): Expected a mapping, got a sequence",
  ],
  [
    "unknown top-level key",
    "outbound: {}\nservice: []\n",
    "TypeError",
    'bad.yaml:2:1: service: Unknown field "service" (expected one of: outbound, admin, identity, inbound, services, shutdownGracePeriod, logLevel)',
  ],
  [
    "unknown nested key (typo)",
    "outbound:\n  listen: 127.0.0.1:4140\n  conectTimeout: 1s\n",
    "TypeError",
    'bad.yaml:3:3: outbound.conectTimeout: Unknown field "conectTimeout"',
  ],
  [
    "unknown key in a service",
    "services:\n  - name: a.test\n    endpoints: []\n    endpoint: []\n",
    "TypeError",
    'bad.yaml:4:5: services[0].endpoint: Unknown field "endpoint"',
  ],
  [
    "bad endpoint (no port)",
    "services:\n  - name: web.test:8080\n    protocol: http1\n    endpoints:\n      - 127.0.0.1:9001\n      - 127.0.0.1\n",
    "TypeError",
    'bad.yaml:6:9: services[0].endpoints[1]: Cannot parse endpoint: current value is "127.0.0.1"',
  ],
  [
    "bad endpoint in a flow sequence",
    "services:\n  - name: web.test:8080\n    endpoints: [127.0.0.1:9001, '::1:80']\n",
    "TypeError",
    'bad.yaml:3:33: services[0].endpoints[1]: Cannot parse endpoint: current value is "::1:80"',
  ],
  [
    "bad endpoint object address",
    "services:\n  - name: a.test\n    endpoints:\n      - { addr: nope, weight: 1 }\n",
    "TypeError",
    'bad.yaml:4:17: services[0].endpoints[0].addr: Cannot parse endpoint: current value is "nope"',
  ],
  [
    "endpoint object without addr",
    "services:\n  - name: a.test\n    endpoints:\n      - { weight: 1 }\n",
    "TypeError",
    'bad.yaml:4:9: services[0].endpoints[0]: Missing required field "addr"',
  ],
  [
    "negative weight",
    "services:\n  - name: a.test\n    endpoints:\n      - { addr: 10.0.0.1:80, weight: -1 }\n",
    "TypeError",
    'bad.yaml:4:38: services[0].endpoints[0].weight: Cannot parse weight: current value is "-1"',
  ],
  [
    "bad protocol",
    "services:\n  - name: a.test\n    protocol: http3\n    endpoints: []\n",
    "TypeError",
    'bad.yaml:3:15: services[0].protocol: Cannot parse protocol: current value is "http3" (expected "http1" or "http2")',
  ],
  [
    "duplicate service name (after normalization)",
    "services:\n  - name: web.test:80\n    endpoints: []\n  - name: WEB.test\n    endpoints: []\n",
    "TypeError",
    'bad.yaml:4:11: services[1].name: Duplicate service name "web.test:80" (first defined at line 2, services[0].name)',
  ],
  [
    "duplicate endpoint",
    "services:\n  - name: a.test\n    endpoints: [10.0.0.1:80, 10.0.0.2:80, 10.0.0.1:80]\n",
    "TypeError",
    'bad.yaml:3:43: services[0].endpoints[2]: Duplicate endpoint "10.0.0.1:80" (first defined at line 3, services[0].endpoints[0])',
  ],
  [
    "missing endpoints",
    "services:\n  - name: a.test\n",
    "TypeError",
    'bad.yaml:2:5: services[0]: Missing required field "endpoints"',
  ],
  [
    "bad service name",
    "services:\n  - name: 'a b'\n    endpoints: []\n",
    "TypeError",
    'bad.yaml:2:11: services[0].name: Cannot parse service name: current value is "a b"',
  ],
  [
    "wrong type: services is a mapping",
    "services:\n  name: a.test\n",
    "TypeError",
    "bad.yaml:2:3: services: Expected a sequence, got a mapping",
  ],
  [
    "wrong type: endpoints is a string",
    "services:\n  - name: a.test\n    endpoints: 127.0.0.1:80\n",
    "TypeError",
    "bad.yaml:3:16: services[0].endpoints: Expected a sequence, got a string",
  ],
  [
    "wrong type: number for a name",
    "services:\n  - name: 8080\n    endpoints: []\n",
    "TypeError",
    "bad.yaml:2:11: services[0].name: Expected a string, got a number",
  ],
  [
    "wrong type: string for a boolean",
    "admin:\n  shutdownEnabled: 'yes'\n",
    "TypeError",
    "bad.yaml:2:20: admin.shutdownEnabled: Expected a boolean, got a string",
  ],
  [
    "bad duration",
    "outbound:\n  connectTimeout: 5\n",
    "TypeError",
    'bad.yaml:2:19: outbound.connectTimeout: Cannot parse duration: current value is "5"',
  ],
  [
    "bad duration unit",
    "shutdownGracePeriod: 2 minutes\n",
    "TypeError",
    'bad.yaml:1:22: shutdownGracePeriod: Cannot parse duration: current value is "2 minutes"',
  ],
  [
    "empty required value",
    "outbound:\n  forwards:\n    - listen:\n      target: a.test:1\n",
    "TypeError",
    "bad.yaml:3:7: outbound.forwards[0].listen: Expected a string, got nothing",
  ],
  [
    "listen address must be an IP",
    "admin:\n  listen: localhost:4191\n",
    "TypeError",
    'bad.yaml:2:11: admin.listen: Cannot parse listen address: current value is "localhost:4191"',
  ],
  [
    "port out of range",
    "outbound:\n  opaqueTarget: 127.0.0.1:65536\n",
    "RangeError",
    'bad.yaml:2:17: outbound.opaqueTarget: Cannot parse opaque target: current value is "127.0.0.1:65536"',
  ],
  [
    "backoff jitter out of range",
    "outbound:\n  connectBackoff: { min: 1s, max: 2s, jitter: 2 }\n",
    "RangeError",
    'bad.yaml:2:47: outbound.connectBackoff.jitter: Cannot parse jitter: current value is "2"',
  ],
  [
    "backoff min above max",
    "outbound:\n  connectBackoff: { min: 3s, max: 2s, jitter: 0 }\n",
    "RangeError",
    "bad.yaml:2:19: outbound.connectBackoff: Cannot parse backoff: min must not exceed max",
  ],
  [
    "duplicate forward listen address",
    "outbound:\n  forwards:\n    - { listen: 127.0.0.1:1, target: a.test:1 }\n    - { listen: 127.0.0.1:1, target: b.test:1 }\n",
    "TypeError",
    'bad.yaml:4:17: outbound.forwards[1].listen: Duplicate forward listen address "127.0.0.1:1" (first defined at line 3, outbound.forwards[0].listen)',
  ],
  [
    "unresolved alias",
    "services: *nope\n",
    "TypeError",
    'bad.yaml:1:11: services: Unresolved alias "*nope"',
  ],
  [
    "bad identity",
    "services:\n  - name: a.test\n    identity: 'not an identity'\n    endpoints: []\n",
    "TypeError",
    'bad.yaml:3:15: services[0].identity: Cannot parse identity: current value is "not an identity"',
  ],
  [
    "multiple documents",
    "services: []\n---\nservices: []\n",
    "SyntaxError",
    "bad.yaml:2:1: Cannot parse YAML: ",
  ],
];

for (const [what, text, type, message] of BAD_FILES) {
  Deno.test(`parseConfigYaml() names line, column and field: ${what}`, () => {
    assert.throws(
      () => parseConfigYaml(text, "bad.yaml"),
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
