/**
 * The policy router of one logical service: follows the service's routes,
 * rebuilds the route table when they change, and keeps the backends'
 * balancers in a cache shared by all routes and across rebuilds (linkerd
 * `out/http/logical/policy/router.rs`, `NewSpawnWatch`, `NewBackendCache`).
 *
 * A service without routes gets one default route to its own endpoints, and
 * a request goes straight to the parent's balancer with no route work.
 *
 * @module
 */
import {
  routeBackendMetaLabels,
  routeMetaLabels,
} from "../../metrics/route_families.ts";
import type { ServiceState } from "../../discovery/resolve.ts";
import { parseSocketAddr } from "../../addr/mod.ts";
import {
  DispatcherFailedError,
  InvalidPolicyError,
  ResolveError,
} from "../../errors.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../../http/message.ts";
import { TpsBudget } from "../../http/retry/budget.ts";
import type { RetryMetrics } from "../../http/retry/retry.ts";
import type {
  Backend,
  RetryBudget,
  RouteRef,
  ServiceRoutes,
} from "../../http/route/model.ts";
import { backendLabels } from "../../metrics/balancer.ts";
import {
  routeLabels,
  type RouteMetricFamilies,
} from "../../metrics/route_retry.ts";
import type { NewService } from "../../svc/service.ts";
import { Watch } from "../../svc/watch.ts";
import type { OutboundCtx } from "../runtime.ts";
import { Balancer, type NewConcrete } from "./concrete.ts";
import { isConnectError } from "./endpoint.ts";
import {
  newRouteTable,
  type ResilienceParams,
  type RouteRecorders,
} from "./route_stack.ts";

/** The target of a router (linkerd policy `Params`): a logical service and its live state. */
export interface RouterTarget {
  /** The logical service, "host:port". */
  readonly logical: string;
  readonly state: Watch<ServiceState>;
}

/** Builds the router of one logical service (linkerd's policy-router NewService). */
export type NewRouter = NewService<RouterTarget, HttpRouter>;

/**
 * The router stage: one policy router per logical target, its backends
 * built by `newConcrete` (linkerd `out/http/logical/policy/router.rs`).
 */
export function newHttpRouter(
  ctx: OutboundCtx,
  newConcrete: NewConcrete,
): NewRouter {
  return (t) => new HttpRouter(ctx, t, newConcrete);
}

/**
 * Routes the requests of one logical service (linkerd policy `Router`).
 * `call` always uses the latest route table; requests in flight keep the
 * table and backends they started with.
 */
export class HttpRouter implements Disposable {
  readonly #ctx: OutboundCtx;
  readonly #target: RouterTarget;
  readonly #newConcrete: NewConcrete;
  #backends = new Map<string, BackendEntry>();
  /** Dropped backends still answering requests. */
  readonly #retiring = new Set<BackendEntry>();
  #routes: ServiceRoutes | undefined;
  #routesKey = "";
  /** The retry budget of the service's routes, kept across route updates. */
  #budget: { spec: RetryBudget; budget: TpsBudget } | undefined;
  #service: HttpService;
  readonly #sub: Disposable;
  #disposed = false;

  constructor(
    ctx: OutboundCtx,
    target: RouterTarget,
    newConcrete: NewConcrete,
  ) {
    this.#ctx = ctx;
    this.#target = target;
    this.#newConcrete = newConcrete;
    const routes = target.state.get().routes;
    this.#service = this.#build(routes);
    this.#sub = target.state.subscribe((s) => this.#update(s.routes));
  }

  /** Routes `req` with the current table. */
  call(req: HttpRequest): Promise<HttpResponse> {
    return this.#service(req);
  }

  /** Keys of the backends currently cached, e.g. `balance:web.test:80` (for tests). */
  get backendKeys(): readonly string[] {
    return [...this.#backends.keys()];
  }

  #update(routes: ServiceRoutes | undefined): void {
    if (this.#disposed || routes === this.#routes) return;
    if (keyOf(routes) === this.#routesKey) {
      this.#routes = routes;
      return;
    }
    this.#service = this.#build(routes);
    this.#ctx.log.debug("routes updated", {
      logical: this.#target.logical,
      routes: routes?.routes.length ?? 0,
    });
  }

  /** Builds the service for `routes`, reusing cached backends; retires the unused ones. */
  #build(routes: ServiceRoutes | undefined): HttpService {
    const previous = this.#backends;
    const next = new Map<string, BackendEntry>();
    const entryOf = (b: Backend): BackendEntry => {
      const key = this.#backendKey(b);
      let entry = next.get(key);
      if (entry === undefined) {
        entry = previous.get(key) ?? this.#newBackend(key, b);
        next.set(key, entry);
      }
      return entry;
    };
    const backend = (b: Backend): HttpService => entryOf(b).call;
    let service: HttpService;
    if (routes === undefined) {
      // The default route: straight to the parent's balancer, nothing per request.
      service = entryOf(this.#parentBackend()).direct();
    } else {
      try {
        const record = this.#recorders(routes);
        service = newRouteTable(routes, {
          random: this.#ctx.random,
          backend,
          resilience: this.#resilience(routes),
          ...(record === undefined ? {} : { record }),
        });
      } catch (err) {
        const error = new InvalidPolicyError(this.#target.logical, {
          cause: err,
        });
        this.#ctx.log.warn("invalid routes", { error: error.message });
        service = () => Promise.reject(error);
      }
    }
    this.#routes = routes;
    this.#routesKey = keyOf(routes);
    this.#backends = next;
    for (const [key, entry] of previous) {
      if (next.has(key)) continue;
      this.#retiring.add(entry);
      entry.retire(() => this.#retiring.delete(entry));
    }
    return service;
  }

  /**
   * What the routes' retries and timeouts share: the service's retry budget
   * when its routes have one (a ServiceProfile's, or YAML `retryBudget`;
   * rebuilt only when its spec changes; policy routes have none, as
   * linkerd's `policy/route/retry.rs`), the route metric families and the
   * test for a failed connect.
   */
  #resilience(routes: ServiceRoutes): ResilienceParams {
    const spec = routes.retryBudget;
    const b = this.#budget;
    if (spec === undefined) {
      this.#budget = undefined;
    } else if (
      b === undefined || b.spec.ratio !== spec.ratio ||
      b.spec.minPerSecond !== spec.minPerSecond || b.spec.ttlMs !== spec.ttlMs
    ) {
      this.#budget = { spec, budget: new TpsBudget(spec) };
    }
    const families = routeFamilies(this.#ctx);
    const logical = this.#target.logical;
    const budget = this.#budget?.budget;
    return {
      ...(budget === undefined ? {} : { budget }),
      isUnsent: isConnectError,
      ...(families
        ? {
          metrics: (kind: "http" | "grpc", ref: RouteRef): RetryMetrics =>
            families.route(kind, routeLabels(logical, ref)),
        }
        : {}),
    };
  }

  /**
   * The route request/backend recorders, labelled with the policy's parent
   * metadata (a default `host:port` parent without one).
   */
  #recorders(routes: ServiceRoutes): RouteRecorders | undefined {
    const families = this.#ctx.metrics.routeRequests;
    if (families === undefined) return undefined;
    const parent = routes.parent ??
      { kind: "default", name: this.#target.logical };
    const profiles = this.#ctx.metrics.profileRoutes;
    const dst = routes.kind === "http" ? routes.profileDst : undefined;
    return {
      route: (kind, ref) => families.route(kind, routeMetaLabels(parent, ref)),
      backend: (kind, ref, b) =>
        families.backend(kind, routeBackendMetaLabels(parent, ref, b.ref)),
      ...(profiles === undefined || dst === undefined ? {} : {
        profile: (route) => {
          const labels = {
            direction: "outbound",
            dst,
            routeLabels: route.metricsLabels,
          };
          return {
            request: profiles.route(labels),
            attempt: profiles.actual(labels),
          };
        },
      }),
    };
  }

  #parentBackend(): Backend {
    return {
      ref: { kind: "default", name: this.#target.logical },
      dispatch: { kind: "balance", authority: this.#target.logical },
    };
  }

  #backendKey(b: Backend): string {
    const d = b.dispatch;
    switch (d.kind) {
      case "balance":
        return this.#isParent(d.authority)
          ? "parent"
          : `balance:${d.authority}`;
      case "forward":
        return `forward:${d.addr}:${d.identity ?? ""}`;
      case "fail":
        return `fail:${d.message}`;
    }
  }

  #isParent(authority: string): boolean {
    const a = authority.toLowerCase();
    return a === this.#target.logical ||
      a === this.#target.state.get().name.toLowerCase();
  }

  #newBackend(key: string, b: Backend): BackendEntry {
    const d = b.dispatch;
    const ctx = this.#ctx;
    switch (d.kind) {
      case "fail":
        return new BackendEntry(() =>
          Promise.reject(new DispatcherFailedError(d.message))
        );
      case "forward": {
        const { host, port } = parseSocketAddr(d.addr, "forward address");
        const state = new Watch<ServiceState>({
          name: d.addr,
          protocol: this.#target.state.get().protocol,
          endpoints: [{
            addr: d.addr,
            host,
            port,
            ...(d.identity === undefined ? {} : { identity: d.identity }),
          }],
          source: "forward",
        });
        const target = {
          logical: d.addr,
          state,
          metricLabels: backendLabels(this.#target.logical, d.addr),
        };
        return new BackendEntry(this.#newConcrete(target));
      }
      case "balance":
        if (key === "parent") {
          return new BackendEntry(this.#newConcrete(this.#target));
        }
        return new BackendEntry(
          () => ctx.discovery.resolve(d.authority),
          (state) => {
            const target = {
              logical: d.authority,
              state,
              metricLabels: backendLabels(this.#target.logical, d.authority),
            };
            return this.#newConcrete(target);
          },
          d.authority,
        );
    }
  }

  /** Stops following the routes and disposes every backend at once. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#sub[Symbol.dispose]();
    for (const entry of this.#backends.values()) entry[Symbol.dispose]();
    this.#backends.clear();
    for (const entry of [...this.#retiring]) entry[Symbol.dispose]();
  }
}

/** The route metric families, when the metrics implementation has them. */
function routeFamilies(ctx: OutboundCtx): RouteMetricFamilies | undefined {
  return ctx.metrics.routes;
}

function keyOf(routes: ServiceRoutes | undefined): string {
  return routes === undefined ? "" : JSON.stringify(routes);
}

type Resolve = () => Promise<Watch<ServiceState>>;

/**
 * How long a backend dropped from the routes keeps serving requests that
 * were not counted (the no-routes fast path) before it is disposed.
 */
export const RETIRE_GRACE_MS = 10_000;

/**
 * One cached backend: a balancer (built at once, or after its service is
 * resolved) or a fixed failure. Counts its requests in flight so that a
 * backend dropped from the routes is disposed only once they are answered.
 */
class BackendEntry implements Disposable {
  /** Dispatches a request to this backend. */
  readonly call: HttpService;
  #balancer: Balancer | undefined;
  #resolving: Promise<Balancer> | undefined;
  #pending = 0;
  #retired = false;
  #disposed = false;
  /** Some requests bypassed the count (see `direct`). */
  #untracked = false;
  #grace: ReturnType<typeof setTimeout> | undefined;
  #onDisposed: (() => void) | undefined;

  constructor(fixed: Balancer | HttpService);
  constructor(
    resolve: Resolve,
    build: (state: Watch<ServiceState>) => Balancer,
    authority: string,
  );
  constructor(
    first: Balancer | HttpService | Resolve,
    build?: (state: Watch<ServiceState>) => Balancer,
    authority?: string,
  ) {
    if (first instanceof Balancer) {
      const b = first;
      this.#balancer = b;
      this.call = (req) => this.#track(b.call(req));
    } else if (build === undefined) {
      this.call = first as HttpService;
    } else {
      const resolve = first as Resolve;
      this.call = (req) => {
        const b = this.#balancer;
        if (b !== undefined) return this.#track(b.call(req));
        return this.#track(
          this.#resolve(resolve, build, authority!).then((b) => b.call(req)),
        );
      };
    }
  }

  #resolve(
    resolve: Resolve,
    build: (state: Watch<ServiceState>) => Balancer,
    authority: string,
  ): Promise<Balancer> {
    if (this.#disposed) {
      return Promise.reject(new ResolveError(authority));
    }
    this.#resolving ??= resolve().then(
      (state) => {
        if (this.#disposed) throw new ResolveError(authority);
        return this.#balancer = build(state);
      },
      (err) => {
        // Resolve again on the next request.
        this.#resolving = undefined;
        throw err instanceof ResolveError
          ? err
          : new ResolveError(authority, { cause: err });
      },
    );
    return this.#resolving;
  }

  #track(p: Promise<HttpResponse>): Promise<HttpResponse> {
    this.#pending++;
    return p.then(this.#settled, this.#failed);
  }

  #settled = (rsp: HttpResponse): HttpResponse => {
    if (--this.#pending === 0 && this.#retired && !this.#untracked) {
      this[Symbol.dispose]();
    }
    return rsp;
  };

  #failed = (err: unknown): never => {
    if (--this.#pending === 0 && this.#retired && !this.#untracked) {
      this[Symbol.dispose]();
    }
    throw err;
  };

  /**
   * The balancer's own `call`, without the in-flight count (the default
   * route's fast path); `call` when there is no balancer yet.
   */
  direct(): HttpService {
    const b = this.#balancer;
    if (b === undefined) return this.call;
    this.#untracked = true;
    return (req) => b.call(req);
  }

  /**
   * Dropped from the route table: dispose once the requests in flight are
   * answered; after `RETIRE_GRACE_MS` when some were not counted.
   */
  retire(onDisposed: () => void): void {
    this.#retired = true;
    this.#onDisposed = onDisposed;
    if (this.#untracked) {
      this.#grace ??= setTimeout(
        () => this[Symbol.dispose](),
        RETIRE_GRACE_MS,
      );
    } else if (this.#pending === 0) {
      this[Symbol.dispose]();
    }
  }

  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#grace);
    this.#balancer?.[Symbol.dispose]();
    this.#balancer = undefined;
    this.#onDisposed?.();
  }
}
