/**
 * Config file reloads while Petrel serves (Petrel's stand-in for linkerd's
 * control-plane updates): a service moved to another backend switches with
 * no failed request, an invalid file is rejected with its line named and the
 * last good config kept, and a service added to the file becomes routable.
 */
import assert from "node:assert/strict";
import { type Backend, startHttpBackend } from "./support/backend.ts";
import {
  httpRequest,
  servicesYaml,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";

/** Sends requests back to back until stopped; counts answers by body. */
function requestLoop(petrel: TestPetrel, host: string) {
  const bodies = new Map<string, number>();
  const failures: string[] = [];
  let sent = 0;
  let stopped = false;
  const done = (async () => {
    while (!stopped) {
      sent++;
      try {
        const r = await httpRequest(petrel.port, host, "/");
        if (r.status !== 200) failures.push(`${r.status} ${r.body}`);
        else bodies.set(r.body, (bodies.get(r.body) ?? 0) + 1);
      } catch (err) {
        failures.push(String(err));
      }
    }
  })();
  return {
    bodies,
    failures,
    get sent() {
      return sent;
    },
    count: (b: Backend) => bodies.get(b.name) ?? 0,
    async stop() {
      stopped = true;
      await done;
    },
  };
}

Deno.test("config reload: a service moved to another backend switches with no failed request", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] } }),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  const loop = requestLoop(petrel, "web.test");
  try {
    await waitFor(() => loop.count(a) >= 20, "requests to the first backend");
    await Deno.writeTextFile(
      petrel.configPath,
      servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${b.port}`] } }),
    );
    await waitFor(() => loop.count(b) >= 1, "the switch", 5_000);
    const aAtSwitch = loop.count(a);
    await waitFor(() => loop.count(b) >= 20, "requests to the new backend");
    await loop.stop();
    assert.deepEqual(loop.failures, [], "no request failed");
    assert.equal(loop.count(a) + loop.count(b), loop.sent);
    assert.equal(loop.count(a), aAtSwitch, "nothing went to the old backend");
    assert.ok(
      logs.some((l) => /config reloaded/.test(l)),
      `a reload was logged:\n${logs.join("\n")}`,
    );
  } finally {
    await loop.stop();
    await petrel.close();
    await a.close();
    await b.close();
  }
});

Deno.test("config reload: an invalid file is rejected (line named), the last good config kept, then a fix applies", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] } }),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  const loop = requestLoop(petrel, "web.test");
  try {
    await waitFor(() => loop.count(a) >= 5, "requests to the backend");
    // Line 5 holds the bad endpoint (servicesYaml: outbound, admin,
    // services, name, protocol, endpoints).
    const bad = servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${b.port}`, "not an address"] },
    });
    assert.match(bad.split("\n")[5]!, /endpoints: .*not an address/);
    await Deno.writeTextFile(petrel.configPath, bad);
    const rejection = () =>
      logs.find((l) => /config rejected/.test(l) && /not an address/.test(l));
    await waitFor(() => rejection() !== undefined, "the rejection log line");
    // The error names the file, line 6 and the column of the bad entry.
    const rejected = rejection()!;
    assert.ok(rejected.includes(`${petrel.configPath}:6:`), rejected);
    assert.match(rejected, /services\[0\]\.endpoints\[1\]/, rejected);
    // Requests keep flowing to the last good config.
    const atReject = loop.count(a);
    await waitFor(() => loop.count(a) >= atReject + 10, "more requests");
    assert.equal(loop.count(b), 0, "the invalid config was not applied");

    const good = servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${b.port}`] },
    });
    await Deno.writeTextFile(petrel.configPath, good);
    await waitFor(() => loop.count(b) >= 10, "the fixed config", 5_000);
    await loop.stop();
    assert.deepEqual(loop.failures, [], "no request failed");
  } finally {
    await loop.stop();
    await petrel.close();
    await a.close();
    await b.close();
  }
});

Deno.test("config reload: a service added to the file becomes routable without a restart", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  const logs: string[] = [];
  const petrel = await startPetrel(
    servicesYaml({ "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] } }),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  try {
    const before = await httpRequest(petrel.port, "new.test", "/");
    assert.equal(before.status, 502, "an unknown name is not routable");
    await Deno.writeTextFile(
      petrel.configPath,
      servicesYaml({
        "web.test:80": { endpoints: [`127.0.0.1:${a.port}`] },
        "new.test:80": { endpoints: [`127.0.0.1:${b.port}`] },
      }),
    );
    await waitFor(
      () => logs.some((l) => /config reloaded/.test(l)),
      "the reload",
    );
    const after = await httpRequest(petrel.port, "new.test", "/");
    assert.equal(after.status, 200);
    assert.equal(after.body, b.name);
    const web = await httpRequest(petrel.port, "web.test", "/");
    assert.equal(web.body, a.name, "the other service is unchanged");
  } finally {
    await petrel.close();
    await a.close();
    await b.close();
  }
});
