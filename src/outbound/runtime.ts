/**
 * What every outbound layer is built with (linkerd `Outbound<S>`'s config
 * and runtime fields), passed explicitly.
 *
 * @module
 */
import type { Log } from "../log.ts";
import type { Discovery } from "../discovery/resolve.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import type {
  HttpBalancerMetrics,
  HttpBalancerOptions,
} from "../metrics/balancer.ts";
import type { HttpEndpointMetrics, OrigProtoLabels } from "../metrics/http.ts";
import type { RouteMetricFamilies } from "../metrics/route_retry.ts";
import type { TrackedSocket, TransportLabels } from "../metrics/transport.ts";
import type { RouteRequestFamilies } from "../metrics/route_families.ts";
import type { ProfileRouteFamilies } from "../metrics/profile_route.ts";
import type { TlsObserver } from "../tls/errors.ts";
import type { LocalIdentity } from "../tls/identity.ts";

export type { HttpEndpointMetrics };

/** The metric families the outbound stack records into (`ProxyMetrics` or a test double). */
export interface OutboundMetrics {
  httpEndpoint(labels: {
    direction: string;
    authority: string;
    targetAddr: string;
    tls?: { serverId: string };
    /** Discovery's metric labels (`dst_*`). */
    dstLabels?: Readonly<Record<string, string>>;
  }): HttpEndpointMetrics;
  httpError(kind: string): void;
  /** Client-side (`peer="dst"`) transport series of endpoint connections (optional). */
  transport?(labels: TransportLabels): { track(socket: TrackedSocket): void };
  /** HTTP/1 requests carried over HTTP/2 (`http_orig_proto_requests_total`), per target. */
  origProto?(labels: OrigProtoLabels): { inc(): void };
  /** Route request/backend families (`metrics/route_families.ts`; optional). */
  readonly routeRequests?: RouteRequestFamilies;
  /** ServiceProfile route families (`metrics/profile_route.ts`; optional). */
  readonly profileRoutes?: ProfileRouteFamilies;
  /** Route retry/attempt families (optional: test doubles may omit them). */
  readonly routes?: RouteMetricFamilies;
  /** Balancer families per backend (optional: test doubles may omit it). */
  httpBalancer?(
    labels: Readonly<Record<string, string>>,
    opts: HttpBalancerOptions,
  ): HttpBalancerMetrics;
}

/**
 * The outbound stack's own settings (linkerd env §12 names in comments);
 * `app.ts` maps `Config.outbound` onto them, and `OutboundConfig` takes the
 * shared fields from here.
 */
export interface OutboundSettings {
  /** OUTBOUND_CONNECT_TIMEOUT */
  connectTimeoutMs: number;
  /** OUTBOUND_CONNECT_{KEEPALIVE,USER_TIMEOUT} of endpoint connections. @default {none} */
  connectSocket?: import("../transport/sockopt.ts").TcpSocketConfig;
  /** OUTBOUND_CONNECT_EXP_BACKOFF_{MIN,MAX,JITTER}: reconnect backoff. */
  connectBackoff?: BackoffSpec;
  /** OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT */
  http1PoolIdleTimeoutMs: number;
  /** OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT */
  maxIdleConnsPerEndpoint: number;
  /** OUTBOUND_HTTP_QUEUE_CAPACITY */
  httpQueueCapacity: number;
  /** OUTBOUND_HTTP_FAILFAST_TIMEOUT */
  httpFailfastTimeoutMs: number;
  /** OUTBOUND_DISCOVERY_IDLE_TIMEOUT */
  discoveryIdleTimeoutMs: number;
  /** OUTBOUND_MAX_IN_FLIGHT */
  maxInFlight: number;
  /** !OUTBOUND_DISABLE_INFORMATIONAL_HEADERS */
  informationalHeaders: boolean;
}

/** What the admin dashboard reads from a live balancer. */
export interface LiveBalancer {
  readonly logical: string;
  readonly pool: {
    endpoints(): Iterable<{
      readonly key: string;
      readonly state: { readonly kind: string };
      readonly inFlight: number;
      load(): number;
    }>;
  };
}

/** The outbound runtime (linkerd `Outbound { config, runtime }`). */
export interface OutboundCtx {
  readonly settings: OutboundSettings;
  readonly discovery: Discovery;
  readonly metrics: OutboundMetrics;
  readonly log: Log;
  /** Randomness for balancing; injectable for tests. */
  readonly random: () => number;
  /** Live balancers register here for the admin dashboard (optional). */
  readonly balancers?: Set<LiveBalancer>;
  /**
   * Mesh TLS for endpoints that have an identity (linkerd meshtls client):
   * the local identity and the handshake observer. Absent: such endpoints
   * fail with `no_local_identity` (never plaintext).
   */
  readonly tls?: {
    readonly identity: LocalIdentity | undefined;
    readonly observer?: TlsObserver | undefined;
  } | undefined;
  /** The tap registry when the tap server runs (`LINKERD2_PROXY_TAP_SVC_NAME`); absent = no tap layer. */
  readonly taps?: import("../tap/tap.ts").Taps | undefined;
}
