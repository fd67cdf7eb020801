import assert from "node:assert/strict";
import { parseConfigYaml } from "./yaml.ts";

Deno.test("parseConfigYaml() services[].addresses: the ip:port a service answers for", () => {
  const cfg = parseConfigYaml(
    `
services:
  - name: web.test:80
    addresses: [10.96.0.10:80, "[FD00:0::10]:8080"]
    endpoints: [10.0.0.1:8081]
  - name: db.test:5432
    addresses: [10.96.0.11:5432]
    opaque: true
    endpoints: [10.0.0.2:5432]
`,
    "t.yaml",
  );
  assert.deepEqual(cfg.services[0]!.addresses, [
    "10.96.0.10:80",
    "[fd00::10]:8080",
  ]);
  assert.equal(cfg.services[0]!.opaque, undefined);
  assert.equal(cfg.services[1]!.opaque, true);
});

Deno.test("parseConfigYaml() services[].addresses errors name file, line, column and field", () => {
  assert.throws(
    () =>
      parseConfigYaml(
        `services:
  - name: web.test:80
    addresses: [10.96.0.10:80, web.test:80]
    endpoints: [10.0.0.1:8081]
`,
        "t.yaml",
      ),
    {
      message:
        't.yaml:3:32: services[0].addresses[1]: Cannot parse address: current value is "web.test:80"',
    },
  );
  assert.throws(
    () =>
      parseConfigYaml(
        `services:
  - name: a.test:80
    addresses: [10.96.0.10:80]
    endpoints: []
  - name: b.test:80
    addresses: [10.96.0.10:80]
    endpoints: []
`,
        "t.yaml",
      ),
    /^TypeError: t\.yaml:6:17: services\[1\]\.addresses\[0\]: Duplicate service address "10\.96\.0\.10:80"/,
  );
});
