import assert from "node:assert/strict";
import type { Update } from "./destination.ts";
import { formatTcpAddress, ipAddressOf, tcpAddressOf } from "./net.ts";
import { DESTINATION_SERVICE, rpcMethod } from "./proto.ts";

/** Encodes a `remove` update with `addrs` and decodes it again, as on the wire. */
function throughWire(addrs: string[]): string[] {
  const get = rpcMethod(DESTINATION_SERVICE, "Get");
  const bytes = get.responseSerialize({
    remove: { addrs: addrs.map(tcpAddressOf) },
  });
  const u = get.responseDeserialize(bytes) as Update;
  return (u.remove?.addrs ?? []).map(formatTcpAddress);
}

Deno.test("formatTcpAddress() reads IPv4 and IPv6 addresses from the wire", () => {
  const addrs = [
    "10.1.2.3:8080",
    "127.0.0.1:1",
    "255.255.255.255:65535",
    "[::1]:80",
    "[fd00::a:1]:4143",
    "[2001:db8:0:1:1:1:1:1]:443",
    "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:9",
    "[::]:1",
  ];
  assert.deepEqual(throughWire(addrs), addrs);
});

Deno.test("ipAddressOf() encodes IPv6 as two big-endian halves", () => {
  assert.deepEqual(ipAddressOf("::1"), { ipv6: { first: "0", last: "1" } });
  assert.deepEqual(ipAddressOf("1::"), {
    ipv6: { first: String(1n << 48n), last: "0" },
  });
  assert.deepEqual(ipAddressOf("::ffff:1.2.3.4"), {
    ipv6: { first: "0", last: String((0xffffn << 32n) | 0x01020304n) },
  });
  assert.deepEqual(ipAddressOf("1.2.3.4"), { ipv4: 0x01020304 });
  assert.throws(() => ipAddressOf("example.com"), TypeError);
});

Deno.test("formatTcpAddress() rejects a missing address or port", () => {
  assert.throws(() => formatTcpAddress(undefined), TypeError);
  assert.throws(() => formatTcpAddress({ ip: null, port: 80 }), TypeError);
  assert.throws(
    () => formatTcpAddress({ ip: { ipv4: 1 }, port: 0 }),
    RangeError,
  );
});
