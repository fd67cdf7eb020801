/**
 * Petrel's configuration types and linkerd's defaults (linkerd
 * `app/src/env.rs` `DEFAULT_*` constants and `outbound::Config`,
 * `admin::Config`).
 *
 * Precedence: environment > YAML file > these defaults (see `env.ts`).
 *
 * @module
 */
import type {
  FailureAccrualSpec,
  UpstreamProtocol,
} from "../discovery/resolve.ts";
import type { ServiceRoutes } from "../http/route/model.ts";

/** Exponential connect backoff (linkerd `ExponentialBackoff`, `OUTBOUND_CONNECT_EXP_BACKOFF_*`). */
export interface BackoffConfig {
  readonly minMs: number;
  readonly maxMs: number;
  /** Fraction of random jitter, 0 to 1. */
  readonly jitter: number;
}

/** One per-port opaque TCP forward: bytes accepted on `listenAddr` go to `target` (linkerd opaque outbound). */
export interface ForwardConfig {
  /** "ip:port" to listen on. */
  readonly listenAddr: string;
  /** "host:port" or "ip:port" to forward to (resolved by discovery). */
  readonly target: string;
}

/** The outbound proxy's settings (linkerd `outbound::Config`). */
export interface OutboundConfig {
  readonly listenAddr: string;
  readonly connectTimeoutMs: number;
  readonly connectBackoff: BackoffConfig;
  readonly detectTimeoutMs: number;
  readonly http1PoolIdleTimeoutMs: number;
  readonly maxIdleConnsPerEndpoint: number;
  readonly maxInFlight: number;
  readonly httpQueueCapacity: number;
  readonly httpFailfastTimeoutMs: number;
  readonly discoveryIdleTimeoutMs: number;
  readonly disableInformationalHeaders: boolean;
  /** Where non-HTTP bytes on the outbound listener go; absent = close them. */
  readonly opaqueTarget?: string;
  /** Per-port opaque TCP forwards. */
  readonly forwards: readonly ForwardConfig[];
}

/** The admin server's settings (linkerd `admin::Config`). */
export interface AdminConfig {
  readonly listenAddr: string;
  /** Whether `POST /shutdown` is served. */
  readonly shutdownEnabled: boolean;
}

/** One endpoint of a configured service, as written in the file. */
export interface EndpointConfig {
  /** "ip:port", "[v6]:port" or "host:port" (a DNS name resolved by discovery). */
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** Expected TLS identity; the service's `identity` when the endpoint has none. */
  readonly identity?: string;
  readonly weight?: number;
}

/** One service of the YAML file: a logical authority and its endpoints. */
export interface ServiceConfig {
  /** The normalized logical authority, lower-case "host:port". */
  readonly name: string;
  readonly protocol: UpstreamProtocol;
  readonly endpoints: readonly EndpointConfig[];
  /** Default identity of the endpoints. */
  readonly identity?: string;
  /** The service's routes; absent = one default route to its endpoints. */
  readonly routes?: ServiceRoutes;
  /** Circuit breaking per endpoint; absent = none. */
  readonly failureAccrual?: FailureAccrualSpec;
}

/** What a YAML config file says: every field is optional but `services`. */
export interface FileConfig {
  readonly outbound?: {
    readonly [K in keyof OutboundConfig]?: OutboundConfig[K];
  };
  readonly admin?: { readonly [K in keyof AdminConfig]?: AdminConfig[K] };
  readonly shutdownGracePeriodMs?: number;
  readonly logLevel?: string;
  readonly services: readonly ServiceConfig[];
}

/** The whole process configuration (linkerd `app::Config`). */
export interface Config {
  readonly outbound: OutboundConfig;
  readonly admin: AdminConfig;
  /** Forced exit this long after a drain starts (linkerd `SHUTDOWN_GRACE_PERIOD`). */
  readonly shutdownGracePeriodMs: number;
  /** Log filter directives (linkerd `LINKERD2_PROXY_LOG`). */
  readonly logLevel: string;
  /** The YAML file given by `--config` or `PETREL_CONFIG`; absent = the embedded default. */
  readonly configPath?: string;
  /** The YAML file as parsed at start-up (its services feed `ConfigDiscovery`). */
  readonly file: FileConfig;
}

/** linkerd's controller defaults for consecutive-failures accrual (`balancer.linkerd.io/failure-accrual-consecutive-*`). */
export const DEFAULT_FAILURE_ACCRUAL: FailureAccrualSpec = Object.freeze({
  kind: "consecutive",
  maxFailures: 7,
  minPenaltyMs: 1_000,
  maxPenaltyMs: 60_000,
  jitter: 0.5,
});

/** linkerd's outbound defaults (`env.rs` `DEFAULT_OUTBOUND_*`). */
export const DEFAULT_OUTBOUND: OutboundConfig = Object.freeze({
  listenAddr: "127.0.0.1:4140",
  connectTimeoutMs: 1_000,
  connectBackoff: Object.freeze({ minMs: 100, maxMs: 60_000, jitter: 0.1 }),
  detectTimeoutMs: 10_000,
  http1PoolIdleTimeoutMs: 3_000,
  maxIdleConnsPerEndpoint: 10_000,
  maxInFlight: 100_000,
  httpQueueCapacity: 10_000,
  httpFailfastTimeoutMs: 3_000,
  discoveryIdleTimeoutMs: 5_000,
  disableInformationalHeaders: false,
  forwards: Object.freeze([]),
});

/** Admin defaults (linkerd `DEFAULT_ADMIN_LISTEN_ADDR`; Petrel serves `/shutdown` by default). */
export const DEFAULT_ADMIN: AdminConfig = Object.freeze({
  listenAddr: "127.0.0.1:4191",
  shutdownEnabled: true,
});

/** linkerd `DEFAULT_SHUTDOWN_GRACE_PERIOD`. */
export const DEFAULT_SHUTDOWN_GRACE_PERIOD_MS = 120_000;

/** linkerd's default `LINKERD2_PROXY_LOG` (without the hickory directive). */
export const DEFAULT_LOG_LEVEL = "warn,linkerd=info";

/** The configuration with no file and no environment (linkerd defaults). */
export function defaultConfig(): Config {
  return {
    outbound: DEFAULT_OUTBOUND,
    admin: DEFAULT_ADMIN,
    shutdownGracePeriodMs: DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
    logLevel: DEFAULT_LOG_LEVEL,
    file: { services: [] },
  };
}
