import assert from "node:assert/strict";
import {
  cidrContains,
  defaultPolicy,
  isAuthorized,
  networkContains,
  parseCidr,
} from "./server_policy.ts";

Deno.test("parseCidr() / cidrContains() match IPv4, IPv6 and v4-mapped clients", () => {
  const n = parseCidr("10.1.0.0/16");
  assert.equal(cidrContains(n, "10.1.200.3"), true);
  assert.equal(cidrContains(n, "::ffff:10.1.0.9"), true);
  assert.equal(cidrContains(n, "10.2.0.1"), false);
  assert.equal(cidrContains(parseCidr("fd00::/8"), "fd12::1"), true);
  assert.equal(cidrContains(parseCidr("fd00::/8"), "10.1.0.1"), false);
  assert.equal(cidrContains(parseCidr("0.0.0.0/0"), "192.0.2.1"), true);
  assert.equal(
    networkContains({ net: n, except: [parseCidr("10.1.2.0/24")] }, "10.1.2.7"),
    false,
  );
  assert.throws(() => parseCidr("10.0.0.0/33"), /Cannot parse network/);
  assert.throws(() => parseCidr("nope"), /Cannot parse network/);
});

Deno.test("defaultPolicy() builds linkerd's six defaults", () => {
  const plain = { kind: "none", reason: "no_tls_from_remote" } as const;
  const anon = { kind: "established", clientId: undefined } as const;
  const meshed = {
    kind: "established",
    clientId: "a.ns.serviceaccount.identity.linkerd.cluster.local",
  } as const;
  const ok = (
    name: Parameters<typeof defaultPolicy>[0],
    ip: string,
    tls: typeof plain | typeof anon | typeof meshed,
  ) =>
    defaultPolicy(name, { clusterNetworks: [parseCidr("10.0.0.0/8")] })
      .authorizations.some((a) => isAuthorized(a, ip, tls));
  assert.equal(ok("all-unauthenticated", "192.0.2.1", plain), true);
  assert.equal(ok("audit", "192.0.2.1", plain), true);
  assert.equal(ok("all-authenticated", "10.0.0.1", plain), false);
  assert.equal(ok("all-authenticated", "10.0.0.1", anon), false);
  assert.equal(ok("all-authenticated", "10.0.0.1", meshed), true);
  assert.equal(ok("all-tls-unauthenticated", "10.0.0.1", anon), true);
  assert.equal(ok("cluster-unauthenticated", "10.0.0.1", plain), true);
  assert.equal(ok("cluster-unauthenticated", "192.0.2.1", plain), false);
  assert.equal(ok("cluster-authenticated", "10.9.9.9", meshed), true);
  assert.equal(ok("cluster-authenticated", "192.0.2.1", meshed), false);
  assert.equal(ok("deny", "127.0.0.1", meshed), false);
  assert.throws(
    () => defaultPolicy("cluster-authenticated"),
    /without cluster networks/,
  );
  const p = defaultPolicy("deny");
  assert.equal(p.protocol.kind, "detect");
  assert.deepEqual(p.meta, { group: "", kind: "default", name: "deny" });
});

Deno.test("isAuthorized() matches identities exactly and DNS suffixes on label boundaries", () => {
  const authz = {
    meta: { group: "", kind: "default", name: "x" },
    networks: [{ net: parseCidr("0.0.0.0/0"), except: [] }],
    authentication: {
      kind: "tls-authenticated",
      identities: new Set(["spiffe://root/w1"]),
      suffixes: ["ns.serviceaccount.identity.linkerd.cluster.local"],
    },
  } as const;
  const id = (clientId: string) => ({ kind: "established", clientId }) as const;
  assert.equal(isAuthorized(authz, "10.0.0.1", id("spiffe://root/w1")), true);
  assert.equal(isAuthorized(authz, "10.0.0.1", id("spiffe://root/w2")), false);
  assert.equal(
    isAuthorized(
      authz,
      "10.0.0.1",
      id("a.ns.serviceaccount.identity.linkerd.cluster.local"),
    ),
    true,
  );
  assert.equal(
    isAuthorized(
      authz,
      "10.0.0.1",
      id("a.xns.serviceaccount.identity.linkerd.cluster.local"),
    ),
    false,
  );
});
