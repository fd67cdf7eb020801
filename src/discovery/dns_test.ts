import assert from "node:assert/strict";
import { causeOf, ResolveError } from "../errors.ts";
import { FakeDns } from "./_test_util.ts";
import { DnsDiscovery } from "./dns.ts";

Deno.test("DnsDiscovery.resolveHost() resolves localhost through /etc/hosts", async () => {
  await using dns = new DnsDiscovery();
  using name = await dns.resolveHost("localhost");
  assert.ok(
    name.addresses.get().some((a) => a === "127.0.0.1" || a === "::1"),
    String(name.addresses.get()),
  );
  assert.equal(dns.size, 1);
});

Deno.test("DnsDiscovery.resolveHost() returns an IP as itself without a lookup", async () => {
  const fake = new FakeDns();
  using dns = new DnsDiscovery({ lookup: fake.lookup });
  using v4 = await dns.resolveHost("10.1.2.3");
  using v6 = await dns.resolveHost("::1");
  assert.deepEqual(v4.addresses.get(), ["10.1.2.3"]);
  assert.deepEqual(v6.addresses.get(), ["::1"]);
  assert.equal(fake.calls("10.1.2.3"), 0);
});

Deno.test("DnsDiscovery.resolveHost() rejects an unknown name with ResolveError", async () => {
  await using dns = new DnsDiscovery();
  await assert.rejects(
    () => dns.resolveHost("no-such-host.invalid"),
    (err: unknown) => {
      const e = causeOf(err, ResolveError);
      assert.ok(e, String(err));
      assert.equal(e.kind, "unresolved");
      assert.equal(e.authority, "no-such-host.invalid");
      assert.match(
        e.message,
        /^cannot resolve no-such-host\.invalid: .*ENOTFOUND/,
      );
      return true;
    },
  );
  assert.equal(dns.size, 0, "a failed name is not kept");
});

Deno.test("DnsDiscovery keeps the last known addresses when a refresh fails", async () => {
  const fake = new FakeDns();
  fake.set("web.test", ["10.0.0.2", "10.0.0.1"]);
  using dns = new DnsDiscovery({ lookup: fake.lookup, refreshMs: 5 });
  using name = await dns.resolveHost("web.test");
  assert.deepEqual(name.addresses.get(), ["10.0.0.1", "10.0.0.2"]);
  const published: (readonly string[])[] = [];
  using _sub = name.addresses.subscribe((a) => published.push(a));

  fake.set("web.test", new Error("getaddrinfo EAI_AGAIN web.test"));
  await fake.waitCalls("web.test", 3);
  assert.deepEqual(name.addresses.get(), ["10.0.0.1", "10.0.0.2"]);
  assert.match(name.lastError?.message ?? "", /EAI_AGAIN/);
  assert.deepEqual(published, []);

  // Same set in another order: no change, nothing published.
  fake.set("web.test", ["10.0.0.2", "10.0.0.1", "10.0.0.1"]);
  await fake.waitCalls("web.test", 5);
  assert.deepEqual(published, []);
  assert.equal(name.lastError, undefined);

  fake.set("web.test", ["10.0.0.3"]);
  const n = fake.calls("web.test");
  await fake.waitCalls("web.test", n + 1);
  assert.deepEqual(published, [["10.0.0.3"]]);
});

Deno.test("DnsDiscovery shares one refresh per name and stops it when released", async () => {
  const fake = new FakeDns();
  fake.set("a.test", ["10.0.0.1"]);
  using dns = new DnsDiscovery({ lookup: fake.lookup, refreshMs: 5 });
  const first = await dns.resolveHost("a.test");
  const second = await dns.resolveHost("a.test");
  assert.equal(fake.calls("a.test"), 1);
  assert.equal(dns.size, 1);
  first[Symbol.dispose]();
  first[Symbol.dispose](); // idempotent
  await fake.waitCalls("a.test", 2);
  assert.equal(dns.size, 1);
  second[Symbol.dispose]();
  assert.equal(dns.size, 0);
  const calls = fake.calls("a.test");
  await new Promise((resolve) => setTimeout(resolve, 30));
  assert.equal(fake.calls("a.test"), calls, "no refresh after release");
});

Deno.test("DnsDiscovery.followHost() keeps trying a name that does not resolve yet", async () => {
  const fake = new FakeDns();
  using dns = new DnsDiscovery({ lookup: fake.lookup, refreshMs: 5 });
  using name = dns.followHost("late.test");
  await name.ready;
  assert.deepEqual(name.addresses.get(), []);
  assert.ok(name.lastError);
  fake.set("late.test", ["10.9.9.9"]);
  const seen = new Promise<readonly string[]>((resolve) => {
    const sub = name.addresses.subscribe((a) => {
      sub[Symbol.dispose]();
      resolve(a);
    });
  });
  assert.deepEqual(await seen, ["10.9.9.9"]);
});

Deno.test("DnsDiscovery.resolveService() publishes one endpoint per address", async () => {
  const fake = new FakeDns();
  fake.set("api.test", ["10.0.0.1", "fd00::1"]);
  fake.set("localhost", ["127.0.0.1"]);
  using dns = new DnsDiscovery({ lookup: fake.lookup });
  using svc = await dns.resolveService("API.test:8080");
  assert.deepEqual(svc.watch.get(), {
    name: "api.test:8080",
    protocol: "http1",
    endpoints: [
      { addr: "10.0.0.1:8080", host: "10.0.0.1", port: 8080 },
      { addr: "[fd00::1]:8080", host: "fd00::1", port: 8080 },
    ],
    source: "dns",
  });
  using local = await dns.resolveService("localhost");
  assert.equal(local.watch.get().name, "localhost:80");
  await assert.rejects(() => dns.resolveService("nope.test:80"), {
    name: "ResolveError",
    message: /^cannot resolve nope\.test:80: /,
  });
  await assert.rejects(() => dns.resolveService("bad name:80"), ResolveError);
});
