/**
 * Service profiles (`destination.DestinationProfile`) mapped onto Petrel's
 * route model (linkerd `service-profiles` `client.rs` `convert_profile`,
 * `http/route_request.rs`).
 *
 * A profile's routes are tried in order and the first match wins, while the
 * route model picks the best match: the longest path match, then headers,
 * query parameters, and a method condition, then the first in order. So
 * every converted match block gets a path regex over the whole path (equal
 * path scores), which leaves the method bit as the only way a later route
 * could outrank an earlier one: each later block that names a method gets a
 * negative lookahead excluding every earlier block that names none. Request
 * conditions (`all`/`any`/`not` over path regexes and methods) become blocks
 * in disjunctive normal form, whose path conditions are joined into one
 * regex of lookaheads (`(?=(?:a)$)(?!(?:b)$)[^]*`); `not method` becomes
 * one block per other registered method, so it never matches an
 * unregistered method (e.g. PURGE). An implicit catch-all route comes last.
 *
 * @module
 */
import { normalizeAuthority } from "../addr/mod.ts";
import type {
  Backend,
  HttpRetry,
  HttpRoute,
  HttpRouteMatch,
  HttpRule,
  ResponseClasses,
  RetryBudget,
  RouteTimeouts,
  ServiceRoutes,
  StatusRange,
  WeightedRouteBackend,
} from "../http/route/model.ts";
import type {
  DestinationProfile,
  ProfileRoute,
  RequestMatch,
  ResponseMatch,
} from "./destination.ts";
import { durationMs } from "./duration.ts";
import { methodOf } from "./http_types.ts";
import {
  DEFAULT_MAX_REQUEST_BYTES,
  REGISTERED_METHODS,
} from "../http/route/model.ts";
import { routeRefOf } from "./meta.ts";

/** What a service profile says, in Petrel's model (linkerd `Profile`). */
export interface ServiceProfile {
  /**
   * Routes in the route model; undefined when the profile has neither
   * routes nor a traffic split (linkerd then routes by outbound policy).
   */
  readonly routes?: Extract<ServiceRoutes, { kind: "http" }>;
  /**
   * The retry budget (also set on `routes`); undefined when absent or
   * invalid (retries are then off, as in linkerd).
   */
  readonly retryBudget?: RetryBudget;
  /** The destination is opaque TCP (`opaque_protocol`). */
  readonly opaque: boolean;
  readonly fullyQualifiedName: string;
}

/**
 * Retries per request of a retryable profile route. linkerd bounds profile
 * retries only by the budget; the route model needs a count, and 10 is far
 * above what the default budget (ratio 0.2) lets through under load.
 */
export const PROFILE_MAX_RETRIES = 10;

/** At most this many match blocks per profile route, after normalization. */
export const MAX_PROFILE_MATCH_BLOCKS = 256;

/**
 * Converts a `DestinationProfile` for the logical `authority`. Routes whose
 * condition is missing are skipped (linkerd skips them too); a condition
 * too complex to normalize throws `RangeError`.
 */
export function serviceProfileOf(
  p: DestinationProfile,
  authority: string,
): ServiceProfile {
  const budget = retryBudgetOf(p.retry_budget);
  const base = {
    opaque: p.opaque_protocol,
    fullyQualifiedName: p.fully_qualified_name,
    ...(budget === undefined ? {} : { retryBudget: budget }),
  };
  const overrides = p.dst_overrides.filter((d) => d.weight > 0);
  if (p.routes.length === 0 && overrides.length === 0) return base;

  const parent: Backend = {
    ref: { kind: "default", name: authority },
    dispatch: { kind: "balance", authority },
  };
  const backends: WeightedRouteBackend<never>[] = overrides.length === 0
    ? [{ backend: parent, filters: [], weight: 1 }]
    : overrides.map((d) => {
      const name = normalizeAuthority(d.authority);
      return {
        backend: {
          ref: routeRefOf(d.backend_ref, name),
          dispatch: { kind: "balance", authority: name },
        },
        filters: [],
        weight: d.weight,
      };
    });
  const distribution = { kind: "randomAvailable", backends } as const;

  const routes: HttpRoute[] = [];
  /** Path lookaheads of every earlier block that names no method. */
  const anyMethod: string[][] = [];
  p.routes.forEach((route, i) => {
    const condition = route.condition;
    if (!hasMember(condition)) return;
    const blocks = dnf(condition!, false).flatMap(withMethods);
    if (blocks.length > MAX_PROFILE_MATCH_BLOCKS) tooComplex();
    const matches: HttpRouteMatch[] = [];
    for (const b of blocks) {
      if (b.method === undefined) {
        matches.push(matchOf(b.atoms, undefined));
        continue;
      }
      // Would outrank the earlier method-less blocks: exclude them.
      if (anyMethod.some((atoms) => atoms.length === 0)) continue;
      const excluded = anyMethod.map((atoms) => `(?!${atoms.join("")})`);
      matches.push(matchOf([...b.atoms, ...excluded], b.method));
    }
    for (const b of blocks) {
      if (b.method === undefined) anyMethod.push([...b.atoms]);
    }
    if (matches.length === 0) return; // shadowed by earlier routes
    const retry = budget === undefined ? undefined : profileRetryOf(route);
    const timeoutMs = durationMs(route.timeout);
    // linkerd `http::ResponseTimeout`: the response headers only, across retries.
    const timeouts: RouteTimeouts = timeoutMs === undefined
      ? {}
      : { headersMs: timeoutMs };
    const classes = responseClassesOf(route.response_classes);
    const rule: HttpRule = {
      matches,
      filters: [],
      backends: distribution,
      timeouts,
      ...(retry === undefined ? {} : { retry }),
      allowL5dRequestHeaders: false,
      ...(classes === undefined ? {} : { responseClasses: classes }),
    };
    const labels = route.metrics_labels;
    routes.push({
      ref: {
        kind: "default",
        name: labels?.route ?? `route-${i}`,
      },
      hosts: [],
      rules: [rule],
      ...(labels === undefined || Object.keys(labels).length === 0
        ? {}
        : { metricsLabels: labels }),
    });
  });
  // linkerd's implicit catch-all route, last.
  routes.push({
    ref: { kind: "default", name: "default" },
    hosts: [],
    rules: [{
      matches: [],
      filters: [],
      backends: distribution,
      timeouts: {},
      allowL5dRequestHeaders: false,
    }],
  });
  return {
    ...base,
    routes: {
      kind: "http",
      routes,
      ...(budget === undefined ? {} : { retryBudget: budget }),
      profileDst: profileDstOf(p.fully_qualified_name, authority),
    },
  };
}

/**
 * The profile's logical address (linkerd `LogicalAddr`): its fully
 * qualified name with the target's port; the authority when it has no name.
 */
export function profileDstOf(fqn: string, authority: string): string {
  if (fqn === "") return authority;
  const colon = authority.lastIndexOf(":");
  const port = colon < 0 ? "" : authority.slice(colon + 1);
  return /^\d+$/.test(port) ? `${fqn.replace(/\.$/, "")}:${port}` : fqn;
}

function hasMember(m: RequestMatch | null | undefined): boolean {
  return !!(m && (m.all || m.any || m.not || m.path || m.method));
}

/**
 * The budget, validated as linkerd does: ratio in [0, 1000], ttl in
 * [1 s, 60 s]; undefined when absent or invalid.
 */
export function retryBudgetOf(
  b: DestinationProfile["retry_budget"],
): RetryBudget | undefined {
  if (b === null || b === undefined) return undefined;
  const ttlMs = durationMs(b.ttl) ?? 10_000;
  const ratio = Math.round(b.retry_ratio * 1e6) / 1e6; // float32 on the wire
  if (!(ratio >= 0 && ratio <= 1000) || ttlMs < 1_000 || ttlMs > 60_000) {
    return undefined;
  }
  return { ratio, minPerSecond: b.min_retries_per_second, ttlMs };
}

/**
 * The retry of a profile route: undefined unless `is_retryable`. Every
 * method is retried (linkerd has no method restriction), without backoff.
 */
function profileRetryOf(route: ProfileRoute): HttpRetry | undefined {
  if (!route.is_retryable) return undefined;
  return {
    maxRetries: PROFILE_MAX_RETRIES,
    maxRequestBytes: DEFAULT_MAX_REQUEST_BYTES,
    statusRanges: failureRangesOf(route.response_classes),
    nonIdempotent: true,
  };
}

/**
 * The statuses a profile route classifies as failures: the first response
 * class whose condition matches decides; none matching = 5xx is a failure
 * (linkerd's default classification).
 */
export function failureRangesOf(
  classes: ProfileRoute["response_classes"],
): StatusRange[] {
  return rangesWhere((s) => verdictOf(classes, s) ?? s >= 500);
}

/**
 * A profile route's response classes for classification (linkerd
 * `classify::Request::from(ResponseClasses)`): undefined when the route has
 * none (linkerd's default classification then applies).
 */
export function responseClassesOf(
  classes: ProfileRoute["response_classes"],
): ResponseClasses | undefined {
  if (classes.length === 0) return undefined;
  return {
    failure: rangesWhere((s) => verdictOf(classes, s) === true),
    success: rangesWhere((s) => verdictOf(classes, s) === false),
  };
}

/** The first matching class's verdict for `status` (true = failure), if any. */
function verdictOf(
  classes: ProfileRoute["response_classes"],
  status: number,
): boolean | undefined {
  const cls = classes.find((c) =>
    c.condition !== null && c.condition !== undefined &&
    responseMatches(c.condition, status)
  );
  return cls?.is_failure;
}

/** The statuses 100–599 where `pred` holds, as inclusive ranges. */
function rangesWhere(pred: (status: number) => boolean): StatusRange[] {
  const ranges: StatusRange[] = [];
  let start = -1;
  for (let s = 100; s <= 600; s++) {
    const hit = s <= 599 && pred(s);
    if (hit && start < 0) start = s;
    if (!hit && start >= 0) {
      ranges.push({ start, end: s - 1 });
      start = -1;
    }
  }
  return ranges;
}

function responseMatches(m: ResponseMatch, status: number): boolean {
  if (m.all) return m.all.matches.every((x) => responseMatches(x, status));
  if (m.any) return m.any.matches.some((x) => responseMatches(x, status));
  if (m.not) return !responseMatches(m.not, status);
  if (m.status) return m.status.min <= status && status <= m.status.max;
  return false;
}

// ------------------------------------------------ request conditions → DNF

/** One conjunction of conditions. */
interface Conj {
  /** Lookahead assertions on the whole path, all of which must hold. */
  readonly atoms: readonly string[];
  /** The one allowed method; undefined = any but `notMethods`. */
  readonly method?: string;
  readonly notMethods: readonly string[];
}

const TRUE: readonly Conj[] = [{ atoms: [], notMethods: [] }];
const FALSE: readonly Conj[] = [];

function tooComplex(): never {
  throw new RangeError(
    `Cannot convert profile routes: a route needs more than ${MAX_PROFILE_MATCH_BLOCKS} match blocks`,
  );
}

/** The condition (or its negation) as a list of alternatives. */
function dnf(m: RequestMatch, negated: boolean): readonly Conj[] {
  if (m.all) {
    const parts = m.all.matches.map((x) => dnf(x, negated));
    return negated ? parts.flat() : parts.reduce(and, TRUE);
  }
  if (m.any) {
    const parts = m.any.matches.map((x) => dnf(x, negated));
    return negated ? parts.reduce(and, TRUE) : parts.flat();
  }
  if (m.not) return dnf(m.not, !negated);
  if (m.path) {
    const re = m.path.regex;
    try {
      new RegExp(re, "u");
    } catch (err) {
      throw new SyntaxError(
        `Cannot parse profile path regex: current value is "${re}"`,
        { cause: err },
      );
    }
    return [{
      atoms: [negated ? `(?!(?:${re})$)` : `(?=(?:${re})$)`],
      notMethods: [],
    }];
  }
  if (m.method) {
    const method = methodOf(m.method);
    if (method === undefined) return negated ? FALSE : TRUE;
    return [
      negated
        ? { atoms: [], notMethods: [method] }
        : { atoms: [], method, notMethods: [] },
    ];
  }
  return negated ? FALSE : TRUE;
}

function and(a: readonly Conj[], b: readonly Conj[]): readonly Conj[] {
  const out: Conj[] = [];
  for (const x of a) {
    for (const y of b) {
      const c = merge(x, y);
      if (c !== undefined) out.push(c);
      if (out.length > MAX_PROFILE_MATCH_BLOCKS) tooComplex();
    }
  }
  return out;
}

function merge(x: Conj, y: Conj): Conj | undefined {
  if (
    x.method !== undefined && y.method !== undefined && x.method !== y.method
  ) {
    return undefined;
  }
  const method = x.method ?? y.method;
  const notMethods = method === undefined
    ? [...new Set([...x.notMethods, ...y.notMethods])]
    : [];
  if (
    method !== undefined &&
    (x.notMethods.includes(method) || y.notMethods.includes(method))
  ) {
    return undefined;
  }
  return {
    atoms: [...new Set([...x.atoms, ...y.atoms])],
    ...(method === undefined ? {} : { method }),
    notMethods,
  };
}

/** A block with `notMethods` as one block per other registered method. */
function withMethods(c: Conj): Conj[] {
  if (c.method !== undefined || c.notMethods.length === 0) return [c];
  return REGISTERED_METHODS.filter((m) => !c.notMethods.includes(m)).map((
    method,
  ) => ({ atoms: c.atoms, method, notMethods: [] }));
}

/** One match block: a regex over the whole path (`[^]*` when unconstrained). */
function matchOf(
  atoms: readonly string[],
  method: string | undefined,
): HttpRouteMatch {
  return {
    path: { kind: "regex", value: `${atoms.join("")}[^]*` },
    headers: [],
    queryParams: [],
    ...(method === undefined ? {} : { method }),
  };
}
