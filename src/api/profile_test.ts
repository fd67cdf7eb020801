import assert from "node:assert/strict";
import type { HttpRequest } from "../http/message.ts";
import { compileHttpRoutes, findHttpRoute } from "../http/route/select.ts";
import type { DestinationProfile, RequestMatch } from "./destination.ts";
import { REGISTERED_METHODS } from "./http_types.ts";
import { failureRangesOf, serviceProfileOf } from "./profile.ts";
import { DESTINATION_SERVICE, rpcMethod } from "./proto.ts";

const SVC = "books.ns.svc.cluster.local:7002";

function wire(profile: Record<string, unknown>): DestinationProfile {
  const m = rpcMethod(DESTINATION_SERVICE, "GetProfile");
  return m.responseDeserialize(
    m.responseSerialize(profile),
  ) as DestinationProfile;
}

const path = (regex: string) => ({ path: { regex } });
const method = (m: string) => ({ method: { registered: m } });
const all = (...matches: unknown[]) => ({ all: { matches } });
const any = (...matches: unknown[]) => ({ any: { matches } });
const not = (m: unknown) => ({ not: m });

function request(p: string, m: string): HttpRequest {
  return {
    method: m,
    scheme: "http",
    authority: SVC,
    path: p,
    version: "HTTP/1.1",
    headers: {},
    body: null,
    ext: {},
  };
}

/** linkerd's semantics: the first route whose condition holds, else the default. */
function firstMatch(
  conditions: readonly RequestMatch[],
  p: string,
  m: string,
): number {
  const holds = (c: RequestMatch): boolean => {
    if (c.all) return c.all.matches.every(holds);
    if (c.any) return c.any.matches.some(holds);
    // Petrel: `not method` only matches registered methods (see profile.ts).
    if (c.not?.method) {
      return REGISTERED_METHODS.includes(m) && !holds(c.not);
    }
    if (c.not) return !holds(c.not);
    if (c.path) return new RegExp(`^(?:${c.path.regex})$`, "u").test(p);
    if (c.method) return c.method.registered === m;
    return false;
  };
  const i = conditions.findIndex(holds);
  return i < 0 ? conditions.length : i;
}

Deno.test("serviceProfileOf() keeps linkerd's first-match order under the route model's precedence", () => {
  const conditions = [
    all(path("/books/[0-9]+"), method("GET")),
    path("/books/[0-9]+"), // shadowed for GET by the route above
    any(path("/authors/.*"), all(method("DELETE"), not(path("/admin.*")))),
    all(path("/a.*"), not(method("POST"))),
    path("/"), // shorter path than the prefix default: still first-match
    method("PUT"),
  ];
  const profile = wire({
    routes: conditions.map((condition, i) => ({
      condition,
      metrics_labels: { route: `r${i}` },
      response_classes: [],
    })),
    retry_budget: {
      retry_ratio: 0.2,
      min_retries_per_second: 10,
      ttl: { seconds: 10 },
    },
  });
  const sp = serviceProfileOf(profile, SVC);
  assert.equal(sp.routes?.kind, "http");
  const routes = sp.routes!.routes;
  assert.deepEqual(
    routes.map((r) => r.ref),
    [...conditions.map((_, i) => ({ kind: "default", name: `r${i}` })), {
      kind: "default",
      name: "default",
    }],
  );
  const table = compileHttpRoutes(routes);
  const paths = [
    "/",
    "/books/12",
    "/books/x",
    "/authors/1",
    "/admin/x",
    "/admin",
    "/a",
    "/abc",
    "/x",
  ];
  const methods = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "PURGE"];
  for (const p of paths) {
    for (const m of methods) {
      const want = firstMatch(profile.routes.map((r) => r.condition!), p, m);
      const got = findHttpRoute(table, request(p, m))?.routeIndex;
      assert.equal(got, want, `${m} ${p}`);
    }
  }
});

Deno.test("serviceProfileOf() maps timeouts, retries, budget and a weighted split", () => {
  const profile = wire({
    routes: [{
      condition: all(path("/books"), method("POST")),
      is_retryable: true,
      timeout: { seconds: 0, nanos: 250e6 },
      response_classes: [
        { condition: { status: { min: 500, max: 502 } }, is_failure: true },
        { condition: { status: { min: 500, max: 599 } }, is_failure: false },
        {
          condition: any({ status: { min: 429, max: 429 } }),
          is_failure: true,
        },
      ],
    }],
    retry_budget: {
      retry_ratio: 0.2,
      min_retries_per_second: 10,
      ttl: { seconds: 10 },
    },
    dst_overrides: [
      { authority: "books-v1.ns.svc.cluster.local.:7002", weight: 9000 },
      { authority: "books-v2.ns.svc.cluster.local:7002", weight: 1000 },
      { authority: "books-v3.ns.svc.cluster.local:7002", weight: 0 },
    ],
    fully_qualified_name: "books.ns.svc.cluster.local",
  });
  const sp = serviceProfileOf(profile, SVC);
  assert.deepEqual(sp.retryBudget, {
    ratio: 0.2,
    minPerSecond: 10,
    ttlMs: 10_000,
  });
  assert.deepEqual(sp.routes!.retryBudget, sp.retryBudget);
  assert.equal(sp.fullyQualifiedName, "books.ns.svc.cluster.local");
  const rule = sp.routes!.routes[0]!.rules[0]!;
  // linkerd `http::ResponseTimeout`: the response headers, not the body.
  assert.deepEqual(rule.timeouts, { headersMs: 250 });
  // The classes classify responses too (first match wins); 200 is unmatched.
  assert.deepEqual(rule.responseClasses, {
    failure: [{ start: 429, end: 429 }, { start: 500, end: 502 }],
    success: [{ start: 503, end: 599 }],
  });
  assert.deepEqual(rule.retry, {
    maxRetries: 10,
    maxRequestBytes: 65536,
    statusRanges: [{ start: 429, end: 429 }, { start: 500, end: 502 }],
    nonIdempotent: true,
  });
  assert.deepEqual(rule.backends, {
    kind: "randomAvailable",
    backends: [
      {
        backend: {
          ref: { kind: "default", name: "books-v1.ns.svc.cluster.local:7002" },
          dispatch: {
            kind: "balance",
            authority: "books-v1.ns.svc.cluster.local:7002",
          },
        },
        filters: [],
        weight: 9000,
      },
      {
        backend: {
          ref: { kind: "default", name: "books-v2.ns.svc.cluster.local:7002" },
          dispatch: {
            kind: "balance",
            authority: "books-v2.ns.svc.cluster.local:7002",
          },
        },
        filters: [],
        weight: 1000,
      },
    ],
  });
  // The catch-all default route splits the same way, without retries.
  const last = sp.routes!.routes.at(-1)!.rules[0]!;
  assert.deepEqual(last.backends, rule.backends);
  assert.equal(last.retry, undefined);
  assert.equal(last.responseClasses, undefined, "default classification");
});

Deno.test("serviceProfileOf() leaves routing to the policy when the profile has no routes or split", () => {
  const sp = serviceProfileOf(
    wire({ retry_budget: null, opaque_protocol: true }),
    SVC,
  );
  assert.deepEqual(sp, { opaque: true, fullyQualifiedName: "" });
});

Deno.test("serviceProfileOf() turns retries off without a valid budget", () => {
  const routes = [{ condition: path("/x"), is_retryable: true }];
  for (const budget of [null, { retry_ratio: 0.2, ttl: { seconds: 0 } }]) {
    const sp = serviceProfileOf(
      wire({ routes, retry_budget: budget }),
      SVC,
    );
    assert.equal(sp.retryBudget, undefined);
    assert.equal(sp.routes!.routes[0]!.rules[0]!.retry, undefined);
  }
});

Deno.test("failureRangesOf() defaults to 5xx", () => {
  assert.deepEqual(failureRangesOf([]), [{ start: 500, end: 599 }]);
  assert.deepEqual(
    failureRangesOf([{
      condition: { not: { status: { min: 200, max: 499 } } },
      is_failure: true,
    }]),
    [{ start: 100, end: 199 }, { start: 500, end: 599 }],
  );
});

Deno.test("serviceProfileOf() keeps first-match order for random condition trees", () => {
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed % n;
  };
  const regexes = ["/a", "/a/.*", "/b.*", "/.*", "/a/b", "/[ab]"];
  const methods = ["GET", "POST", "DELETE"];
  const gen = (depth: number): unknown => {
    const k = depth === 0 ? rand(2) : rand(5);
    switch (k) {
      case 0:
        return path(regexes[rand(regexes.length)]!);
      case 1:
        return method(methods[rand(methods.length)]!);
      case 2:
        return not(gen(depth - 1));
      case 3:
        return all(gen(depth - 1), gen(depth - 1));
      default:
        return any(gen(depth - 1), gen(depth - 1));
    }
  };
  const paths = ["/", "/a", "/a/", "/a/b", "/b", "/bc", "/c"];
  for (let n = 0; n < 300; n++) {
    const conditions = Array.from({ length: 1 + rand(5) }, () => gen(2));
    const profile = wire({
      routes: conditions.map((condition) => ({ condition })),
    });
    const routes = serviceProfileOf(profile, SVC).routes!.routes;
    const table = compileHttpRoutes(routes);
    const refs = routes.map((r) => r.ref.kind === "default" ? r.ref.name : "");
    for (const p of paths) {
      for (const m of [...methods, "PUT"]) {
        // Shadowed routes are dropped: compare by route name.
        const want = firstMatch(profile.routes.map((r) => r.condition!), p, m);
        const got = findHttpRoute(table, request(p, m));
        const gotName = got === undefined ? "none" : refs[got.routeIndex];
        const wantName = want === conditions.length
          ? "default"
          : `route-${want}`;
        assert.equal(
          gotName,
          wantName,
          `${JSON.stringify(conditions)} ${m} ${p}`,
        );
      }
    }
  }
});
