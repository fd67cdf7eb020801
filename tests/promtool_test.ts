/**
 * `/metrics` passes `promtool check metrics` (Debian's prometheus package),
 * except for linkerd's own legacy name `response_latency_ms`, which
 * dashboards built for linkerd2-proxy expect unchanged.
 */
import assert from "node:assert/strict";
import { startHttpBackend } from "./support/backend.ts";
import { httpRequest, servicesYaml, startPetrel } from "./support/petrel.ts";
import { run } from "./support/proc.ts";

/** promtool's findings that are linkerd's metric names, kept on purpose. */
const LINKERD_NAMES = [
  /^response_latency_ms metric names should not contain abbreviated units$/,
];

function hasPromtool(): boolean {
  try {
    return Deno.statSync("/usr/bin/promtool").isFile;
  } catch {
    return false;
  }
}

Deno.test({
  name: "metrics: /metrics passes promtool check metrics",
  ignore: !hasPromtool(),
  async fn() {
    const backend = await startHttpBackend();
    await using petrel = await startPetrel(servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }));
    try {
      for (const path of ["/", "/status?code=500", "/missing"]) {
        await httpRequest(petrel.port, "web.test", path);
      }
      const text = await (await fetch(
        `http://127.0.0.1:${petrel.adminPort}/metrics`,
      )).text();
      assert.match(text, /^request_total\{/m);
      const r = await run("promtool", ["check", "metrics"], {
        stdin: new TextEncoder().encode(text),
      });
      const findings = (r.stdout + r.stderr).split("\n").map((l) => l.trim())
        .filter((l) => l !== "");
      const unexpected = findings.filter((f) =>
        !LINKERD_NAMES.some((re) => re.test(f))
      );
      assert.deepEqual(unexpected, [], findings.join("\n"));
    } finally {
      await backend.close();
    }
  },
});
