import assert from "node:assert/strict";
import { parseConfig, parsePortRanges } from "./env.ts";

Deno.test("parseConfig() starts the inbound on LINKERD2_PROXY_INBOUND_LISTEN_ADDR alone, with the injector's port lists", () => {
  const c = parseConfig({
    LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "[::]:4143",
    LINKERD2_PROXY_INBOUND_PORTS: "8080,9090",
    LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION:
      "25,587,3306,4444,5432,6379,9300,11211",
    LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY: "7000-7002",
    LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_TLS: "",
    LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: "cluster-authenticated",
    LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS: "10.0.0.0/8,fd00::/8",
  }, []);
  const i = c.inbound!;
  assert.equal(i.listenAddr, "[::]:4143");
  assert.equal(i.appPort, undefined, "each connection's original destination");
  assert.deepEqual(i.ports, [8080, 9090]);
  assert.deepEqual(i.opaquePorts, [
    25,
    587,
    3306,
    4444,
    5432,
    6379,
    9300,
    11211,
  ]);
  assert.deepEqual(i.requireIdentityPorts, [7000, 7001, 7002]);
  assert.equal(i.requireTlsPorts, undefined);
  assert.equal(i.policy, "cluster-authenticated");
  assert.deepEqual(i.clusterNetworks, ["10.0.0.0/8", "fd00::/8"]);
});

Deno.test("parseConfig() accepts all six default policies; cluster ones need LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS", () => {
  for (const p of ["all-unauthenticated", "deny", "audit"]) {
    const c = parseConfig({
      LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "0.0.0.0:4143",
      LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: p,
    }, []);
    assert.equal(c.inbound?.policy, p);
  }
  assert.throws(
    () =>
      parseConfig({
        LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "0.0.0.0:4143",
        LINKERD2_PROXY_INBOUND_DEFAULT_POLICY: "cluster-unauthenticated",
      }, []),
    /without LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS/,
  );
  assert.throws(
    () =>
      parseConfig({
        LINKERD2_PROXY_INBOUND_LISTEN_ADDR: "0.0.0.0:4143",
        LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS: "10.0.0.0/33",
      }, []),
    /Cannot parse LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS/,
  );
  assert.equal(
    parseConfig({}, []).inbound,
    undefined,
    "no listen address, no app port: off",
  );
});

Deno.test("parsePortRanges() reads ports and ranges, refusing bad ones", () => {
  assert.deepEqual(parsePortRanges("80, 8000-8002,80", "X"), [
    80,
    8000,
    8001,
    8002,
  ]);
  assert.throws(
    () => parsePortRanges("0", "X"),
    /Cannot parse X: current value is "0"/,
  );
  assert.throws(() => parsePortRanges("9-3", "X"), /Cannot parse X/);
  assert.throws(() => parsePortRanges("70000", "X"), /Cannot parse X/);
});
