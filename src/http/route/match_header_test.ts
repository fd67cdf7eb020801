import assert from "node:assert/strict";
import { compileHeaderMatch, headerMatches } from "./match_header.ts";

Deno.test("headerMatches() exact: any value equals", () => {
  const m = compileHeaderMatch({ name: "Foo", kind: "exact", value: "bar" });
  assert.ok(headerMatches(m, { foo: "bar" }));
  assert.ok(headerMatches(m, { foo: ["bah", "bar", "baz"] }));
  assert.ok(!headerMatches(m, { foo: "bah" }));
  assert.ok(!headerMatches(m, { foo: "Bar" }), "values are case-sensitive");
  assert.ok(!headerMatches(m, {}));
});

Deno.test("headerMatches() regex: any value fully matches", () => {
  const m = compileHeaderMatch({ name: "foo", kind: "regex", value: "bar*" });
  assert.ok(headerMatches(m, { foo: "bar" }));
  assert.ok(headerMatches(m, { foo: ["bahh", "barr", "bazz"] }));
  assert.ok(!headerMatches(m, { foo: "bah" }));
  assert.ok(!headerMatches(m, { foo: "barro" }), "anchored at the end");
  assert.ok(!headerMatches(m, { foo: "xbar" }), "anchored at the start");
});
