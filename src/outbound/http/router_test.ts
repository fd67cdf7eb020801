import assert from "node:assert/strict";
import type {
  Discovery,
  EndpointMeta,
  ServiceState,
} from "../../discovery/resolve.ts";
import {
  causeOf,
  DispatcherFailedError,
  GrpcRouteInjectedFailureError,
  HttpRouteInjectedFailureError,
  HttpRouteRedirectError,
  InvalidPolicyError,
  LoadShedError,
  NoRouteError,
  ResolveError,
} from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../../http/message.ts";
import type {
  Backend,
  GrpcFilter,
  GrpcRoute,
  HttpFilter,
  HttpRoute,
  HttpRouteMatch,
  ServiceRoutes,
  WeightedRouteBackend,
} from "../../http/route/model.ts";
import { Watch } from "../../svc/watch.ts";
import type { OutboundCtx } from "../runtime.ts";
import type { EndpointTarget, HttpEndpoint } from "./endpoint.ts";
import { newHttpConcrete } from "./concrete.ts";
import { HttpRouter } from "./router.ts";

const PARENT = "web.test:80";

/** Answers immediately (or when released) and records what each endpoint saw. */
class World {
  readonly states = new Map<string, Watch<ServiceState>>();
  /** Requests seen, as "<logical> <path>". */
  readonly seen: string[] = [];
  readonly headers: Record<string, unknown>[] = [];
  readonly created: string[] = [];
  readonly disposed: string[] = [];
  resolves = 0;
  /** When set, responses wait for `release()`. */
  hold = false;
  #waiting: (() => void)[] = [];
  #random: number[] = [];

  service(name: string, n = 1, routes?: ServiceRoutes): Watch<ServiceState> {
    const host = name.split(":")[0]!;
    const endpoints: EndpointMeta[] = Array.from({ length: n }, (_, i) => ({
      addr: `${host}-${i}:80`,
      host: `${host}-${i}`,
      port: 80,
    }));
    const w = new Watch<ServiceState>({
      name,
      protocol: "http1",
      endpoints,
      source: "test",
      ...(routes ? { routes } : {}),
    });
    this.states.set(name, w);
    return w;
  }

  setRoutes(name: string, routes: ServiceRoutes | undefined): void {
    const w = this.states.get(name)!;
    const { routes: _old, ...rest } = w.get();
    w.set(routes ? { ...rest, routes } : rest);
  }

  /** Makes ctx.random return these values in turn (then 0). */
  random(...values: number[]): void {
    this.#random = values;
  }

  release(): void {
    const w = this.#waiting;
    this.#waiting = [];
    for (const f of w) f();
  }

  readonly discovery: Discovery = {
    resolve: (name) => {
      this.resolves++;
      const w = this.states.get(name);
      return w ? Promise.resolve(w) : Promise.reject(new ResolveError(name));
    },
  };

  readonly ctx: OutboundCtx = {
    settings: {
      connectTimeoutMs: 1000,
      http1PoolIdleTimeoutMs: 3000,
      maxIdleConnsPerEndpoint: 10,
      httpQueueCapacity: 100,
      httpFailfastTimeoutMs: 50,
      discoveryIdleTimeoutMs: 5000,
      maxInFlight: 1000,
      informationalHeaders: true,
    },
    discovery: this.discovery,
    metrics: {
      httpEndpoint: () => ({ request() {}, response() {} }),
      httpError() {},
    },
    log: { warn() {}, info() {}, debug() {} },
    random: () => this.#random.shift() ?? 0,
  };

  readonly newEndpoint = (t: EndpointTarget): HttpEndpoint => {
    this.created.push(t.meta.addr);
    let pending = 0;
    return {
      addr: t.meta.addr,
      get pending() {
        return pending;
      },
      service: (req: HttpRequest): Promise<HttpResponse> => {
        this.seen.push(`${t.logical} ${req.path}`);
        this.headers.push({ ...req.headers });
        pending++;
        const answer = (): HttpResponse => {
          pending--;
          return {
            status: 200,
            headers: { "x-backend": t.logical },
            body: null,
          };
        };
        if (!this.hold) return Promise.resolve(answer());
        return new Promise((resolve) =>
          this.#waiting.push(() => resolve(answer()))
        );
      },
      [Symbol.dispose]: () => {
        this.disposed.push(t.meta.addr);
      },
    };
  };

  router(name = PARENT): HttpRouter {
    return new HttpRouter(
      this.ctx,
      { logical: name, state: this.states.get(name)! },
      newHttpConcrete(this.ctx, this.newEndpoint),
    );
  }
}

function req(path: string, headers: Record<string, string> = {}): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test",
    path,
    version: "HTTP/1.1",
    headers,
    body: null,
    ext: {},
  };
}

function grpcReq(path: string): HttpRequest {
  return {
    ...req(path, { "content-type": "application/grpc" }),
    method: "POST",
    version: "HTTP/2",
  };
}

function backend(name: string): Backend {
  return {
    ref: { kind: "default", name },
    dispatch: { kind: "balance", authority: name },
  };
}

function weighted(
  ...pairs: [string, number][]
): WeightedRouteBackend<HttpFilter>[] {
  return pairs.map(([name, weight]) => ({
    backend: backend(name),
    filters: [],
    weight,
  }));
}

function route(
  name: string,
  opts: {
    matches?: HttpRouteMatch[];
    filters?: HttpFilter[];
    backends?: WeightedRouteBackend<HttpFilter>[];
    hosts?: HttpRoute["hosts"];
  } = {},
): HttpRoute {
  return {
    ref: { kind: "default", name },
    hosts: opts.hosts ?? [],
    rules: [{
      matches: opts.matches ?? [],
      filters: opts.filters ?? [],
      backends: opts.backends
        ? { kind: "randomAvailable", backends: opts.backends }
        : {
          kind: "firstAvailable",
          backends: [{ backend: backend(PARENT), filters: [] }],
        },
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  };
}

const prefix = (value: string): HttpRouteMatch => ({
  path: { kind: "prefix", value },
  headers: [],
  queryParams: [],
});

const http = (...routes: HttpRoute[]): ServiceRoutes => ({
  kind: "http",
  routes,
});

async function rejection(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

Deno.test("HttpRouter without routes sends every request to the parent's endpoints", async () => {
  const w = new World();
  w.service(PARENT, 2);
  using router = w.router();
  for (let i = 0; i < 4; i++) await router.call(req(`/${i}`));
  assert.deepEqual(w.seen, [
    "web.test:80 /0",
    "web.test:80 /1",
    "web.test:80 /2",
    "web.test:80 /3",
  ]);
  assert.deepEqual(router.backendKeys, ["parent"]);
  assert.equal(w.resolves, 0, "the parent is not resolved again");
});

Deno.test("HttpRouter picks the route, and a rule's weights split traffic", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("canary.test:80");
  w.setRoutes(
    PARENT,
    http(
      route("split", {
        matches: [prefix("/api")],
        backends: weighted([PARENT, 90], ["canary.test:80", 10]),
      }),
    ),
  );
  using router = w.router();
  // Draws x·100: below 90 goes to the parent, from 90 to the canary.
  const draws = Array.from({ length: 100 }, (_, i) => i / 100);
  w.random(...draws);
  for (let i = 0; i < 100; i++) await router.call(req("/api/x"));
  const canary = w.seen.filter((s) => s.startsWith("canary.test")).length;
  assert.equal(canary, 10);
  assert.equal(w.seen.length - canary, 90);
  const err = await rejection(router.call(req("/other")));
  assert.ok(causeOf(err, NoRouteError), String(err));
  assert.deepEqual([...router.backendKeys].sort(), [
    "balance:canary.test:80",
    "parent",
  ]);
});

Deno.test("HttpRouter keeps balancers across route updates and disposes dropped backends", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("a.test:80");
  w.service("b.test:80");
  w.setRoutes(
    PARENT,
    http(
      route("r", { backends: weighted(["a.test:80", 1], ["b.test:80", 1]) }),
    ),
  );
  using router = w.router();
  w.random(0.1, 0.9);
  await router.call(req("/"));
  await router.call(req("/"));
  assert.deepEqual(w.created.sort(), ["a.test-0:80", "b.test-0:80"]);
  const resolves = w.resolves;

  // New weights, same backends: nothing is rebuilt or resolved again.
  w.setRoutes(
    PARENT,
    http(
      route("r", { backends: weighted(["a.test:80", 0], ["b.test:80", 5]) }),
    ),
  );
  await router.call(req("/"));
  assert.equal(w.seen.at(-1), "b.test:80 /");
  assert.deepEqual(w.created.sort(), ["a.test-0:80", "b.test-0:80"]);
  assert.deepEqual(w.disposed, [], "a weight of 0 keeps the backend");
  assert.equal(w.resolves, resolves);

  // Dropping a backend disposes its balancer (its endpoints).
  w.setRoutes(
    PARENT,
    http(route("r", { backends: weighted(["b.test:80", 1]) })),
  );
  assert.deepEqual(w.disposed, ["a.test-0:80"]);
  assert.deepEqual(router.backendKeys, ["balance:b.test:80"]);

  // An identical table (a new object) changes nothing.
  w.setRoutes(
    PARENT,
    http(route("r", { backends: weighted(["b.test:80", 1]) })),
  );
  assert.deepEqual(w.disposed, ["a.test-0:80"]);
  // Back to no routes: the parent's endpoints serve again.
  w.setRoutes(PARENT, undefined);
  await router.call(req("/"));
  assert.equal(w.seen.at(-1), "web.test:80 /");
  assert.deepEqual(w.disposed, ["a.test-0:80", "b.test-0:80"]);
});

Deno.test("HttpRouter disposes a dropped backend only after its requests are answered", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("a.test:80");
  w.setRoutes(
    PARENT,
    http(route("r", { backends: weighted(["a.test:80", 1]) })),
  );
  using router = w.router();
  await router.call(req("/warm"));
  w.hold = true;
  const inFlight = router.call(req("/slow"));
  await Promise.resolve();
  w.setRoutes(PARENT, undefined);
  assert.deepEqual(w.disposed, [], "still answering /slow");
  w.hold = false;
  w.release();
  const rsp = await inFlight;
  assert.equal(rsp.headers["x-backend"], "a.test:80");
  assert.deepEqual(w.disposed, ["a.test-0:80"]);
});

Deno.test("HttpRouter applies request and response header filters in order", async () => {
  const w = new World();
  w.service(PARENT);
  w.setRoutes(
    PARENT,
    http(route("r", {
      filters: [
        {
          kind: "requestHeaderModifier",
          add: [{ name: "x-add", value: "1" }],
          set: [{ name: "x-set", value: "new" }],
          remove: ["x-remove"],
        },
        {
          kind: "responseHeaderModifier",
          add: [{ name: "x-backend", value: "extra" }],
          set: [{ name: "x-rsp", value: "yes" }],
          remove: [],
        },
        {
          kind: "responseHeaderModifier",
          add: [],
          set: [],
          remove: ["x-rsp"],
        },
      ],
    })),
  );
  using router = w.router();
  const rsp = await router.call(
    req("/", { "x-set": "old", "x-remove": "bye", "x-keep": "k" }),
  );
  assert.deepEqual(w.headers[0], {
    "x-add": "1",
    "x-set": "new",
    "x-keep": "k",
  });
  assert.deepEqual(rsp.headers, { "x-backend": ["web.test:80", "extra"] });
});

Deno.test("HttpRouter redirects and injects failures as errors for the rescue", async () => {
  const w = new World();
  w.service(PARENT);
  w.setRoutes(
    PARENT,
    http(
      route("old", {
        matches: [prefix("/old")],
        filters: [{
          kind: "requestRedirect",
          path: { kind: "prefix", value: "/new" },
          status: 302,
        }],
      }),
      route("flaky", {
        matches: [prefix("/flaky")],
        filters: [{
          kind: "failureInjector",
          status: 503,
          message: "chaos",
          ratio: { numerator: 1, denominator: 2 },
        }],
      }),
      route("noop", {
        matches: [prefix("/same")],
        filters: [{ kind: "requestRedirect", scheme: "http" }],
      }),
    ),
  );
  using router = w.router();
  const redirect = await rejection(router.call(req("/old/a?b=1")));
  const r = causeOf(redirect, HttpRouteRedirectError);
  assert.ok(r, String(redirect));
  assert.equal(r.status, 302);
  assert.equal(r.location, "http://web.test/new/a?b=1");
  assert.equal(w.seen.length, 0, "a redirect never reaches a backend");

  w.random(0.4, 0.6);
  const failed = await rejection(router.call(req("/flaky")));
  const f = causeOf(failed, HttpRouteInjectedFailureError);
  assert.ok(f, String(failed));
  assert.equal(f.status, 503);
  assert.equal(f.message, "chaos");
  await router.call(req("/flaky"));
  assert.deepEqual(w.seen, ["web.test:80 /flaky"]);

  await router.call(req("/same"));
  assert.equal(w.seen.at(-1), "web.test:80 /same", "a no-op redirect passes");
});

Deno.test("HttpRouter gRPC routes: injected failures carry the gRPC code", async () => {
  const w = new World();
  w.service(PARENT);
  const inject: GrpcFilter = {
    kind: "failureInjector",
    code: 14,
    message: "unavailable on purpose",
    ratio: { numerator: 1, denominator: 1 },
  };
  const routes: GrpcRoute[] = [{
    ref: { kind: "default", name: "g" },
    hosts: [],
    rules: [{
      matches: [{ rpc: { service: "pkg.Echo", method: "Fail" }, headers: [] }],
      filters: [inject],
      backends: {
        kind: "firstAvailable",
        backends: [{ backend: backend(PARENT), filters: [] }],
      },
      timeouts: {},
      allowL5dRequestHeaders: false,
    }, {
      matches: [{ rpc: { service: "pkg.Echo" }, headers: [] }],
      filters: [],
      backends: {
        kind: "firstAvailable",
        backends: [{ backend: backend(PARENT), filters: [] }],
      },
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  }];
  w.setRoutes(PARENT, { kind: "grpc", routes });
  using router = w.router();
  const err = await rejection(router.call(grpcReq("/pkg.Echo/Fail")));
  const g = causeOf(err, GrpcRouteInjectedFailureError);
  assert.ok(g, String(err));
  assert.equal(g.code, 14);
  await router.call(grpcReq("/pkg.Echo/Ok"));
  assert.deepEqual(w.seen, ["web.test:80 /pkg.Echo/Ok"]);
  const none = await rejection(router.call(grpcReq("/other.Svc/Ok")));
  assert.ok(causeOf(none, NoRouteError));
});

Deno.test("HttpRouter route-backend filters run after the backend is chosen", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("a.test:80");
  w.setRoutes(
    PARENT,
    http(route("r", {
      backends: [{
        backend: backend("a.test:80"),
        weight: 1,
        filters: [{
          kind: "requestHeaderModifier",
          add: [],
          set: [{ name: "x-via", value: "a" }],
          remove: [],
        }],
      }, { backend: backend(PARENT), weight: 1, filters: [] }],
    })),
  );
  using router = w.router();
  w.random(0.1, 0.9);
  await router.call(req("/"));
  await router.call(req("/"));
  assert.deepEqual(w.headers, [{ "x-via": "a" }, {}]);
});

Deno.test("HttpRouter: a backend discovery cannot resolve fails with ResolveError, then resolves once known", async () => {
  const w = new World();
  w.service(PARENT);
  w.setRoutes(
    PARENT,
    http(route("r", { backends: weighted(["late.test:80", 1]) })),
  );
  using router = w.router();
  const err = await rejection(router.call(req("/")));
  assert.ok(causeOf(err, ResolveError), String(err));
  w.service("late.test:80");
  await router.call(req("/"));
  assert.deepEqual(w.seen, ["late.test:80 /"]);
});

Deno.test("HttpRouter: empty, failing and forward backends", async () => {
  const w = new World();
  w.service(PARENT);
  const rule = (backends: HttpRoute["rules"][0]["backends"], path: string) => ({
    ...route(path),
    rules: [{ ...route(path).rules[0]!, matches: [prefix(path)], backends }],
  });
  w.setRoutes(
    PARENT,
    http(
      rule({ kind: "empty" }, "/empty"),
      rule({
        kind: "firstAvailable",
        backends: [{
          backend: {
            ref: { kind: "default", name: "gone" },
            dispatch: { kind: "fail", message: "backend gone" },
          },
          filters: [],
        }],
      }, "/fail"),
      rule({
        kind: "firstAvailable",
        backends: [{
          backend: {
            ref: { kind: "default", name: "fwd" },
            dispatch: { kind: "forward", addr: "10.1.2.3:8080" },
          },
          filters: [],
        }],
      }, "/forward"),
      rule(
        { kind: "randomAvailable", backends: weighted([PARENT, 0]) },
        "/zero",
      ),
    ),
  );
  using router = w.router();
  assert.ok(
    causeOf(await rejection(router.call(req("/empty"))), LoadShedError),
  );
  assert.ok(causeOf(await rejection(router.call(req("/zero"))), LoadShedError));
  const failed = await rejection(router.call(req("/fail")));
  assert.equal(causeOf(failed, DispatcherFailedError)?.message, "backend gone");
  await router.call(req("/forward"));
  assert.deepEqual(w.seen, ["10.1.2.3:8080 /forward"]);
  assert.ok(w.created.includes("10.1.2.3:8080"));
});

Deno.test("HttpRouter: routes that cannot be compiled fail requests with InvalidPolicyError", async () => {
  const w = new World();
  w.service(PARENT);
  w.setRoutes(
    PARENT,
    http(route("bad", {
      matches: [{
        path: { kind: "regex", value: "(" },
        headers: [],
        queryParams: [],
      }],
    })),
  );
  using router = w.router();
  const err = await rejection(router.call(req("/")));
  assert.ok(causeOf(err, InvalidPolicyError), String(err));
  // A fixed table applies on the next update.
  w.setRoutes(PARENT, http(route("good")));
  await router.call(req("/"));
  assert.deepEqual(w.seen, ["web.test:80 /"]);
});

Deno.test("HttpRouter matches hostnames against the request's authority", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("a.test:80");
  w.setRoutes(
    PARENT,
    http(
      route("any"),
      route("host", {
        hosts: [{ kind: "exact", host: "web.test" }],
        backends: weighted(["a.test:80", 1]),
      }),
    ),
  );
  using router = w.router();
  await router.call(req("/"));
  await router.call({ ...req("/"), authority: "other.test" });
  assert.deepEqual(w.seen, ["a.test:80 /", "web.test:80 /"]);
});

Deno.test("HttpRouter: the parent's uncounted fast path gets a grace period when routes drop it", async () => {
  const w = new World();
  w.service(PARENT);
  w.service("a.test:80");
  const router = w.router();
  await router.call(req("/"));
  w.setRoutes(
    PARENT,
    http(route("r", { backends: weighted(["a.test:80", 1]) })),
  );
  await router.call(req("/"));
  assert.deepEqual(w.seen, ["web.test:80 /", "a.test:80 /"]);
  assert.deepEqual(w.disposed, [], "the parent waits out its grace period");
  router[Symbol.dispose]();
  assert.deepEqual(w.disposed.sort(), ["a.test-0:80", "web.test-0:80"]);
});
