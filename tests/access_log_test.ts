/**
 * The access log (linkerd `LINKERD2_PROXY_ACCESS_LOG`, reference §13):
 * off by default; `json` lines parse and match the requests sent, outbound
 * and inbound; `apache` lines have linkerd's shape; a bad value is refused
 * with an error and leaves the log off.
 */
import assert from "node:assert/strict";
import {
  AccessLog,
  type AccessLogRecord,
  parseAccessLogFormat,
} from "../src/access_log.ts";
import { buildApp } from "../src/app.ts";
import { parseConfig } from "../src/config/env.ts";
import { createLogger } from "../src/log.ts";
import { startHttpBackend } from "./support/backend.ts";
import {
  httpRequest,
  servicesYaml,
  spawnPetrel,
  writeConfig,
} from "./support/petrel.ts";

Deno.test("access log: format parsing is case-insensitive; other values are an error and off", () => {
  const errors: string[] = [];
  const onError = (m: string) => errors.push(m);
  assert.equal(parseAccessLogFormat(undefined, onError), undefined);
  assert.equal(parseAccessLogFormat("", onError), undefined);
  assert.equal(parseAccessLogFormat("JSON", onError), "json");
  assert.equal(parseAccessLogFormat("Apache", onError), "apache");
  assert.deepEqual(errors, []);
  assert.equal(parseAccessLogFormat("xml", onError), undefined);
  assert.equal(errors.length, 1);
  assert.match(errors[0]!, /LINKERD2_PROXY_ACCESS_LOG="xml"/);
});

Deno.test("access log: config is off by default, on with the env var", () => {
  assert.equal(parseConfig({}).accessLog, undefined);
  assert.equal(
    parseConfig({ LINKERD2_PROXY_ACCESS_LOG: "json" }).accessLog,
    "json",
  );
});

Deno.test("access log: apache renders linkerd's common-log shape", () => {
  const r: AccessLogRecord = {
    "client.addr": "127.0.0.1:5000",
    "client.id": "-",
    timestamp: "2024-01-01T00:00:00.000Z",
    method: "GET",
    uri: "http://web.test/a",
    version: "HTTP/1.1",
    trace_id: "-",
    request_bytes: "-",
    status: 200,
    response_bytes: "2",
    total_ns: 1,
    processing_ns: 1,
    user_agent: "-",
    host: "web.test",
  };
  assert.equal(
    new AccessLog("apache", () => {}).render(r),
    '127.0.0.1:5000 - - [2024-01-01T00:00:00.000Z] "GET http://web.test/a HTTP/1.1" 200',
  );
});

Deno.test("access log: json lines in-process match the requests, outbound and inbound", async () => {
  const backend = await startHttpBackend((req) => ({
    status: req.path === "/missing" ? 404 : 200,
    body: "hello",
  }));
  const yaml = servicesYaml(
    { "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] } },
    `inbound: { listen: 127.0.0.1:0, appPort: ${backend.port} }\n`,
  );
  const path = await writeConfig(yaml);
  const lines: string[] = [];
  const env = {
    LINKERD2_PROXY_ACCESS_LOG: "json",
    LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "1s",
  };
  const app = await buildApp(parseConfig(env, ["--config", path]), {
    env,
    logger: createLogger({ level: "error", write: () => {} }),
    accessLogWrite: (l) => lines.push(l),
  });
  try {
    const a = await httpRequest(app.outbound.port, "web.test", "/a?b=1", {
      headers: { "x-request-id": "req-1", "user-agent": "t/1" },
    });
    assert.equal(a.status, 200);
    const b = await httpRequest(app.outbound.port, "web.test", "/missing", {
      method: "POST",
      body: "12345",
    });
    assert.equal(b.status, 404);
    const c = await httpRequest(app.outbound.port, "nowhere.invalid", "/x");
    assert.ok(c.status >= 500, `status ${c.status}`);
    const d = await httpRequest(app.inbound!.port, "app.local", "/in", {
      headers: { "x-b3-traceid": "abc" },
    });
    assert.equal(d.status, 200);

    assert.equal(lines.length, 4, lines.join("\n"));
    const recs = lines.map((l) => JSON.parse(l) as AccessLogRecord);
    const [ra, rb, rc, rd] = recs as [
      AccessLogRecord,
      AccessLogRecord,
      AccessLogRecord,
      AccessLogRecord,
    ];
    for (const r of recs) {
      assert.match(r["client.addr"], /^127\.0\.0\.1:\d+$/);
      assert.equal(r["client.id"], "-");
      assert.ok(Date.parse(r.timestamp) > Date.now() - 60_000);
      assert.match(r.timestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
      assert.equal(r.version, "HTTP/1.1");
      assert.ok(r.total_ns > 0 && r.total_ns >= r.processing_ns);
      assert.ok(r.processing_ns >= 0);
    }
    assert.equal(ra.method, "GET");
    assert.equal(ra.uri, "http://web.test/a?b=1");
    assert.equal(ra.trace_id, "req-1");
    assert.equal(ra.user_agent, "t/1");
    assert.equal(ra.host, "web.test");
    assert.equal(ra.status, 200);
    assert.equal(ra.response_bytes, "5");
    assert.equal(ra.request_bytes, "-");
    assert.equal(rb.method, "POST");
    assert.equal(rb.status, 404);
    assert.equal(rb.request_bytes, "5");
    assert.equal(rc.uri, "http://nowhere.invalid/x");
    assert.equal(rc.status, c.status);
    assert.equal(rd.uri, "http://app.local/in");
    assert.equal(rd.trace_id, "abc");
    assert.equal(rd.status, 200);
  } finally {
    await app.shutdown();
    await backend.close();
    await Deno.remove(path.replace(/\/petrel\.yaml$/, ""), { recursive: true });
  }
});

Deno.test("access log: a child process writes json lines to stderr; off by default", async () => {
  const backend = await startHttpBackend();
  const yaml = servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  });
  const on = await spawnPetrel(yaml, { LINKERD2_PROXY_ACCESS_LOG: "Json" });
  const off = await spawnPetrel(yaml, { LINKERD2_PROXY_LOG: "off" });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(on.port, "web.test", `/n${i}`);
      assert.equal(r.status, 200);
      assert.equal((await httpRequest(off.port, "web.test", "/")).status, 200);
    }
    let recs: AccessLogRecord[] = [];
    const deadline = Date.now() + 5000;
    while (Date.now() < deadline) {
      recs = on.peer.stderr().split("\n")
        .filter((l) => l.startsWith("{") && l.includes('"client.addr"'))
        .map((l) => JSON.parse(l) as AccessLogRecord);
      if (recs.length >= 3) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.deepEqual(
      recs.map((r) => [r.method, r.uri, r.status]),
      [0, 1, 2].map((i) => ["GET", `http://web.test/n${i}`, 200]),
    );
    assert.doesNotMatch(off.peer.stderr(), /client\.addr/);
  } finally {
    await on.stop();
    await off.stop();
    await backend.close();
  }
});
