/**
 * `LINKERD2_PROXY_LOG_FORMAT=json` on a real Petrel process: every stderr
 * line is one JSON object in tracing-subscriber's shape (linkerd
 * `linkerd/tracing` `mk_json`), and `LINKERD2_PROXY_LOG` per-target
 * directives pick which of Petrel's loggers write.
 */
import assert from "node:assert/strict";
import { servicesYaml, spawnPetrel, waitFor } from "./support/petrel.ts";

const YAML = servicesYaml({ "web.test:8080": { endpoints: ["127.0.0.1:9"] } });

Deno.test("LINKERD2_PROXY_LOG_FORMAT=json writes tracing's JSON lines, per-target levels honoured", async () => {
  const petrel = await spawnPetrel(YAML, {
    LINKERD2_PROXY_LOG_FORMAT: "json",
    // Every logger at info but petrel::outbound, at warn.
    LINKERD2_PROXY_LOG: "warn,linkerd=info,petrel::outbound=warn",
  });
  try {
    await waitFor(
      () => petrel.peer.stderr().includes("Admin interface on"),
      "the admin server's info line",
      10_000,
    );
    const lines = petrel.peer.stderr().split("\n").filter((l) => l !== "");
    assert.ok(lines.length > 0);
    for (const line of lines) {
      const obj = JSON.parse(line) as Record<string, unknown>;
      assert.deepEqual(Object.keys(obj), [
        "timestamp",
        "level",
        "fields",
        "target",
        "spans",
        "threadId",
      ], line);
      assert.match(String(obj.timestamp), /^\d{4}-\d\d-\d\dT[\d:]+\.\d{6}Z$/);
      assert.match(String(obj.level), /^(ERROR|WARN|INFO|DEBUG|TRACE)$/);
      const fields = obj.fields as Record<string, unknown>;
      assert.equal(typeof fields.message, "string");
      assert.match(String(obj.target), /^petrel/);
      assert.notEqual(obj.target, "petrel::outbound", "outbound is at warn");
    }
  } finally {
    await petrel.stop();
  }
});

Deno.test("LINKERD2_PROXY_LOG_FORMAT with an unknown value refuses to start", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("../main.ts", import.meta.url).pathname],
    env: { LINKERD2_PROXY_LOG_FORMAT: "xml" },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.notEqual(out.code, 0);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /LINKERD2_PROXY_LOG_FORMAT: current value is "xml"/,
  );
});
