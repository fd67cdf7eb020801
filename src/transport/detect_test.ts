import assert from "node:assert/strict";
import { classify, type Detected, H2_PREFACE } from "./detect.ts";

const enc = (s: string) => new TextEncoder().encode(s);

const CASES: [string, Detected | undefined][] = [
  [H2_PREFACE, "h2"],
  [H2_PREFACE + "\x00\x00\x12\x04", "h2"],
  ["PRI * HTTP/2", undefined], // prefix of the preface: wait for more
  ["GET / HTTP/1.1\r\nHost: a\r\n\r\n", "http1"],
  ["GET http://web.test:8080/x HTTP/1.1\r\n", "http1"],
  ["POST /x HTTP/1.0\r\n", "http1"],
  ["OPTIONS * HTTP/1.1\n", "http1"],
  ["CONNECT web.test:443 HTTP/1.1\r\n", "http1"],
  ["GET / HTTP/1.1", undefined], // no line end yet
  ["GET /", undefined],
  ["GET", undefined],
  ["GET / HTTP/2.0\r\n", "opaque"],
  ["GET / FOO/1.1\r\n", "opaque"],
  ["GET  / HTTP/1.1\r\n", "opaque"],
  ["\x16\x03\x01\x02\x00", "tls"],
  ["SSH-2.0-OpenSSH_9.2\r\n", "opaque"],
  ["*1\r\n$4\r\nPING\r\n", "opaque"],
  ["\x00\x01\x02", "opaque"],
];

for (const [input, expected] of CASES) {
  Deno.test(`classify() ${JSON.stringify(input.slice(0, 24))} → ${expected}`, () => {
    assert.equal(classify(enc(input)), expected);
  });
}
