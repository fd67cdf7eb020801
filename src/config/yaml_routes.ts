/**
 * The YAML schema of a service's `routes` and `failureAccrual` (linkerd's
 * HTTPRoute / GRPCRoute and `FailureAccrual`, converted to the route model
 * of `src/http/route/model.ts`). Each YAML route is one route with one rule.
 *
 * @module
 */
import { isMap, isPair, isScalar } from "yaml";
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import { validateRatio } from "../http/route/filter_inject_failure.ts";
import { parseHostMatch } from "../http/route/match_host.ts";
import { compileRegex } from "../http/route/match_path.ts";
import type {
  Backend,
  Distribution,
  GrpcFilter,
  GrpcRetry,
  GrpcRoute,
  GrpcRouteMatch,
  Header,
  HeaderMatch,
  HostMatch,
  HttpFilter,
  HttpRetry,
  HttpRoute,
  HttpRouteMatch,
  PathMatch,
  QueryParamMatch,
  Ratio,
  RequestRedirect,
  RetryBudget,
  RouteTimeouts,
  ServiceRoutes,
  StatusRange,
  WeightedRouteBackend,
} from "../http/route/model.ts";
import {
  DEFAULT_MAX_REQUEST_BYTES,
  REGISTERED_METHODS,
} from "../http/route/model.ts";
import { MAX_CONDITIONS } from "../http/route/select.ts";
import {
  backoff,
  checkUnique,
  childLoc,
  count,
  type Ctx,
  deref,
  describe,
  duration,
  type Field,
  isNull,
  listOf,
  type Loc,
  locAt,
  located,
  objectOf,
  type Parser,
  rethrow,
  scalar,
  serviceName,
  str,
} from "./_schema.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import { DEFAULT_RETRY_BACKOFF } from "../http/retry/backoff.ts";
import { DEFAULT_FAILURE_ACCRUAL } from "./config.ts";
import { isDnsName } from "../addr/mod.ts";
import { parseNumber } from "./parse.ts";

/** A value that is a string, or a number written as one (`exact: 1`). */
const text = scalar("string|number", (v) => String(v));

const HEADER_NAME_REGEXP = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;

const headerName = scalar("string", (v) => {
  const name = (v as string).toLowerCase();
  if (!HEADER_NAME_REGEXP.test(name)) {
    throw new TypeError(`Cannot parse header name: current value is "${v}"`);
  }
  return name;
});

const headerValue = scalar("string|number", (v) => {
  const value = String(v);
  if (/[\r\n\0]/.test(value)) {
    throw new TypeError(
      `Cannot parse header value: current value is ${JSON.stringify(value)}`,
    );
  }
  return value;
});

const regex = scalar("string", (v) => {
  try {
    compileRegex(v as string);
  } catch (err) {
    throw new TypeError(
      `Cannot parse regex: current value is "${v}" (${(err as Error).message})`,
    );
  }
  return v as string;
});

/** Exactly one of `keys` must be present in a parsed object. */
function oneOf(
  keys: readonly string[],
  obj: Record<string, unknown>,
  loc: Loc,
  ctx: Ctx,
): string {
  const present = keys.filter((k) => obj[k] !== undefined);
  if (present.length !== 1) {
    throw located(
      ctx,
      loc,
      `Expected exactly one of: ${keys.join(", ")}${
        present.length > 1 ? ` (got ${present.join(", ")})` : ""
      }`,
    );
  }
  return present[0]!;
}

const absolutePath = scalar("string", (v) => {
  const p = v as string;
  if (!p.startsWith("/") || /[\s#]/.test(p)) {
    throw new TypeError(`Cannot parse path: current value is "${p}"`);
  }
  return p;
});

const pathMatch = objectOf<PathMatch>(
  [
    { key: "exact", parse: absolutePath },
    { key: "prefix", parse: absolutePath },
    { key: "regex", parse: regex },
  ],
  (obj, loc, ctx) => {
    const kind = oneOf(["exact", "prefix", "regex"], obj, loc, ctx);
    return { kind, value: obj[kind] } as PathMatch;
  },
);

/** `{ name, exact }` or `{ name, regex }` (header and query parameter matches). */
function valueMatch<T extends HeaderMatch | QueryParamMatch>(
  name: Parser<string>,
): Parser<T> {
  return objectOf<T>(
    [
      { key: "name", required: true, parse: name },
      { key: "exact", parse: text },
      { key: "regex", parse: regex },
    ],
    (obj, loc, ctx) => {
      const kind = oneOf(["exact", "regex"], obj, loc, ctx);
      return { name: obj.name, kind, value: obj[kind] } as T;
    },
  );
}

function conditions<T>(item: Parser<T>, what: string): Parser<T[]> {
  return (raw, loc, ctx) => {
    const list = listOf(item)(raw, loc, ctx);
    if (list.length > MAX_CONDITIONS) {
      throw located(
        ctx,
        loc,
        `Too many ${what} matches (at most ${MAX_CONDITIONS})`,
        RangeError,
      );
    }
    return list;
  };
}

const REGISTERED = new Set(REGISTERED_METHODS);

const method = scalar("string", (v) => {
  const m = v as string;
  if (!/^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(m)) {
    throw new TypeError(`Cannot parse method: current value is "${m}"`);
  }
  if (m !== m.toUpperCase() && REGISTERED.has(m.toUpperCase())) {
    throw new TypeError(
      `Cannot parse method: current value is "${m}" (methods are case-sensitive: write "${m.toUpperCase()}")`,
    );
  }
  return m;
});

const httpMatch = objectOf<HttpRouteMatch>(
  [
    { key: "path", parse: pathMatch },
    {
      key: "headers",
      parse: conditions(valueMatch<HeaderMatch>(headerName), "header"),
    },
    {
      key: "queryParams",
      parse: conditions(
        valueMatch<QueryParamMatch>(scalar("string", (v) => v as string)),
        "query parameter",
      ),
    },
    { key: "method", parse: method },
  ],
  (obj) => {
    const m: {
      path?: PathMatch;
      headers: HeaderMatch[];
      queryParams: QueryParamMatch[];
      method?: string;
    } = {
      headers: (obj.headers as HeaderMatch[] | undefined) ?? [],
      queryParams: (obj.queryParams as QueryParamMatch[] | undefined) ?? [],
    };
    if (obj.path !== undefined) m.path = obj.path as PathMatch;
    if (obj.method !== undefined) m.method = obj.method as string;
    return m;
  },
);

const rpcName = scalar("string", (v) => {
  const n = v as string;
  if (n === "" || n.includes("/")) {
    throw new TypeError(`Cannot parse gRPC name: current value is "${n}"`);
  }
  return n;
});

const grpcMatch = objectOf<GrpcRouteMatch>(
  [
    {
      key: "method",
      into: "rpc",
      parse: objectOf([
        { key: "service", parse: rpcName },
        { key: "method", parse: rpcName },
      ]),
    },
    {
      key: "headers",
      parse: conditions(valueMatch<HeaderMatch>(headerName), "header"),
    },
  ],
  (obj) => {
    const headers = (obj.headers as HeaderMatch[] | undefined) ?? [];
    return obj.rpc === undefined
      ? { headers }
      : { rpc: obj.rpc as GrpcRouteMatch["rpc"] & object, headers };
  },
);

/** `{ name: value, … }` → headers in order. */
const headerList: Parser<Header[]> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  if (isNull(node)) return [];
  if (!isMap(node)) {
    throw located(ctx, loc, `Expected a mapping, got ${describe(node)}`);
  }
  const out: Header[] = [];
  for (const pair of node.items) {
    if (!isPair(pair)) continue;
    const keyLoc = childLoc(pair.key, loc.path, loc);
    const key = deref(pair.key, keyLoc, ctx);
    const rawName = isScalar(key) ? String(key.value) : "";
    const path = `${loc.path}.${rawName}`;
    const name = headerName(key, { path, offset: keyLoc.offset }, ctx);
    const valueLoc = childLoc(pair.value, path, {
      path,
      offset: keyLoc.offset,
    });
    out.push({ name, value: headerValue(pair.value, valueLoc, ctx) });
  }
  return out;
};

const headerModifier = objectOf(
  [
    { key: "add", parse: headerList },
    { key: "set", parse: headerList },
    { key: "remove", parse: listOf(headerName) },
  ],
  (obj) => ({
    add: obj.add ?? [],
    set: obj.set ?? [],
    remove: obj.remove ?? [],
  }),
);

function statusIn(what: string, min: number, max: number): Parser<number> {
  return scalar("number", (v) => {
    const n = v as number;
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new RangeError(
        `Cannot parse ${what}: current value is "${n}" (expected ${min}–${max})`,
      );
    }
    return n;
  });
}

const REDIRECT_PATH_FIELDS: readonly Field[] = [
  { key: "replaceFullPath", parse: absolutePath },
  { key: "replacePrefixMatch", parse: absolutePath },
];

const redirect = objectOf<RequestRedirect>(
  [
    {
      key: "scheme",
      parse: scalar("string", (v) => {
        if (v === "http" || v === "https") return v;
        throw new TypeError(
          `Cannot parse scheme: current value is "${v}" (expected "http" or "https")`,
        );
      }),
    },
    {
      key: "hostname",
      into: "host",
      parse: scalar("string", (v) => {
        const h = v as string;
        if (!isDnsName(h)) {
          throw new TypeError(`Cannot parse hostname: current value is "${h}"`);
        }
        return h.toLowerCase();
      }),
    },
    {
      key: "path",
      parse: objectOf(REDIRECT_PATH_FIELDS, (obj, loc, ctx) => {
        const kind = oneOf(
          ["replaceFullPath", "replacePrefixMatch"],
          obj,
          loc,
          ctx,
        );
        return {
          kind: kind === "replaceFullPath" ? "full" : "prefix",
          value: obj[kind] as string,
        };
      }),
    },
    { key: "port", parse: statusIn("port", 1, 65535) },
    {
      key: "statusCode",
      into: "status",
      parse: statusIn("statusCode", 300, 399),
    },
  ],
);

/** A ratio as a fraction in [0, 1] (`0.1`) or `{ numerator, denominator }`. */
const ratio: Parser<Ratio> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  if (isMap(node)) {
    return objectOf<Ratio>(
      [
        {
          key: "numerator",
          required: true,
          parse: count("numerator", 0xffff_ffff),
        },
        {
          key: "denominator",
          required: true,
          parse: count("denominator", 0xffff_ffff),
        },
      ],
      (obj, loc, ctx) => {
        try {
          validateRatio(obj as unknown as Ratio);
        } catch (err) {
          rethrow(ctx, loc, err);
        }
        return obj as unknown as Ratio;
      },
    )(node, loc, ctx);
  }
  return scalar("number", (v) => {
    const p = parseNumber(String(v), "ratio", { min: 0, max: 1 });
    // Six decimal places, like a percentage with four.
    return { numerator: Math.round(p * 1_000_000), denominator: 1_000_000 };
  })(node, loc, ctx);
};

const DEFAULT_INJECTED_MESSAGE = "injected failure";

const httpFailureInjector = objectOf(
  [
    { key: "status", required: true, parse: statusIn("status", 100, 599) },
    { key: "message", parse: str },
    { key: "ratio", parse: ratio },
  ],
  (obj) => ({
    status: obj.status as number,
    message: (obj.message as string | undefined) ?? DEFAULT_INJECTED_MESSAGE,
    ratio: (obj.ratio as Ratio | undefined) ?? { numerator: 1, denominator: 1 },
  }),
);

const grpcFailureInjector = objectOf(
  [
    { key: "code", required: true, parse: statusIn("code", 0, 16) },
    { key: "message", parse: str },
    { key: "ratio", parse: ratio },
  ],
  (obj) => ({
    code: obj.code as number,
    message: (obj.message as string | undefined) ?? DEFAULT_INJECTED_MESSAGE,
    ratio: (obj.ratio as Ratio | undefined) ?? { numerator: 1, denominator: 1 },
  }),
);

/** A filter: a mapping with exactly one key naming its kind. */
function filterOf<F>(
  kinds: Readonly<Record<string, Parser<object>>>,
): Parser<F> {
  const keys = Object.keys(kinds);
  return objectOf<F>(
    keys.map((key) => ({ key, parse: kinds[key]! })),
    (obj, loc, ctx) => {
      const kind = oneOf(keys, obj, loc, ctx);
      return { kind, ...(obj[kind] as object) } as F;
    },
  );
}

const httpFilter = filterOf<HttpFilter>({
  requestHeaderModifier: headerModifier,
  responseHeaderModifier: headerModifier,
  requestRedirect: redirect,
  failureInjector: httpFailureInjector,
});

const grpcFilter = filterOf<GrpcFilter>({
  requestHeaderModifier: headerModifier,
  failureInjector: grpcFailureInjector,
});

function backendOf(name: string): Backend {
  return {
    ref: { kind: "default", name },
    dispatch: { kind: "balance", authority: name },
  };
}

/** A backend: a service name (weight 1), or `{ name, weight?, filters? }`. */
function routeBackend<F>(
  filter: Parser<F>,
): Parser<WeightedRouteBackend<F>> {
  const object = objectOf<WeightedRouteBackend<F>>(
    [
      { key: "name", required: true, parse: serviceName },
      { key: "weight", parse: count("weight", 0xffff_ffff) },
      { key: "filters", parse: listOf(filter) },
    ],
    (obj) => ({
      backend: backendOf(obj.name as string),
      filters: (obj.filters as F[] | undefined) ?? [],
      weight: (obj.weight as number | undefined) ?? 1,
    }),
  );
  return (raw, loc, ctx) => {
    const node = deref(raw, loc, ctx);
    if (isMap(node)) return object(node, loc, ctx);
    const name = serviceName(node, loc, ctx);
    return { backend: backendOf(name), filters: [], weight: 1 };
  };
}

function backendsOf<F>(
  filter: Parser<F>,
): Parser<Distribution<F>> {
  const list = listOf(routeBackend(filter));
  return (raw, loc, ctx) => {
    const backends = list(raw, loc, ctx);
    if (backends.length === 0) {
      throw located(ctx, loc, "Expected at least one backend");
    }
    const seen = new Map<string, Loc>();
    backends.forEach((b, i) => {
      const at = locAt(raw, loc, ctx, [i]);
      const d = b.backend.dispatch;
      checkUnique(
        seen,
        d.kind === "balance" ? d.authority : "",
        "backend",
        at,
        ctx,
      );
    });
    if (backends.every((b) => b.weight === 0)) {
      throw located(
        ctx,
        loc,
        "Cannot route: every backend has weight 0",
        RangeError,
      );
    }
    return { kind: "randomAvailable", backends };
  };
}

const TIMEOUT_FIELDS: readonly Field[] = [
  { key: "request", into: "requestMs", parse: duration },
  { key: "response", into: "responseMs", parse: duration },
  { key: "idle", into: "idleMs", parse: duration },
];

const timeouts = objectOf<RouteTimeouts>(
  TIMEOUT_FIELDS,
  (obj, loc, ctx, node) => {
    const { requestMs, responseMs } = obj as RouteTimeouts;
    if (
      requestMs !== undefined && responseMs !== undefined && requestMs > 0 &&
      responseMs > requestMs
    ) {
      throw located(
        ctx,
        locAt(node, loc, ctx, ["response"]),
        "Cannot parse timeouts: response must not exceed request",
        RangeError,
      );
    }
    return obj as RouteTimeouts;
  },
);

const DEFAULT_RETRY_LIMIT = 1;

/** One `retry.statuses` entry: `5xx`, `gateway-error`, `NNN` or `NNN-MMM` (linkerd `retry.linkerd.io/http`). */
const statusRange = scalar("string|number", (v): StatusRange => {
  const s = String(v).trim().toLowerCase();
  if (s === "5xx") return { start: 500, end: 599 };
  if (s === "gateway-error") return { start: 502, end: 504 };
  const m = /^(\d{3})(?:-(\d{3}))?$/.exec(s);
  if (!m) {
    throw new TypeError(`Cannot parse status range: current value is "${v}"`);
  }
  const start = Number(m[1]);
  const end = m[2] === undefined ? start : Number(m[2]);
  if (start < 100 || end > 599 || start > end) {
    throw new RangeError(
      `Cannot parse status range: current value is "${v}" (expected 100 ≤ start ≤ end ≤ 599)`,
    );
  }
  return { start, end };
});

const GRPC_RETRY_CODES: Readonly<Record<string, number>> = {
  "cancelled": 1,
  "deadline-exceeded": 4,
  "resource-exhausted": 8,
  "internal": 13,
  "unavailable": 14,
};

const grpcRetryCode = scalar("string", (v) => {
  const code = GRPC_RETRY_CODES[(v as string).toLowerCase()];
  if (code === undefined) {
    throw new TypeError(
      `Cannot parse gRPC retry code: current value is "${v}" (expected one of: ${
        Object.keys(GRPC_RETRY_CODES).join(", ")
      })`,
    );
  }
  return code;
});

const COMMON_RETRY_FIELDS: readonly Field[] = [
  { key: "limit", into: "maxRetries", parse: count("limit", 0xffff) },
  { key: "timeout", into: "timeoutMs", parse: duration },
  {
    key: "maxRequestBytes",
    parse: count("maxRequestBytes", 0xffff_ffff),
  },
  { key: "backoff", parse: backoff },
];

function retryDefaults(obj: Record<string, unknown>) {
  const out: {
    maxRetries: number;
    maxRequestBytes: number;
    backoff: BackoffSpec;
    timeoutMs?: number;
  } = {
    maxRetries: (obj.maxRetries as number | undefined) ?? DEFAULT_RETRY_LIMIT,
    maxRequestBytes: (obj.maxRequestBytes as number | undefined) ??
      DEFAULT_MAX_REQUEST_BYTES,
    backoff: (obj.backoff as BackoffSpec | undefined) ?? DEFAULT_RETRY_BACKOFF,
  };
  if (obj.timeoutMs !== undefined) out.timeoutMs = obj.timeoutMs as number;
  return out;
}

const httpRetry = objectOf<HttpRetry>(
  [...COMMON_RETRY_FIELDS, {
    key: "statuses",
    into: "statusRanges",
    parse: listOf(statusRange),
  }, {
    // Retry on a response status for every method, not only idempotent ones.
    key: "nonIdempotent",
    parse: scalar("boolean", (v) => v as boolean),
  }],
  (obj) => ({
    ...retryDefaults(obj),
    statusRanges: (obj.statusRanges as StatusRange[] | undefined) ?? [],
    ...(obj.nonIdempotent === true ? { nonIdempotent: true } : {}),
  }),
);

const grpcRetry = objectOf<GrpcRetry>(
  [...COMMON_RETRY_FIELDS, { key: "codes", parse: listOf(grpcRetryCode) }],
  (obj) => ({
    ...retryDefaults(obj),
    codes: [...new Set((obj.codes as number[] | undefined) ?? [])],
  }),
);

const routeKind = scalar("string", (v) => {
  if (v === "http" || v === "grpc") return v;
  throw new TypeError(
    `Cannot parse route kind: current value is "${v}" (expected "http" or "grpc")`,
  );
});

const hostname = scalar("string", (v) => parseHostMatch(v as string));

/** A route as written: one rule (matches, filters, backends, policies) under hostnames. */
export interface RouteDraft {
  readonly kind: "http" | "grpc";
  readonly name?: string;
  readonly hostnames?: HostMatch[];
  readonly matches?: (HttpRouteMatch | GrpcRouteMatch)[];
  readonly filters?: (HttpFilter | GrpcFilter)[];
  readonly backends?: Distribution<HttpFilter | GrpcFilter>;
  readonly timeouts?: RouteTimeouts;
  readonly retry?: HttpRetry | GrpcRetry;
}

function routeFields(
  match: Parser<unknown>,
  filter: Parser<unknown>,
  retry: Parser<unknown>,
): readonly Field[] {
  return [
    { key: "name", parse: str },
    { key: "kind", parse: routeKind },
    { key: "hostnames", parse: listOf(hostname) },
    { key: "matches", parse: listOf(match) },
    { key: "filters", parse: listOf(filter) },
    { key: "backends", parse: backendsOf(filter) },
    { key: "timeouts", parse: timeouts },
    { key: "retry", parse: retry },
  ];
}

const httpRouteDraft = objectOf<RouteDraft>(
  routeFields(httpMatch, httpFilter, httpRetry),
  (obj, loc, ctx, node) => {
    checkRedirects(obj as unknown as RouteDraft, node, loc, ctx);
    return { ...obj, kind: "http" } as RouteDraft;
  },
);

const grpcRouteDraft = objectOf<RouteDraft>(
  routeFields(grpcMatch, grpcFilter, grpcRetry),
  (obj) => ({ ...obj, kind: "grpc" }) as RouteDraft,
);

/** A prefix replacement needs every match to match by path prefix (linkerd fails it with a 500 otherwise). */
function checkRedirects(
  route: RouteDraft,
  node: unknown,
  loc: Loc,
  ctx: Ctx,
): void {
  const matches = (route.matches ?? []) as HttpRouteMatch[];
  const bad = matches.findIndex((m) =>
    m.path !== undefined && m.path.kind !== "prefix"
  );
  if (bad < 0) return;
  (route.filters ?? []).forEach((f, i) => {
    if (f.kind === "requestRedirect" && f.path?.kind === "prefix") {
      throw located(
        ctx,
        locAt(node, loc, ctx, [
          "filters",
          i,
          "requestRedirect",
          "path",
          "replacePrefixMatch",
        ]),
        `Cannot replace a path prefix: matches[${bad}] does not match by path prefix`,
      );
    }
  });
}

/** A route: its `kind` (default http) picks the HTTP or the gRPC schema. */
export const routeDraft: Parser<RouteDraft> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  let kind = "http";
  if (isMap(node)) {
    const pair = node.items.find((p) =>
      isScalar(p.key) && p.key.value === "kind"
    );
    if (pair !== undefined) {
      const kindLoc = locAt(node, loc, ctx, ["kind"]);
      kind = routeKind(pair.value, kindLoc, ctx);
    }
  }
  return (kind === "grpc" ? grpcRouteDraft : httpRouteDraft)(node, loc, ctx);
};

/** A service's `routes`, each one route with one rule; all of one kind. */
export function buildRoutes(
  drafts: readonly RouteDraft[],
  serviceName: string,
  node: unknown,
  loc: Loc,
  ctx: Ctx,
): ServiceRoutes | undefined {
  if (drafts.length === 0) return undefined;
  const kind = drafts[0]!.kind;
  const names = new Map<string, Loc>();
  const routes = drafts.map((d, i) => {
    if (d.kind !== kind) {
      throw located(
        ctx,
        locAt(node, loc, ctx, ["routes", i, "kind"]),
        `Cannot mix ${kind} and ${d.kind} routes in one service`,
      );
    }
    const name = d.name ?? `route-${i}`;
    checkUnique(
      names,
      name,
      "route name",
      locAt(
        node,
        loc,
        ctx,
        d.name === undefined ? ["routes", i] : ["routes", i, "name"],
      ),
      ctx,
    );
    const rule = {
      matches: d.matches ?? [],
      filters: d.filters ?? [],
      backends: d.backends ?? {
        kind: "firstAvailable",
        backends: [{ backend: backendOf(serviceName), filters: [] }],
      },
      timeouts: d.timeouts ?? {},
      allowL5dRequestHeaders: false,
      ...(d.retry === undefined ? {} : { retry: d.retry }),
    };
    return {
      ref: { kind: "default", name },
      hosts: d.hostnames ?? [],
      rules: [rule],
    };
  });
  return kind === "grpc"
    ? { kind: "grpc", routes: routes as unknown as GrpcRoute[] }
    : { kind: "http", routes: routes as unknown as HttpRoute[] };
}

const FAILURE_ACCRUAL_FIELDS: readonly Field[] = [
  {
    key: "kind",
    parse: scalar("string", (v) => {
      if (v === "consecutive") return v;
      throw new TypeError(
        `Cannot parse failure accrual kind: current value is "${v}" (expected "consecutive")`,
      );
    }),
  },
  { key: "maxFailures", parse: count("maxFailures", 0xffff_ffff) },
  { key: "minPenalty", into: "minPenaltyMs", parse: duration },
  { key: "maxPenalty", into: "maxPenaltyMs", parse: duration },
  {
    key: "jitter",
    parse: scalar(
      "number",
      (v) => parseNumber(String(v), "jitter", { min: 0, max: 1 }),
    ),
  },
];

/** A service's `failureAccrual` (linkerd `FailureAccrual.ConsecutiveFailures`), defaults per field. */
export const failureAccrual = objectOf<FailureAccrualSpec>(
  FAILURE_ACCRUAL_FIELDS,
  (obj, loc, ctx) => {
    const spec = { ...DEFAULT_FAILURE_ACCRUAL, ...obj } as FailureAccrualSpec;
    if (spec.minPenaltyMs > spec.maxPenaltyMs) {
      throw located(
        ctx,
        loc,
        "Cannot parse failureAccrual: minPenalty must not exceed maxPenalty",
        RangeError,
      );
    }
    return spec;
  },
);

/**
 * A service's `retryBudget` (linkerd profile `RetryBudget`, tower
 * `TpsBudget`): defaults 0.2 of requests, at least 10 per second, 10 s;
 * the ttl must lie in [1 s, 60 s] and the ratio in [0, 1000] as linkerd
 * validates them.
 */
export const retryBudget = objectOf<RetryBudget>(
  [
    {
      key: "ratio",
      parse: scalar(
        "number",
        (v) => parseNumber(String(v), "ratio", { min: 0, max: 1000 }),
      ),
    },
    { key: "minPerSecond", parse: count("minPerSecond", 0x7fff_ffff) },
    { key: "ttl", into: "ttlMs", parse: duration },
  ],
  (obj, loc, ctx) => {
    const spec = {
      ratio: 0.2,
      minPerSecond: 10,
      ttlMs: 10_000,
      ...obj,
    } as RetryBudget;
    if (spec.ttlMs < 1000 || spec.ttlMs > 60_000) {
      throw located(
        ctx,
        loc,
        "Cannot parse retryBudget: ttl must be between 1s and 60s",
        RangeError,
      );
    }
    return spec;
  },
);
