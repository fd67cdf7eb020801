/**
 * `io.linkerd.proxy.outbound` (the OutboundPolicies API) as decoded from the
 * wire. Its conversion to Petrel's route model is `client_policy.ts`.
 *
 * @module
 */
import type { WeightedAddr } from "./destination.ts";
import type { Duration } from "./duration.ts";
import type { GrpcFailureInjector, GrpcRouteMatch } from "./grpc_route.ts";
import type {
  HeaderModifier,
  HostMatch,
  HttpFailureInjector,
  HttpRouteMatch,
  RequestRedirect,
  Timeouts,
} from "./http_route.ts";
import type { Metadata } from "./meta.ts";
import type { TcpAddress } from "./net.ts";

/** A decoded `outbound.TrafficSpec`. */
export interface TrafficSpec {
  readonly source_workload: string;
  readonly target?: "addr" | "authority";
  readonly addr?: TcpAddress | null;
  readonly authority?: string;
}

/** A decoded `outbound.ExponentialBackoff`. */
export interface ExponentialBackoff {
  readonly min_backoff: Duration | null | undefined;
  readonly max_backoff: Duration | null | undefined;
  readonly jitter_ratio: number;
  readonly respect_retry_after_hint?: boolean;
}

/** A decoded `outbound.FailureAccrual`. */
export interface FailureAccrual {
  readonly kind?: "consecutive_failures" | "unified";
  readonly consecutive_failures?: {
    readonly max_failures: number;
    readonly backoff: ExponentialBackoff | null | undefined;
  } | null;
  readonly unified?: {
    readonly success_rate_threshold: number;
    readonly decay: Duration | null | undefined;
    readonly min_requests: number;
    readonly max_consecutive_failures: number;
    readonly backoff: ExponentialBackoff | null | undefined;
  } | null;
}

/** A decoded `outbound.Backend`. */
export interface Backend {
  readonly metadata: Metadata | null | undefined;
  readonly kind?: "forward" | "balancer";
  readonly forward?: WeightedAddr | null;
  readonly balancer?: {
    readonly discovery:
      | {
        readonly kind?: "dst";
        readonly dst?: { readonly path: string } | null;
      }
      | null
      | undefined;
  } | null;
}

/** A decoded `HttpRoute.RouteBackend` / `GrpcRoute.RouteBackend`. */
export interface RouteBackend<F> {
  readonly backend: Backend | null | undefined;
  readonly filters: readonly F[];
}

/** A decoded `*Route.Distribution`. */
export interface Distribution<F> {
  readonly kind?: "empty" | "first_available" | "random_available";
  readonly first_available?: {
    readonly backends: readonly RouteBackend<F>[];
  } | null;
  readonly random_available?: {
    readonly backends: readonly {
      readonly backend: RouteBackend<F> | null | undefined;
      readonly weight: number;
    }[];
  } | null;
}

/** A decoded `HttpRoute.Filter`. */
export interface HttpRouteFilter {
  readonly kind?:
    | "failure_injector"
    | "request_header_modifier"
    | "redirect"
    | "response_header_modifier";
  readonly failure_injector?: HttpFailureInjector | null;
  readonly request_header_modifier?: HeaderModifier | null;
  readonly redirect?: RequestRedirect | null;
  readonly response_header_modifier?: HeaderModifier | null;
}

/** A decoded `GrpcRoute.Filter`. */
export interface GrpcRouteFilter {
  readonly kind?: "failure_injector" | "request_header_modifier";
  readonly failure_injector?: GrpcFailureInjector | null;
  readonly request_header_modifier?: HeaderModifier | null;
}

/** A decoded `HttpRoute.Retry`. */
export interface HttpRouteRetry {
  readonly max_retries: number;
  readonly max_request_bytes: number;
  readonly conditions:
    | {
      readonly status_ranges: readonly { start: number; end: number }[];
    }
    | null
    | undefined;
  readonly timeout: Duration | null | undefined;
  readonly backoff: ExponentialBackoff | null | undefined;
}

/** A decoded `GrpcRoute.Retry`. */
export interface GrpcRouteRetry {
  readonly max_retries: number;
  readonly max_request_bytes: number;
  readonly conditions:
    | {
      readonly cancelled: boolean;
      readonly deadine_exceeded: boolean;
      readonly resource_exhausted: boolean;
      readonly internal: boolean;
      readonly unavailable: boolean;
    }
    | null
    | undefined;
  readonly timeout: Duration | null | undefined;
  readonly backoff: ExponentialBackoff | null | undefined;
}

/** A decoded `outbound.HttpRoute`. */
export interface HttpRoute {
  readonly metadata: Metadata | null | undefined;
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly {
    readonly matches: readonly HttpRouteMatch[];
    readonly filters: readonly HttpRouteFilter[];
    readonly backends: Distribution<HttpRouteFilter> | null | undefined;
    readonly requestTimeout?: Duration | null;
    readonly timeouts: Timeouts | null | undefined;
    readonly retry: HttpRouteRetry | null | undefined;
    readonly allow_l5d_request_headers: boolean;
  }[];
}

/** A decoded `outbound.GrpcRoute`. */
export interface GrpcRoute {
  readonly metadata: Metadata | null | undefined;
  readonly hosts: readonly HostMatch[];
  readonly rules: readonly {
    readonly matches: readonly GrpcRouteMatch[];
    readonly filters: readonly GrpcRouteFilter[];
    readonly backends: Distribution<GrpcRouteFilter> | null | undefined;
    readonly requestTimeout?: Duration | null;
    readonly timeouts: Timeouts | null | undefined;
    readonly retry: GrpcRouteRetry | null | undefined;
    readonly allow_l5d_request_headers: boolean;
  }[];
}

/** A decoded `ProxyProtocol.Http1` / `Http2`. */
export interface HttpProtocol {
  readonly routes: readonly HttpRoute[];
  readonly failure_accrual: FailureAccrual | null | undefined;
}

/** A decoded `ProxyProtocol.Grpc`. */
export interface GrpcProtocol {
  readonly routes: readonly GrpcRoute[];
  readonly failure_accrual: FailureAccrual | null | undefined;
}

/** A decoded `outbound.ProxyProtocol`. */
export interface ProxyProtocol {
  readonly kind?: "detect" | "opaque" | "http1" | "http2" | "grpc" | "tls";
  readonly detect?: {
    readonly timeout: Duration | null | undefined;
    readonly opaque: OpaqueProtocol | null | undefined;
    readonly http1: HttpProtocol | null | undefined;
    readonly http2: HttpProtocol | null | undefined;
  } | null;
  readonly http1?: HttpProtocol | null;
  readonly http2?: HttpProtocol | null;
  readonly grpc?: GrpcProtocol | null;
  readonly opaque?: OpaqueProtocol | null;
  readonly tls?: OpaqueProtocol | null;
}

/** A decoded `OpaqueRoute.Filter` / `TlsRoute.Filter` (`opaque_route.*`). */
export interface OpaqueRouteFilter {
  readonly kind?: "invalid" | "forbidden";
  readonly invalid?: { readonly message: string } | null;
  readonly forbidden?: Record<string, never> | null;
}

/** A decoded `tls_route.SniMatch`. */
export interface SniMatch {
  readonly match?: "exact" | "suffix";
  readonly exact?: string;
  readonly suffix?: { readonly reverse_labels: readonly string[] } | null;
}

/** A decoded `outbound.OpaqueRoute` (`snis` only on a `TlsRoute`). */
export interface OpaqueRoute {
  readonly metadata: Metadata | null | undefined;
  readonly snis?: readonly SniMatch[];
  readonly rules: readonly {
    readonly backends: Distribution<OpaqueRouteFilter> | null | undefined;
    readonly filters: readonly OpaqueRouteFilter[];
  }[];
}

/** A decoded `ProxyProtocol.Opaque` / `ProxyProtocol.Tls`. */
export interface OpaqueProtocol {
  readonly routes: readonly OpaqueRoute[];
}

/** A decoded `outbound.OutboundPolicy`. */
export interface OutboundPolicy {
  readonly protocol: ProxyProtocol | null | undefined;
  readonly metadata: Metadata | null | undefined;
}
