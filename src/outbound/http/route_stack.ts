/**
 * The per-route stack: a rule's filters, then its distribution over route
 * backends, each with its own filters (linkerd
 * `out/http/logical/policy/route.rs` `MatchedRoute`, `route/filters.rs`,
 * `route/backend.rs`, `linkerd/distribute`), and the route table that picks
 * the rule for each request (`SelectRoute`).
 *
 * Everything here is built once per route table; a request pays for route
 * selection, its own filters and one weighted draw when the rule has more
 * than one backend. A rule with a retry policy or timeouts gets the retry
 * loop and the stream timeouts around its filters (linkerd
 * `NewHttpRetry` over `NewApplyFilters`; timeouts per attempt); a rule
 * without them gets neither, so its requests are not buffered and pass
 * through no extra closure.
 *
 * @module
 */
import type { RouteRequestMetrics } from "../../metrics/route_families.ts";
import type { ProfileRouteMetrics } from "../../metrics/profile_route.ts";
import {
  GrpcRouteInjectedFailureError,
  HttpRouteInjectedFailureError,
  HttpRouteRedirectError,
  LoadShedError,
  NoRouteError,
} from "../../errors.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../../http/message.ts";
import { shouldInjectFailure } from "../../http/route/filter_inject_failure.ts";
import { modifyHeaders } from "../../http/route/filter_modify_header.ts";
import { redirectRequest } from "../../http/route/filter_redirect.ts";
import { compileGrpcRoutes, findGrpcRoute } from "../../http/route/grpc.ts";
import type { PathSummary } from "../../http/route/match_path.ts";
import type {
  Backend,
  Distribution,
  GrpcFilter,
  GrpcRetry,
  HeaderModifier,
  HttpFilter,
  HttpRetry,
  HttpRoute,
  ResponseClasses,
  RouteBackend,
  RouteRef,
  RouteTimeouts,
  ServiceRoutes,
} from "../../http/route/model.ts";
import { profileClassifyOf } from "../../http/classify.ts";
import { compileHttpRoutes, findHttpRoute } from "../../http/route/select.ts";
import type { Clock } from "../../balance/clock.ts";
import type { TpsBudget } from "../../http/retry/budget.ts";
import {
  hasRouteTimeouts,
  newHttpRetry,
  newStreamTimeouts,
  type RetryMetrics,
  retryPolicyOf,
} from "../../http/retry/retry.ts";

/**
 * A service behind route selection: it also gets how the path matched
 * (the redirect filter needs it). Plain `HttpService`s fit.
 */
export type RoutedService = (
  req: HttpRequest,
  path: PathSummary,
) => Promise<HttpResponse>;

/** What the route stack needs from its surroundings. */
export interface RouteStackParams {
  /** Randomness for weighted backends and failure injection (linkerd `thread_rng`). */
  readonly random: () => number;
  /**
   * The shared service of a backend (linkerd `NewBackendCache`): the same
   * backend asked for twice gives the same balancer.
   */
  readonly backend: (b: Backend) => HttpService;
  /** What retries and timeouts share across the routes. @default {none: no budget, no metrics, the real clock} */
  readonly resilience?: ResilienceParams;
  /**
   * The route request and backend recorders (`metrics/route_families.ts`),
   * resolved once per rule and per rule backend. @default {none}
   */
  readonly record?: RouteRecorders;
  /** Set by the route table for the rule being built: its backends' recorder. */
  readonly recordBackend?: (b: Backend) => RouteRequestMetrics | undefined;
  /** Set by the route table for a profile route's rule: its per-attempt recorder. */
  readonly recordAttempt?: ProfileRouteMetrics;
}

/** Where a route table gets its recorders (linkerd `RouteMetrics`, `RouteBackendMetrics`). */
export interface RouteRecorders {
  route(kind: "http" | "grpc", ref: RouteRef): RouteRequestMetrics;
  backend(
    kind: "http" | "grpc",
    ref: RouteRef,
    backend: Backend,
  ): RouteRequestMetrics;
  /**
   * A ServiceProfile route's recorders (`metrics/profile_route.ts`): per
   * request and per attempt; undefined when the routes are not a profile's.
   */
  profile?(route: HttpRoute): ProfileRecorders | undefined;
}

/** The profile route families' recorders of one route. */
export interface ProfileRecorders {
  /** `route_*`, around the retries. */
  readonly request: ProfileRouteMetrics;
  /** `route_actual_*`, each attempt. */
  readonly attempt: ProfileRouteMetrics;
}

/** Shared by the retry and timeout layers of a service's routes. */
export interface ResilienceParams {
  /** The service's retry budget (linkerd `RetryBudget`). */
  readonly budget?: TpsBudget;
  /** The retry metric handle of a route, resolved once per route stack. */
  readonly metrics?: (kind: "http" | "grpc", ref: RouteRef) => RetryMetrics;
  /** @default {SHARED_TIMERS} */
  readonly clock?: Clock;
  /** Errors raised before any byte reached an endpoint (a failed connect). */
  readonly isUnsent?: (err: unknown) => boolean;
}

/** What a rule's stack is built from (linkerd `outbound.*Route.Rule`). */
export interface RuleStack<F> {
  readonly filters: readonly F[];
  readonly backends: Distribution<F>;
  readonly timeouts?: RouteTimeouts;
  readonly retry?: HttpRetry | GrpcRetry;
  /** A profile route's response classes (HTTP rules only). */
  readonly responseClasses?: ResponseClasses;
}

/** The path summary gRPC rules pass on (gRPC routes have no redirects). */
const NO_PATH: PathSummary = Object.freeze({ kind: "exact", length: 0 });

/**
 * Builds the service for a route table (linkerd `SelectRoute` over the
 * matched-route stacks): select the rule, or fail with `NoRouteError`
 * (404; gRPC: NOT_FOUND), then run the rule's stack.
 */
export function newRouteTable(
  routes: ServiceRoutes,
  params: RouteStackParams,
): HttpService {
  const kind = routes.kind;
  const ruleService = <F extends HttpFilter | GrpcFilter>(
    ref: RouteRef,
    rule: RuleStack<F>,
    profile?: ProfileRecorders,
  ) => {
    const metrics = (rule.retry !== undefined && rule.retry.maxRetries > 0) ||
        hasRouteTimeouts(rule.timeouts)
      ? params.resilience?.metrics?.(kind, ref)
      : undefined;
    const record = params.record;
    if (record === undefined) return newRuleService(rule, params, metrics);
    const rec = record.route(kind, ref);
    const svc = newRuleService(rule, {
      ...params,
      recordBackend: (b) => record.backend(kind, ref, b),
      ...(profile === undefined ? {} : { recordAttempt: profile.attempt }),
    }, metrics);
    if (profile !== undefined) {
      const prof = profile.request;
      return function recordedProfileRouteService(
        req: HttpRequest,
        path: PathSummary,
      ): Promise<HttpResponse> {
        return rec.record(req, prof.record(req, svc(req, path)));
      };
    }
    return function recordedRouteService(
      req: HttpRequest,
      path: PathSummary,
    ): Promise<HttpResponse> {
      return rec.record(req, svc(req, path));
    };
  };
  if (routes.kind === "http") {
    const table = compileHttpRoutes(routes.routes);
    const services = routes.routes.map((r) => {
      const profile = params.record?.profile?.(r);
      return r.rules.map((rule) => ruleService(r.ref, rule, profile));
    });
    return function httpRouterService(req) {
      const m = findHttpRoute(table, req);
      if (m === undefined) return Promise.reject(new NoRouteError());
      return services[m.routeIndex]![m.ruleIndex]!(req, m.summary.path);
    };
  }
  const table = compileGrpcRoutes(routes.routes);
  const services = routes.routes.map((r) =>
    r.rules.map((rule) => ruleService(r.ref, rule))
  );
  return function grpcRouterService(req) {
    const m = findGrpcRoute(table, req);
    if (m === undefined) return Promise.reject(new NoRouteError());
    return services[m.routeIndex]![m.ruleIndex]!(req, NO_PATH);
  };
}

/**
 * One rule's stack: request filters in list order (the first that fails
 * short-circuits), the distribution, then response filters in list order
 * once the response headers arrive (linkerd `NewApplyFilters` over
 * `NewDistribute`); around them, when the rule has them, the retry loop
 * and the stream timeouts of each attempt (linkerd `NewHttpRetry`,
 * `EnforceTimeouts`). Filters run again on every attempt, as in linkerd.
 * Outermost, a profile rule's response classes become the request's
 * classifier for the endpoint (linkerd `classify::NewClassify`).
 */
export function newRuleService<F extends HttpFilter | GrpcFilter>(
  rule: RuleStack<F>,
  params: RouteStackParams,
  metrics?: RetryMetrics,
): RoutedService {
  const inner = newResilientService(rule, params, metrics);
  if (rule.responseClasses === undefined) return inner;
  const classify = profileClassifyOf(rule.responseClasses);
  return function classifiedService(req, path) {
    return inner({ ...req, ext: { ...req.ext, classify } }, path);
  };
}

/** The rule's filters and distribution, in its retries and timeouts. */
function newResilientService<F extends HttpFilter | GrpcFilter>(
  rule: RuleStack<F>,
  params: RouteStackParams,
  metrics?: RetryMetrics,
): RoutedService {
  const dist = newDistribution(rule.backends, params);
  const filters = withFilters(dist, rule.filters, params);
  const attempt = params.recordAttempt;
  const filtered: RoutedService = attempt === undefined
    ? filters
    : function recordedAttemptService(req, path) {
      return attempt.record(req, filters(req, path));
    };
  const r = params.resilience;
  const opts = {
    ...(rule.timeouts ? { timeouts: rule.timeouts } : {}),
    ...(metrics ? { metrics } : {}),
    ...(r?.clock ? { clock: r.clock } : {}),
    random: params.random,
  };
  if (rule.retry !== undefined && rule.retry.maxRetries > 0) {
    return newHttpRetry(filtered, retryPolicyOf(rule.retry), {
      ...opts,
      ...(r?.budget ? { budget: r.budget } : {}),
      ...(r?.isUnsent ? { isUnsent: r.isUnsent } : {}),
    });
  }
  return newStreamTimeouts(filtered, rule.timeouts, opts);
}

type RequestStep = (req: HttpRequest, path: PathSummary) => void;

/** Wraps `inner` in `filters`; with no filters, `inner` itself. */
function withFilters<F extends HttpFilter | GrpcFilter>(
  inner: RoutedService,
  filters: readonly F[],
  params: RouteStackParams,
): RoutedService {
  const steps: RequestStep[] = [];
  const responseMods: HeaderModifier[] = [];
  for (const f of filters) {
    const step = requestStep(f, params);
    if (step) steps.push(step);
    else if (f.kind === "responseHeaderModifier") responseMods.push(f);
  }
  if (steps.length === 0 && responseMods.length === 0) return inner;
  return function filteredService(req, path) {
    try {
      for (let i = 0; i < steps.length; i++) steps[i]!(req, path);
    } catch (err) {
      return Promise.reject(err);
    }
    const p = inner(req, path);
    if (responseMods.length === 0) return p;
    return p.then((rsp) => {
      for (const mod of responseMods) modifyHeaders(rsp.headers, mod);
      return rsp;
    });
  };
}

function requestStep(
  f: HttpFilter | GrpcFilter,
  params: RouteStackParams,
): RequestStep | undefined {
  switch (f.kind) {
    case "requestHeaderModifier":
      return (req) => modifyHeaders(req.headers, f);
    case "responseHeaderModifier":
      return undefined;
    case "requestRedirect":
      return (req, path) => {
        const r = redirectRequest(f, req, path);
        if (r) throw new HttpRouteRedirectError(r.status, r.location);
      };
    case "failureInjector": {
      const { ratio, message } = f;
      const random = params.random;
      if ("code" in f) {
        const code = f.code;
        return () => {
          if (shouldInjectFailure(ratio, random)) {
            throw new GrpcRouteInjectedFailureError(code, message);
          }
        };
      }
      const status = f.status;
      return () => {
        if (shouldInjectFailure(ratio, random)) {
          throw new HttpRouteInjectedFailureError(status, message);
        }
      };
    }
  }
}

/**
 * The distribution over a rule's backends (linkerd `NewDistribute`):
 * `firstAvailable` uses the first backend, `randomAvailable` draws by
 * weight (one backend: no draw), `empty` sheds every request (503).
 * Balancers report no readiness yet, so "available" means "listed": a
 * backend without endpoints queues and fails fast as the balancer does.
 */
export function newDistribution<F extends HttpFilter | GrpcFilter>(
  dist: Distribution<F>,
  params: RouteStackParams,
): RoutedService {
  const backend = (rb: RouteBackend<F>): RoutedService => {
    const svc = withFilters(params.backend(rb.backend), rb.filters, params);
    const rec = params.recordBackend?.(rb.backend);
    if (rec === undefined) return svc;
    return function recordedBackendService(req, path) {
      return rec.record(req, svc(req, path));
    };
  };
  if (dist.kind === "firstAvailable" && dist.backends.length > 0) {
    // All are cached (linkerd builds each); without readiness the first serves.
    const [first] = dist.backends.map(backend);
    return first!;
  }
  if (dist.kind === "randomAvailable") {
    // Every backend is built, weight 0 too: it stays warm in the cache.
    const all = dist.backends.map((b) => ({
      weight: b.weight,
      svc: backend(b),
    }));
    const live = all.filter((b) => b.weight > 0);
    if (live.length === 1) return live[0]!.svc;
    if (live.length > 1) {
      const services = live.map((b) => b.svc);
      const cumulative: number[] = [];
      let total = 0;
      for (const b of live) cumulative.push(total += b.weight);
      const random = params.random;
      const last = services.length - 1;
      return function distributeService(req, path) {
        const x = random() * total;
        let i = 0;
        while (i < last && x >= cumulative[i]!) i++;
        return services[i]!(req, path);
      };
    }
  }
  return function emptyService() {
    return Promise.reject(new LoadShedError("route has no backends"));
  };
}
