import assert from "node:assert/strict";
import {
  compileQueryParamMatch,
  parseQuery,
  queryParamMatches,
} from "./match_query_param.ts";

const q = (s: string) => parseQuery(s);

Deno.test("queryParamMatches() exact: any occurrence of the name", () => {
  const m = compileQueryParamMatch({
    name: "foo",
    kind: "exact",
    value: "bar",
  });
  assert.ok(queryParamMatches(m, q("foo=bar")));
  assert.ok(queryParamMatches(m, q("foo=bar&fah=bah")));
  assert.ok(queryParamMatches(m, q("fah=bah&foo=bar")));
  assert.ok(!queryParamMatches(m, q("foo=bah")));
  const empty = compileQueryParamMatch({
    name: "foo",
    kind: "exact",
    value: "",
  });
  assert.ok(queryParamMatches(empty, q("foo")));
  assert.ok(!queryParamMatches(empty, q("foo=bah")));
  assert.ok(!queryParamMatches(empty, q("bar=foo")));
});

Deno.test("queryParamMatches() regex: full match on decoded values", () => {
  const m = compileQueryParamMatch({
    name: "foo",
    kind: "regex",
    value: "bar*",
  });
  for (
    const s of [
      "foo=bar",
      "foo=ba&fah=bah",
      "foo=barr",
      "bar=foo&foo=bar",
      "foo=bah&foo=bar",
    ]
  ) {
    assert.ok(queryParamMatches(m, q(s)), s);
  }
  for (const s of ["foo=bah", "bar=foo", "foo=barro"]) {
    assert.ok(!queryParamMatches(m, q(s)), s);
  }
  const slash = compileQueryParamMatch({
    name: "foo",
    kind: "regex",
    value: "bar/.+",
  });
  assert.ok(queryParamMatches(slash, q("foo=bar%2Fhi")));
  assert.ok(!queryParamMatches(slash, q("foo=bah%20hi")));
  const any = compileQueryParamMatch({
    name: "foo",
    kind: "regex",
    value: ".*",
  });
  assert.ok(queryParamMatches(any, q("foo")));
});

Deno.test("parseQuery() decodes form-urlencoded pairs", () => {
  assert.deepEqual(parseQuery("a=1&b=x+y&c=%41%zz&&d"), [
    ["a", "1"],
    ["b", "x y"],
    ["c", "A%zz"],
    ["d", ""],
  ]);
  assert.deepEqual(parseQuery("k%20=v=w"), [["k ", "v=w"]]);
  assert.deepEqual(parseQuery(""), []);
});
