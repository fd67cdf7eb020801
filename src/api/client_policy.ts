/**
 * The OutboundPolicies API's one-to-one conversion to Petrel's route model
 * (linkerd `client-policy` `ClientPolicy::try_from(outbound::OutboundPolicy)`);
 * the wire types are `outbound.ts`.
 *
 * @module
 */
import type { BackoffSpec } from "../balance/backoff.ts";
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type {
  Backend as ModelBackend,
  Distribution as ModelDistribution,
  GrpcFilter,
  GrpcRetry,
  GrpcRoute as ModelGrpcRoute,
  GrpcRule,
  HttpFilter,
  HttpRetry,
  HttpRoute as ModelHttpRoute,
  HttpRule,
  ServiceRoutes,
  StatusRange,
} from "../http/route/model.ts";
import { DEFAULT_MAX_REQUEST_BYTES } from "../http/route/model.ts";
import { normalizeAuthority } from "../addr/mod.ts";
import { endpointOf } from "./destination.ts";
import { type Duration, durationMs } from "./duration.ts";
import { grpcFailureInjectorOf, grpcRouteMatchOf } from "./grpc_route.ts";
import {
  headerModifierOf,
  hostMatchOf,
  httpFailureInjectorOf,
  httpRouteMatchOf,
  requestRedirectOf,
  timeoutsOf,
} from "./http_route.ts";
import { routeRefOf } from "./meta.ts";
import type {
  Backend,
  Distribution,
  ExponentialBackoff,
  FailureAccrual,
  GrpcRoute,
  GrpcRouteFilter,
  GrpcRouteRetry,
  HttpProtocol,
  HttpRoute,
  HttpRouteFilter,
  HttpRouteRetry,
  OutboundPolicy,
  RouteBackend,
} from "./outbound.ts";

/** What an outbound policy says about a service, in Petrel's model (linkerd `ClientPolicy`). */
export interface ClientPolicy {
  /** The parent's reference. */
  readonly parent: ReturnType<typeof routeRefOf>;
  /** The HTTP or gRPC routes; undefined for opaque and TLS traffic. */
  readonly routes?: ServiceRoutes;
  readonly failureAccrual?: FailureAccrualSpec;
  /** True when the policy treats the traffic as opaque TCP (no routes). */
  readonly opaque: boolean;
}

/**
 * Converts an `OutboundPolicy` for the logical `authority` ("host:port")
 * into Petrel's model. Throws `TypeError`/`RangeError`/`SyntaxError` for an
 * invalid policy, as linkerd rejects the update.
 *
 * `detect` uses its HTTP/1 routes (linkerd's controller sends the same
 * routes for HTTP/1 and HTTP/2; Petrel's model keeps one list per service).
 */
export function clientPolicyOf(
  policy: OutboundPolicy,
  authority: string,
): ClientPolicy {
  const parent = routeRefOf(policy.metadata, authority);
  const p = policy.protocol;
  let http: HttpProtocol | null | undefined;
  switch (p?.kind) {
    case "detect":
      http = p.detect?.http1 ?? p.detect?.http2;
      break;
    case "http1":
      http = p.http1;
      break;
    case "http2":
      http = p.http2;
      break;
    case "grpc": {
      const grpc = p.grpc;
      const fa = failureAccrualOf(grpc?.failure_accrual);
      return {
        parent,
        routes: {
          kind: "grpc",
          routes: (grpc?.routes ?? []).map((r, i) =>
            grpcRouteOf(r, authority, i)
          ),
          parent,
        },
        ...(fa === undefined ? {} : { failureAccrual: fa }),
        opaque: false,
      };
    }
    case "opaque":
    case "tls":
      return { parent, opaque: true };
    default:
      throw new TypeError("Cannot parse outbound policy: no protocol is set");
  }
  const fa = failureAccrualOf(http?.failure_accrual);
  return {
    parent,
    routes: {
      kind: "http",
      routes: (http?.routes ?? []).map((r, i) => httpRouteOf(r, authority, i)),
      parent,
    },
    ...(fa === undefined ? {} : { failureAccrual: fa }),
    opaque: false,
  };
}

/** The model's HTTP route (linkerd `http::Route::try_from`). */
export function httpRouteOf(
  r: HttpRoute,
  authority: string,
  index = 0,
): ModelHttpRoute {
  return {
    ref: routeRefOf(r.metadata, `route-${index}`),
    hosts: r.hosts.map(hostMatchOf),
    rules: r.rules.map((rule): HttpRule => {
      const retry = httpRetryOf(rule.retry);
      return {
        matches: rule.matches.map(httpRouteMatchOf),
        filters: rule.filters.map(httpFilterOf),
        backends: distributionOf(rule.backends, authority, httpFilterOf),
        timeouts: timeoutsOf(rule.timeouts, rule.requestTimeout),
        ...(retry === undefined ? {} : { retry }),
        allowL5dRequestHeaders: rule.allow_l5d_request_headers,
      };
    }),
  };
}

/** The model's gRPC route (linkerd `grpc::Route::try_from`). */
export function grpcRouteOf(
  r: GrpcRoute,
  authority: string,
  index = 0,
): ModelGrpcRoute {
  return {
    ref: routeRefOf(r.metadata, `route-${index}`),
    hosts: r.hosts.map(hostMatchOf),
    rules: r.rules.map((rule): GrpcRule => {
      const retry = grpcRetryOf(rule.retry);
      return {
        matches: rule.matches.map(grpcRouteMatchOf),
        filters: rule.filters.map(grpcFilterOf),
        backends: distributionOf(rule.backends, authority, grpcFilterOf),
        timeouts: timeoutsOf(rule.timeouts, rule.requestTimeout),
        ...(retry === undefined ? {} : { retry }),
        allowL5dRequestHeaders: rule.allow_l5d_request_headers,
      };
    }),
  };
}

/** The model's HTTP filter; an unset filter throws `TypeError`. */
export function httpFilterOf(f: HttpRouteFilter): HttpFilter {
  if (f.failure_injector) {
    return {
      kind: "failureInjector",
      ...httpFailureInjectorOf(f.failure_injector),
    };
  }
  if (f.request_header_modifier) {
    return {
      kind: "requestHeaderModifier",
      ...headerModifierOf(f.request_header_modifier),
    };
  }
  if (f.response_header_modifier) {
    return {
      kind: "responseHeaderModifier",
      ...headerModifierOf(f.response_header_modifier),
    };
  }
  if (f.redirect) {
    return { kind: "requestRedirect", ...requestRedirectOf(f.redirect) };
  }
  throw new TypeError("Cannot parse HTTP route filter: no filter is set");
}

/** The model's gRPC filter; an unset filter throws `TypeError`. */
export function grpcFilterOf(f: GrpcRouteFilter): GrpcFilter {
  if (f.failure_injector) {
    return {
      kind: "failureInjector",
      ...grpcFailureInjectorOf(f.failure_injector),
    };
  }
  if (f.request_header_modifier) {
    return {
      kind: "requestHeaderModifier",
      ...headerModifierOf(f.request_header_modifier),
    };
  }
  throw new TypeError("Cannot parse gRPC route filter: no filter is set");
}

/**
 * The model's backend (linkerd `Backend::try_from`): a balancer over the
 * `DestinationGet.path` service, a forward to one address, or a backend
 * failing every request when no dispatcher is set.
 */
export function backendOf(b: Backend, authority: string): ModelBackend {
  const path = b.balancer?.discovery?.dst?.path;
  const name = path !== undefined && path !== "" ? path : authority;
  const ref = routeRefOf(b.metadata, name);
  if (b.balancer) {
    if (path === undefined || path === "") {
      throw new TypeError(
        "Cannot parse backend: the balancer has no Destination path",
      );
    }
    return {
      ref,
      dispatch: { kind: "balance", authority: normalizeAuthority(path) },
    };
  }
  if (b.forward) {
    const ep = endpointOf(b.forward);
    return {
      ref,
      dispatch: {
        kind: "forward",
        addr: ep.meta.addr,
        ...(ep.meta.identity === undefined
          ? {}
          : { identity: ep.meta.identity }),
      },
    };
  }
  return {
    ref,
    dispatch: {
      kind: "fail",
      message: `backend for ${describeRef(ref)} has no dispatcher`,
    },
  };
}

function describeRef(ref: ReturnType<typeof routeRefOf>): string {
  return ref.kind === "default"
    ? ref.name
    : `${ref.resourceKind} ${ref.namespace}/${ref.name}`;
}

/** The model's distribution (linkerd `RouteDistribution::try_from`); absent = empty. */
export function distributionOf<W, F>(
  d: Distribution<W> | null | undefined,
  authority: string,
  filter: (f: W) => F,
): ModelDistribution<F> {
  if (d === null || d === undefined) return { kind: "empty" };
  if (d.kind === "first_available" || (!d.kind && d.first_available)) {
    return {
      kind: "firstAvailable",
      backends: (d.first_available?.backends ?? []).map((rb) =>
        routeBackendOf(rb, authority, filter)
      ),
    };
  }
  if (d.kind === "random_available" || (!d.kind && d.random_available)) {
    return {
      kind: "randomAvailable",
      backends: (d.random_available?.backends ?? []).map((wb) => {
        if (!wb.backend) {
          throw new TypeError("Cannot parse route backend: it is not set");
        }
        return {
          ...routeBackendOf(wb.backend, authority, filter),
          weight: wb.weight,
        };
      }),
    };
  }
  return { kind: "empty" };
}

function routeBackendOf<W, F>(
  rb: RouteBackend<W>,
  authority: string,
  filter: (f: W) => F,
): { backend: ModelBackend; filters: F[] } {
  if (!rb.backend) {
    throw new TypeError("Cannot parse route backend: no backend is set");
  }
  return {
    backend: backendOf(rb.backend, authority),
    filters: rb.filters.map(filter),
  };
}

/** The model's HTTP retry (linkerd `http::RouteRetry::try_from`): ranges 1 ≤ start ≤ end ≤ 599. */
export function httpRetryOf(
  r: HttpRouteRetry | null | undefined,
): HttpRetry | undefined {
  if (r === null || r === undefined) return undefined;
  if (r.conditions === null || r.conditions === undefined) {
    throw new TypeError("Cannot parse HTTP retry: no conditions are set");
  }
  const statusRanges: StatusRange[] = r.conditions.status_ranges.map((s) => {
    if (s.start < 1 || s.start > s.end || s.end > 599) {
      throw new RangeError(
        `Cannot parse retry status range: current value is "${s.start}-${s.end}"`,
      );
    }
    return { start: s.start, end: s.end };
  });
  // linkerd retries every method; Petrel's model asks for it explicitly.
  return retryCommon(r, { statusRanges, nonIdempotent: true });
}

/** The model's gRPC retry (linkerd `grpc::RouteRetry::try_from`): the set conditions as codes. */
export function grpcRetryOf(
  r: GrpcRouteRetry | null | undefined,
): GrpcRetry | undefined {
  if (r === null || r === undefined) return undefined;
  const c = r.conditions;
  if (c === null || c === undefined) {
    throw new TypeError("Cannot parse gRPC retry: no conditions are set");
  }
  const codes: number[] = [];
  if (c.cancelled) codes.push(1);
  if (c.deadine_exceeded) codes.push(4);
  if (c.resource_exhausted) codes.push(8);
  if (c.internal) codes.push(13);
  if (c.unavailable) codes.push(14);
  return retryCommon(r, { codes });
}

function retryCommon<T extends object>(
  r: {
    max_retries: number;
    max_request_bytes: number;
    timeout: Duration | null | undefined;
    backoff: ExponentialBackoff | null | undefined;
  },
  conditions: T,
): T & {
  maxRetries: number;
  maxRequestBytes: number;
  timeoutMs?: number;
  backoff?: BackoffSpec;
} {
  const timeoutMs = durationMs(r.timeout);
  const backoff = backoffOf(r.backoff);
  return {
    maxRetries: r.max_retries,
    maxRequestBytes: r.max_request_bytes === 0
      ? DEFAULT_MAX_REQUEST_BYTES
      : r.max_request_bytes,
    ...conditions,
    ...(timeoutMs === undefined ? {} : { timeoutMs }),
    ...(backoff === undefined ? {} : { backoff }),
  };
}

/** The model's backoff (linkerd `ExponentialBackoff::try_from`): min ≤ max, jitter in [0, 1]. */
export function backoffOf(
  b: ExponentialBackoff | null | undefined,
): BackoffSpec | undefined {
  if (b === null || b === undefined) return undefined;
  const minMs = durationMs(b.min_backoff) ?? 0;
  const maxMs = durationMs(b.max_backoff) ?? minMs;
  const jitter = b.jitter_ratio;
  if (minMs > maxMs) {
    throw new RangeError(
      `Cannot parse backoff: min ${minMs} ms exceeds max ${maxMs} ms`,
    );
  }
  if (!(jitter >= 0 && jitter <= 1)) {
    throw new RangeError(
      `Cannot parse backoff jitter: current value is "${jitter}"`,
    );
  }
  // float32 on the wire: 0.1 arrives as 0.10000000149…
  return { minMs, maxMs, jitter: Math.round(jitter * 1e6) / 1e6 };
}

/**
 * The model's failure accrual: consecutive failures as given; `unified`
 * maps onto its consecutive-failures dimension (Petrel's balancer has no
 * success-rate breaker yet). Absent = none.
 */
export function failureAccrualOf(
  f: FailureAccrual | null | undefined,
): FailureAccrualSpec | undefined {
  if (f === null || f === undefined) return undefined;
  const c = f.consecutive_failures ?? undefined;
  const u = f.unified ?? undefined;
  const maxFailures = c?.max_failures ?? u?.max_consecutive_failures;
  if (maxFailures === undefined) return undefined;
  const backoff = backoffOf(c?.backoff ?? u?.backoff) ??
    { minMs: 1_000, maxMs: 60_000, jitter: 0.5 };
  return {
    kind: "consecutive",
    maxFailures,
    minPenaltyMs: backoff.minMs,
    maxPenaltyMs: backoff.maxMs,
    jitter: backoff.jitter,
  };
}
