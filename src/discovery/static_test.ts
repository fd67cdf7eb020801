import assert from "node:assert/strict";
import { parseConfigYaml } from "../config/yaml.ts";
import { FakeDns } from "./_test_util.ts";
import { DnsDiscovery } from "./dns.ts";
import type { ServiceState } from "./resolve.ts";
import { ConfigDiscovery } from "./static.ts";

function file(text: string) {
  return parseConfigYaml(text, "test.yaml");
}

const TWO_SERVICES = `
services:
  - name: web.test:8080
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
  - name: api.test
    protocol: http2
    identity: api.ns.serviceaccount.identity.linkerd.cluster.local
    endpoints:
      - 10.0.0.1:80
      - { addr: "[fd00::2]:80", weight: 5, identity: other.ns }
`;

Deno.test("ConfigDiscovery.lookup() finds configured services by normalized authority", async () => {
  using disco = new ConfigDiscovery();
  await disco.update(file(TWO_SERVICES));
  const web = disco.lookup("web.test:8080");
  assert.ok(web);
  assert.equal(disco.lookup("WEB.Test:8080"), web);
  assert.equal(disco.lookup("web.test.:8080"), web);
  assert.equal(
    disco.lookup("web.test"),
    undefined,
    "port 80 is another service",
  );
  assert.equal(disco.lookup("other.test:8080"), undefined);
  assert.equal(disco.lookup("not an authority"), undefined);
  assert.deepEqual(web.get(), {
    name: "web.test:8080",
    protocol: "http1",
    endpoints: [
      { addr: "127.0.0.1:9001", host: "127.0.0.1", port: 9001 },
      { addr: "127.0.0.1:9002", host: "127.0.0.1", port: 9002 },
    ],
    source: "config",
  });
  assert.deepEqual(disco.lookup("api.test")?.get(), {
    name: "api.test:80",
    protocol: "http2",
    endpoints: [
      {
        addr: "10.0.0.1:80",
        host: "10.0.0.1",
        port: 80,
        identity: "api.ns.serviceaccount.identity.linkerd.cluster.local",
      },
      {
        addr: "[fd00::2]:80",
        host: "fd00::2",
        port: 80,
        identity: "other.ns",
        weight: 5,
      },
    ],
    source: "config",
  });
  assert.equal(disco.lookup("api.test:80"), disco.lookup("Api.Test"));
  assert.deepEqual(disco.names, ["web.test:8080", "api.test:80"]);
});

Deno.test("ConfigDiscovery.update() publishes only to services whose state changed", async () => {
  using disco = new ConfigDiscovery();
  await disco.update(file(TWO_SERVICES));
  const web = disco.lookup("web.test:8080");
  const api = disco.lookup("api.test");
  assert.ok(web && api);
  const webSeen: ServiceState[] = [];
  const apiSeen: ServiceState[] = [];
  using _a = web.subscribe((s) => webSeen.push(s));
  using _b = api.subscribe((s) => apiSeen.push(s));

  // Same content, written differently: nothing is published.
  await disco.update(file(TWO_SERVICES.replace("9002]", "9002 ]")));
  assert.equal(webSeen.length + apiSeen.length, 0);

  await disco.update(file(TWO_SERVICES.replace("9002", "9003")));
  assert.equal(apiSeen.length, 0);
  assert.equal(webSeen.length, 1);
  assert.deepEqual(webSeen[0]?.endpoints.map((e) => e.addr), [
    "127.0.0.1:9001",
    "127.0.0.1:9003",
  ]);
  assert.equal(disco.lookup("web.test:8080"), web, "the Watch is reused");
});

Deno.test("ConfigDiscovery.update() empties a removed service and reuses its Watch when it returns", async () => {
  using disco = new ConfigDiscovery();
  const names: string[][] = [];
  using _u = disco.onUpdate((n) => names.push([...n]));
  await disco.update(file(TWO_SERVICES));
  const web = disco.lookup("web.test:8080");
  assert.ok(web);
  const seen: ServiceState[] = [];
  using _s = web.subscribe((s) => seen.push(s));

  await disco.update(file(
    "services:\n  - name: api.test\n    endpoints: [10.0.0.1:80]\n",
  ));
  assert.deepEqual(seen, [{
    name: "web.test:8080",
    protocol: "http1",
    endpoints: [],
    source: "config",
  }]);
  assert.equal(disco.lookup("web.test:8080"), undefined);
  assert.equal(disco.has("web.test:8080"), false);

  await disco.update(file(TWO_SERVICES));
  assert.equal(seen.length, 2);
  assert.equal(seen[1]?.endpoints.length, 2);
  assert.equal(disco.lookup("web.test:8080"), web);
  assert.deepEqual(names, [
    ["web.test:8080", "api.test:80"],
    ["api.test:80"],
    ["web.test:8080", "api.test:80"],
  ]);
});

Deno.test("ConfigDiscovery resolves endpoint host names with DNS and follows changes", async () => {
  const fake = new FakeDns();
  fake.set("backend.test", ["10.0.0.6", "10.0.0.5"]);
  using dns = new DnsDiscovery({ lookup: fake.lookup, refreshMs: 5 });
  using disco = new ConfigDiscovery({ dns });
  await disco.update(file(`
services:
  - name: web.test
    identity: web.ns
    endpoints: [127.0.0.1:9001, backend.test:9000, missing.test:1]
`));
  const web = disco.lookup("web.test");
  assert.ok(web);
  assert.deepEqual(web.get().endpoints, [
    {
      addr: "127.0.0.1:9001",
      host: "127.0.0.1",
      port: 9001,
      identity: "web.ns",
    },
    { addr: "10.0.0.5:9000", host: "10.0.0.5", port: 9000, identity: "web.ns" },
    { addr: "10.0.0.6:9000", host: "10.0.0.6", port: 9000, identity: "web.ns" },
  ]);
  const next = new Promise<ServiceState>((resolve) => {
    const sub = web.subscribe((s) => {
      sub[Symbol.dispose]();
      resolve(s);
    });
  });
  fake.set("missing.test", ["10.0.0.9"]);
  assert.deepEqual((await next).endpoints.map((e) => e.addr), [
    "127.0.0.1:9001",
    "10.0.0.5:9000",
    "10.0.0.6:9000",
    "10.0.0.9:1",
  ]);
  assert.equal(dns.size, 2);
  await disco.update(file("services: []\n"));
  assert.equal(dns.size, 0, "names no longer in the file stop refreshing");
  assert.deepEqual(web.get().endpoints, []);
});

Deno.test("ConfigDiscovery carries routes and failure accrual, and republishes when only they change", async () => {
  using disco = new ConfigDiscovery();
  const base = "services:\n  - name: web.test\n    endpoints: [10.0.0.1:80]\n";
  await disco.update(file(base));
  const web = disco.lookup("web.test")!;
  assert.equal(web.get().routes, undefined);
  assert.equal(web.get().failureAccrual, undefined);
  const states: ServiceState[] = [];
  using _sub = web.subscribe((s) => states.push(s));

  const routed = base +
    "    failureAccrual: { maxFailures: 3 }\n" +
    "    routes:\n      - matches: [{ path: { prefix: /api } }]\n" +
    "        backends: [{ name: web.test, weight: 9 }, { name: canary.test, weight: 1 }]\n";
  await disco.update(file(routed));
  assert.equal(states.length, 1);
  const s = web.get();
  assert.deepEqual(s.failureAccrual, {
    kind: "consecutive",
    maxFailures: 3,
    minPenaltyMs: 1000,
    maxPenaltyMs: 60_000,
    jitter: 0.5,
  });
  assert.equal(s.routes?.kind, "http");
  const rule = s.routes?.kind === "http"
    ? s.routes.routes[0]?.rules[0]
    : undefined;
  assert.deepEqual(
    rule?.backends.kind === "randomAvailable"
      ? rule.backends.backends.map((b) => [b.backend.ref.name, b.weight])
      : undefined,
    [["web.test:80", 9], ["canary.test:80", 1]],
  );

  await disco.update(file(routed));
  assert.equal(states.length, 1, "the same routes are not republished");
  await disco.update(file(routed.replace("weight: 9", "weight: 5")));
  assert.equal(states.length, 2, "new weights are");
  await disco.update(file(base));
  assert.equal(states.length, 3);
  assert.equal(web.get().routes, undefined, "routes removed from the file");
});
