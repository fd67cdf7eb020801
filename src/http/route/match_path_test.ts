import assert from "node:assert/strict";
import {
  compilePathMatch,
  compileRegex,
  fullMatch,
  literalPrefix,
  matchPath,
  trimTrailingSlashes,
} from "./match_path.ts";

Deno.test("matchPath() exact: string equality with the path", () => {
  const m = compilePathMatch({ kind: "exact", value: "/foo/bar" });
  assert.deepEqual(matchPath(m, "/foo/bar"), { kind: "exact", length: 8 });
  for (const p of ["/foo", "/foo/bah", "/foo/bar/qux", "/foo/bar/"]) {
    assert.equal(matchPath(m, p), undefined, p);
  }
});

Deno.test("matchPath() prefix: whole segments, trailing slashes trimmed", () => {
  for (const [prefix, len] of [["/", 1], ["/foo", 4], ["/foo/", 4]] as const) {
    const m = compilePathMatch({ kind: "prefix", value: prefix });
    for (const p of ["/foo", "/foo/", "/foo/bar", "/foo/bar/qux"]) {
      assert.deepEqual(matchPath(m, p), { kind: "prefix", length: len }, p);
    }
    assert.deepEqual(
      matchPath(m, "/foobar"),
      len === 1 ? { kind: "prefix", length: 1 } : undefined,
    );
  }
  const deep = compilePathMatch({ kind: "prefix", value: "/a/b" });
  assert.equal(matchPath(deep, "/a"), undefined);
  assert.equal(matchPath(deep, "/a/bc"), undefined);
  assert.deepEqual(matchPath(deep, "/a/b//"), { kind: "prefix", length: 4 });
});

Deno.test("matchPath() regex: anchored at both ends, length of the whole path", () => {
  const m = compilePathMatch({ kind: "regex", value: "/foo/\\d+" });
  assert.deepEqual(matchPath(m, "/foo/4"), { kind: "regex", length: 6 });
  assert.deepEqual(matchPath(m, "/foo/4321"), { kind: "regex", length: 9 });
  for (const p of ["/bar/foo/4", "/foo/4abc", "/foo/4/bar", "/foo/bar"]) {
    assert.equal(matchPath(m, p), undefined, p);
  }
  // Repeated use: the sticky regex restarts at 0 each time.
  assert.ok(matchPath(m, "/foo/1") && matchPath(m, "/foo/2"));
});

Deno.test("fullMatch() uses the leftmost-first match, as linkerd's find() then length check", () => {
  // "a|ab" finds "a" in "ab": not the whole value, so no match (as linkerd).
  assert.equal(fullMatch(compileRegex("a|ab"), "ab"), false);
  assert.equal(fullMatch(compileRegex("ab|a"), "ab"), true);
  assert.equal(fullMatch(compileRegex("bar*"), "barr"), true);
  assert.equal(fullMatch(compileRegex("bar*"), "barro"), false);
  assert.equal(fullMatch(compileRegex(".*"), ""), true);
  assert.throws(() => compileRegex("("), SyntaxError);
});

Deno.test("literalPrefix() reads only the certain literal start", () => {
  assert.equal(literalPrefix("/foo/\\d+"), "/foo/");
  assert.equal(literalPrefix("^/a\\.b/[0-9]+"), "/a.b/");
  assert.equal(
    literalPrefix("/ab?c"),
    "/a",
    "a quantified char is not literal",
  );
  assert.equal(literalPrefix("/a{2}"), "/");
  assert.equal(literalPrefix("/(a|b)"), "", "alternation: nothing is certain");
  assert.equal(literalPrefix(".*"), "");
  assert.equal(literalPrefix("/x\\d"), "/x");
});

Deno.test("trimTrailingSlashes() trims every trailing slash", () => {
  assert.equal(trimTrailingSlashes("/a//"), "/a");
  assert.equal(trimTrailingSlashes("/"), "");
  assert.equal(trimTrailingSlashes("/a"), "/a");
});
