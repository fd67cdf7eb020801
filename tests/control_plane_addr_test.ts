/**
 * The control plane asked by address (issue 16): an original destination
 * "ip:port" is resolved with Destination.Get, its policy is watched with
 * TrafficSpec{addr}, and its profile is asked only inside
 * LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS (linkerd's allowlist).
 */
import assert from "node:assert/strict";
import { ControlPlaneDiscovery } from "../src/discovery/destination.ts";
import { ipInNetworks } from "../src/discovery/profile.ts";
import { trafficSpecOf } from "../src/discovery/policy.ts";
import { parseConfig } from "../src/config/env.ts";
import { startControlPlane } from "./support/control_plane.ts";

Deno.test("trafficSpecOf() sends an address as TcpAddress, a name as authority", () => {
  assert.deepEqual(trafficSpecOf("10.96.0.10:80", "w"), {
    source_workload: "w",
    addr: { ip: { ipv4: 0x0a60000a }, port: 80 },
  });
  assert.deepEqual(trafficSpecOf("[fd00::10]:8080", ""), {
    source_workload: "",
    addr: {
      ip: { ipv6: { first: (0xfd00n << 48n).toString(), last: "16" } },
      port: 8080,
    },
  });
  assert.deepEqual(trafficSpecOf("web.ns.svc.cluster.local:80", ""), {
    source_workload: "",
    authority: "web.ns.svc.cluster.local:80",
  });
});

Deno.test("ipInNetworks() matches CIDRs of either family", () => {
  const nets = ["10.96.0.0/12", "fd00::/8", "192.168.1.7"];
  assert.equal(ipInNetworks("10.96.0.10", nets), true);
  assert.equal(ipInNetworks("10.111.255.255", nets), true);
  assert.equal(ipInNetworks("10.112.0.0", nets), false);
  assert.equal(ipInNetworks("fd12:3::1", nets), true);
  assert.equal(ipInNetworks("fe80::1", nets), false);
  assert.equal(ipInNetworks("192.168.1.7", nets), true);
  assert.equal(ipInNetworks("192.168.1.8", nets), false);
  assert.equal(ipInNetworks("10.96.0.10", []), false, "empty: no IP lookups");
  assert.equal(ipInNetworks("10.0.0.1", ["0.0.0.0/0"]), true);
});

Deno.test("parseConfig() LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS", () => {
  const c = parseConfig({
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: "127.0.0.1:8086",
    LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS: "10.0.0.0/8, fd00::/8",
  }, []);
  assert.deepEqual(c.controlPlane?.profileNetworks, ["10.0.0.0/8", "fd00::/8"]);
  assert.throws(
    () =>
      parseConfig({
        LINKERD2_PROXY_DESTINATION_SVC_ADDR: "127.0.0.1:8086",
        LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS: "10.0.0.0/33",
      }, []),
    /Cannot parse LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS: current value is "10.0.0.0\/33"/,
  );
});

Deno.test("ControlPlaneDiscovery.tryResolve() of an original destination asks by address", async () => {
  await using ctl = await startControlPlane();
  ctl.setEndpoints("10.96.0.10:80", [{ addr: "10.244.0.5:8080" }]);
  ctl.setEndpoints("10.200.0.1:80", [{ addr: "10.200.0.1:80" }]);
  using cp = new ControlPlaneDiscovery({
    destinationAddr: ctl.addr,
    policyAddr: ctl.addr,
    profileNetworks: ["10.96.0.0/12"],
    initialTimeoutMs: 2_000,
    backoff: { minMs: 20, maxMs: 50, jitter: 0 },
  });
  const svc = await cp.tryResolve("10.96.0.10:80");
  assert.ok(svc !== undefined);
  try {
    assert.deepEqual(svc.watch.get().endpoints.map((e) => e.addr), [
      "10.244.0.5:8080",
    ]);
    assert.deepEqual(ctl.getRequests.map((r) => r.path), ["10.96.0.10:80"]);
    assert.deepEqual(ctl.profileRequests.map((r) => r.path), [
      "10.96.0.10:80",
    ]);
    const spec = ctl.policyRequests.at(-1)!;
    assert.equal(spec.target, "addr");
    assert.equal(spec.addr?.ip?.ipv4, 0x0a60000a);
    assert.equal(spec.addr?.port, 80);
  } finally {
    svc[Symbol.dispose]();
  }
  // Outside the profile networks: endpoints and policy, no profile.
  const other = await cp.tryResolve("10.200.0.1:80");
  assert.ok(other !== undefined);
  other[Symbol.dispose]();
  assert.equal(ctl.profileRequests.length, 1);
  assert.equal(ctl.policyRequests.length, 2);
});
