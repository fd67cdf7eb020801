/**
 * Petrel's configuration types and linkerd's defaults (linkerd
 * `app/src/env.rs` `DEFAULT_*` constants and `outbound::Config`,
 * `admin::Config`).
 *
 * Precedence: environment > YAML file > these defaults (see `env.ts`).
 *
 * @module
 */
import type { BackoffSpec } from "../balance/backoff.ts";
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type { StaticEndpoint, StaticService } from "../discovery/static.ts";
import type { InboundPolicy } from "../inbound/policy.ts";
import type { OutboundSettings } from "../outbound/runtime.ts";
import type { TcpSocketConfig } from "../transport/sockopt.ts";

/** One per-port opaque TCP forward: bytes accepted on `listenAddr` go to `target` (linkerd opaque outbound). */
export interface ForwardConfig {
  /** "ip:port" to listen on. */
  readonly listenAddr: string;
  /** "host:port" or "ip:port" to forward to (resolved by discovery). */
  readonly target: string;
}

/** The outbound proxy's settings (linkerd `outbound::Config`): the stack's own fields (`OutboundSettings`), plus the listeners'. */
export interface OutboundConfig extends
  Readonly<
    Pick<
      OutboundSettings,
      | "connectTimeoutMs"
      | "http1PoolIdleTimeoutMs"
      | "maxIdleConnsPerEndpoint"
      | "maxInFlight"
      | "httpQueueCapacity"
      | "httpFailfastTimeoutMs"
      | "discoveryIdleTimeoutMs"
    >
  > {
  readonly listenAddr: string;
  /** More listeners (`LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS` after its first, e.g. `[::1]:4140`). */
  readonly extraListenAddrs?: readonly string[];
  /** `LINKERD2_PROXY_INGRESS_MODE`: route by `l5d-dst-override` (else the original destination). */
  readonly ingressMode?: boolean;
  readonly connectBackoff: BackoffSpec;
  readonly detectTimeoutMs: number;
  readonly disableInformationalHeaders: boolean;
  /** Most header fields in an HTTP/1 request head (`PETREL_HTTP1_MAX_HEADERS`; hyper's 100); more get 431. Both listeners. */
  readonly http1MaxHeaders: number;
  /** Time for the rest of an HTTP/1 request head once its first byte arrived (`PETREL_HTTP1_HEADER_READ_TIMEOUT`), then 408; 0 = none. Both listeners. */
  readonly http1HeaderReadTimeoutMs: number;
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
  /** Whether the dashboard (`/`, `/state.json`) answers non-loopback clients (`PETREL_ADMIN_DASHBOARD_PUBLIC`). */
  readonly dashboardPublic: boolean;
}

export type { TcpSocketConfig };

/** Socket options per side (linkerd `LINKERD2_PROXY_{INBOUND,OUTBOUND}_{ACCEPT,CONNECT}_{KEEPALIVE,USER_TIMEOUT}`). */
export interface SocketsConfig {
  readonly outboundAccept: TcpSocketConfig;
  readonly outboundConnect: TcpSocketConfig;
  readonly inboundAccept: TcpSocketConfig;
  readonly inboundConnect: TcpSocketConfig;
}

/** HTTP/2 server keep-alive PINGs (linkerd `ServerKeepAlive`): a PING every `intervalMs`; no answer within `timeoutMs` closes the connection. */
export interface H2KeepAliveConfig {
  readonly intervalMs: number;
  readonly timeoutMs: number;
}

/** One endpoint of a YAML service: discovery's static source type. */
export type EndpointConfig = StaticEndpoint;

/** One service of the YAML file: discovery's static source type. */
export type ServiceConfig = StaticService;

/**
 * Where the local TLS identity comes from (linkerd identity env,
 * `LINKERD2_PROXY_IDENTITY_*`; see `src/tls/credentials.ts` for the files of
 * the directory). Present = mesh TLS is on.
 */
export interface IdentityConfig {
  /** `LINKERD2_PROXY_IDENTITY_DIR`: `tls.crt`, `tls.key` or `key.p8`, `ca.crt`. */
  readonly dir?: string;
  /** The certificate chain (PEM), instead of `<dir>/tls.crt`. */
  readonly certFile?: string;
  /** The private key, instead of `<dir>/tls.key`. */
  readonly keyFile?: string;
  /** Trust anchors (PEM file), instead of `<dir>/ca.crt`. */
  readonly trustAnchorsFile?: string;
  /** Trust anchors as PEM text (`LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`). */
  readonly trustAnchorsPem?: string;
  /** `LINKERD2_PROXY_IDENTITY_LOCAL_NAME`: the identity the certificate must carry. */
  readonly localName?: string;
}

/** The inbound proxy's settings (linkerd `inbound::Config`). Present = the inbound listener runs. */
export interface InboundConfig {
  /** `LINKERD2_PROXY_INBOUND_LISTEN_ADDR`. */
  readonly listenAddr: string;
  /** The local application's host. */
  readonly appHost: string;
  /**
   * One application port for every connection (`PETREL_INBOUND_APP_PORT`,
   * outside Kubernetes); absent = each connection's original destination port.
   */
  readonly appPort?: number;
  /** `LINKERD2_PROXY_INBOUND_PORTS`: ports whose policy is watched from the start. */
  readonly ports?: readonly number[];
  /** `LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION`: opaque ports. */
  readonly opaquePorts?: readonly number[];
  /** `LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY`: default `all-authenticated` there. */
  readonly requireIdentityPorts?: readonly number[];
  /** `LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_TLS`: default mesh TLS (any identity) there. */
  readonly requireTlsPorts?: readonly number[];
  /** `LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS`: CIDRs of the cluster-* default policies. */
  readonly clusterNetworks?: readonly string[];
  /** `LINKERD2_PROXY_INBOUND_DEFAULT_POLICY`. */
  readonly policy: InboundPolicy;
  /** `LINKERD2_PROXY_INBOUND_DETECT_TIMEOUT`: TLS detection, then HTTP detection. */
  readonly detectTimeoutMs: number;
  /** `LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT`: connecting to the application. */
  readonly connectTimeoutMs: number;
}

/** A control-plane service (linkerd `ControlAddr`): its address and the identity it must present. */
export interface ControlAddr {
  /** "host:port" (`LINKERD2_PROXY_*_SVC_ADDR`). */
  readonly addr: string;
  /** The server's TLS identity (`LINKERD2_PROXY_*_SVC_NAME`); absent = plaintext. */
  readonly name?: string;
}

/**
 * The Linkerd control plane (linkerd `env::parse_control_addr`, `dst`,
 * `policy` and `identity` configs). Present when any service address is set.
 */
export interface ControlPlaneConfig {
  /** `LINKERD2_PROXY_DESTINATION_SVC_ADDR` / `_NAME`: endpoints and profiles. */
  readonly destination?: ControlAddr;
  /** `LINKERD2_PROXY_POLICY_SVC_ADDR` / `_NAME`: outbound policy. */
  readonly policy?: ControlAddr;
  /** `LINKERD2_PROXY_IDENTITY_SVC_ADDR` / `_NAME`: certificates. */
  readonly identity?: ControlAddr;
  /** `LINKERD2_PROXY_DESTINATION_CONTEXT`, sent with every Destination request. */
  readonly destinationContext: string;
  /** `LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES`: names whose profiles are looked up ("." = all). */
  readonly profileSuffixes: readonly string[];
  /** `LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS`: CIDRs whose original destinations get a profile lookup (empty = none). */
  readonly profileNetworks: readonly string[];
  /** `LINKERD2_PROXY_POLICY_WORKLOAD`, sent with every policy request. */
  readonly policyWorkload: string;
  /** `LINKERD2_PROXY_IDENTITY_TOKEN_FILE`: the service-account token. */
  readonly identityTokenFile?: string;
  /** `LINKERD2_PROXY_IDENTITY_MIN_REFRESH`. */
  readonly identityMinRefreshMs: number;
  /** `LINKERD2_PROXY_IDENTITY_MAX_REFRESH`. */
  readonly identityMaxRefreshMs: number;
  /** `LINKERD2_PROXY_CONTROL_STREAM_INITIAL_TIMEOUT`: how long a first resolution waits for answers. */
  readonly streamInitialTimeoutMs: number;
  /** Reconnect backoff of the control-plane streams (linkerd `DEFAULT_CONTROL_EXP_BACKOFF`). */
  readonly backoff: BackoffSpec;
}

/** linkerd's control-plane defaults. */
export const DEFAULT_CONTROL_PLANE: ControlPlaneConfig = Object.freeze({
  destinationContext: "",
  profileSuffixes: Object.freeze(["svc.cluster.local."]),
  profileNetworks: Object.freeze([]),
  policyWorkload: "",
  identityMinRefreshMs: 10_000,
  identityMaxRefreshMs: 24 * 60 * 60 * 1000,
  streamInitialTimeoutMs: 3_000,
  backoff: Object.freeze({ minMs: 100, maxMs: 10_000, jitter: 0.1 }),
});

/** What a YAML config file says: every field is optional but `services`. */
export interface FileConfig {
  readonly outbound?: {
    readonly [K in keyof OutboundConfig]?: OutboundConfig[K];
  };
  readonly admin?: { readonly [K in keyof AdminConfig]?: AdminConfig[K] };
  readonly identity?: IdentityConfig;
  readonly inbound?: {
    readonly [K in keyof InboundConfig]?: InboundConfig[K];
  };
  readonly shutdownGracePeriodMs?: number;
  readonly logLevel?: string;
  readonly services: readonly ServiceConfig[];
}

/** The whole process configuration (linkerd `app::Config`). */
/** The tap server's settings (linkerd `tap::Config`). */
export interface TapConfig {
  /** The control listener, "ip:port" (`LINKERD2_PROXY_CONTROL_LISTEN_ADDR`). */
  readonly listenAddr: string;
  /** The only client identity served (`LINKERD2_PROXY_TAP_SVC_NAME`). */
  readonly svcName: string;
}

/** linkerd `DEFAULT_CONTROL_LISTEN_ADDR`. */
export const DEFAULT_CONTROL_LISTEN_ADDR = "[::]:4190";

export interface Config {
  readonly outbound: OutboundConfig;
  readonly admin: AdminConfig;
  /** The local identity; absent = no mesh TLS (meshed endpoints then fail). */
  readonly identity?: IdentityConfig;
  /** The inbound proxy; absent (no application port) = not started. */
  readonly inbound?: InboundConfig;
  /** The Linkerd control plane; absent = the YAML file and DNS only. */
  readonly controlPlane?: ControlPlaneConfig;
  /** The tap server (linkerd `tap::Config`); absent = no tap (`LINKERD2_PROXY_TAP_SVC_NAME` unset). */
  readonly tap?: TapConfig;
  /** Forced exit this long after a drain starts (linkerd `SHUTDOWN_GRACE_PERIOD`). */
  readonly shutdownGracePeriodMs: number;
  /** Log filter directives (linkerd `LINKERD2_PROXY_LOG`). */
  readonly logLevel: string;
  /** Log line format (linkerd `LINKERD2_PROXY_LOG_FORMAT`); absent = plain. */
  readonly logFormat?: "plain" | "json";
  /** The access log format (linkerd `LINKERD2_PROXY_ACCESS_LOG`); absent = off. */
  readonly accessLog?: "apache" | "json";
  /** The YAML file given by `--config` or `PETREL_CONFIG`; absent = the embedded default. */
  readonly configPath?: string;
  /** The text of `configPath` as parsed at start-up (the watcher skips re-parsing it). */
  readonly configText?: string;
  /** The YAML file as parsed at start-up (its services feed `ConfigDiscovery`). */
  readonly file: FileConfig;
  /** Larger config files are refused, at start-up and on reload (`PETREL_CONFIG_MAX_BYTES`). */
  readonly configMaxBytes: number;
  /** TCP keepalive and user timeout (all unset by default, as in linkerd). */
  readonly sockets: SocketsConfig;
  /**
   * HTTP/2 server keep-alive per listener
   * (`LINKERD2_PROXY_{OUTBOUND,INBOUND}_SERVER_HTTP2_KEEP_ALIVE_{INTERVAL,TIMEOUT}`);
   * absent = none, as in linkerd's proxy (its injector sets 10 s / 3 s).
   */
  readonly h2KeepAlive?: {
    readonly outbound?: H2KeepAliveConfig;
    readonly inbound?: H2KeepAliveConfig;
  };
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
  http1MaxHeaders: 100,
  http1HeaderReadTimeoutMs: 10_000,
  forwards: Object.freeze([]),
});

/** linkerd's inbound defaults (`DEFAULT_INBOUND_*`); the application port has none. */
export const DEFAULT_INBOUND: Omit<InboundConfig, "appPort"> = Object.freeze({
  listenAddr: "0.0.0.0:4143",
  appHost: "127.0.0.1",
  policy: "all-unauthenticated",
  detectTimeoutMs: 10_000,
  connectTimeoutMs: 300,
});

/** Admin defaults (linkerd `DEFAULT_ADMIN_LISTEN_ADDR`; `/shutdown` off as in linkerd). */
export const DEFAULT_ADMIN: AdminConfig = Object.freeze({
  listenAddr: "127.0.0.1:4191",
  shutdownEnabled: false,
  dashboardPublic: false,
});

/** Default `PETREL_CONFIG_MAX_BYTES`: 1 MiB. */
export const DEFAULT_CONFIG_MAX_BYTES = 1024 * 1024;

/** No socket options set (linkerd's defaults; its injector sets keepalive 10 s). */
export const DEFAULT_SOCKETS: SocketsConfig = Object.freeze({
  outboundAccept: Object.freeze({}),
  outboundConnect: Object.freeze({}),
  inboundAccept: Object.freeze({}),
  inboundConnect: Object.freeze({}),
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
    configMaxBytes: DEFAULT_CONFIG_MAX_BYTES,
    sockets: DEFAULT_SOCKETS,
  };
}
