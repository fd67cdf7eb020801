import assert from "node:assert/strict";
import { DEFAULT_CONTROL_PLANE } from "./config.ts";
import { parseConfig } from "./env.ts";

const FILE = { services: [] };
const parse = (env: Record<string, string>) => parseConfig(env, [], FILE);

Deno.test("parseConfig() has no control plane without a service address", () => {
  assert.equal(parse({}).controlPlane, undefined);
});

Deno.test("parseConfig() reads linkerd's destination and policy variables", () => {
  const c = parse({
    LINKERD2_PROXY_DESTINATION_SVC_ADDR:
      "linkerd-dst-headless.linkerd.svc.cluster.local.:8086",
    LINKERD2_PROXY_DESTINATION_SVC_NAME:
      "linkerd-destination.linkerd.serviceaccount.identity.linkerd.cluster.local",
    LINKERD2_PROXY_DESTINATION_CONTEXT: '{"ns":"emojivoto","pod":"web-1"}',
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "svc.cluster.local., test.",
    LINKERD2_PROXY_POLICY_SVC_ADDR:
      "linkerd-policy.linkerd.svc.cluster.local.:8090",
    LINKERD2_PROXY_POLICY_WORKLOAD: '{"ns":"emojivoto","pod":"web-1"}',
    LINKERD2_PROXY_CONTROL_STREAM_INITIAL_TIMEOUT: "3s",
  }).controlPlane;
  assert.deepEqual(c, {
    ...DEFAULT_CONTROL_PLANE,
    destination: {
      addr: "linkerd-dst-headless.linkerd.svc.cluster.local:8086",
      name:
        "linkerd-destination.linkerd.serviceaccount.identity.linkerd.cluster.local",
    },
    policy: { addr: "linkerd-policy.linkerd.svc.cluster.local:8090" },
    destinationContext: '{"ns":"emojivoto","pod":"web-1"}',
    profileSuffixes: ["svc.cluster.local.", "test."],
    policyWorkload: '{"ns":"emojivoto","pod":"web-1"}',
  });
});

Deno.test("parseConfig() reads the identity service with its token, name and folder", () => {
  const c = parse({
    LINKERD2_PROXY_IDENTITY_SVC_ADDR: "127.0.0.1:8080",
    LINKERD2_PROXY_IDENTITY_TOKEN_FILE: "/var/run/secrets/token",
    LINKERD2_PROXY_IDENTITY_LOCAL_NAME:
      "web.ns.serviceaccount.identity.linkerd.cluster.local",
    LINKERD2_PROXY_IDENTITY_DIR: "/var/run/linkerd/identity/end-entity",
    LINKERD2_PROXY_IDENTITY_MIN_REFRESH: "1s",
    LINKERD2_PROXY_IDENTITY_MAX_REFRESH: "1h",
  });
  assert.deepEqual(c.controlPlane?.identity, { addr: "127.0.0.1:8080" });
  assert.equal(c.controlPlane?.identityTokenFile, "/var/run/secrets/token");
  assert.equal(c.controlPlane?.identityMinRefreshMs, 1_000);
  assert.equal(c.controlPlane?.identityMaxRefreshMs, 3_600_000);
  assert.equal(c.controlPlane?.destination, undefined);
});

Deno.test("parseConfig() refuses an incomplete control-plane configuration", () => {
  assert.throws(
    () => parse({ LINKERD2_PROXY_POLICY_SVC_ADDR: "127.0.0.1:8090" }),
    /LINKERD2_PROXY_DESTINATION_SVC_ADDR must be set too/,
  );
  assert.throws(
    () => parse({ LINKERD2_PROXY_IDENTITY_SVC_ADDR: "127.0.0.1:8080" }),
    /LINKERD2_PROXY_IDENTITY_TOKEN_FILE must be set too/,
  );
  assert.throws(
    () =>
      parse({
        LINKERD2_PROXY_IDENTITY_SVC_ADDR: "127.0.0.1:8080",
        LINKERD2_PROXY_IDENTITY_TOKEN_FILE: "/t",
      }),
    /LINKERD2_PROXY_IDENTITY_LOCAL_NAME must be set too/,
  );
  assert.throws(
    () => parse({ LINKERD2_PROXY_DESTINATION_SVC_ADDR: "nope" }),
    /Cannot parse LINKERD2_PROXY_DESTINATION_SVC_ADDR/,
  );
  assert.throws(
    () =>
      parse({
        LINKERD2_PROXY_DESTINATION_SVC_ADDR: "127.0.0.1:8086",
        LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "a..b",
      }),
    /PROFILE_SUFFIXES/,
  );
});
