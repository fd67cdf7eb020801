import assert from "node:assert/strict";
import { DEFAULT_OUTBOUND, defaultConfig } from "./config.ts";
import {
  configPathFrom,
  ENV_ADMIN_LISTEN_ADDR,
  ENV_LOG,
  ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER,
  ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX,
  ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN,
  ENV_OUTBOUND_CONNECT_TIMEOUT,
  ENV_OUTBOUND_DETECT_TIMEOUT,
  ENV_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS,
  ENV_OUTBOUND_DISCOVERY_IDLE_TIMEOUT,
  ENV_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT,
  ENV_OUTBOUND_HTTP_FAILFAST_TIMEOUT,
  ENV_OUTBOUND_HTTP_QUEUE_CAPACITY,
  ENV_OUTBOUND_LISTEN_ADDR,
  ENV_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT,
  ENV_OUTBOUND_MAX_IN_FLIGHT,
  ENV_PETREL_CONFIG,
  ENV_SHUTDOWN_ENDPOINT_ENABLED,
  ENV_SHUTDOWN_GRACE_PERIOD,
  parseConfig,
} from "./env.ts";
import { parseConfigYaml } from "./yaml.ts";

const EMPTY_FILE = { services: [] };

Deno.test("parseConfig() with nothing set gives linkerd's defaults", () => {
  const cfg = parseConfig({}, [], EMPTY_FILE);
  assert.deepEqual(cfg, defaultConfig());
  assert.equal(cfg.outbound.listenAddr, "127.0.0.1:4140");
  assert.equal(cfg.outbound.connectTimeoutMs, 1000);
  assert.deepEqual(cfg.outbound.connectBackoff, {
    minMs: 100,
    maxMs: 60_000,
    jitter: 0.1,
  });
  assert.equal(cfg.outbound.detectTimeoutMs, 10_000);
  assert.equal(cfg.outbound.http1PoolIdleTimeoutMs, 3000);
  assert.equal(cfg.outbound.maxIdleConnsPerEndpoint, 10_000);
  assert.equal(cfg.outbound.maxInFlight, 100_000);
  assert.equal(cfg.outbound.httpQueueCapacity, 10_000);
  assert.equal(cfg.outbound.httpFailfastTimeoutMs, 3000);
  assert.equal(cfg.outbound.discoveryIdleTimeoutMs, 5000);
  assert.equal(cfg.outbound.disableInformationalHeaders, false);
  assert.equal(cfg.outbound.opaqueTarget, undefined);
  assert.deepEqual(cfg.outbound.forwards, []);
  assert.deepEqual(cfg.admin, {
    listenAddr: "127.0.0.1:4191",
    shutdownEnabled: false,
    dashboardPublic: false,
  });
  assert.equal(cfg.configMaxBytes, 1024 * 1024);
  assert.deepEqual(cfg.sockets.outboundConnect, {});
  assert.equal(cfg.shutdownGracePeriodMs, 120_000);
  assert.equal(cfg.logLevel, "warn,linkerd=info");
  assert.equal(cfg.configPath, undefined);
});

Deno.test("parseConfig() without a file uses the embedded petrel.yaml", () => {
  const cfg = parseConfig({}, []);
  assert.equal(cfg.outbound.listenAddr, "127.0.0.1:4140");
  assert.equal(cfg.admin.listenAddr, "127.0.0.1:4191");
  assert.deepEqual(cfg.file.services.map((s) => s.name), ["web.test:8080"]);
  assert.equal(cfg.configPath, undefined);
});

Deno.test("parseConfig() reads every environment override", () => {
  const cfg = parseConfig(
    {
      [ENV_OUTBOUND_LISTEN_ADDR]: "[::1]:5140",
      [ENV_ADMIN_LISTEN_ADDR]: "0.0.0.0:5191",
      [ENV_OUTBOUND_CONNECT_TIMEOUT]: "250ms",
      [ENV_OUTBOUND_DETECT_TIMEOUT]: "365d",
      [ENV_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT]: "1m",
      [ENV_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT]: "3",
      [ENV_OUTBOUND_MAX_IN_FLIGHT]: "12",
      [ENV_OUTBOUND_HTTP_QUEUE_CAPACITY]: "34",
      [ENV_OUTBOUND_HTTP_FAILFAST_TIMEOUT]: "2s",
      [ENV_OUTBOUND_DISCOVERY_IDLE_TIMEOUT]: "90s",
      [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN]: "1s",
      [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX]: "10s",
      [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER]: "0",
      [ENV_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS]: "true",
      [ENV_SHUTDOWN_GRACE_PERIOD]: "5s",
      [ENV_SHUTDOWN_ENDPOINT_ENABLED]: "false",
      [ENV_LOG]: "debug",
    },
    [],
    EMPTY_FILE,
  );
  assert.deepEqual(cfg.outbound, {
    ...DEFAULT_OUTBOUND,
    listenAddr: "[::1]:5140",
    connectTimeoutMs: 250,
    detectTimeoutMs: 31_536_000_000,
    http1PoolIdleTimeoutMs: 60_000,
    maxIdleConnsPerEndpoint: 3,
    maxInFlight: 12,
    httpQueueCapacity: 34,
    httpFailfastTimeoutMs: 2000,
    discoveryIdleTimeoutMs: 90_000,
    connectBackoff: { minMs: 1000, maxMs: 10_000, jitter: 0 },
    disableInformationalHeaders: true,
  });
  assert.deepEqual(cfg.admin, {
    listenAddr: "0.0.0.0:5191",
    shutdownEnabled: false,
    dashboardPublic: false,
  });
  assert.equal(cfg.shutdownGracePeriodMs, 5000);
  assert.equal(cfg.logLevel, "debug");
});

Deno.test("parseConfig() env wins over the file, the file over defaults", () => {
  const file = parseConfigYaml(
    `
outbound:
  listen: 127.0.0.1:6140
  connectTimeout: 3s
  maxInFlight: 50
  opaqueTarget: 127.0.0.1:6379
  forwards: [{ listen: 127.0.0.1:6150, target: redis.test:6379 }]
admin: { shutdownEnabled: false }
logLevel: info
shutdownGracePeriod: 10s
`,
    "f.yaml",
  );
  const cfg = parseConfig(
    {
      [ENV_OUTBOUND_CONNECT_TIMEOUT]: "4s",
      [ENV_SHUTDOWN_ENDPOINT_ENABLED]: "true",
      [ENV_OUTBOUND_MAX_IN_FLIGHT]: "", // empty = unset
    },
    [],
    file,
  );
  assert.equal(cfg.outbound.listenAddr, "127.0.0.1:6140"); // file
  assert.equal(cfg.outbound.connectTimeoutMs, 4000); // env
  assert.equal(cfg.outbound.maxInFlight, 50); // file
  assert.equal(cfg.outbound.detectTimeoutMs, 10_000); // default
  assert.equal(cfg.outbound.opaqueTarget, "127.0.0.1:6379");
  assert.deepEqual(cfg.outbound.forwards, [
    { listenAddr: "127.0.0.1:6150", target: "redis.test:6379" },
  ]);
  assert.equal(cfg.admin.shutdownEnabled, true); // env
  assert.equal(cfg.admin.listenAddr, "127.0.0.1:4191"); // default
  assert.equal(cfg.logLevel, "info");
  assert.equal(cfg.shutdownGracePeriodMs, 10_000);
  assert.equal(cfg.file, file);
});

Deno.test("parseConfig() throws std-style errors for bad values", () => {
  const cases: [Record<string, string>, string, string][] = [
    [
      { [ENV_OUTBOUND_LISTEN_ADDR]: "x" },
      "TypeError",
      'Cannot parse LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR: current value is "x"',
    ],
    [
      { [ENV_ADMIN_LISTEN_ADDR]: "localhost:4191" },
      "TypeError",
      'Cannot parse LINKERD2_PROXY_ADMIN_LISTEN_ADDR: current value is "localhost:4191"',
    ],
    [
      { [ENV_OUTBOUND_CONNECT_TIMEOUT]: "10" },
      "TypeError",
      'Cannot parse LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT: current value is "10" (a duration needs a unit: ms, s, m, h or d)',
    ],
    [
      { [ENV_OUTBOUND_MAX_IN_FLIGHT]: "lots" },
      "TypeError",
      'Cannot parse LINKERD2_PROXY_OUTBOUND_MAX_IN_FLIGHT: current value is "lots"',
    ],
    [
      { [ENV_SHUTDOWN_ENDPOINT_ENABLED]: "yes" },
      "TypeError",
      'Cannot parse LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED: current value is "yes"',
    ],
    [
      { [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN]: "1s" },
      "TypeError",
      "Cannot parse LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MIN, LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MAX and LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER: all three must be set, or none",
    ],
    [
      {
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN]: "1s",
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX]: "2s",
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER]: "1.5",
      },
      "RangeError",
      'Cannot parse LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER: current value is "1.5"',
    ],
    [
      {
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN]: "3s",
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX]: "2s",
        [ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER]: "0.1",
      },
      "RangeError",
      'Cannot parse LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MAX: current value is "2s" (less than LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MIN "3s")',
    ],
  ];
  for (const [env, name, message] of cases) {
    assert.throws(() => parseConfig(env, [], EMPTY_FILE), { name, message });
  }
});

Deno.test("configPathFrom() prefers --config over PETREL_CONFIG", () => {
  assert.equal(configPathFrom({}, []), undefined);
  assert.equal(configPathFrom({ [ENV_PETREL_CONFIG]: "e.yaml" }, []), "e.yaml");
  assert.equal(
    configPathFrom({ [ENV_PETREL_CONFIG]: "e.yaml" }, ["--config", "a.yaml"]),
    "a.yaml",
  );
  assert.equal(configPathFrom({}, ["--config=b.yaml"]), "b.yaml");
  assert.throws(() => configPathFrom({}, ["--config"]), {
    message: "Cannot parse --config: a file name must follow",
  });
  assert.throws(() => configPathFrom({}, ["--verbose"]), {
    name: "TypeError",
    message: 'Cannot parse arguments: unknown argument "--verbose"',
  });
});

Deno.test("parseConfig() reads the file named by --config or PETREL_CONFIG", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(
      path,
      "outbound:\n  listen: 127.0.0.1:7140\nservices:\n  - name: a.test\n    endpoints: [127.0.0.1:1]\n",
    );
    const viaArg = parseConfig({}, ["--config", path]);
    assert.equal(viaArg.configPath, path);
    assert.equal(viaArg.outbound.listenAddr, "127.0.0.1:7140");
    assert.deepEqual(viaArg.file.services.map((s) => s.name), ["a.test:80"]);
    const viaEnv = parseConfig({ [ENV_PETREL_CONFIG]: path }, []);
    assert.equal(viaEnv.configPath, path);
    assert.equal(viaEnv.outbound.listenAddr, "127.0.0.1:7140");

    await Deno.writeTextFile(path, "outbound:\n  listen: nowhere\n");
    assert.throws(() => parseConfig({}, ["--config", path]), {
      name: "TypeError",
      message:
        `${path}:2:11: outbound.listen: Cannot parse listen address: current value is "nowhere"`,
    });
    assert.throws(() => parseConfig({}, ["--config", `${dir}/missing.yaml`]), {
      name: "TypeError",
      message: new RegExp(`^Cannot read config file "${dir}/missing.yaml": `),
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("parseConfig() reads the socket options, the dashboard switch and the config size limit", () => {
  const cfg = parseConfig({
    LINKERD2_PROXY_OUTBOUND_CONNECT_KEEPALIVE: "10000ms",
    LINKERD2_PROXY_OUTBOUND_CONNECT_USER_TIMEOUT: "30s",
    LINKERD2_PROXY_INBOUND_ACCEPT_KEEPALIVE: "5s",
    PETREL_ADMIN_DASHBOARD_PUBLIC: "true",
    PETREL_CONFIG_MAX_BYTES: "2048",
  });
  assert.deepEqual(cfg.sockets, {
    outboundAccept: {},
    outboundConnect: { keepaliveMs: 10_000, userTimeoutMs: 30_000 },
    inboundAccept: { keepaliveMs: 5000 },
    inboundConnect: {},
  });
  assert.equal(cfg.admin.dashboardPublic, true);
  assert.equal(cfg.configMaxBytes, 2048);
});

Deno.test("parseConfig() reads the HTTP/2 server keep-alive per listener; both variables are needed, none by default", () => {
  assert.equal(parseConfig({}).h2KeepAlive, undefined);
  const cfg = parseConfig({
    LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2_KEEP_ALIVE_INTERVAL: "10s",
    LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2_KEEP_ALIVE_TIMEOUT: "3s",
    // One alone is ignored (linkerd `env/http2.rs`).
    LINKERD2_PROXY_INBOUND_SERVER_HTTP2_KEEP_ALIVE_INTERVAL: "5s",
  });
  assert.deepEqual(cfg.h2KeepAlive, {
    outbound: { intervalMs: 10_000, timeoutMs: 3000 },
  });
  assert.throws(
    () =>
      parseConfig({
        LINKERD2_PROXY_INBOUND_SERVER_HTTP2_KEEP_ALIVE_TIMEOUT: "3",
      }),
    { message: /LINKERD2_PROXY_INBOUND_SERVER_HTTP2_KEEP_ALIVE_TIMEOUT/ },
  );
});

Deno.test("parseConfig() refuses a config file over PETREL_CONFIG_MAX_BYTES, naming it and the limit", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/big.yaml`;
    await Deno.writeTextFile(path, "services: []\n" + "#".repeat(100) + "\n");
    assert.throws(
      () => parseConfig({ PETREL_CONFIG_MAX_BYTES: "64" }, ["--config", path]),
      {
        name: "RangeError",
        message:
          `Cannot use config file "${path}": it is 114 bytes, over the limit of 64 bytes (PETREL_CONFIG_MAX_BYTES)`,
      },
    );
    assert.equal(
      parseConfig({}, ["--config", path]).file.services.length,
      0,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
