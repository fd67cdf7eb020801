/**
 * gRPC route selection (linkerd `http/route/src/grpc/match.rs`): only POST
 * requests match, the path is `/<service>/<method>`, and a match ranks by
 * the characters of service, then of method it named, then by its number of
 * header matches; hosts and list order as for HTTP routes.
 *
 * @module
 */
import type { HttpRequest } from "../message.ts";
import {
  compileHeaderMatch,
  type HeaderMatcher,
  headerMatches,
} from "./match_header.ts";
import { authorityHost, stripDot, summarizeHostScore } from "./match_host.ts";
import type { GrpcRouteMatch } from "./model.ts";
import {
  type Best,
  type CandidateIndex,
  indexCandidates,
  MAX_CONDITIONS,
  type RouteMatch,
  type RouteShape,
  scoreCandidates,
} from "./select.ts";

/** The summary of a matched gRPC request (linkerd `grpc::RouteMatch`). */
export interface GrpcMatchSummary {
  /** Characters of the service name matched (0 = any service). */
  readonly service: number;
  /** Characters of the method name matched (0 = any method). */
  readonly method: number;
  readonly headers: number;
}

interface CompiledGrpcMatch {
  readonly service: string | undefined;
  readonly method: string | undefined;
  readonly headers: readonly HeaderMatcher[];
  /** The whole score: service chars·2³², method chars·2¹¹, headers. */
  readonly fixed: number;
}

/** A compiled gRPC route table: matches indexed by the service they name. */
export type GrpcRouteTable = CandidateIndex<CompiledGrpcMatch>;

const SERVICE_UNIT = 2 ** 32;
const METHOD_UNIT = 2 ** 11;

/** Compiles gRPC routes for {@linkcode findGrpcRoute}. */
export function compileGrpcRoutes(
  routes: readonly RouteShape<GrpcRouteMatch>[],
): GrpcRouteTable {
  return indexCandidates(routes, compileGrpcMatch, (m) => m.service);
}

function compileGrpcMatch(m: GrpcRouteMatch): CompiledGrpcMatch {
  if (m.headers.length > MAX_CONDITIONS) {
    throw new RangeError(`Too many header matches: ${m.headers.length}`);
  }
  // Empty strings are wildcards, as in the proto.
  const service = m.rpc?.service || undefined;
  const method = m.rpc?.method || undefined;
  return {
    service,
    method,
    headers: m.headers.map(compileHeaderMatch),
    fixed: (service?.length ?? 0) * SERVICE_UNIT +
      (method?.length ?? 0) * METHOD_UNIT + m.headers.length,
  };
}

/**
 * Splits a gRPC path into service and method (linkerd: split on "/"; the
 * first part must be empty), or undefined when it has fewer parts.
 */
export function splitGrpcPath(
  path: string,
): { service: string; method: string } | undefined {
  if (path.charCodeAt(0) !== 0x2f) return undefined;
  const q = path.indexOf("?");
  const p = q < 0 ? path : path.slice(0, q);
  const s = p.indexOf("/", 1);
  if (s < 0) return undefined;
  const e = p.indexOf("/", s + 1);
  return {
    service: p.slice(1, s),
    method: e < 0 ? p.slice(s + 1) : p.slice(s + 1, e),
  };
}

/**
 * Selects the gRPC route and rule for `req` (linkerd `find` over gRPC
 * routes), or undefined when nothing matches.
 */
export function findGrpcRoute(
  table: GrpcRouteTable,
  req: HttpRequest,
): RouteMatch<GrpcMatchSummary> | undefined {
  const rpc = req.method === "POST" ? splitGrpcPath(req.path) : undefined;
  let host = "";
  let hostNoDot = "";
  if (table.usesHost) {
    host = authorityHost(req.authority);
    hostNoDot = stripDot(host);
  }
  const best: Best<CompiledGrpcMatch> = {
    host: -1,
    score: -1,
    pos: Infinity,
    candidate: undefined,
    extra: 0,
  };
  const extra = { value: 0 };
  // Without an RPC path only rules without matches apply.
  const score = (m: CompiledGrpcMatch, floor: number): number => {
    if (rpc === undefined) return -1;
    if (m.service !== undefined && m.service !== rpc.service) return -1;
    if (m.method !== undefined && m.method !== rpc.method) return -1;
    if (m.fixed <= floor) return -1;
    for (let k = 0; k < m.headers.length; k++) {
      if (!headerMatches(m.headers[k]!, req.headers)) return -1;
    }
    return m.fixed;
  };
  if (rpc !== undefined) {
    const bucket = table.byKey.get(rpc.service);
    if (bucket !== undefined) {
      scoreCandidates(bucket, best, host, hostNoDot, 0, score, extra);
    }
  }
  scoreCandidates(table.always, best, host, hostNoDot, 0, score, extra);
  const c = best.candidate;
  if (c === undefined) return undefined;
  const m = c.match;
  return {
    routeIndex: c.routeIndex,
    ruleIndex: c.ruleIndex,
    host: summarizeHostScore(best.host),
    summary: {
      service: m?.service?.length ?? 0,
      method: m?.method?.length ?? 0,
      headers: m?.headers.length ?? 0,
    },
  };
}
