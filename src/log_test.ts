import assert from "node:assert/strict";
import {
  createLogger,
  DEFAULT_LOG_FILTER,
  parseLogFilter,
  parseLogFormat,
} from "./log.ts";

const NOW = Date.UTC(2025, 0, 2, 3, 4, 5, 678);

function capture(level: string, format?: "plain" | "json") {
  const lines: string[] = [];
  const log = createLogger({
    level,
    format,
    write: (l) => lines.push(l),
    now: () => NOW,
  });
  return { log, lines };
}

Deno.test("parseLogFilter() takes the most verbose level for our targets", () => {
  assert.equal(parseLogFilter(DEFAULT_LOG_FILTER), "info");
  assert.equal(parseLogFilter("warn,linkerd=info"), "info");
  assert.equal(parseLogFilter("warn"), "warn");
  assert.equal(parseLogFilter("warn,hickory=trace"), "warn");
  assert.equal(parseLogFilter("error,linkerd2_proxy=debug"), "debug");
  assert.equal(parseLogFilter("info,petrel::outbound=trace"), "trace");
  assert.equal(parseLogFilter("linkerd[span{x=1}]=debug,warn"), "debug");
  assert.equal(parseLogFilter("OFF"), "off");
  assert.equal(parseLogFilter(" debug , "), "debug");
  assert.equal(parseLogFilter("hickory=debug"), "error");
});

Deno.test("parseLogFilter() rejects unknown levels and empty filters", () => {
  assert.throws(() => parseLogFilter("loud"), SyntaxError);
  assert.throws(() => parseLogFilter("warn,linkerd=chatty"), SyntaxError);
  assert.throws(() => parseLogFilter(""), SyntaxError);
  assert.throws(() => parseLogFilter(" , "), SyntaxError);
});

Deno.test("parseLogFormat() accepts plain and json", () => {
  assert.equal(parseLogFormat("PLAIN"), "plain");
  assert.equal(parseLogFormat("json"), "json");
  assert.throws(() => parseLogFormat("xml"), SyntaxError);
});

Deno.test("createLogger() drops lines below the level", () => {
  const { log, lines } = capture("warn,linkerd=info");
  log.trace("t");
  log.debug("d");
  log.info("i");
  log.warn("w");
  log.error("e");
  assert.deepEqual(lines.map((l) => l.split(/ +/)[1] ?? ""), [
    "INFO",
    "WARN",
    "ERROR",
  ]);
  assert.equal(log.enabled("info"), true);
  assert.equal(log.enabled("debug"), false);
});

Deno.test("createLogger() writes plain lines with timestamp, target and fields", () => {
  const { log, lines } = capture("trace");
  log.child("outbound").info("connected", {
    addr: "10.0.0.1:80",
    n: 3,
    ok: true,
    note: "two words",
  });
  log.error("failed", {
    error: new Error("boom", { cause: new Error("eof") }),
  });
  assert.deepEqual(lines, [
    '2025-01-02T03:04:05.678Z  INFO petrel::outbound: connected addr=10.0.0.1:80 n=3 ok=true note="two words"',
    '2025-01-02T03:04:05.678Z ERROR petrel: failed error="boom: eof"',
  ]);
});

Deno.test("createLogger() writes json lines", () => {
  const { log, lines } = capture("debug", "json");
  log.child("admin").debug("served", { path: "/ready", status: 200 });
  assert.equal(lines.length, 1);
  assert.deepEqual(JSON.parse(lines[0]!), {
    timestamp: "2025-01-02T03:04:05.678000Z",
    level: "DEBUG",
    fields: { message: "served", path: "/ready", status: 200 },
    target: "petrel::admin",
    spans: [],
    threadId: "ThreadId(1)",
  });
  assert.deepEqual(Object.keys(JSON.parse(lines[0]!)), [
    "timestamp",
    "level",
    "fields",
    "target",
    "spans",
    "threadId",
  ]);
  const circular: Record<string, unknown> = {};
  circular.self = circular;
  log.warn("odd", { circular, big: 10n });
  assert.equal(lines.length, 2);
  assert.equal(typeof JSON.parse(lines[1]!), "string");
});

Deno.test("Logger.setLevel() changes the whole tree and keeps the filter text", () => {
  const { log, lines } = capture("warn");
  const child = log.child("x");
  child.info("hidden");
  log.setLevel("warn,linkerd=debug");
  assert.equal(log.filter, "warn,linkerd=debug");
  assert.equal(child.level, "debug");
  child.debug("shown");
  assert.throws(() => child.setLevel("nope"), SyntaxError);
  assert.equal(log.filter, "warn,linkerd=debug");
  log.setLevel("off");
  log.error("silenced");
  assert.equal(lines.length, 1);
  assert.match(lines[0]!, /DEBUG petrel::x: shown$/);
});

Deno.test("createLogger() does not format disabled lines", () => {
  const { log, lines } = capture("info");
  let touched = false;
  const fields = {
    get expensive() {
      touched = true;
      return 1;
    },
  };
  log.debug("skip", fields);
  assert.equal(touched, false);
  log.info("keep", fields);
  assert.equal(touched, true);
  assert.equal(lines.length, 1);
});

Deno.test("createLogger() survives a throwing writer", () => {
  const log = createLogger({
    level: "info",
    write: () => {
      throw new Error("closed");
    },
  });
  log.info("x");
});

Deno.test("createLogger() honours per-target directives naming Petrel's loggers", () => {
  const { log, lines } = capture("warn,petrel::outbound=debug");
  const outbound = log.child("outbound");
  const inbound = log.child("inbound");
  outbound.child("dst").debug("deep");
  outbound.debug("out");
  inbound.info("hidden");
  inbound.warn("in");
  assert.equal(outbound.enabled("debug"), true);
  assert.equal(inbound.enabled("info"), false);
  assert.deepEqual(lines.map((l) => l.split(": ")[1]), ["deep", "out", "in"]);
  // linkerd's crate names map to Petrel's loggers; the most specific wins.
  log.setLevel("info,linkerd=warn,linkerd_app_inbound=trace");
  assert.equal(inbound.enabled("trace"), true);
  assert.equal(outbound.enabled("info"), false);
  assert.equal(log.enabled("warn"), true);
  log.setLevel("hickory=debug");
  assert.equal(outbound.enabled("warn"), false);
  assert.equal(outbound.enabled("error"), true);
});
