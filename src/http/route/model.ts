/**
 * The route model every policy source feeds (the YAML file now, Linkerd's
 * OutboundPolicies API later): plain, comparable data shaped one to one on
 * linkerd2-proxy-api's `outbound.HttpRoute` / `outbound.GrpcRoute` and
 * linkerd's `client-policy` types. Regexes stay strings here; the router
 * compiles them once per route table.
 *
 * @module
 */
import type { BackoffSpec } from "../../balance/backoff.ts";

/** Resource metadata of a route or backend (linkerd `meta.Metadata`). */
export type RouteRef =
  | { readonly kind: "default"; readonly name: string }
  | {
    readonly kind: "resource";
    readonly group: string;
    /** The Kubernetes kind, e.g. "HTTPRoute". */
    readonly resourceKind: string;
    readonly name: string;
    readonly namespace: string;
    readonly section?: string;
    readonly port?: number;
  };

/** A hostname pattern (linkerd `http_route.HostMatch`). */
export type HostMatch =
  | { readonly kind: "exact"; readonly host: string }
  /** `*.example.com` is `["com", "example"]`; a trailing dot adds a leading "". */
  | { readonly kind: "suffix"; readonly reverseLabels: readonly string[] };

/** A path condition (linkerd `http_route.PathMatch`). */
export interface PathMatch {
  readonly kind: "exact" | "prefix" | "regex";
  readonly value: string;
}

/** A header condition: any value of `name` equals or fully matches (linkerd `http_route.HeaderMatch`). */
export interface HeaderMatch {
  /** Lower-case header name. */
  readonly name: string;
  readonly kind: "exact" | "regex";
  readonly value: string;
}

/** A query parameter condition (linkerd `http_route.QueryParamMatch`). */
export interface QueryParamMatch {
  readonly name: string;
  readonly kind: "exact" | "regex";
  readonly value: string;
}

/** One HTTP match block: all present conditions must hold (linkerd `HttpRouteMatch`). */
export interface HttpRouteMatch {
  readonly path?: PathMatch;
  readonly headers: readonly HeaderMatch[];
  readonly queryParams: readonly QueryParamMatch[];
  /** An HTTP method token, e.g. "GET". */
  readonly method?: string;
}

/** gRPC service/method (linkerd `grpc_route.GrpcRpcMatch`; absent = any). */
export interface GrpcRpcMatch {
  readonly service?: string;
  readonly method?: string;
}

/** One gRPC match block (linkerd `grpc_route.GrpcRouteMatch`). */
export interface GrpcRouteMatch {
  readonly rpc?: GrpcRpcMatch;
  readonly headers: readonly HeaderMatch[];
}

/** One header (linkerd `http_types.Header`). */
export interface Header {
  /** Lower-case header name. */
  readonly name: string;
  readonly value: string;
}

/** Add, then set, then remove (linkerd `RequestHeaderModifier` / `ResponseHeaderModifier`). */
export interface HeaderModifier {
  readonly add: readonly Header[];
  readonly set: readonly Header[];
  /** Lower-case header names. */
  readonly remove: readonly string[];
}

/** A fraction `numerator / denominator` (linkerd `http_route.Ratio`). */
export interface Ratio {
  readonly numerator: number;
  readonly denominator: number;
}

/** linkerd `http_route.RequestRedirect` (absent fields keep the request's). */
export interface RequestRedirect {
  readonly scheme?: "http" | "https";
  readonly host?: string;
  /** `full` replaces the path (and query); `prefix` replaces the matched prefix. */
  readonly path?: { readonly kind: "full" | "prefix"; readonly value: string };
  readonly port?: number;
  /** @default 301 */
  readonly status?: number;
}

/** linkerd `http_route.HttpFailureInjector`. */
export interface HttpFailureInjector {
  readonly status: number;
  readonly message: string;
  readonly ratio: Ratio;
}

/** linkerd `grpc_route.GrpcFailureInjector`. */
export interface GrpcFailureInjector {
  readonly code: number;
  readonly message: string;
  readonly ratio: Ratio;
}

/** An HTTP route filter (linkerd `outbound.HttpRoute.Filter`). */
export type HttpFilter =
  | ({ readonly kind: "requestHeaderModifier" } & HeaderModifier)
  | ({ readonly kind: "responseHeaderModifier" } & HeaderModifier)
  | ({ readonly kind: "requestRedirect" } & RequestRedirect)
  | ({ readonly kind: "failureInjector" } & HttpFailureInjector);

/** A gRPC route filter (linkerd `outbound.GrpcRoute.Filter`). */
export type GrpcFilter =
  | ({ readonly kind: "requestHeaderModifier" } & HeaderModifier)
  | ({ readonly kind: "failureInjector" } & GrpcFailureInjector);

/**
 * How a backend dispatches (linkerd `outbound.Backend.kind`): a balancer over
 * a logical service resolved through discovery, one fixed address, or a
 * backend that fails every request.
 */
export type BackendDispatch =
  | {
    readonly kind: "balance";
    /** The logical service "host:port" (linkerd `DestinationGet.path`). */
    readonly authority: string;
  }
  | {
    readonly kind: "forward";
    /** "ip:port". */
    readonly addr: string;
    readonly identity?: string;
  }
  | { readonly kind: "fail"; readonly message: string };

/** A route backend (linkerd `outbound.Backend`). */
export interface Backend {
  readonly ref: RouteRef;
  readonly dispatch: BackendDispatch;
}

/** A backend with its own filters (linkerd `RouteBackend`). */
export interface RouteBackend<F> {
  readonly backend: Backend;
  readonly filters: readonly F[];
}

/** linkerd `WeightedRouteBackend`. */
export interface WeightedRouteBackend<F> extends RouteBackend<F> {
  readonly weight: number;
}

/** Where a rule sends requests (linkerd `outbound.*Route.Distribution`). */
export type Distribution<F> =
  | { readonly kind: "empty" }
  | {
    readonly kind: "firstAvailable";
    readonly backends: readonly RouteBackend<F>[];
  }
  | {
    readonly kind: "randomAvailable";
    readonly backends: readonly WeightedRouteBackend<F>[];
  };

/** Per-rule timeouts (linkerd `http_route.Timeouts`); absent = none. */
export interface RouteTimeouts {
  readonly responseMs?: number;
  readonly requestMs?: number;
  readonly idleMs?: number;
  /**
   * A ServiceProfile route's `timeout` (linkerd `http::ResponseTimeout`,
   * `proxy/http/src/timeout.rs`, around the profile retry layer): from
   * route entry to the response headers, across all retries; the response
   * body is not bounded.
   */
  readonly headersMs?: number;
}

/**
 * The registered HTTP method names, in linkerd2-proxy-api's enum order
 * (`http_types.HttpMethod.Registered`); the YAML and control-plane
 * converters both read this list.
 */
export const REGISTERED_METHODS: readonly string[] = Object.freeze([
  "GET",
  "POST",
  "PUT",
  "DELETE",
  "PATCH",
  "OPTIONS",
  "CONNECT",
  "HEAD",
  "TRACE",
]);

/** linkerd's retry replay buffer default, 64 KiB (YAML, policy and profile retries). */
export const DEFAULT_MAX_REQUEST_BYTES = 64 * 1024;

/** An inclusive HTTP status range (linkerd `Retry.Conditions.StatusRange`). */
export interface StatusRange {
  readonly start: number;
  readonly end: number;
}

/** HTTP route retries (linkerd `outbound.HttpRoute.Retry`); behaviour is issue 6. */
export interface HttpRetry {
  readonly maxRetries: number;
  readonly maxRequestBytes: number;
  readonly statusRanges: readonly StatusRange[];
  /** Per-attempt response timeout. */
  readonly timeoutMs?: number;
  readonly backoff?: BackoffSpec;
  /**
   * Also retry methods that are not idempotent (POST, PATCH, …) on a
   * retryable status or after an error that may have reached an endpoint
   * (Petrel; linkerd retries every method). Absent = only GET, HEAD,
   * OPTIONS, PUT and DELETE; a request that reached no endpoint is retried
   * whatever its method.
   */
  readonly nonIdempotent?: boolean;
}

/** gRPC route retries (linkerd `outbound.GrpcRoute.Retry`); behaviour is issue 6. */
export interface GrpcRetry {
  readonly maxRetries: number;
  readonly maxRequestBytes: number;
  /** Retryable codes, among CANCELLED 1, DEADLINE_EXCEEDED 4, RESOURCE_EXHAUSTED 8, INTERNAL 13, UNAVAILABLE 14. */
  readonly codes: readonly number[];
  readonly timeoutMs?: number;
  readonly backoff?: BackoffSpec;
}

/**
 * A ServiceProfile route's response classes, resolved per status (linkerd
 * `profiles::http::ResponseClasses`: the first class whose condition
 * matches decides): statuses in `failure` are failures, in `success`
 * successes; any other status is unmatched and classified as linkerd's
 * `Response::Profile` does (a `grpc-status` in the headers or trailers
 * with the default gRPC codes, else 5xx is a failure).
 */
export interface ResponseClasses {
  readonly failure: readonly StatusRange[];
  readonly success: readonly StatusRange[];
}

/** One HTTP rule (linkerd `outbound.HttpRoute.Rule`). */
export interface HttpRule {
  /** Any one must match; none = matches every request (prefix "/"). */
  readonly matches: readonly HttpRouteMatch[];
  readonly filters: readonly HttpFilter[];
  readonly backends: Distribution<HttpFilter>;
  readonly timeouts: RouteTimeouts;
  readonly retry?: HttpRetry;
  readonly allowL5dRequestHeaders: boolean;
  /**
   * The classification of its responses for endpoint metrics and failure
   * accrual (profile routes only); absent = linkerd's default (5xx, gRPC
   * codes).
   */
  readonly responseClasses?: ResponseClasses;
}

/** One gRPC rule (linkerd `outbound.GrpcRoute.Rule`). */
export interface GrpcRule {
  readonly matches: readonly GrpcRouteMatch[];
  readonly filters: readonly GrpcFilter[];
  readonly backends: Distribution<GrpcFilter>;
  readonly timeouts: RouteTimeouts;
  readonly retry?: GrpcRetry;
  readonly allowL5dRequestHeaders: boolean;
}

/** linkerd `outbound.HttpRoute`: rules under a set of hostnames. */
export interface HttpRoute {
  readonly ref: RouteRef;
  /** Empty = every host. */
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly HttpRule[];
  /**
   * A ServiceProfile route's `metrics_labels` (the profile route families'
   * `rt_*`); absent for policy routes and the profile's catch-all.
   */
  readonly metricsLabels?: Readonly<Record<string, string>>;
}

/** linkerd `outbound.GrpcRoute`. */
export interface GrpcRoute {
  readonly ref: RouteRef;
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly GrpcRule[];
}

/**
 * The budget the retries of a service's routes share (linkerd
 * `RetryBudget`, tower `TpsBudget`): retries may add `ratio` of the
 * requests, and at least `minPerSecond` per second, over a `ttlMs` window.
 */
export interface RetryBudget {
  readonly ratio: number;
  readonly minPerSecond: number;
  readonly ttlMs: number;
}

/**
 * A service's routes: HTTP routes or gRPC routes, never both (linkerd
 * `ProxyProtocol.Http1/Http2 { routes }` vs `ProxyProtocol.Grpc { routes }`).
 * `retryBudget` absent = retries bounded only by each rule's limit, as
 * linkerd's policy routes (`policy/route/retry.rs` has no budget); a
 * ServiceProfile sets its own, and YAML may set one.
 */
export type ServiceRoutes =
  | {
    readonly kind: "http";
    readonly routes: readonly HttpRoute[];
    readonly retryBudget?: RetryBudget;
    /** The policy's parent (metrics' `parent_*`); absent = the default service. */
    readonly parent?: RouteRef;
    /**
     * Set when the routes come from a ServiceProfile: its logical
     * `name:port`, the profile route families' `dst` (linkerd records them
     * only for profile routes).
     */
    readonly profileDst?: string;
  }
  | {
    readonly kind: "grpc";
    readonly routes: readonly GrpcRoute[];
    readonly retryBudget?: RetryBudget;
    /** The policy's parent (metrics' `parent_*`); absent = the default service. */
    readonly parent?: RouteRef;
  };

/** linkerd's failure-injector default ratio: always. */
export const ALWAYS: Ratio = Object.freeze({ numerator: 1, denominator: 1 });

/** linkerd's redirect default status. */
export const DEFAULT_REDIRECT_STATUS = 301;
