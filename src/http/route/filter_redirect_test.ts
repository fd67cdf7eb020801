import assert from "node:assert/strict";
import { InvalidRedirectError } from "../../errors.ts";
import { redirectRequest } from "./filter_redirect.ts";
import type { PathSummary } from "./match_path.ts";
import type { RequestRedirect } from "./model.ts";

const ANY: PathSummary = { kind: "prefix", length: 1 };

function apply(
  url: string,
  filter: RequestRedirect,
  path: PathSummary = ANY,
) {
  const u = new URL(url);
  return redirectRequest(filter, {
    scheme: u.protocol.slice(0, -1),
    authority: url.slice(u.protocol.length + 2).split("/")[0]!,
    path: u.pathname + u.search,
  }, path);
}

/** [what, request URL, filter, path match, expected location or null (no-op)]. */
const CASES: readonly [
  string,
  string,
  RequestRedirect,
  PathSummary,
  string | null,
][] = [
  ["no change is a no-op", "http://example.com/foo", {}, ANY, null],
  [
    "same scheme given is a no-op",
    "http://example.com/foo",
    { scheme: "http" },
    ANY,
    null,
  ],
  [
    "host and port: exactly that",
    "http://example.com/foo?a=b&c",
    { host: "example.org", port: 8080 },
    ANY,
    "http://example.org:8080/foo?a=b&c",
  ],
  [
    "host only keeps a non-default port",
    "http://example.com:8080/foo",
    { host: "example.org" },
    ANY,
    "http://example.org:8080/foo",
  ],
  [
    "host only drops the default port",
    "http://example.com:80/foo",
    { host: "example.org" },
    ANY,
    "http://example.org/foo",
  ],
  [
    "port only",
    "http://example.com/foo?a=b&c",
    { port: 8080 },
    ANY,
    "http://example.com:8080/foo?a=b&c",
  ],
  [
    "port only: the scheme's default is omitted",
    "http://example.com:8080/foo?a=b&c",
    { port: 80 },
    ANY,
    "http://example.com/foo?a=b&c",
  ],
  [
    "https and 443: default omitted",
    "http://example.com:8080/foo?a=b&c",
    { scheme: "https", port: 443 },
    ANY,
    "https://example.com/foo?a=b&c",
  ],
  [
    "port only, same as the request's: no-op",
    "http://example.com:8080/foo",
    { port: 8080 },
    ANY,
    null,
  ],
  [
    "scheme",
    "http://example.com/foo?a=b&c",
    { scheme: "https" },
    ANY,
    "https://example.com/foo?a=b&c",
  ],
  [
    "full path replaces path and query",
    "http://example.com/foo?a=b&c=d",
    { path: { kind: "full", value: "/bar" } },
    ANY,
    "http://example.com/bar",
  ],
  [
    "full path with a query",
    "http://example.com/foo",
    { path: { kind: "full", value: "/bar?a=b&c" } },
    ANY,
    "http://example.com/bar?a=b&c",
  ],
  [
    "prefix replaces the matched prefix",
    "http://example.com/foo/bar",
    { path: { kind: "prefix", value: "/qux" } },
    { kind: "prefix", length: 4 },
    "http://example.com/qux/bar",
  ],
  [
    "prefix keeps the query",
    "http://example.com/foo/bar?a=b&c",
    { path: { kind: "prefix", value: "/qux" } },
    { kind: "prefix", length: 4 },
    "http://example.com/qux/bar?a=b&c",
  ],
  [
    "prefix after the default match (length 1)",
    "http://example.com/foo/bar",
    { path: { kind: "prefix", value: "/qux" } },
    ANY,
    "http://example.com/qux/foo/bar",
  ],
  [
    "prefix / replacing /foo",
    "http://example.com/foo/bar",
    { path: { kind: "prefix", value: "/" } },
    { kind: "prefix", length: 4 },
    "http://example.com/bar",
  ],
  [
    "prefix on the whole path",
    "http://example.com/foo",
    { path: { kind: "prefix", value: "/qux" } },
    { kind: "prefix", length: 4 },
    "http://example.com/qux",
  ],
  [
    "IPv6 authority keeps its brackets",
    "http://[::1]:8080/a",
    { port: 9090 },
    ANY,
    "http://[::1]:9090/a",
  ],
];

Deno.test(`redirectRequest() builds linkerd's location (${CASES.length} cases)`, async (t) => {
  for (const [what, url, filter, path, want] of CASES) {
    await t.step(what, () => {
      const r = apply(url, filter, path);
      assert.deepEqual(
        r,
        want === null ? undefined : { status: 301, location: want },
      );
    });
  }
});

Deno.test("redirectRequest() uses the filter's status", () => {
  assert.deepEqual(
    apply("http://example.com/foo?a=b&c", { scheme: "https", status: 307 }),
    { status: 307, location: "https://example.com/foo?a=b&c" },
  );
});

Deno.test("redirectRequest() refuses a prefix replacement after an exact or regex match", () => {
  for (const kind of ["exact", "regex"] as const) {
    assert.throws(
      () =>
        apply("http://example.com/foo/bar", {
          path: { kind: "prefix", value: "/qux" },
        }, { kind, length: 8 }),
      InvalidRedirectError,
    );
  }
});
