import assert from "node:assert/strict";
import {
  decodeTransportHeader,
  encodeTransportHeader,
  TransportHeaderError,
} from "./transport_header.ts";

const PREFACE = "transport.l5d.io/v1\r\n\r\n";

Deno.test("transport header: the wire bytes match linkerd's encoding", () => {
  const b = encodeTransportHeader({ port: 4143 });
  const text = new TextDecoder().decode(b.subarray(0, PREFACE.length));
  assert.equal(text, PREFACE);
  // length 3, then field 1 varint 4143 = 0xaf 0x20.
  assert.deepEqual([...b.subarray(PREFACE.length)], [
    0,
    0,
    0,
    3,
    0x08,
    0xaf,
    0x20,
  ]);
  const named = encodeTransportHeader({
    port: 80,
    name: "web",
    sessionProtocol: "http2",
  });
  assert.deepEqual([...named.subarray(PREFACE.length)], [
    0,
    0,
    0,
    11,
    0x08,
    80,
    0x12,
    3,
    0x77,
    0x65,
    0x62,
    0x1a,
    2,
    0x12,
    0,
  ]);
});

Deno.test("transport header: round trip, partial input and trailing bytes", () => {
  for (
    const h of [
      { port: 8080 },
      { port: 1, name: "a.b.svc.cluster.local" },
      { port: 65535, sessionProtocol: "http1" as const },
      { port: 0 },
    ]
  ) {
    const enc = encodeTransportHeader(h);
    const withRest = new Uint8Array(enc.length + 3);
    withRest.set(enc);
    withRest.set([1, 2, 3], enc.length);
    const got = decodeTransportHeader(withRest);
    assert.deepEqual(got, { header: h, consumed: enc.length });
    for (let i = 0; i < enc.length; i++) {
      assert.equal(decodeTransportHeader(enc.subarray(0, i)), undefined);
    }
  }
});

Deno.test("transport header: malformed input is rejected", () => {
  assert.throws(
    () => decodeTransportHeader(new TextEncoder().encode("GET / HTTP/1.1\r\n")),
    TransportHeaderError,
  );
  const huge = new Uint8Array(PREFACE.length + 4);
  huge.set(new TextEncoder().encode(PREFACE));
  huge.set([0x7f, 0, 0, 0], PREFACE.length);
  assert.throws(() => decodeTransportHeader(huge), TransportHeaderError);
  const bad = encodeTransportHeader({ port: 1 });
  bad[bad.length - 2] = 0x0f; // wire type 7
  assert.throws(() => decodeTransportHeader(bad), TransportHeaderError);
});
