import assert from "node:assert/strict";
import {
  authorityHost,
  compileHostMatch,
  matchHost,
  parseHostMatch,
} from "./match_host.ts";

const host = (pattern: string) => compileHostMatch(parseHostMatch(pattern));

Deno.test("parseHostMatch() reads exact names and *.suffix wildcards", () => {
  assert.deepEqual(parseHostMatch("Example.com"), {
    kind: "exact",
    host: "example.com",
  });
  assert.deepEqual(parseHostMatch("*.example.com"), {
    kind: "suffix",
    reverseLabels: ["com", "example"],
  });
  assert.deepEqual(parseHostMatch("*.example.com."), {
    kind: "suffix",
    reverseLabels: ["", "com", "example"],
  });
  for (const bad of ["10.0.0.1", "::1", "[::1]", "", "*.", "a b", "*x.com"]) {
    assert.throws(() => parseHostMatch(bad), TypeError, bad);
  }
});

Deno.test("matchHost() exact: case-insensitive, the request's trailing dot ignored", () => {
  const m = host("example.com");
  assert.deepEqual(matchHost(m, "example.com"), { kind: "exact", length: 11 });
  assert.deepEqual(matchHost(m, "EXAMPLE.com.:80"), {
    kind: "exact",
    length: 11,
  });
  assert.equal(matchHost(m, "foo.example.com"), undefined);
  const dotted = host("example.com.");
  assert.equal(matchHost(dotted, "example.com"), undefined);
  assert.deepEqual(matchHost(dotted, "example.com."), {
    kind: "exact",
    length: 12,
  });
});

Deno.test("matchHost() suffix: one or more extra labels, length with the dot", () => {
  const m = host("*.example.com");
  assert.equal(matchHost(m, "example.com"), undefined);
  for (
    const h of ["foo.example.com", "foo.example.com.", "BAR.foo.EXAMPLE.com"]
  ) {
    assert.deepEqual(matchHost(m, h), { kind: "suffix", length: 12 }, h);
  }
  assert.equal(matchHost(m, "fooexample.com"), undefined);
  const dotted = host("*.example.com.");
  assert.equal(matchHost(dotted, "bar.example.com"), undefined);
  assert.deepEqual(matchHost(dotted, "bar.example.com."), {
    kind: "suffix",
    length: 13,
  });
});

Deno.test("authorityHost() drops userinfo, port and brackets", () => {
  assert.equal(authorityHost("Web.Test:8080"), "web.test");
  assert.equal(authorityHost("u@web.test"), "web.test");
  assert.equal(authorityHost("[::1]:80"), "::1");
  assert.equal(authorityHost("web.test."), "web.test.");
});
