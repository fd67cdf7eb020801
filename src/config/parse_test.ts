import assert from "node:assert/strict";
import {
  formatSocketAddr,
  isDnsName,
  parseAuthority,
  parseBool,
  parseDurationMs,
  parseNumber,
  parsePort,
  parseSocketAddr,
  parseUint,
} from "./parse.ts";

const NAME = "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR";

Deno.test("parseDurationMs() accepts linkerd's units", () => {
  assert.equal(parseDurationMs("0", "d"), 0);
  assert.equal(parseDurationMs("0ms", "d"), 0);
  assert.equal(parseDurationMs("250ms", "d"), 250);
  assert.equal(parseDurationMs("10s", "d"), 10_000);
  assert.equal(parseDurationMs("5m", "d"), 300_000);
  assert.equal(parseDurationMs("2h", "d"), 7_200_000);
  assert.equal(parseDurationMs("365d", "d"), 31_536_000_000);
  assert.equal(parseDurationMs("  3s \t", "d"), 3_000);
});

Deno.test("parseDurationMs() rejects a unitless non-zero, bad units and junk", () => {
  for (
    const bad of ["5", "1.5s", "-1s", "s", "", "10 s", "1sec", "1S", "1us"]
  ) {
    assert.throws(
      () => parseDurationMs(bad, "LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT"),
      (err: unknown) =>
        err instanceof TypeError &&
        err.message.startsWith(
          `Cannot parse LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT: current value is "${bad}"`,
        ),
      bad,
    );
  }
  assert.throws(() => parseDurationMs("99999999999999999d", "x"), RangeError);
});

Deno.test("parseBool() accepts only true and false", () => {
  assert.equal(parseBool("true", "b"), true);
  assert.equal(parseBool("false", "b"), false);
  for (const bad of ["TRUE", "1", "yes", "", " true"]) {
    assert.throws(() => parseBool(bad, "B"), {
      name: "TypeError",
      message: `Cannot parse B: current value is "${bad}"`,
    });
  }
});

Deno.test("parsePort() and parseUint() check digits and range", () => {
  assert.equal(parsePort("0", "p"), 0);
  assert.equal(parsePort("65535", "p"), 65535);
  assert.throws(() => parsePort("65536", "P"), {
    name: "RangeError",
    message: 'Cannot parse P: current value is "65536"',
  });
  assert.throws(() => parsePort("-1", "P"), TypeError);
  assert.throws(() => parsePort("80a", "P"), TypeError);
  assert.equal(parseUint(" 100000 ", "n"), 100000);
  assert.throws(() => parseUint("1e3", "n"), TypeError);
  assert.throws(() => parseUint("", "n"), TypeError);
});

Deno.test("parseNumber() checks finiteness and bounds", () => {
  assert.equal(parseNumber("0.1", "j", { min: 0, max: 1 }), 0.1);
  assert.throws(() => parseNumber("1.5", "J", { min: 0, max: 1 }), {
    name: "RangeError",
    message: 'Cannot parse J: current value is "1.5"',
  });
  assert.throws(() => parseNumber("NaN", "J"), TypeError);
  assert.throws(() => parseNumber("", "J"), TypeError);
  assert.throws(() => parseNumber("Infinity", "J"), TypeError);
});

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
