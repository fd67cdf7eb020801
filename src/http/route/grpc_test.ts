import assert from "node:assert/strict";
import type { HttpRequest } from "../message.ts";
import { compileGrpcRoutes, findGrpcRoute, splitGrpcPath } from "./grpc.ts";
import { parseHostMatch } from "./match_host.ts";
import type { GrpcRouteMatch } from "./model.ts";
import type { RouteShape } from "./select.ts";

interface G {
  service?: string;
  method?: string;
  h?: Record<string, string>;
}

function routes(
  rs: { hosts?: string[]; rules: G[][] }[],
): RouteShape<GrpcRouteMatch>[] {
  return rs.map((r) => ({
    hosts: (r.hosts ?? []).map(parseHostMatch),
    rules: r.rules.map((ms) => ({
      matches: ms.map((g) => {
        const rpc: { service?: string; method?: string } = {};
        if (g.service !== undefined) rpc.service = g.service;
        if (g.method !== undefined) rpc.method = g.method;
        return {
          rpc,
          headers: Object.entries(g.h ?? {}).map(([name, value]) => ({
            name,
            kind: "exact" as const,
            value,
          })),
        };
      }),
    })),
  }));
}

function call(
  path: string,
  opts: { method?: string; headers?: Record<string, string>; host?: string } =
    {},
): HttpRequest {
  return {
    method: opts.method ?? "POST",
    scheme: "http",
    authority: opts.host ?? "echo.test:50051",
    path,
    version: "HTTP/2",
    headers: { "content-type": "application/grpc", ...opts.headers },
    body: null,
    ext: {},
  };
}

const one = (...ms: G[]) => ({ rules: [ms] });

/** [what, routes, request, expected [route, rule] or null]. */
const CASES: readonly [
  string,
  { hosts?: string[]; rules: G[][] }[],
  HttpRequest,
  [number, number] | null,
][] = [
  [
    "service and method beat service only",
    [
      one({ service: "pkg.Echo" }),
      one({ service: "pkg.Echo", method: "Unary" }),
    ],
    call("/pkg.Echo/Unary"),
    [1, 0],
  ],
  [
    "service beats method only",
    [
      one({ method: "Unary" }),
      one({ service: "pkg.Echo" }),
    ],
    call("/pkg.Echo/Unary"),
    [1, 0],
  ],
  [
    "a longer service name wins",
    [
      one({ service: "a.B", method: "Unary" }),
      one({ service: "pkg.Echo" }),
    ],
    call("/pkg.Echo/Unary"),
    [1, 0],
  ],
  [
    "the method beats headers",
    [
      one({ service: "pkg.Echo", h: { a: "1", b: "2" } }),
      one({ service: "pkg.Echo", method: "U" }),
    ],
    call("/pkg.Echo/U", { headers: { a: "1", b: "2" } }),
    [1, 0],
  ],
  [
    "more headers win when the RPC ties",
    [
      one({ service: "pkg.Echo", h: { a: "1" } }),
      one({ service: "pkg.Echo", h: { a: "1", b: "2" } }),
    ],
    call("/pkg.Echo/U", { headers: { a: "1", b: "2" } }),
    [1, 0],
  ],
  [
    "a full tie: the first route wins",
    [
      one({ service: "pkg.Echo" }),
      one({ service: "pkg.Echo" }),
    ],
    call("/pkg.Echo/U"),
    [0, 0],
  ],
  [
    "a host match wins over any RPC match",
    [
      one({ service: "pkg.Echo", method: "U" }),
      { hosts: ["echo.test"], rules: [[{}]] },
    ],
    call("/pkg.Echo/U"),
    [1, 0],
  ],
  [
    "only POST matches",
    [
      one({ service: "pkg.Echo" }),
    ],
    call("/pkg.Echo/U", { method: "GET" }),
    null,
  ],
  [
    "a rule without matches matches anything, even a GET",
    [
      { rules: [[]] },
    ],
    call("/", { method: "GET" }),
    [0, 0],
  ],
  [
    "a wrong method name does not match",
    [
      one({ service: "pkg.Echo", method: "Unary" }),
    ],
    call("/pkg.Echo/Other"),
    null,
  ],
  [
    "a path without a method does not match",
    [
      one({ service: "pkg.Echo" }),
    ],
    call("/pkg.Echo"),
    null,
  ],
  [
    "an empty match matches any RPC",
    [
      one({}),
    ],
    call("/x.Y/Z"),
    [0, 0],
  ],
  [
    "a header mismatch fails",
    [
      one({ service: "pkg.Echo", h: { a: "1" } }),
    ],
    call("/pkg.Echo/U", { headers: { a: "2" } }),
    null,
  ],
];

Deno.test(`findGrpcRoute() precedence table (${CASES.length} cases)`, async (t) => {
  for (const [what, rs, req, want] of CASES) {
    await t.step(what, () => {
      const m = findGrpcRoute(compileGrpcRoutes(routes(rs)), req);
      assert.deepEqual(m ? [m.routeIndex, m.ruleIndex] : null, want);
    });
  }
});

Deno.test("findGrpcRoute() summarizes characters of service and method, and headers", () => {
  const table = compileGrpcRoutes(routes([
    one({ service: "pkg.Echo", method: "Unary", h: { a: "1" } }),
  ]));
  assert.deepEqual(
    findGrpcRoute(table, call("/pkg.Echo/Unary", { headers: { a: "1" } })),
    {
      routeIndex: 0,
      ruleIndex: 0,
      host: undefined,
      summary: { service: 8, method: 5, headers: 1 },
    },
  );
});

Deno.test("splitGrpcPath() splits /service/method", () => {
  assert.deepEqual(splitGrpcPath("/a.B/C"), { service: "a.B", method: "C" });
  assert.deepEqual(splitGrpcPath("/a.B/C/d"), { service: "a.B", method: "C" });
  assert.deepEqual(splitGrpcPath("/a.B/"), { service: "a.B", method: "" });
  assert.equal(splitGrpcPath("/a.B"), undefined);
  assert.equal(splitGrpcPath("a.B/C"), undefined);
});
