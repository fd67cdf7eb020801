/**
 * `io.linkerd.proxy.http_route` matches and filters as decoded from the
 * wire, and their conversion to the route model (linkerd `client-policy`
 * `http.rs` `TryFrom` impls, with the same validation).
 *
 * @module
 */
import {
  ALWAYS,
  type HeaderMatch as ModelHeaderMatch,
  type HeaderModifier as ModelHeaderModifier,
  type HostMatch as ModelHostMatch,
  type HttpFailureInjector as ModelHttpFailureInjector,
  type HttpRouteMatch as ModelHttpRouteMatch,
  type PathMatch as ModelPathMatch,
  type QueryParamMatch as ModelQueryParamMatch,
  type Ratio as ModelRatio,
  type RequestRedirect as ModelRequestRedirect,
  type RouteTimeouts,
} from "../http/route/model.ts";
import { type Duration, durationMs } from "./duration.ts";
import {
  bytesText,
  type Headers,
  headersOf,
  type HttpMethod,
  methodOf,
  type Scheme,
  schemeOf,
} from "./http_types.ts";

/** A decoded `http_route.HostMatch` (`match` names the member set). */
export interface HostMatch {
  readonly match?: "exact" | "suffix";
  readonly exact?: string;
  readonly suffix?: { readonly reverse_labels: readonly string[] } | null;
}

/** A decoded `http_route.PathMatch`. */
export interface PathMatch {
  readonly kind?: "exact" | "prefix" | "regex";
  readonly exact?: string;
  readonly prefix?: string;
  readonly regex?: string;
}

/** A decoded `http_route.HeaderMatch`. */
export interface HeaderMatch {
  readonly name: string;
  readonly value?: "exact" | "regex";
  readonly exact?: Uint8Array | string;
  readonly regex?: string;
}

/** A decoded `http_route.QueryParamMatch`. */
export interface QueryParamMatch {
  readonly name: string;
  readonly value?: "exact" | "regex";
  readonly exact?: string;
  readonly regex?: string;
}

/** A decoded `http_route.HttpRouteMatch`. */
export interface HttpRouteMatch {
  readonly path: PathMatch | null | undefined;
  readonly headers: readonly HeaderMatch[];
  readonly query_params: readonly QueryParamMatch[];
  readonly method: HttpMethod | null | undefined;
}

/** A decoded `http_route.RequestHeaderModifier` / `ResponseHeaderModifier`. */
export interface HeaderModifier {
  readonly add: Headers | null | undefined;
  readonly set: Headers | null | undefined;
  readonly remove: readonly string[];
}

/** A decoded `http_route.RequestRedirect`. */
export interface RequestRedirect {
  readonly scheme: Scheme | null | undefined;
  readonly host: string;
  readonly path:
    | {
      readonly replace?: "full" | "prefix";
      readonly full?: string;
      readonly prefix?: string;
    }
    | null
    | undefined;
  readonly port: number;
  readonly status: number;
}

/** A decoded `http_route.Ratio`. */
export interface Ratio {
  readonly numerator: number;
  readonly denominator: number;
}

/** A decoded `http_route.HttpFailureInjector`. */
export interface HttpFailureInjector {
  readonly status: number;
  readonly message: string;
  readonly ratio: Ratio | null | undefined;
}

/** A decoded `http_route.Timeouts`. */
export interface Timeouts {
  readonly response: Duration | null | undefined;
  readonly request: Duration | null | undefined;
  readonly idle: Duration | null | undefined;
}

/** The model's host match (linkerd `HostMatch::try_from`); throws `TypeError` when unset. */
export function hostMatchOf(h: HostMatch): ModelHostMatch {
  if (h.match === "suffix" || (h.match === undefined && h.suffix)) {
    return {
      kind: "suffix",
      reverseLabels: (h.suffix?.reverse_labels ?? []).map((l) =>
        l.toLowerCase()
      ),
    };
  }
  if (h.exact !== undefined) {
    return { kind: "exact", host: h.exact.toLowerCase() };
  }
  throw new TypeError("Cannot parse host match: no match is set");
}

/** The model's path match; undefined when unset. */
export function pathMatchOf(
  p: PathMatch | null | undefined,
): ModelPathMatch | undefined {
  if (p === null || p === undefined || p.kind === undefined) return undefined;
  const value = p[p.kind];
  if (value === undefined) return undefined;
  if (p.kind === "regex") checkRegex(value, "path regex");
  if (p.kind !== "regex" && !value.startsWith("/")) {
    throw new TypeError(
      `Cannot parse path ${p.kind} match: current value is "${value}" (must start with "/")`,
    );
  }
  return { kind: p.kind, value };
}

/** The model's header match, name lower-cased. */
export function headerMatchOf(h: HeaderMatch): ModelHeaderMatch {
  const name = h.name.toLowerCase();
  if (h.value === "regex" || (h.value === undefined && h.regex !== undefined)) {
    const value = h.regex ?? "";
    checkRegex(value, `header regex of "${name}"`);
    return { name, kind: "regex", value };
  }
  if (h.exact === undefined) {
    throw new TypeError(`Cannot parse header match "${name}": no value is set`);
  }
  return { name, kind: "exact", value: bytesText(h.exact) };
}

/** The model's query parameter match. */
export function queryParamMatchOf(q: QueryParamMatch): ModelQueryParamMatch {
  if (q.value === "regex" || (q.value === undefined && q.regex !== undefined)) {
    const value = q.regex ?? "";
    checkRegex(value, `query parameter regex of "${q.name}"`);
    return { name: q.name, kind: "regex", value };
  }
  if (q.exact === undefined) {
    throw new TypeError(
      `Cannot parse query parameter match "${q.name}": no value is set`,
    );
  }
  return { name: q.name, kind: "exact", value: q.exact };
}

/** The model's HTTP route match (linkerd `MatchRequest::try_from`). */
export function httpRouteMatchOf(m: HttpRouteMatch): ModelHttpRouteMatch {
  const path = pathMatchOf(m.path);
  const method = methodOf(m.method);
  return {
    ...(path === undefined ? {} : { path }),
    headers: m.headers.map(headerMatchOf),
    queryParams: m.query_params.map(queryParamMatchOf),
    ...(method === undefined ? {} : { method }),
  };
}

/** The model's header modifier (names lower-cased). */
export function headerModifierOf(m: HeaderModifier): ModelHeaderModifier {
  return {
    add: headersOf(m.add),
    set: headersOf(m.set),
    remove: m.remove.map((n) => n.toLowerCase()),
  };
}

/** The model's redirect (linkerd `RedirectRequest::try_from`): 0 port/status = unset. */
export function requestRedirectOf(r: RequestRedirect): ModelRequestRedirect {
  const scheme = schemeOf(r.scheme);
  let path: ModelRequestRedirect["path"];
  if (r.path?.replace === "full" && r.path.full !== undefined) {
    path = { kind: "full", value: r.path.full };
  } else if (r.path?.replace === "prefix" && r.path.prefix !== undefined) {
    path = { kind: "prefix", value: r.path.prefix };
  }
  if (r.port > 65535) {
    throw new RangeError(
      `Cannot parse redirect port: current value is "${r.port}"`,
    );
  }
  if (r.status !== 0 && (r.status < 300 || r.status > 399)) {
    throw new RangeError(
      `Cannot parse redirect status: current value is "${r.status}"`,
    );
  }
  return {
    ...(scheme === undefined ? {} : { scheme }),
    ...(r.host === "" ? {} : { host: r.host.toLowerCase() }),
    ...(path === undefined ? {} : { path }),
    ...(r.port === 0 ? {} : { port: r.port }),
    ...(r.status === 0 ? {} : { status: r.status }),
  };
}

/** The model's ratio; absent = always (linkerd's default). */
export function ratioOf(r: Ratio | null | undefined): ModelRatio {
  if (r === null || r === undefined) return ALWAYS;
  if (r.denominator === 0) {
    throw new RangeError("Cannot parse ratio: the denominator is 0");
  }
  return { numerator: r.numerator, denominator: r.denominator };
}

/** The model's HTTP failure injector (linkerd `FailureInjector::try_from`). */
export function httpFailureInjectorOf(
  f: HttpFailureInjector,
): ModelHttpFailureInjector {
  if (f.status < 100 || f.status > 599) {
    throw new RangeError(
      `Cannot parse failure injector status: current value is "${f.status}"`,
    );
  }
  return { status: f.status, message: f.message, ratio: ratioOf(f.ratio) };
}

/**
 * The model's timeouts: `timeouts` when set, else the deprecated
 * `requestTimeout` as the request timeout (linkerd `http::timeouts`).
 */
export function timeoutsOf(
  t: Timeouts | null | undefined,
  deprecatedRequest?: Duration | null,
): RouteTimeouts {
  if (t === null || t === undefined) {
    const requestMs = durationMs(deprecatedRequest);
    return requestMs === undefined ? {} : { requestMs };
  }
  const responseMs = durationMs(t.response);
  const requestMs = durationMs(t.request);
  const idleMs = durationMs(t.idle);
  return {
    ...(responseMs === undefined ? {} : { responseMs }),
    ...(requestMs === undefined ? {} : { requestMs }),
    ...(idleMs === undefined ? {} : { idleMs }),
  };
}

function checkRegex(source: string, what: string): void {
  try {
    new RegExp(source, "u");
  } catch (err) {
    throw new SyntaxError(
      `Cannot parse ${what}: current value is "${source}"`,
      { cause: err },
    );
  }
}
