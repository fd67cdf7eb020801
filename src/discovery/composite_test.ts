import assert from "node:assert/strict";
import { parseConfigYaml } from "../config/yaml.ts";
import { causeOf, ResolveError } from "../errors.ts";
import type { Watch } from "../svc/watch.ts";
import { FakeDns } from "./_test_util.ts";
import { CompositeDiscovery } from "./composite.ts";
import type { ServiceState } from "./resolve.ts";

const CONFIG = parseConfigYaml(
  `
services:
  - name: web.test:8080
    protocol: http2
    endpoints: [127.0.0.1:9001]
`,
  "test.yaml",
);

function nextState(watch: Watch<ServiceState>): Promise<ServiceState> {
  return new Promise((resolve) => {
    const sub = watch.subscribe((s) => {
      sub[Symbol.dispose]();
      resolve(s);
    });
  });
}

Deno.test("CompositeDiscovery.resolve() prefers the config file over DNS", async () => {
  const fake = new FakeDns();
  fake.set("web.test", ["10.0.0.1"]);
  using disco = new CompositeDiscovery({ lookup: fake.lookup, file: CONFIG });
  const watch = await disco.resolve("Web.Test:8080");
  assert.deepEqual(watch.get(), {
    name: "web.test:8080",
    protocol: "http2",
    endpoints: [{ addr: "127.0.0.1:9001", host: "127.0.0.1", port: 9001 }],
    source: "config",
  });
  assert.equal(fake.calls("web.test"), 0);
  assert.equal(await disco.resolve("web.test:8080"), watch, "cached");
});

Deno.test("CompositeDiscovery.resolve() falls back to DNS on the same port", async () => {
  const fake = new FakeDns();
  fake.set("api.test", ["10.0.0.2", "10.0.0.1"]);
  await using disco = new CompositeDiscovery({ lookup: fake.lookup });
  await disco.update(CONFIG);
  const [a, b] = await Promise.all([
    disco.resolve("api.test:7000"),
    disco.resolve("API.test:7000"),
  ]);
  assert.equal(a, b);
  assert.equal(fake.calls("api.test"), 1, "one lookup for concurrent callers");
  assert.deepEqual(a.get(), {
    name: "api.test:7000",
    protocol: "auto",
    endpoints: [
      { addr: "10.0.0.1:7000", host: "10.0.0.1", port: 7000 },
      { addr: "10.0.0.2:7000", host: "10.0.0.2", port: 7000 },
    ],
    source: "dns",
  });
  const noPort = await disco.resolve("api.test");
  assert.equal(noPort.get().name, "api.test:80");
  assert.equal(disco.size, 2);
});

Deno.test("CompositeDiscovery.resolve() resolves real names: localhost, an IP, not .invalid", async () => {
  await using disco = new CompositeDiscovery();
  const local = await disco.resolve("localhost:8080");
  assert.ok(
    local.get().endpoints.some((e) =>
      e.host === "127.0.0.1" || e.host === "::1"
    ),
  );
  const ip = await disco.resolve("10.1.2.3:99");
  assert.deepEqual(ip.get().endpoints, [
    { addr: "10.1.2.3:99", host: "10.1.2.3", port: 99 },
  ]);
  await assert.rejects(() => disco.resolve("nothing.invalid:80"), (err) => {
    const e = causeOf(err, ResolveError);
    assert.ok(e);
    assert.equal(e.authority, "nothing.invalid:80");
    return true;
  });
  await assert.rejects(() => disco.resolve("bad authority"), ResolveError);
  assert.equal(disco.size, 2, "failures are not cached");
});

Deno.test("CompositeDiscovery evicts idle entries and stops their DNS refresh", async () => {
  const fake = new FakeDns();
  fake.set("api.test", ["10.0.0.1"]);
  let now = 0;
  await using disco = new CompositeDiscovery({
    lookup: fake.lookup,
    idleTimeoutMs: 1000,
    sweepMs: 60_000, // the test sweeps by hand
    now: () => now,
  });
  await disco.update(CONFIG);
  const dnsWatch = await disco.resolve("api.test:80");
  const configWatch = await disco.resolve("web.test:8080");
  const held = await disco.resolve("held.test:80").catch(() => undefined);
  assert.equal(held, undefined);
  assert.equal(disco.dns.size, 1);

  now = 600;
  await disco.resolve("web.test:8080"); // used again
  assert.equal(disco.sweep(), 0);
  now = 1000;
  assert.equal(disco.sweep(), 1, "api.test idle for 1000ms");
  assert.equal(disco.size, 1);
  assert.equal(disco.dns.size, 0, "its DNS refresh stopped");
  assert.ok(dnsWatch.closed);

  // A subscriber keeps an entry alive however long nobody resolves it.
  const sub = configWatch.subscribe(() => {});
  now = 10_000;
  assert.equal(disco.sweep(), 0);
  sub[Symbol.dispose]();
  now = 10_999;
  assert.equal(disco.sweep(), 0);
  now = 11_000;
  assert.equal(disco.sweep(), 1);
  assert.equal(disco.size, 0);

  const again = await disco.resolve("api.test:80");
  assert.notEqual(again, dnsWatch);
  assert.equal(fake.calls("api.test"), 2);
});

Deno.test("CompositeDiscovery sweeps on its own timer", async () => {
  const fake = new FakeDns();
  fake.set("api.test", ["10.0.0.1"]);
  await using disco = new CompositeDiscovery({
    lookup: fake.lookup,
    idleTimeoutMs: 20,
    sweepMs: 10,
  });
  await disco.resolve("api.test:80");
  const deadline = Date.now() + 2000;
  while (disco.size > 0 && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  assert.equal(disco.size, 0);
  assert.equal(disco.dns.size, 0);
});

Deno.test("CompositeDiscovery switches a DNS name to the config file when it appears there, and back", async () => {
  const fake = new FakeDns();
  fake.set("web.test", ["10.0.0.7"]);
  await using disco = new CompositeDiscovery({ lookup: fake.lookup });
  await disco.update(parseConfigYaml("services: []", "empty.yaml"));
  const watch = await disco.resolve("web.test:8080");
  assert.equal(watch.get().source, "dns");
  assert.equal(disco.dns.size, 1);

  const toConfig = nextState(watch);
  await disco.update(CONFIG);
  const configState = await toConfig;
  assert.equal(configState.source, "config");
  assert.equal(configState.protocol, "http2");
  assert.deepEqual(configState.endpoints.map((e) => e.addr), [
    "127.0.0.1:9001",
  ]);
  assert.equal(disco.dns.size, 0, "DNS refresh stopped");
  assert.equal(await disco.resolve("web.test:8080"), watch);

  // Removed from the file: first the empty config state, then DNS.
  const states: ServiceState[] = [];
  const backToDns = new Promise<void>((resolve) => {
    const sub = watch.subscribe((s) => {
      states.push(s);
      if (s.source === "dns") {
        sub[Symbol.dispose]();
        resolve();
      }
    });
  });
  await disco.update(parseConfigYaml("services: []", "empty.yaml"));
  await backToDns;
  assert.deepEqual(states.map((s) => [s.source, s.endpoints.length]), [
    ["config", 0],
    ["dns", 1],
  ]);
  assert.equal(states[1]?.endpoints[0]?.addr, "10.0.0.7:8080");
});

Deno.test("CompositeDiscovery keeps the empty config state when a removed name is unknown to DNS", async () => {
  const fake = new FakeDns();
  await using disco = new CompositeDiscovery({ lookup: fake.lookup });
  await disco.update(CONFIG);
  const watch = await disco.resolve("web.test:8080");
  await disco.update(parseConfigYaml("services: []", "empty.yaml"));
  await fake.waitCalls("web.test", 1);
  assert.deepEqual(watch.get(), {
    name: "web.test:8080",
    protocol: "http2",
    endpoints: [],
    source: "config",
  });
  assert.ok(!watch.closed);
});

Deno.test("CompositeDiscovery.dispose() closes every watch and refuses new work", async () => {
  const fake = new FakeDns();
  fake.set("api.test", ["10.0.0.1"]);
  const disco = new CompositeDiscovery({
    lookup: fake.lookup,
    dnsRefreshMs: 5,
  });
  const watch = await disco.resolve("api.test:80");
  await disco[Symbol.asyncDispose]();
  assert.ok(watch.closed);
  assert.equal(disco.dns.size, 0);
  await assert.rejects(() => disco.resolve("api.test:80"), ResolveError);
});
