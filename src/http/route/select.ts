/**
 * HTTP route selection (linkerd `http/route/src/lib.rs` `find`/`best`,
 * `http/match.rs` `MatchRequest`): a table compiled once per route list,
 * then one pass per request that keeps the best match, the first one on a
 * tie.
 *
 * Precedence (reference §6.3): host (none < suffix < exact, longer wins
 * within a kind), then path length (exact and prefix of one length tie),
 * then the number of header matches, then of query parameter matches, then
 * whether a method was matched, then list order.
 *
 * @module
 */
import type { HttpRequest } from "../message.ts";
import {
  compileHeaderMatch,
  type HeaderMatcher,
  headerMatches,
} from "./match_header.ts";
import {
  authorityHost,
  compileHostMatch,
  type HostMatcher,
  hostScore,
  type HostSummary,
  stripDot,
  summarizeHostScore,
} from "./match_host.ts";
import {
  compilePathMatch,
  type PathMatcher,
  pathMatchLength,
  type PathSummary,
  trimTrailingSlashes,
} from "./match_path.ts";
import {
  compileQueryParamMatch,
  parseQuery,
  type QueryPairs,
  type QueryParamMatcher,
  queryParamMatches,
} from "./match_query_param.ts";
import type { HostMatch, HttpRouteMatch } from "./model.ts";

/** The summary of a matched HTTP request (linkerd `RequestMatch`). */
export interface HttpMatchSummary {
  readonly path: PathSummary;
  readonly headers: number;
  readonly queryParams: number;
  readonly method: boolean;
}

/** The selected route and rule with how they matched (linkerd `RouteMatch`). */
export interface RouteMatch<S> {
  /** Index into the route list. */
  readonly routeIndex: number;
  /** Index into that route's rules. */
  readonly ruleIndex: number;
  /** Absent when the route has no hostnames. */
  readonly host: HostSummary | undefined;
  readonly summary: S;
}

/** What the table needs of a route: its hostnames and its rules' matches. */
export interface RouteShape<M> {
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly { readonly matches: readonly M[] }[];
}

interface CompiledMatch {
  readonly method: string | undefined;
  readonly path: PathMatcher | undefined;
  readonly headers: readonly HeaderMatcher[];
  readonly query: readonly QueryParamMatcher[];
  /** headers·2¹¹ + query params·2 + method: the part of the score fixed at compile time. */
  readonly fixed: number;
}

/**
 * One (route, rule, match) triple in list order. The best triple — host
 * first, then match score, then the earliest position — is linkerd's
 * "first best match of the first best rule of the first best route".
 */
export interface Candidate<M> {
  /** Position in list order (routes, then rules, then matches). */
  readonly pos: number;
  readonly routeIndex: number;
  readonly ruleIndex: number;
  readonly hosts: readonly HostMatcher[];
  /** Undefined for a rule without matches (the default match). */
  readonly match: M | undefined;
}

/**
 * A compiled route table: candidates indexed by a key every matching
 * request must have (HTTP: the first path segment; gRPC: the service), and
 * the candidates that must always be tried.
 */
export interface CandidateIndex<M> {
  readonly byKey: ReadonlyMap<string, readonly Candidate<M>[]>;
  readonly always: readonly Candidate<M>[];
  /** Some route has hostnames: the request's host must be read. */
  readonly usesHost: boolean;
  /** The number of routes compiled. */
  readonly size: number;
}

/** A compiled HTTP route table. */
export type HttpRouteTable = CandidateIndex<CompiledMatch>;

/** Score weights: path length, then headers, then query params, then method. */
const PATH_UNIT = 2 ** 21;
const HEADER_UNIT = 2 ** 11;
const QUERY_UNIT = 2;
/** At most this many header (or query param) conditions per match block. */
export const MAX_CONDITIONS = 1023;
/** The default match: prefix "/" (linkerd `RequestMatch::default`). */
const DEFAULT_SCORE = 1 * PATH_UNIT;

/**
 * Builds a candidate index: `keyOf` names the bucket of a match, or
 * undefined when it must always be tried.
 */
export function indexCandidates<S, M>(
  routes: readonly RouteShape<S>[],
  compile: (m: S) => M,
  keyOf: (m: M) => string | undefined,
): CandidateIndex<M> {
  const byKey = new Map<string, Candidate<M>[]>();
  const always: Candidate<M>[] = [];
  let usesHost = false;
  let pos = 0;
  routes.forEach((route, routeIndex) => {
    if (route.hosts.length > 0) usesHost = true;
    const hosts = route.hosts.map(compileHostMatch);
    route.rules.forEach((rule, ruleIndex) => {
      if (rule.matches.length === 0) {
        always.push({
          pos: pos++,
          routeIndex,
          ruleIndex,
          hosts,
          match: undefined,
        });
        return;
      }
      for (const spec of rule.matches) {
        const match = compile(spec);
        const c = { pos: pos++, routeIndex, ruleIndex, hosts, match };
        const key = keyOf(match);
        if (key === undefined) {
          always.push(c);
        } else {
          let bucket = byKey.get(key);
          if (bucket === undefined) byKey.set(key, bucket = []);
          bucket.push(c);
        }
      }
    });
  });
  return { byKey, always, usesHost, size: routes.length };
}

/**
 * Compiles routes for {@linkcode findHttpRoute}: host patterns lower-cased,
 * regexes compiled (a bad one throws `SyntaxError`), matches indexed by the
 * first path segment they require.
 */
export function compileHttpRoutes(
  routes: readonly RouteShape<HttpRouteMatch>[],
): HttpRouteTable {
  return indexCandidates(
    routes,
    compileHttpMatch,
    (m) => m.path === undefined ? undefined : pathSegmentKey(m.path),
  );
}

function compileHttpMatch(m: HttpRouteMatch): CompiledMatch {
  if (m.headers.length > MAX_CONDITIONS) {
    throw new RangeError(`Too many header matches: ${m.headers.length}`);
  }
  if (m.queryParams.length > MAX_CONDITIONS) {
    throw new RangeError(
      `Too many query parameter matches: ${m.queryParams.length}`,
    );
  }
  return {
    method: m.method,
    path: m.path === undefined ? undefined : compilePathMatch(m.path),
    headers: m.headers.map(compileHeaderMatch),
    query: m.queryParams.map(compileQueryParamMatch),
    fixed: m.headers.length * HEADER_UNIT +
      m.queryParams.length * QUERY_UNIT + (m.method === undefined ? 0 : 1),
  };
}

/**
 * The first path segment every path this matcher accepts starts with, or
 * undefined when that is not known ahead (root prefix, a regex without a
 * literal "/segment/" start).
 */
function pathSegmentKey(m: PathMatcher): string | undefined {
  switch (m.kind) {
    case "exact":
      return firstSegment(m.value);
    case "prefix":
      // A prefix matches whole segments, so "/a" needs the segment "a".
      return m.root || m.trimmed === "" ? undefined : firstSegment(m.trimmed);
    case "regex": {
      const lit = m.literal;
      const end = lit.indexOf("/", 1);
      return lit.startsWith("/") && end > 0 ? lit.slice(1, end) : undefined;
    }
  }
}

/** The first segment of an absolute path ("/a/b" → "a", "/" → ""), or undefined. */
export function firstSegment(path: string): string | undefined {
  if (path.charCodeAt(0) !== 0x2f) return undefined;
  const end = path.indexOf("/", 1);
  return end < 0 ? path.slice(1) : path.slice(1, end);
}

/**
 * The host score of a route against `host`: 0 when the route has no
 * hostnames, -1 when none matches, else the best (first on a tie).
 */
export function routeHostScore(
  hosts: readonly HostMatcher[],
  host: string,
  hostNoDot: string,
): number {
  if (hosts.length === 0) return 0;
  let best = -1;
  for (let i = 0; i < hosts.length; i++) {
    const s = hostScore(hosts[i]!, host, hostNoDot);
    if (s > best && s > 0) best = s;
  }
  return best;
}

/** The request as matchers read it, computed once and lazily. */
class HttpView {
  readonly req: HttpRequest;
  readonly path: string;
  readonly q: number;
  #trimmed: string | undefined;
  #query: QueryPairs | undefined;

  constructor(req: HttpRequest) {
    this.req = req;
    const full = req.path;
    this.q = full.indexOf("?");
    this.path = this.q < 0 ? full : full.slice(0, this.q);
  }

  get trimmed(): string {
    return this.#trimmed ??= trimTrailingSlashes(this.path);
  }

  get query(): QueryPairs {
    return this.#query ??= this.q < 0
      ? []
      : parseQuery(this.req.path.slice(this.q + 1));
  }
}

/** The best candidate so far (internal to route selection). */
export interface Best<M> {
  host: number;
  score: number;
  pos: number;
  candidate: Candidate<M> | undefined;
  /** Extra data of the best match (HTTP: the path length). */
  extra: number;
}

/**
 * Scores `list` into `best`: `score(match)` is -1 when the match fails,
 * `extra` is what it matched (e.g. the path length).
 */
export function scoreCandidates<M>(
  list: readonly Candidate<M>[],
  best: Best<M>,
  host: string,
  hostNoDot: string,
  defaultScore: number,
  score: (m: M, floor: number) => number,
  extra: { value: number },
): void {
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    const hs = c.hosts.length === 0
      ? 0
      : routeHostScore(c.hosts, host, hostNoDot);
    // The host is compared first: a worse host can never win.
    if (hs < 0 || hs < best.host) continue;
    // On an equal host, the score must beat the best, or tie it earlier in the list.
    const floor = hs > best.host ? -1 : best.score;
    let s: number;
    if (c.match === undefined) {
      s = defaultScore;
      extra.value = 1;
    } else {
      s = score(c.match, c.pos < best.pos ? floor - 1 : floor);
      if (s < 0) continue;
    }
    if (
      hs > best.host || s > best.score || (s === best.score && c.pos < best.pos)
    ) {
      best.host = hs;
      best.score = s;
      best.pos = c.pos;
      best.candidate = c;
      best.extra = extra.value;
    }
  }
}

/**
 * Selects the route and rule for `req` (linkerd `http_route::find`), or
 * undefined when nothing matches.
 */
export function findHttpRoute(
  table: HttpRouteTable,
  req: HttpRequest,
): RouteMatch<HttpMatchSummary> | undefined {
  const view = new HttpView(req);
  let host = "";
  let hostNoDot = "";
  if (table.usesHost) {
    host = authorityHost(req.authority);
    hostNoDot = stripDot(host);
  }
  const best: Best<CompiledMatch> = {
    host: -1,
    score: -1,
    pos: Infinity,
    candidate: undefined,
    extra: 1,
  };
  if (table.byKey.size > 0) {
    const seg = firstSegment(view.path);
    const bucket = seg === undefined ? undefined : table.byKey.get(seg);
    if (bucket !== undefined) {
      scoreHttpCandidates(bucket, best, view, host, hostNoDot);
    }
  }
  scoreHttpCandidates(table.always, best, view, host, hostNoDot);
  const c = best.candidate;
  if (c === undefined) return undefined;
  return {
    routeIndex: c.routeIndex,
    ruleIndex: c.ruleIndex,
    host: summarizeHostScore(best.host),
    summary: summarize(c.match, best.extra),
  };
}

/** {@linkcode scoreCandidates} for HTTP matches, with the scoring inlined (the hot loop). */
function scoreHttpCandidates(
  list: readonly Candidate<CompiledMatch>[],
  best: Best<CompiledMatch>,
  view: HttpView,
  host: string,
  hostNoDot: string,
): void {
  const method = view.req.method;
  for (let i = 0; i < list.length; i++) {
    const c = list[i]!;
    const hs = c.hosts.length === 0
      ? 0
      : routeHostScore(c.hosts, host, hostNoDot);
    // The host is compared first: a worse host can never win.
    if (hs < 0 || hs < best.host) continue;
    const better = hs > best.host;
    const m = c.match;
    let s = DEFAULT_SCORE;
    let len = 1;
    if (m !== undefined) {
      if (m.method !== undefined && m.method !== method) continue;
      const path = m.path;
      if (path !== undefined) {
        len = pathMatchLength(
          path,
          view.path,
          path.kind === "prefix" && !path.root ? view.trimmed : view.path,
        );
        if (len < 0) continue;
      }
      s = len * PATH_UNIT + m.fixed;
      // Only a candidate that can still win pays for headers and query.
      if (
        !better && (s < best.score || (s === best.score && c.pos > best.pos))
      ) {
        continue;
      }
      if (m.headers.length > 0 && !allHeaders(m.headers, view.req)) continue;
      if (m.query.length > 0) {
        if (view.q < 0 || !allQuery(m.query, view.query)) continue;
      }
    }
    if (better || s > best.score || (s === best.score && c.pos < best.pos)) {
      best.host = hs;
      best.score = s;
      best.pos = c.pos;
      best.candidate = c;
      best.extra = len;
    }
  }
}

function allHeaders(
  headers: readonly HeaderMatcher[],
  req: HttpRequest,
): boolean {
  for (let k = 0; k < headers.length; k++) {
    if (!headerMatches(headers[k]!, req.headers)) return false;
  }
  return true;
}

function allQuery(
  query: readonly QueryParamMatcher[],
  pairs: QueryPairs,
): boolean {
  for (let k = 0; k < query.length; k++) {
    if (!queryParamMatches(query[k]!, pairs)) return false;
  }
  return true;
}

const DEFAULT_SUMMARY: HttpMatchSummary = Object.freeze({
  path: Object.freeze({ kind: "prefix", length: 1 }),
  headers: 0,
  queryParams: 0,
  method: false,
});

function summarize(
  m: CompiledMatch | undefined,
  pathLen: number,
): HttpMatchSummary {
  if (m === undefined) return DEFAULT_SUMMARY;
  return {
    path: { kind: m.path?.kind ?? "prefix", length: pathLen },
    headers: m.headers.length,
    queryParams: m.query.length,
    method: m.method !== undefined,
  };
}

/**
 * Orders two HTTP route matches as linkerd's derived `Ord` on `RouteMatch`
 * does: negative when `a` is worse than `b`, 0 on a tie.
 */
export function compareHttpRouteMatch(
  a: Omit<RouteMatch<HttpMatchSummary>, "routeIndex" | "ruleIndex">,
  b: Omit<RouteMatch<HttpMatchSummary>, "routeIndex" | "ruleIndex">,
): number {
  return compareHost(a.host, b.host) ||
    a.summary.path.length - b.summary.path.length ||
    a.summary.headers - b.summary.headers ||
    a.summary.queryParams - b.summary.queryParams ||
    Number(a.summary.method) - Number(b.summary.method);
}

/** Orders host summaries: none < suffix < exact; longer wins within a kind. */
export function compareHost(
  a: HostSummary | undefined,
  b: HostSummary | undefined,
): number {
  if (a === undefined || b === undefined) {
    return (a === undefined ? 0 : 1) - (b === undefined ? 0 : 1);
  }
  if (a.kind !== b.kind) return a.kind === "exact" ? 1 : -1;
  return a.length - b.length;
}
