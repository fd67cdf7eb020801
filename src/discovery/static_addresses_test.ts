import assert from "node:assert/strict";
import { parseConfigYaml } from "../config/yaml.ts";
import { CompositeDiscovery } from "./composite.ts";
import { ConfigDiscovery } from "./static.ts";

const YAML = `
services:
  - name: web.test:80
    addresses: [10.96.0.10:80, "[fd00::10]:80"]
    endpoints: [127.0.0.1:9001, 127.0.0.1:9002]
  - name: db.test:5432
    addresses: [10.96.0.11:5432]
    opaque: true
    endpoints: [127.0.0.1:9003]
`;

Deno.test("ConfigDiscovery.lookup() finds a service by one of its addresses", async () => {
  using disco = new ConfigDiscovery();
  await disco.update(parseConfigYaml(YAML, "t.yaml"));
  const web = disco.lookup("web.test:80");
  assert.ok(web);
  assert.equal(disco.lookup("10.96.0.10:80"), web);
  assert.equal(disco.lookup("[fd00::10]:80"), web);
  assert.equal(disco.has("10.96.0.10:80"), true);
  assert.equal(disco.lookup("10.96.0.10:81"), undefined);
  // A reload that drops the address forgets it.
  await disco.update(parseConfigYaml(
    "services: [{ name: web.test:80, endpoints: [127.0.0.1:9001] }]",
    "t.yaml",
  ));
  assert.equal(disco.lookup("10.96.0.10:80"), undefined);
});

Deno.test("CompositeDiscovery.resolve() of a service address gives the service's endpoints", async () => {
  await using disco = new CompositeDiscovery({
    file: parseConfigYaml(YAML, "t.yaml"),
  });
  const state = (await disco.resolve("10.96.0.10:80")).get();
  assert.equal(state.name, "web.test:80");
  assert.equal(state.opaque, undefined);
  assert.equal((await disco.resolve("10.96.0.11:5432")).get().opaque, true);
  assert.deepEqual(state.endpoints.map((e) => e.addr), [
    "127.0.0.1:9001",
    "127.0.0.1:9002",
  ]);
  // An address no service lists: the address itself (DNS of an IP literal).
  const direct = (await disco.resolve("10.96.0.11:80")).get();
  assert.deepEqual(direct.endpoints.map((e) => e.addr), ["10.96.0.11:80"]);
});
