import assert from "node:assert/strict";
import { defaultConfig } from "./config.ts";
import {
  ENV_IDENTITY_DIR,
  ENV_IDENTITY_LOCAL_NAME,
  ENV_IDENTITY_TRUST_ANCHORS,
  ENV_INBOUND_CONNECT_TIMEOUT,
  ENV_INBOUND_DEFAULT_POLICY,
  ENV_INBOUND_DETECT_TIMEOUT,
  ENV_INBOUND_LISTEN_ADDR,
  ENV_PETREL_INBOUND_APP_PORT,
  parseConfig,
} from "./env.ts";
import { parseConfigYaml } from "./yaml.ts";

const PEM = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
const ID = "web.ns.serviceaccount.identity.linkerd.cluster.local";

Deno.test("parseConfigYaml() parses the identity and inbound sections", () => {
  const cfg = parseConfigYaml(
    `
identity:
  dir: /var/run/linkerd/identity/end-entity
  certFile: ./web.crt
  keyFile: ./web.key
  trustAnchorsFile: ./ca.crt
  localName: Web.NS.serviceaccount.identity.linkerd.cluster.local
inbound:
  listen: 127.0.0.1:4143
  appPort: 8080
  appHost: "[::1]"
  policy: all-authenticated
  detectTimeout: 5s
  connectTimeout: 100ms
services: []
`,
    "id.yaml",
  );
  assert.deepEqual(cfg.identity, {
    dir: "/var/run/linkerd/identity/end-entity",
    certFile: "./web.crt",
    keyFile: "./web.key",
    trustAnchorsFile: "./ca.crt",
    localName: ID,
  });
  assert.deepEqual(cfg.inbound, {
    listenAddr: "127.0.0.1:4143",
    appPort: 8080,
    appHost: "::1",
    policy: "all-authenticated",
    detectTimeoutMs: 5000,
    connectTimeoutMs: 100,
  });
});

Deno.test("parseConfigYaml() accepts PEM trust anchors inline", () => {
  const cfg = parseConfigYaml(
    `identity:
  certFile: a.crt
  keyFile: a.key
  trustAnchors: |
    -----BEGIN CERTIFICATE-----
    MIIB
    -----END CERTIFICATE-----
services: []
`,
    "pem.yaml",
  );
  assert.match(cfg.identity?.trustAnchorsPem ?? "", /BEGIN CERTIFICATE/);
});

Deno.test("parseConfigYaml() locates identity and inbound errors", () => {
  const cases: [string, RegExp][] = [
    [
      "identity: { certFile: a.crt }\nservices: []\n",
      /e\.yaml:1:11: identity: Cannot parse identity: give "dir", or both "certFile" and "keyFile"/,
    ],
    [
      "identity: { certFile: a.crt, keyFile: a.key }\nservices: []\n",
      /identity: Cannot parse identity: no trust anchors/,
    ],
    [
      "identity: { dir: /x, trustAnchorsFile: a, trustAnchors: b }\nservices: []\n",
      /identity\.trustAnchors: Cannot parse trust anchors: expected PEM text/,
    ],
    [
      "identity: { dir: /x, localName: 'not a name' }\nservices: []\n",
      /identity\.localName: Cannot parse identity: current value is "not a name"/,
    ],
    [
      "identity: { dir: /x, tokenFile: t }\nservices: []\n",
      /identity\.tokenFile: Unknown field "tokenFile"/,
    ],
    [
      "inbound:\n  appPort: 8080\n  policy: cluster-everything\nservices: []\n",
      /e\.yaml:3:11: inbound\.policy: Cannot parse inbound policy: current value is "cluster-everything" \(expected one of: all-unauthenticated, all-authenticated, cluster-unauthenticated, cluster-authenticated, deny, audit\)/,
    ],
    [
      "inbound: { appPort: 0 }\nservices: []\n",
      /inbound\.appPort: Cannot parse appPort: current value is "0"/,
    ],
    [
      "inbound: { appPort: 8080, appHost: app.local }\nservices: []\n",
      /inbound\.appHost: Cannot parse appHost: current value is "app.local"/,
    ],
    [
      "inbound: { listen: 'web:4143', appPort: 1 }\nservices: []\n",
      /inbound\.listen: Cannot parse listen address/,
    ],
  ];
  for (const [yaml, want] of cases) {
    assert.throws(() => parseConfigYaml(yaml, "e.yaml"), want, yaml);
  }
});

Deno.test("parseConfig() reads linkerd's identity and inbound variables over the file", () => {
  const file = parseConfigYaml(
    `identity: { certFile: a.crt, keyFile: a.key, trustAnchorsFile: ca.crt }
inbound: { appPort: 8080, policy: all-unauthenticated }
services: []
`,
    "f.yaml",
  );
  const cfg = parseConfig(
    {
      [ENV_IDENTITY_DIR]: "/id",
      [ENV_IDENTITY_TRUST_ANCHORS]: PEM,
      [ENV_IDENTITY_LOCAL_NAME]: ID.toUpperCase(),
      [ENV_INBOUND_LISTEN_ADDR]: "[::]:4143",
      [ENV_INBOUND_DEFAULT_POLICY]: "all-authenticated",
      [ENV_INBOUND_DETECT_TIMEOUT]: "2s",
      [ENV_INBOUND_CONNECT_TIMEOUT]: "100ms",
      [ENV_PETREL_INBOUND_APP_PORT]: "9090",
    },
    [],
    file,
  );
  assert.deepEqual(cfg.identity, {
    dir: "/id",
    certFile: "a.crt",
    keyFile: "a.key",
    trustAnchorsPem: PEM,
    localName: ID,
  });
  assert.deepEqual(cfg.inbound, {
    listenAddr: "[::]:4143",
    appHost: "127.0.0.1",
    appPort: 9090,
    policy: "all-authenticated",
    detectTimeoutMs: 2000,
    connectTimeoutMs: 100,
  });
});

Deno.test("parseConfig() defaults: no identity, no inbound; linkerd's inbound defaults once an app port is set", () => {
  const none = parseConfig({}, [], { services: [] });
  assert.deepEqual(none, defaultConfig());
  assert.equal(none.identity, undefined);
  assert.equal(none.inbound, undefined);
  const cfg = parseConfig(
    {
      [ENV_PETREL_INBOUND_APP_PORT]: "8080",
      [ENV_IDENTITY_DIR]: "/id",
      [ENV_IDENTITY_TRUST_ANCHORS]: "/etc/anchors.pem",
    },
    [],
    { services: [] },
  );
  assert.deepEqual(cfg.inbound, {
    listenAddr: "0.0.0.0:4143",
    appHost: "127.0.0.1",
    appPort: 8080,
    policy: "all-unauthenticated",
    detectTimeoutMs: 10_000,
    connectTimeoutMs: 300,
  });
  // A value that is not PEM text is a file path (Petrel's extension).
  assert.deepEqual(cfg.identity, {
    dir: "/id",
    trustAnchorsFile: "/etc/anchors.pem",
  });
});

Deno.test("parseConfig() refuses inconsistent identity and inbound settings", () => {
  assert.throws(
    () =>
      parseConfig({ [ENV_IDENTITY_TRUST_ANCHORS]: PEM }, [], { services: [] }),
    /Cannot parse LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS: LINKERD2_PROXY_IDENTITY_DIR \(or the YAML identity section\) must be set too/,
  );
  assert.throws(
    () =>
      parseConfig(
        {
          [ENV_PETREL_INBOUND_APP_PORT]: "8080",
          [ENV_INBOUND_DEFAULT_POLICY]: "all-authenticated",
        },
        [],
        { services: [] },
      ),
    /Cannot use inbound policy "all-authenticated" without a local identity/,
  );
  assert.throws(
    () =>
      parseConfig(
        {
          [ENV_PETREL_INBOUND_APP_PORT]: "8080",
          [ENV_INBOUND_DEFAULT_POLICY]: "allow",
        },
        [],
        { services: [] },
      ),
    /Cannot parse LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: current value is "allow"/,
  );
  assert.throws(
    () => parseConfig({}, [], { services: [], inbound: { policy: "deny" } }),
    /no application port \(inbound\.appPort or PETREL_INBOUND_APP_PORT\)/,
  );
  assert.throws(
    () =>
      parseConfig(
        {
          [ENV_IDENTITY_DIR]: "/id",
          [ENV_IDENTITY_LOCAL_NAME]: "bad name",
        },
        [],
        { services: [] },
      ),
    /Cannot parse LINKERD2_PROXY_IDENTITY_LOCAL_NAME: current value is "bad name"/,
  );
  assert.throws(
    () =>
      parseConfig({ [ENV_PETREL_INBOUND_APP_PORT]: "x" }, [], { services: [] }),
    /Cannot parse PETREL_INBOUND_APP_PORT/,
  );
});
