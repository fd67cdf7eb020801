import assert from "node:assert/strict";
import {
  formatSocketAddr,
  parseAuthority,
  parseSocketAddr,
  splitHostPort,
} from "./socket_addr.ts";
import { isDnsIdentityName, isDnsName } from "./dns_name.ts";

const NAME = "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR";

Deno.test("parseSocketAddr() parses ip:port, [v6]:port and host:port", () => {
  assert.deepEqual(parseSocketAddr("127.0.0.1:4140", NAME), {
    host: "127.0.0.1",
    port: 4140,
  });
  assert.deepEqual(parseSocketAddr("[::1]:4140", NAME), {
    host: "::1",
    port: 4140,
  });
  assert.deepEqual(parseSocketAddr("[FE80::1]:80", NAME), {
    host: "fe80::1",
    port: 80,
  });
  assert.deepEqual(parseSocketAddr("Redis.Test:6379", NAME), {
    host: "redis.test",
    port: 6379,
  });
  assert.deepEqual(parseSocketAddr("svc.ns.svc.cluster.local.:8086", NAME), {
    host: "svc.ns.svc.cluster.local",
    port: 8086,
  });
  assert.deepEqual(parseSocketAddr("localhost:0", NAME), {
    host: "localhost",
    port: 0,
  });
});

Deno.test("parseSocketAddr() rejects malformed addresses in std style", () => {
  for (
    const bad of [
      "x",
      "127.0.0.1",
      "127.0.0.1:",
      "127.0.0.1:http",
      "::1:80",
      "[::1]",
      "[127.0.0.1]:80",
      "[::1]80",
      "bad host:80",
      "-bad.test:80",
      "256.1.1.1:80",
      "127.0.0:80",
      ":80",
    ]
  ) {
    assert.throws(() => parseSocketAddr(bad, NAME), {
      name: "TypeError",
      message: `Cannot parse ${NAME}: current value is "${bad}"`,
    }, bad);
  }
  assert.throws(() => parseSocketAddr("127.0.0.1:70000", NAME), RangeError);
  assert.throws(
    () => parseSocketAddr("localhost:4140", NAME, { ip: true }),
    TypeError,
  );
});

Deno.test("parseAuthority() defaults the port to 80 and normalizes case", () => {
  assert.deepEqual(parseAuthority("Web.Test", "a"), {
    host: "web.test",
    port: 80,
  });
  assert.deepEqual(parseAuthority("web.test:8080", "a"), {
    host: "web.test",
    port: 8080,
  });
  assert.deepEqual(parseAuthority("[::1]", "a"), { host: "::1", port: 80 });
  assert.deepEqual(parseAuthority("10.0.0.1", "a", { defaultPort: 443 }), {
    host: "10.0.0.1",
    port: 443,
  });
  assert.throws(() => parseAuthority("", "service name"), {
    message: 'Cannot parse service name: current value is ""',
  });
});

Deno.test("formatSocketAddr() brackets IPv6", () => {
  assert.equal(formatSocketAddr({ host: "::1", port: 80 }), "[::1]:80");
  assert.equal(formatSocketAddr({ host: "a.test", port: 1 }), "a.test:1");
});

Deno.test("isDnsName() follows label rules", () => {
  assert.ok(isDnsName("web.ns.svc.cluster.local"));
  assert.ok(isDnsName("web.ns.svc.cluster.local."));
  assert.ok(isDnsName("_grpc.web"));
  assert.ok(!isDnsName(""));
  assert.ok(!isDnsName("a..b"));
  assert.ok(!isDnsName("a-.b"));
  assert.ok(!isDnsName("1.2.3.4"));
  assert.ok(!isDnsName("a".repeat(64) + ".test"));
});

Deno.test("isDnsIdentityName() refuses a trailing dot", () => {
  assert.ok(isDnsIdentityName("web.ns.serviceaccount.identity.linkerd.local"));
  assert.ok(!isDnsIdentityName("web.test."));
  assert.ok(!isDnsIdentityName("*.web.test"));
});

Deno.test("splitHostPort() splits host:port and [v6]:port", () => {
  assert.deepEqual(splitHostPort("127.0.0.1:80"), {
    host: "127.0.0.1",
    port: 80,
  });
  assert.deepEqual(splitHostPort("[::1]:4140"), { host: "::1", port: 4140 });
  assert.throws(() => splitHostPort("web.test"), {
    message: 'Cannot parse address: current value is "web.test"',
  });
});
