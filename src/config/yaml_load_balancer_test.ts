import assert from "node:assert/strict";
import { parseConfigYaml } from "./yaml.ts";

const HEAD = "services:\n  - name: web.test:8080\n    endpoints: []\n";

Deno.test("parseConfigYaml() reads loadBalancer: peer-load and p2c-ewma; absent is linkerd's", () => {
  const lb = (extra: string) =>
    parseConfigYaml(`${HEAD}${extra}`, "lb.yaml").services[0]!.loadBalancer;
  assert.equal(lb("    loadBalancer: peer-load\n"), "peer-load");
  assert.equal(lb("    loadBalancer: p2c-ewma\n"), "p2c-ewma");
  assert.equal(lb(""), undefined);
});

Deno.test("parseConfigYaml() names a bad loadBalancer at file:line:col", () => {
  for (
    const [value, message] of [
      [
        "prequal",
        'lb.yaml:4:19: services[0].loadBalancer: Cannot parse loadBalancer: current value is "prequal" (expected "p2c-ewma" or "peer-load")',
      ],
      ["3", "lb.yaml:4:19: services[0].loadBalancer: "],
    ] as const
  ) {
    assert.throws(
      () => parseConfigYaml(`${HEAD}    loadBalancer: ${value}\n`, "lb.yaml"),
      (err: unknown) => {
        assert.ok(err instanceof Error);
        assert.ok(
          err.message.startsWith(message),
          `got:  ${err.message}\nwant: ${message}`,
        );
        return true;
      },
    );
  }
});
