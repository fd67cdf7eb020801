import assert from "node:assert/strict";
import {
  parseBool,
  parseDurationMs,
  parseNumber,
  parsePort,
  parseUint,
} from "./parse.ts";

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
