import assert from "node:assert/strict";
import { checkImports, LAYERS, readProject, unitOf } from "./lint_deps.ts";

Deno.test("unitOf() maps files to their top folder, src/*.ts to themselves", () => {
  assert.equal(unitOf("src/http/h1/server.ts"), "http");
  assert.equal(unitOf("src/errors.ts"), "errors");
  assert.equal(unitOf("main.ts"), "main");
  assert.equal(unitOf("tests/http1_test.ts"), undefined);
});

Deno.test("checkImports() fails a deliberately wrong import and passes the right way round", () => {
  const files = new Map([
    // http is below outbound: this edge runs against the layers.
    [
      "src/http/route/match_host.ts",
      'import { x } from "../../outbound/http/router.ts";\nimport net from "node:net";\n',
    ],
    [
      "src/outbound/http/router.ts",
      'import type { Y } from "../../http/message.ts";\n',
    ],
    ["src/outbound/opaque.ts", 'export { z } from "../transport/opaque.ts";\n'],
    ["src/tls/names.ts", '\n\nconst m = await import("../config/parse.ts");\n'],
    [
      "src/balance/p2c.ts",
      'import "../balance/ewma.ts";\nimport "./ewma.ts";\n',
    ],
  ]);
  const { violations, unknown } = checkImports(files);
  assert.deepEqual(unknown, []);
  assert.deepEqual(
    violations.map((v) => `${v.file}:${v.line} ${v.from}→${v.to}`),
    [
      "src/http/route/match_host.ts:1 http→outbound",
      "src/tls/names.ts:3 tls→config",
    ],
  );
});

Deno.test("checkImports() refuses imports between units of one layer", () => {
  const same = LAYERS.find((l) => l.length > 1)!;
  const files = new Map([
    [`src/${same[0]}/a.ts`, `import "../${same[1]}/b.ts";\n`],
  ]);
  assert.equal(checkImports(files).violations.length, 1);
});

Deno.test("checkImports() names units that are in no layer", () => {
  const files = new Map([[
    "src/newthing/a.ts",
    'import "../http/message.ts";\n',
  ]]);
  assert.deepEqual(checkImports(files).unknown, ["newthing"]);
});

Deno.test("readProject() reads src/ without tests", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const files = await readProject(root);
  assert.ok(files.has("main.ts"));
  assert.ok(files.has("src/app.ts"));
  assert.ok(![...files.keys()].some((p) => p.endsWith("_test.ts")));
});

Deno.test("the project's own imports all go down the layers", async () => {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  const { violations, unknown } = checkImports(await readProject(root));
  assert.deepEqual(unknown, []);
  assert.deepEqual(
    violations.map((v) => `${v.file}:${v.line} ${v.from}→${v.to}`),
    [],
  );
  // Every unit of LAYERS exists, so the declared order is not stale.
  const units = new Set(
    [...(await readProject(root)).keys()].map((p) => unitOf(p)),
  );
  assert.deepEqual(LAYERS.flat().filter((u) => !units.has(u)), []);
});
