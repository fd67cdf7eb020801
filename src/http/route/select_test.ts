import assert from "node:assert/strict";
import type { HttpRequest } from "../message.ts";
import { parseHostMatch } from "./match_host.ts";
import type { HeaderMatch, HttpRouteMatch, QueryParamMatch } from "./model.ts";
import {
  compareHttpRouteMatch,
  compileHttpRoutes,
  findHttpRoute,
  firstSegment,
  type RouteShape,
} from "./select.ts";

/** A compact match: `=/x` exact, `/x` prefix, `~re` regex; `h`/`hr` headers exact/regex; `q`/`qr` query. */
interface M {
  path?: string;
  h?: Record<string, string>;
  hr?: Record<string, string>;
  q?: Record<string, string>;
  qr?: Record<string, string>;
  method?: string;
}

interface R {
  hosts?: string[];
  rules: M[][];
}

interface Req {
  path: string;
  method?: string;
  host?: string;
  headers?: Record<string, string | string[]>;
}

function match(m: M): HttpRouteMatch {
  const headers: HeaderMatch[] = [
    ...Object.entries(m.h ?? {}).map(([name, value]) => ({
      name,
      kind: "exact" as const,
      value,
    })),
    ...Object.entries(m.hr ?? {}).map(([name, value]) => ({
      name,
      kind: "regex" as const,
      value,
    })),
  ];
  const queryParams: QueryParamMatch[] = [
    ...Object.entries(m.q ?? {}).map(([name, value]) => ({
      name,
      kind: "exact" as const,
      value,
    })),
    ...Object.entries(m.qr ?? {}).map(([name, value]) => ({
      name,
      kind: "regex" as const,
      value,
    })),
  ];
  const out: {
    path?: NonNullable<HttpRouteMatch["path"]>;
    headers: HeaderMatch[];
    queryParams: QueryParamMatch[];
    method?: string;
  } = { headers, queryParams };
  if (m.path !== undefined) {
    out.path = m.path.startsWith("=")
      ? { kind: "exact", value: m.path.slice(1) }
      : m.path.startsWith("~")
      ? { kind: "regex", value: m.path.slice(1) }
      : { kind: "prefix", value: m.path };
  }
  if (m.method !== undefined) out.method = m.method;
  return out;
}

function routes(rs: R[]): RouteShape<HttpRouteMatch>[] {
  return rs.map((r) => ({
    hosts: (r.hosts ?? []).map(parseHostMatch),
    rules: r.rules.map((ms) => ({ matches: ms.map(match) })),
  }));
}

function request(r: Req): HttpRequest {
  return {
    method: r.method ?? "GET",
    scheme: "http",
    authority: r.host ?? "web.test:8080",
    path: r.path,
    version: "HTTP/1.1",
    headers: r.headers ?? {},
    body: null,
    ext: {},
  };
}

/** One rule per route: r(m1, m2) is a route whose single rule has matches m1, m2. */
const r = (...ms: M[]): R => ({ rules: [ms] });
const hr = (hosts: string[], ...ms: M[]): R => ({ hosts, rules: [ms] });

/** [what, routes, request, expected [route, rule] or null]. */
const PRECEDENCE: readonly [string, R[], Req, [number, number] | null][] = [
  // --- hosts: none < suffix < exact; longer wins within a kind
  [
    "a host match beats no host condition, even with a shorter path",
    [
      r({ path: "=/a/long/path" }),
      hr(["web.test"], { path: "/" }),
    ],
    { path: "/a/long/path" },
    [1, 0],
  ],
  [
    "a suffix host beats no host condition",
    [
      r({ path: "/a" }),
      hr(["*.test"], { path: "/" }),
    ],
    { path: "/a/b" },
    [1, 0],
  ],
  [
    "an exact host beats a suffix host listed first",
    [
      hr(["*.test"], { path: "/a/b" }),
      hr(["web.test"], { path: "/" }),
    ],
    { path: "/a/b" },
    [1, 0],
  ],
  [
    "the longer exact host wins (a trailing dot on both)",
    [
      hr(["web.test"]),
      hr(["web.test."]),
    ],
    { path: "/", host: "web.test.:80" },
    [1, 0],
  ],
  [
    "the longer suffix wins",
    [
      hr(["*.example.com"]),
      hr(["*.b.example.com"]),
    ],
    { path: "/", host: "a.b.example.com" },
    [1, 0],
  ],
  [
    "equal suffixes tie: the first route wins",
    [
      hr(["*.example.com"], { path: "/x" }),
      hr(["*.example.com"], { path: "/x" }),
    ],
    { path: "/x", host: "a.example.com" },
    [0, 0],
  ],
  [
    "equal hosts: the path decides",
    [
      hr(["web.test"], { path: "/a" }),
      hr(["web.test"], { path: "/a/b" }),
    ],
    { path: "/a/b/c" },
    [1, 0],
  ],
  [
    "a route whose hostnames do not match is skipped",
    [
      hr(["other.test"], { path: "=/a" }),
      r({ path: "/" }),
    ],
    { path: "/a" },
    [1, 0],
  ],
  [
    "a route's best hostname counts (exact among several)",
    [
      hr(["*.test", "web.test"], { path: "/" }),
      hr(["web.test"], { path: "/" }),
    ],
    { path: "/" },
    [0, 0],
  ],
  [
    "a trailing dot on the request host matches a name without one",
    [
      hr(["web.test"]),
    ],
    { path: "/", host: "web.test.:8080" },
    [0, 0],
  ],
  [
    "hostnames are case-insensitive",
    [
      hr(["Web.TEST"]),
    ],
    { path: "/", host: "WEB.test" },
    [0, 0],
  ],
  [
    "a suffix needs at least one more label",
    [
      hr(["*.web.test"]),
    ],
    { path: "/", host: "web.test" },
    null,
  ],
  [
    "a host pattern with a trailing dot needs it on the request",
    [
      hr(["web.test."]),
    ],
    { path: "/", host: "web.test" },
    null,
  ],
  [
    "the host wins over a longer suffix path elsewhere",
    [
      r({ path: "=/x/y/z", h: { a: "1" }, method: "GET" }),
      hr(["*.test"]),
    ],
    { path: "/x/y/z", headers: { a: "1" } },
    [1, 0],
  ],

  // --- paths: length only; exact and prefix of one length tie
  [
    "the longer prefix wins",
    [
      r({ path: "/a" }),
      r({ path: "/a/b" }),
    ],
    { path: "/a/b/c" },
    [1, 0],
  ],
  [
    "exact and prefix of equal length tie: the first (exact) wins",
    [
      r({ path: "=/foo" }),
      r({ path: "/foo" }),
    ],
    { path: "/foo" },
    [0, 0],
  ],
  [
    "exact and prefix of equal length tie: the first (prefix) wins",
    [
      r({ path: "/foo" }),
      r({ path: "=/foo" }),
    ],
    { path: "/foo" },
    [0, 0],
  ],
  [
    "a longer exact path beats a prefix",
    [
      r({ path: "/foo" }),
      r({ path: "=/foo/bar" }),
    ],
    { path: "/foo/bar" },
    [1, 0],
  ],
  [
    "a regex counts the whole path: it beats a shorter prefix",
    [
      r({ path: "/foo" }),
      r({ path: "~/foo/[0-9]+" }),
    ],
    { path: "/foo/42" },
    [1, 0],
  ],
  [
    "a regex and an exact path of the same request tie: the first wins",
    [
      r({ path: "~/foo/.*" }),
      r({ path: "=/foo/42" }),
    ],
    { path: "/foo/42" },
    [0, 0],
  ],
  [
    "a regex must match the whole path",
    [
      r({ path: "~/foo/[0-9]+" }),
      r({ path: "/" }),
    ],
    { path: "/foo/42x" },
    [1, 0],
  ],
  [
    "a prefix matches whole segments only",
    [
      r({ path: "/foo" }),
      r({ path: "/" }),
    ],
    { path: "/foobar" },
    [1, 0],
  ],
  [
    "a prefix with a trailing slash matches the bare path",
    [
      r({ path: "/foo/" }),
    ],
    { path: "/foo" },
    [0, 0],
  ],
  [
    "an exact path does not match with a trailing slash",
    [
      r({ path: "=/foo" }),
      r({ path: "/" }),
    ],
    { path: "/foo/" },
    [1, 0],
  ],
  [
    "the query string is not part of the path",
    [
      r({ path: "=/foo" }),
    ],
    { path: "/foo?a=1" },
    [0, 0],
  ],
  [
    "no matches and prefix / tie: the first wins",
    [
      r(),
      r({ path: "/" }),
    ],
    { path: "/x" },
    [0, 0],
  ],
  [
    "prefix / and no matches tie: the first wins",
    [
      r({ path: "/" }),
      r(),
    ],
    { path: "/x" },
    [0, 0],
  ],
  [
    "a match without a path counts as prefix / (length 1)",
    [
      r({ h: { a: "1" } }),
      r({ path: "/x" }),
    ],
    { path: "/x", headers: { a: "1" } },
    [1, 0],
  ],
  [
    "a longer path beats more headers",
    [
      r({ path: "/api", h: { a: "1", b: "2" } }),
      r({ path: "/api/v1" }),
    ],
    { path: "/api/v1/x", headers: { a: "1", b: "2" } },
    [1, 0],
  ],

  // --- headers, then query params, then method
  [
    "more header matches win on an equal path",
    [
      r({ path: "/x", h: { a: "1" } }),
      r({ path: "/x", h: { a: "1", b: "2" } }),
    ],
    { path: "/x", headers: { a: "1", b: "2" } },
    [1, 0],
  ],
  [
    "a regex header counts as a header match",
    [
      r({ path: "/x" }),
      r({ path: "/x", hr: { a: "[0-9]+" } }),
    ],
    { path: "/x", headers: { a: "123" } },
    [1, 0],
  ],
  [
    "headers beat query params",
    [
      r({ path: "/x", q: { a: "1", b: "2" } }),
      r({ path: "/x", h: { a: "1" } }),
    ],
    { path: "/x?a=1&b=2", headers: { a: "1" } },
    [1, 0],
  ],
  [
    "headers beat the method",
    [
      r({ path: "/x", method: "GET" }),
      r({ path: "/x", h: { a: "1" } }),
    ],
    { path: "/x", headers: { a: "1" } },
    [1, 0],
  ],
  [
    "a header mismatch fails the match",
    [
      r({ path: "/x", h: { a: "2" } }),
      r({ path: "/" }),
    ],
    { path: "/x", headers: { a: "1" } },
    [1, 0],
  ],
  [
    "any value of a repeated header may match",
    [
      r({ path: "/x", h: { a: "2" } }),
    ],
    { path: "/x", headers: { a: ["1", "2"] } },
    [0, 0],
  ],
  [
    "more query param matches win",
    [
      r({ path: "/x", q: { a: "1" } }),
      r({ path: "/x", q: { a: "1", b: "2" } }),
    ],
    { path: "/x?b=2&a=1" },
    [1, 0],
  ],
  [
    "query params beat the method",
    [
      r({ path: "/x", method: "GET" }),
      r({ path: "/x", q: { a: "1" } }),
    ],
    { path: "/x?a=1" },
    [1, 0],
  ],
  [
    "a query regex must match the whole value",
    [
      r({ path: "/x", qr: { a: "[0-9]" } }),
      r({ path: "/" }),
    ],
    { path: "/x?a=12" },
    [1, 0],
  ],
  [
    "a method match wins when all else ties",
    [
      r({ path: "/x", h: { a: "1" } }),
      r({ path: "/x", h: { a: "1" }, method: "GET" }),
    ],
    { path: "/x", headers: { a: "1" } },
    [1, 0],
  ],
  [
    "a method mismatch fails the match",
    [
      r({ path: "/x", method: "POST" }),
      r({ path: "/" }),
    ],
    { path: "/x" },
    [1, 0],
  ],

  // --- list order and rule structure
  [
    "a complete tie between routes: the first route wins",
    [
      r({ path: "/x", h: { a: "1" }, method: "GET" }),
      r({ path: "/x", h: { b: "2" }, method: "GET" }),
    ],
    { path: "/x", headers: { a: "1", b: "2" } },
    [0, 0],
  ],
  [
    "a complete tie between rules of one route: the first rule wins",
    [
      { rules: [[{ path: "/x" }], [{ path: "/x" }]] },
    ],
    { path: "/x" },
    [0, 0],
  ],
  [
    "a later rule with a better match wins",
    [
      { rules: [[{ path: "/x" }], [{ path: "/x/y" }]] },
    ],
    { path: "/x/y" },
    [0, 1],
  ],
  [
    "a rule ranks by its best match",
    [
      r({ path: "/x" }),
      r({ path: "/" }, { path: "=/x/y" }),
    ],
    { path: "/x/y" },
    [1, 0],
  ],
  [
    "any match of a rule may apply",
    [
      r({ path: "/a" }, { path: "/b" }),
    ],
    { path: "/b/c" },
    [0, 0],
  ],
  [
    "a route ranks by its best rule",
    [
      { rules: [[{ path: "/a" }], [{ path: "/a/b/c" }]] },
      r({ path: "/a/b" }),
    ],
    { path: "/a/b/c" },
    [0, 1],
  ],
  [
    "a tie between a later route's rule and an earlier one: earlier wins",
    [
      { rules: [[{ path: "/z" }], [{ path: "/a" }]] },
      r({ path: "/a" }),
    ],
    { path: "/a" },
    [0, 1],
  ],
  [
    "nothing matches",
    [
      r({ path: "/a" }),
      hr(["other.test"]),
    ],
    { path: "/b" },
    null,
  ],
  ["no routes at all", [], { path: "/" }, null],
  [
    "an empty route table entry with no rules never matches",
    [
      { rules: [] },
      r({ path: "/" }),
    ],
    { path: "/" },
    [1, 0],
  ],
];

Deno.test(`findHttpRoute() precedence table (${PRECEDENCE.length} cases)`, async (t) => {
  for (const [what, rs, req, want] of PRECEDENCE) {
    await t.step(what, () => {
      const m = findHttpRoute(compileHttpRoutes(routes(rs)), request(req));
      assert.deepEqual(m ? [m.routeIndex, m.ruleIndex] : null, want);
    });
  }
});

Deno.test("findHttpRoute() reports how the chosen match matched", () => {
  const table = compileHttpRoutes(routes([
    hr(["*.test"], {
      path: "/a/",
      h: { x: "1" },
      q: { y: "2" },
      method: "GET",
    }),
    r({ path: "=/b" }),
    r(),
  ]));
  assert.deepEqual(
    findHttpRoute(
      table,
      request({ path: "/a/b?y=2", headers: { x: "1" }, host: "web.test" }),
    ),
    {
      routeIndex: 0,
      ruleIndex: 0,
      host: { kind: "suffix", length: 5 },
      summary: {
        path: { kind: "prefix", length: 2 },
        headers: 1,
        queryParams: 1,
        method: true,
      },
    },
  );
  assert.deepEqual(findHttpRoute(table, request({ path: "/b" }))?.summary, {
    path: { kind: "exact", length: 2 },
    headers: 0,
    queryParams: 0,
    method: false,
  });
  assert.deepEqual(findHttpRoute(table, request({ path: "/c" })), {
    routeIndex: 2,
    ruleIndex: 0,
    host: undefined,
    summary: {
      path: { kind: "prefix", length: 1 },
      headers: 0,
      queryParams: 0,
      method: false,
    },
  });
});

Deno.test("findHttpRoute() finds indexed and unindexed candidates alike", () => {
  // Regexes with and without a literal segment, exact "/", and a prefix,
  // all in one table: the index must not change the outcome.
  const table = compileHttpRoutes(routes([
    r({ path: "~/(a|b)/.*" }),
    r({ path: "~/a/[0-9]+" }),
    r({ path: "=/" }),
    r({ path: "/a" }),
    r({ path: "~.*" }),
  ]));
  const pick = (path: string) =>
    findHttpRoute(table, request({ path }))?.routeIndex;
  assert.equal(pick("/a/12"), 0, "first of the full-length ties");
  assert.equal(pick("/b/x"), 0);
  assert.equal(pick("/"), 2, "exact / (length 1) ties with .*, first wins");
  assert.equal(pick("/a"), 3, "prefix /a and .* both count 2: the first wins");
  assert.equal(pick("/zz"), 4, "only .* matches");
});

Deno.test("compareHttpRouteMatch() orders host, path, headers, query params, method", () => {
  const m = (
    host: { kind: "exact" | "suffix"; length: number } | undefined,
    path: number,
    headers = 0,
    queryParams = 0,
    method = false,
  ) => ({
    host,
    summary: {
      path: { kind: "prefix" as const, length: path },
      headers,
      queryParams,
      method,
    },
  });
  const ordered = [
    m(undefined, 1),
    m(undefined, 1, 0, 0, true),
    m(undefined, 1, 0, 1),
    m(undefined, 1, 1),
    m(undefined, 2),
    m({ kind: "suffix", length: 5 }, 1),
    m({ kind: "suffix", length: 9 }, 1),
    m({ kind: "exact", length: 3 }, 1),
    m({ kind: "exact", length: 8 }, 1),
  ];
  for (let i = 0; i + 1 < ordered.length; i++) {
    assert.ok(compareHttpRouteMatch(ordered[i]!, ordered[i + 1]!) < 0, `${i}`);
    assert.ok(compareHttpRouteMatch(ordered[i + 1]!, ordered[i]!) > 0, `${i}`);
  }
  assert.equal(compareHttpRouteMatch(m(undefined, 4), m(undefined, 4)), 0);
});

Deno.test("firstSegment() reads the first path segment", () => {
  assert.equal(firstSegment("/a/b"), "a");
  assert.equal(firstSegment("/a"), "a");
  assert.equal(firstSegment("/"), "");
  assert.equal(firstSegment("*"), undefined);
});

Deno.test("compileHttpRoutes() rejects a bad regex", () => {
  assert.throws(
    () => compileHttpRoutes(routes([r({ path: "~(" })])),
    SyntaxError,
  );
});
