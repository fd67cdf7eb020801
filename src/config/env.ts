/**
 * The environment and command line: the only place Petrel reads them
 * (linkerd `app/src/env.rs`).
 *
 * Precedence: environment variables > the YAML file > linkerd's defaults.
 * An empty variable counts as unset. Bad values throw, aborting start-up.
 *
 * @module
 */
import type { BackoffSpec } from "../balance/backoff.ts";
import EMBEDDED_CONFIG_YAML from "../../petrel.yaml" with { type: "text" };
import {
  type AdminConfig,
  type Config,
  type ControlAddr,
  type ControlPlaneConfig,
  DEFAULT_ADMIN,
  DEFAULT_CONFIG_MAX_BYTES,
  DEFAULT_CONTROL_LISTEN_ADDR,
  DEFAULT_CONTROL_PLANE,
  DEFAULT_INBOUND,
  DEFAULT_LOG_LEVEL,
  DEFAULT_OUTBOUND,
  DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
  type FileConfig,
  type H2KeepAliveConfig,
  type IdentityConfig,
  type InboundConfig,
  type OutboundConfig,
  type TcpSocketConfig,
} from "./config.ts";
import { formatSocketAddr, isDnsName, parseSocketAddr } from "../addr/mod.ts";
import {
  parseBool,
  parseDurationMs,
  parseNumber,
  parsePort,
  parseUint,
} from "./parse.ts";
import { parseConfigYaml } from "./yaml.ts";
import { INBOUND_POLICIES, type InboundPolicy } from "../inbound/policy.ts";
import { ENV_ACCESS_LOG, parseAccessLogFormat } from "../access_log.ts";
import { type LogFormat, parseLogFormat } from "../log.ts";
import { ipBits } from "../discovery/profile.ts";

/** linkerd `ENV_OUTBOUND_LISTEN_ADDR`. */
export const ENV_OUTBOUND_LISTEN_ADDR = "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR";
/** linkerd `ENV_OUTBOUND_LISTEN_ADDRS` (comma list; wins over `_ADDR`). */
export const ENV_OUTBOUND_LISTEN_ADDRS = "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS";
/** linkerd `ENV_INGRESS_MODE`. */
export const ENV_INGRESS_MODE = "LINKERD2_PROXY_INGRESS_MODE";
/** linkerd `ENV_CONTROL_LISTEN_ADDR` (the tap server). */
export const ENV_CONTROL_LISTEN_ADDR = "LINKERD2_PROXY_CONTROL_LISTEN_ADDR";
/** linkerd `ENV_TAP_SVC_NAME`: set, the tap server runs for that identity only. */
export const ENV_TAP_SVC_NAME = "LINKERD2_PROXY_TAP_SVC_NAME";

/** linkerd `ENV_ADMIN_LISTEN_ADDR`. */
export const ENV_ADMIN_LISTEN_ADDR = "LINKERD2_PROXY_ADMIN_LISTEN_ADDR";
/** linkerd `ENV_OUTBOUND_CONNECT_TIMEOUT`. */
export const ENV_OUTBOUND_CONNECT_TIMEOUT =
  "LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT";
/** linkerd `ENV_OUTBOUND_CONNECT_BACKOFF_MIN`. */
export const ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN =
  "LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MIN";
/** linkerd `ENV_OUTBOUND_CONNECT_BACKOFF_MAX`. */
export const ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX =
  "LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_MAX";
/** linkerd `ENV_OUTBOUND_CONNECT_BACKOFF_JITTER`. */
export const ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER =
  "LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER";
/** linkerd `ENV_OUTBOUND_DETECT_TIMEOUT`. */
export const ENV_OUTBOUND_DETECT_TIMEOUT =
  "LINKERD2_PROXY_OUTBOUND_DETECT_TIMEOUT";
/** linkerd `ENV_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT`. */
export const ENV_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT =
  "LINKERD2_PROXY_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT";
/** linkerd `ENV_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT`. */
export const ENV_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT =
  "LINKERD2_PROXY_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT";
/** linkerd `ENV_OUTBOUND_MAX_IN_FLIGHT`. */
export const ENV_OUTBOUND_MAX_IN_FLIGHT =
  "LINKERD2_PROXY_OUTBOUND_MAX_IN_FLIGHT";
/** linkerd `ENV_OUTBOUND_HTTP_QUEUE_CAPACITY`. */
export const ENV_OUTBOUND_HTTP_QUEUE_CAPACITY =
  "LINKERD2_PROXY_OUTBOUND_HTTP_QUEUE_CAPACITY";
/** linkerd `ENV_OUTBOUND_HTTP_FAILFAST_TIMEOUT`. */
export const ENV_OUTBOUND_HTTP_FAILFAST_TIMEOUT =
  "LINKERD2_PROXY_OUTBOUND_HTTP_FAILFAST_TIMEOUT";
/** linkerd `ENV_OUTBOUND_DISCOVERY_IDLE_TIMEOUT`. */
export const ENV_OUTBOUND_DISCOVERY_IDLE_TIMEOUT =
  "LINKERD2_PROXY_OUTBOUND_DISCOVERY_IDLE_TIMEOUT";
/** linkerd `ENV_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS`. */
export const ENV_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS =
  "LINKERD2_PROXY_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS";
/** linkerd `ENV_SHUTDOWN_GRACE_PERIOD`. */
export const ENV_SHUTDOWN_GRACE_PERIOD = "LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD";
/** linkerd `ENV_SHUTDOWN_ENDPOINT_ENABLED`. */
export const ENV_SHUTDOWN_ENDPOINT_ENABLED =
  "LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED";
/** linkerd `ENV_LOG` (`LINKERD2_PROXY_LOG`). */
export const ENV_LOG = "LINKERD2_PROXY_LOG";
/** linkerd `ENV_LOG_FORMAT` (`LINKERD2_PROXY_LOG_FORMAT`): `plain` or `json`. */
export const ENV_LOG_FORMAT = "LINKERD2_PROXY_LOG_FORMAT";
/** linkerd `ENV_IDENTITY_DIR`: the folder of the local certificate and key. */
export const ENV_IDENTITY_DIR = "LINKERD2_PROXY_IDENTITY_DIR";
/** linkerd `ENV_IDENTITY_TRUST_ANCHORS`: PEM text (Petrel also takes a file path). */
export const ENV_IDENTITY_TRUST_ANCHORS =
  "LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS";
/** linkerd `ENV_IDENTITY_LOCAL_NAME`: the identity the certificate must carry. */
export const ENV_IDENTITY_LOCAL_NAME = "LINKERD2_PROXY_IDENTITY_LOCAL_NAME";
/** linkerd `ENV_INBOUND_LISTEN_ADDR`. */
export const ENV_INBOUND_LISTEN_ADDR = "LINKERD2_PROXY_INBOUND_LISTEN_ADDR";
/** linkerd `ENV_INBOUND_DEFAULT_POLICY`: all-unauthenticated, all-authenticated or deny. */
export const ENV_INBOUND_DEFAULT_POLICY =
  "LINKERD2_PROXY_INBOUND_DEFAULT_POLICY";
/** linkerd `ENV_INBOUND_CONNECT_TIMEOUT`. */
export const ENV_INBOUND_CONNECT_TIMEOUT =
  "LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT";
/** linkerd `ENV_INBOUND_DETECT_TIMEOUT`. */
export const ENV_INBOUND_DETECT_TIMEOUT =
  "LINKERD2_PROXY_INBOUND_DETECT_TIMEOUT";
/** linkerd `ENV_INBOUND_PORTS`: ports whose policy is discovered at start. */
export const ENV_INBOUND_PORTS = "LINKERD2_PROXY_INBOUND_PORTS";
/** linkerd `ENV_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION`: opaque ports. */
export const ENV_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION =
  "LINKERD2_PROXY_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION";
/** The injector's `LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY`. */
export const ENV_INBOUND_PORTS_REQUIRE_IDENTITY =
  "LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_IDENTITY";
/** The injector's `LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_TLS`. */
export const ENV_INBOUND_PORTS_REQUIRE_TLS =
  "LINKERD2_PROXY_INBOUND_PORTS_REQUIRE_TLS";
/** linkerd `ENV_POLICY_CLUSTER_NETWORKS`: CIDRs for the cluster-* default policies. */
export const ENV_POLICY_CLUSTER_NETWORKS =
  "LINKERD2_PROXY_POLICY_CLUSTER_NETWORKS";
/** Petrel's own: the local application's port behind the inbound proxy (linkerd uses the original destination). */
export const ENV_PETREL_INBOUND_APP_PORT = "PETREL_INBOUND_APP_PORT";
/** Petrel's own: the YAML config file (like `--config FILE`). */
export const ENV_PETREL_CONFIG = "PETREL_CONFIG";
/** Most header fields in an HTTP/1 request head (Petrel's; linkerd has hyper's fixed 100). */
export const ENV_PETREL_HTTP1_MAX_HEADERS = "PETREL_HTTP1_MAX_HEADERS";
/** Time for an HTTP/1 request head once its first byte arrived (Petrel's; linkerd has none). */
export const ENV_PETREL_HTTP1_HEADER_READ_TIMEOUT =
  "PETREL_HTTP1_HEADER_READ_TIMEOUT";
/** Largest config file accepted, in bytes (Petrel's). */
export const ENV_PETREL_CONFIG_MAX_BYTES = "PETREL_CONFIG_MAX_BYTES";
/** Serve the dashboard and `/state.json` to non-loopback clients (Petrel's). */
export const ENV_PETREL_ADMIN_DASHBOARD_PUBLIC =
  "PETREL_ADMIN_DASHBOARD_PUBLIC";
/** linkerd `ENV_{INBOUND,OUTBOUND}_{ACCEPT,CONNECT}_{KEEPALIVE,USER_TIMEOUT}`: `PREFIX` + `_KEEPALIVE` / `_USER_TIMEOUT`. */
export const ENV_SOCKET_PREFIXES = Object.freeze({
  outboundAccept: "LINKERD2_PROXY_OUTBOUND_ACCEPT",
  outboundConnect: "LINKERD2_PROXY_OUTBOUND_CONNECT",
  inboundAccept: "LINKERD2_PROXY_INBOUND_ACCEPT",
  inboundConnect: "LINKERD2_PROXY_INBOUND_CONNECT",
});
/** linkerd `ENV_{OUTBOUND,INBOUND}_SERVER_HTTP2_*` prefixes: `PREFIX` + `_KEEP_ALIVE_INTERVAL` / `_KEEP_ALIVE_TIMEOUT` (both needed). */
export const ENV_SERVER_HTTP2_PREFIXES = Object.freeze({
  outbound: "LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2",
  inbound: "LINKERD2_PROXY_INBOUND_SERVER_HTTP2",
});
/** linkerd `ENV_DESTINATION_SVC_ADDR`. */
export const ENV_DESTINATION_SVC_ADDR = "LINKERD2_PROXY_DESTINATION_SVC_ADDR";
/** linkerd `ENV_DESTINATION_SVC_NAME`. */
export const ENV_DESTINATION_SVC_NAME = "LINKERD2_PROXY_DESTINATION_SVC_NAME";
/** linkerd `ENV_DESTINATION_CONTEXT`. */
export const ENV_DESTINATION_CONTEXT = "LINKERD2_PROXY_DESTINATION_CONTEXT";
/** linkerd `ENV_DESTINATION_PROFILE_NETWORKS` (comma-separated CIDRs). */
export const ENV_DESTINATION_PROFILE_NETWORKS =
  "LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS";
/** linkerd `ENV_DESTINATION_PROFILE_SUFFIXES` (comma-separated). */
export const ENV_DESTINATION_PROFILE_SUFFIXES =
  "LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES";
/** linkerd `ENV_POLICY_SVC_ADDR`. */
export const ENV_POLICY_SVC_ADDR = "LINKERD2_PROXY_POLICY_SVC_ADDR";
/** linkerd `ENV_POLICY_SVC_NAME`. */
export const ENV_POLICY_SVC_NAME = "LINKERD2_PROXY_POLICY_SVC_NAME";
/** linkerd `ENV_POLICY_WORKLOAD`. */
export const ENV_POLICY_WORKLOAD = "LINKERD2_PROXY_POLICY_WORKLOAD";
/** linkerd `ENV_IDENTITY_SVC_ADDR`. */
export const ENV_IDENTITY_SVC_ADDR = "LINKERD2_PROXY_IDENTITY_SVC_ADDR";
/** linkerd `ENV_IDENTITY_SVC_NAME`. */
export const ENV_IDENTITY_SVC_NAME = "LINKERD2_PROXY_IDENTITY_SVC_NAME";
/** linkerd `ENV_IDENTITY_TOKEN_FILE`. */
export const ENV_IDENTITY_TOKEN_FILE = "LINKERD2_PROXY_IDENTITY_TOKEN_FILE";
/** linkerd `ENV_IDENTITY_MIN_REFRESH`. */
export const ENV_IDENTITY_MIN_REFRESH = "LINKERD2_PROXY_IDENTITY_MIN_REFRESH";
/** linkerd `ENV_IDENTITY_MAX_REFRESH`. */
export const ENV_IDENTITY_MAX_REFRESH = "LINKERD2_PROXY_IDENTITY_MAX_REFRESH";
/** linkerd `ENV_CONTROL_STREAM_INITIAL_TIMEOUT`. */
export const ENV_CONTROL_STREAM_INITIAL_TIMEOUT =
  "LINKERD2_PROXY_CONTROL_STREAM_INITIAL_TIMEOUT";

/** The name errors give the embedded default file. */
export const EMBEDDED_CONFIG_SOURCE = "petrel.yaml (embedded)";

/** The text of the embedded default config file, `petrel.yaml`. */
export const EMBEDDED_CONFIG: string = EMBEDDED_CONFIG_YAML;

/**
 * The config file named by `--config FILE` / `--config=FILE` in `args`, else
 * by `PETREL_CONFIG`; undefined when neither is given. Unknown arguments
 * throw.
 */
export function configPathFrom(
  env: Readonly<Record<string, string>>,
  args: readonly string[],
): string | undefined {
  let path: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i] ?? "";
    if (arg === "--config") {
      const next = args[i + 1];
      if (next === undefined || next === "") {
        throw new TypeError("Cannot parse --config: a file name must follow");
      }
      path = next;
      i++;
    } else if (arg.startsWith("--config=")) {
      path = arg.slice("--config=".length);
      if (path === "") {
        throw new TypeError("Cannot parse --config: a file name must follow");
      }
    } else {
      throw new TypeError(`Cannot parse arguments: unknown argument "${arg}"`);
    }
  }
  return path ?? nonEmpty(env[ENV_PETREL_CONFIG]);
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === "" ? undefined : value;
}

/** The error for a config file over `maxBytes` (`PETREL_CONFIG_MAX_BYTES`). */
export function configTooLargeError(
  path: string,
  bytes: number,
  maxBytes: number,
): RangeError {
  return new RangeError(
    `Cannot use config file "${path}": it is ${bytes} bytes, over the limit of ${maxBytes} bytes (${ENV_PETREL_CONFIG_MAX_BYTES})`,
  );
}

/**
 * Reads and parses a config file; I/O errors throw a `TypeError` naming the
 * file, a file over `maxBytes` a `RangeError`.
 */
export function readConfigFile(
  path: string,
  maxBytes: number = DEFAULT_CONFIG_MAX_BYTES,
): FileConfig {
  return parseConfigYaml(readConfigText(path, maxBytes), path);
}

/** The text of the config file at `path` (errors as `readConfigFile()`). */
function readConfigText(path: string, maxBytes: number): string {
  try {
    const size = Deno.statSync(path).size;
    if (size > maxBytes) throw configTooLargeError(path, size, maxBytes);
    return Deno.readTextFileSync(path);
  } catch (err) {
    if (err instanceof RangeError) throw err;
    throw new TypeError(
      `Cannot read config file "${path}": ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
}

/**
 * Builds the process configuration (linkerd `env::parse_config`).
 *
 * The YAML file is `fileConfig` when given, else the file named by
 * `--config FILE` or `PETREL_CONFIG` (read here), else the embedded
 * `petrel.yaml`. Environment variables override the file, which overrides
 * linkerd's defaults. Throws `TypeError`/`RangeError`/`SyntaxError` on any
 * bad value.
 */
export function parseConfig(
  env: Readonly<Record<string, string>>,
  args: readonly string[] = [],
  fileConfig?: FileConfig,
): Config {
  const configPath = configPathFrom(env, args);
  const maxBytesText = nonEmpty(env[ENV_PETREL_CONFIG_MAX_BYTES]);
  const configMaxBytes = maxBytesText === undefined
    ? DEFAULT_CONFIG_MAX_BYTES
    : parseUint(maxBytesText, ENV_PETREL_CONFIG_MAX_BYTES);
  let configText: string | undefined;
  const file = fileConfig ??
    (configPath !== undefined
      ? parseConfigYaml(
        configText = readConfigText(configPath, configMaxBytes),
        configPath,
      )
      : parseConfigYaml(EMBEDDED_CONFIG, EMBEDDED_CONFIG_SOURCE));

  const get = (name: string) => nonEmpty(env[name]);
  const duration = (name: string) => {
    const v = get(name);
    return v === undefined ? undefined : parseDurationMs(v, name);
  };
  const uint = (name: string) => {
    const v = get(name);
    return v === undefined ? undefined : parseUint(v, name);
  };
  const bool = (name: string) => {
    const v = get(name);
    return v === undefined ? undefined : parseBool(v, name);
  };
  const listen = (name: string) => {
    const v = get(name);
    return v === undefined
      ? undefined
      : formatSocketAddr(parseSocketAddr(v, name, { ip: true }));
  };

  const tapSvcName = get(ENV_TAP_SVC_NAME)?.trim() || undefined;
  const fo = file.outbound ?? {};
  const listenAddrs = get(ENV_OUTBOUND_LISTEN_ADDRS)?.split(",").map((a) =>
    formatSocketAddr(
      parseSocketAddr(a.trim(), ENV_OUTBOUND_LISTEN_ADDRS, { ip: true }),
    )
  );
  const connectBackoff = envBackoff(env) ?? fo.connectBackoff ??
    DEFAULT_OUTBOUND.connectBackoff;
  const outbound: OutboundConfig = {
    ...DEFAULT_OUTBOUND,
    ...fo,
    connectBackoff,
    ...defined({
      listenAddr: listenAddrs?.[0] ?? listen(ENV_OUTBOUND_LISTEN_ADDR),
      extraListenAddrs: listenAddrs?.slice(1),
      ingressMode: bool(ENV_INGRESS_MODE),
      connectTimeoutMs: duration(ENV_OUTBOUND_CONNECT_TIMEOUT),
      detectTimeoutMs: duration(ENV_OUTBOUND_DETECT_TIMEOUT),
      http1PoolIdleTimeoutMs: duration(
        ENV_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT,
      ),
      maxIdleConnsPerEndpoint: uint(ENV_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT),
      maxInFlight: uint(ENV_OUTBOUND_MAX_IN_FLIGHT),
      httpQueueCapacity: uint(ENV_OUTBOUND_HTTP_QUEUE_CAPACITY),
      httpFailfastTimeoutMs: duration(ENV_OUTBOUND_HTTP_FAILFAST_TIMEOUT),
      discoveryIdleTimeoutMs: duration(ENV_OUTBOUND_DISCOVERY_IDLE_TIMEOUT),
      disableInformationalHeaders: bool(
        ENV_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS,
      ),
      http1MaxHeaders: uint(ENV_PETREL_HTTP1_MAX_HEADERS),
      http1HeaderReadTimeoutMs: duration(ENV_PETREL_HTTP1_HEADER_READ_TIMEOUT),
    }),
  };
  const admin: AdminConfig = {
    ...DEFAULT_ADMIN,
    ...file.admin,
    ...defined({
      listenAddr: listen(ENV_ADMIN_LISTEN_ADDR),
      shutdownEnabled: bool(ENV_SHUTDOWN_ENDPOINT_ENABLED),
      dashboardPublic: bool(ENV_PETREL_ADMIN_DASHBOARD_PUBLIC),
    }),
  };
  const socket = (prefix: string): TcpSocketConfig =>
    defined({
      keepaliveMs: duration(`${prefix}_KEEPALIVE`),
      userTimeoutMs: duration(`${prefix}_USER_TIMEOUT`),
    });
  const p = ENV_SOCKET_PREFIXES;
  // linkerd `env/http2.rs`: keep-alive only when both are set.
  const keepAlive = (prefix: string): H2KeepAliveConfig | undefined => {
    const intervalMs = duration(`${prefix}_KEEP_ALIVE_INTERVAL`);
    const timeoutMs = duration(`${prefix}_KEEP_ALIVE_TIMEOUT`);
    return intervalMs === undefined || timeoutMs === undefined
      ? undefined
      : { intervalMs, timeoutMs };
  };
  const h2KeepAlive = defined({
    outbound: keepAlive(ENV_SERVER_HTTP2_PREFIXES.outbound),
    inbound: keepAlive(ENV_SERVER_HTTP2_PREFIXES.inbound),
  });
  const identity = identityConfig(env, file.identity);
  const inbound = inboundConfig(env, file.inbound, identity);
  // A bad value prints an error and leaves the log off (linkerd).
  const accessLog = parseAccessLogFormat(get(ENV_ACCESS_LOG));
  const config: Config = {
    outbound,
    admin,
    ...(accessLog === undefined ? {} : { accessLog }),
    ...(identity === undefined ? {} : { identity }),
    ...(inbound === undefined ? {} : { inbound }),
    ...controlPlaneConfig(env, identity),
    ...(tapSvcName === undefined ? {} : {
      tap: {
        svcName: tapSvcName,
        listenAddr: listen(ENV_CONTROL_LISTEN_ADDR) ??
          DEFAULT_CONTROL_LISTEN_ADDR,
      },
    }),
    shutdownGracePeriodMs: duration(ENV_SHUTDOWN_GRACE_PERIOD) ??
      file.shutdownGracePeriodMs ?? DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
    logLevel: get(ENV_LOG) ?? file.logLevel ?? DEFAULT_LOG_LEVEL,
    ...logFormatOf(get(ENV_LOG_FORMAT)),
    file,
    configMaxBytes,
    sockets: {
      outboundAccept: socket(p.outboundAccept),
      outboundConnect: socket(p.outboundConnect),
      inboundAccept: socket(p.inboundAccept),
      inboundConnect: socket(p.inboundConnect),
    },
    ...(Object.keys(h2KeepAlive).length === 0 ? {} : { h2KeepAlive }),
  };
  return configPath === undefined ? config : {
    ...config,
    configPath,
    ...(configText === undefined ? {} : { configText }),
  };
}

/**
 * The local identity: the YAML `identity:` section with the identity
 * variables over it (linkerd `env::parse_identity_config`). Undefined when
 * neither names a directory or files.
 */
function identityConfig(
  env: Readonly<Record<string, string>>,
  file: IdentityConfig | undefined,
): IdentityConfig | undefined {
  const dir = nonEmpty(env[ENV_IDENTITY_DIR]);
  const anchors = nonEmpty(env[ENV_IDENTITY_TRUST_ANCHORS]);
  const name = nonEmpty(env[ENV_IDENTITY_LOCAL_NAME]);
  if (file === undefined && dir === undefined) {
    const stray = anchors !== undefined
      ? ENV_IDENTITY_TRUST_ANCHORS
      : name !== undefined
      ? ENV_IDENTITY_LOCAL_NAME
      : undefined;
    if (stray !== undefined) {
      throw new TypeError(
        `Cannot parse ${stray}: ${ENV_IDENTITY_DIR} (or the YAML identity section) must be set too`,
      );
    }
    return undefined;
  }
  const out: { -readonly [K in keyof IdentityConfig]: IdentityConfig[K] } = {
    ...file,
  };
  if (dir !== undefined) out.dir = dir;
  if (anchors !== undefined) {
    delete out.trustAnchorsFile;
    delete out.trustAnchorsPem;
    if (anchors.includes("-----BEGIN")) out.trustAnchorsPem = anchors;
    else out.trustAnchorsFile = anchors;
  }
  if (name !== undefined) {
    if (!isDnsName(name) && !/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(name)) {
      throw new TypeError(
        `Cannot parse ${ENV_IDENTITY_LOCAL_NAME}: current value is "${name}"`,
      );
    }
    out.localName = name.includes("://") ? name : name.toLowerCase();
  }
  if (
    out.dir === undefined &&
    (out.certFile === undefined || out.keyFile === undefined)
  ) {
    throw new TypeError(
      `Cannot parse identity: set ${ENV_IDENTITY_DIR}, or both certFile and keyFile in the YAML identity section`,
    );
  }
  return out;
}

/**
 * The inbound proxy: the YAML `inbound:` section with the inbound
 * variables over it. Undefined (inbound off) when no application port is
 * known and the file has no `inbound:` section.
 */
function inboundConfig(
  env: Readonly<Record<string, string>>,
  file: FileConfig["inbound"],
  identity: IdentityConfig | undefined,
): InboundConfig | undefined {
  const get = (n: string) => nonEmpty(env[n]);
  const portText = get(ENV_PETREL_INBOUND_APP_PORT);
  const appPort = portText !== undefined
    ? parsePort(portText, ENV_PETREL_INBOUND_APP_PORT)
    : file?.appPort;
  const listenSet = get(ENV_INBOUND_LISTEN_ADDR) !== undefined;
  if (appPort === undefined && !listenSet) {
    if (file !== undefined) {
      throw new TypeError(
        `Cannot start the inbound proxy: no application port (inbound.appPort or ${ENV_PETREL_INBOUND_APP_PORT}) and no ${ENV_INBOUND_LISTEN_ADDR}`,
      );
    }
    return undefined;
  }
  if (appPort === 0) {
    throw new RangeError(
      `Cannot parse ${ENV_PETREL_INBOUND_APP_PORT}: current value is "0"`,
    );
  }
  const listen = get(ENV_INBOUND_LISTEN_ADDR);
  const policyText = get(ENV_INBOUND_DEFAULT_POLICY);
  if (
    policyText !== undefined &&
    !(INBOUND_POLICIES as readonly string[]).includes(policyText)
  ) {
    throw new TypeError(
      `Cannot parse ${ENV_INBOUND_DEFAULT_POLICY}: current value is "${policyText}" (expected one of: ${
        INBOUND_POLICIES.join(", ")
      })`,
    );
  }
  const detect = get(ENV_INBOUND_DETECT_TIMEOUT);
  const connect = get(ENV_INBOUND_CONNECT_TIMEOUT);
  const ports = (n: string) => {
    const t = get(n);
    return t === undefined ? undefined : parsePortRanges(t, n);
  };
  const networksText = get(ENV_POLICY_CLUSTER_NETWORKS);
  const clusterNetworks = networksText?.split(",").map((x) => x.trim())
    .filter((x) => x !== "");
  for (const n of clusterNetworks ?? []) {
    const [ip = "", len, extra] = n.split("/");
    const bits = ipBits(ip);
    const l = len === undefined ? bits?.width : Number(len);
    if (
      bits === undefined || extra !== undefined || l === undefined ||
      !Number.isInteger(l) || l < 0 || l > bits.width
    ) {
      throw new TypeError(
        `Cannot parse ${ENV_POLICY_CLUSTER_NETWORKS}: current value is "${networksText}"`,
      );
    }
  }
  const out: InboundConfig = {
    ...DEFAULT_INBOUND,
    ...file,
    ...(appPort === undefined ? {} : { appPort }),
    ...defined({
      ports: ports(ENV_INBOUND_PORTS),
      opaquePorts: ports(ENV_INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION),
      requireIdentityPorts: ports(ENV_INBOUND_PORTS_REQUIRE_IDENTITY),
      requireTlsPorts: ports(ENV_INBOUND_PORTS_REQUIRE_TLS),
      clusterNetworks,
    }),
    ...defined({
      listenAddr: listen === undefined ? undefined : formatSocketAddr(
        parseSocketAddr(listen, ENV_INBOUND_LISTEN_ADDR, { ip: true }),
      ),
      policy: policyText as InboundPolicy | undefined,
      detectTimeoutMs: detect === undefined
        ? undefined
        : parseDurationMs(detect, ENV_INBOUND_DETECT_TIMEOUT),
      connectTimeoutMs: connect === undefined
        ? undefined
        : parseDurationMs(connect, ENV_INBOUND_CONNECT_TIMEOUT),
    }),
  };
  if (
    out.policy.startsWith("cluster-") &&
    (out.clusterNetworks ?? []).length === 0
  ) {
    throw new TypeError(
      `Cannot use inbound policy "${out.policy}" without ${ENV_POLICY_CLUSTER_NETWORKS}`,
    );
  }
  if (out.policy === "all-authenticated" && identity === undefined) {
    throw new TypeError(
      `Cannot use inbound policy "all-authenticated" without a local identity (${ENV_IDENTITY_DIR} or the YAML identity section)`,
    );
  }
  return out;
}

/**
 * A comma list of ports and ranges ("80,8080-8090"), as linkerd's
 * `parse_port_range_set`; throws `TypeError` naming the variable.
 */
export function parsePortRanges(text: string, name: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(",").map((x) => x.trim())) {
    if (part === "") continue;
    const m = /^(\d+)(?:-(\d+))?$/.exec(part);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo < 1 || hi > 65535 || lo > hi) {
      throw new TypeError(`Cannot parse ${name}: current value is "${text}"`);
    }
    for (let p = lo; p <= hi; p++) out.add(p);
  }
  return [...out];
}

/** The three backoff variables, all or none (linkerd `parse_backoff`). */
function envBackoff(
  env: Readonly<Record<string, string>>,
): BackoffSpec | undefined {
  const names = [
    ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN,
    ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX,
    ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER,
  ] as const;
  const [min, max, jitter] = names.map((n) => nonEmpty(env[n]));
  if (min === undefined && max === undefined && jitter === undefined) {
    return undefined;
  }
  if (min === undefined || max === undefined || jitter === undefined) {
    throw new TypeError(
      `Cannot parse ${ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN}, ${ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX} and ${ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER}: all three must be set, or none`,
    );
  }
  const minMs = parseDurationMs(min, ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN);
  const maxMs = parseDurationMs(max, ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX);
  if (minMs > maxMs) {
    throw new RangeError(
      `Cannot parse ${ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MAX}: current value is "${max}" (less than ${ENV_OUTBOUND_CONNECT_EXP_BACKOFF_MIN} "${min}")`,
    );
  }
  return {
    minMs,
    maxMs,
    jitter: parseNumber(jitter, ENV_OUTBOUND_CONNECT_EXP_BACKOFF_JITTER, {
      min: 0,
      max: 1,
    }),
  };
}

/** Drops the undefined fields, so a spread keeps the values underneath. */
function defined<T extends Record<string, unknown>>(
  obj: T,
): { [K in keyof T]?: Exclude<T[K], undefined> } {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) out[k] = v;
  return out as { [K in keyof T]?: Exclude<T[K], undefined> };
}

/**
 * The control plane from its variables (linkerd `env::parse_control_addr`
 * and the dst, policy and identity configs); `{}` when no service address
 * is set. The identity service needs the token file, the local name and the
 * identity directory (linkerd requires them all).
 */
function controlPlaneConfig(
  env: Readonly<Record<string, string>>,
  identity: IdentityConfig | undefined,
): { controlPlane?: ControlPlaneConfig } {
  const get = (n: string) => nonEmpty(env[n]);
  const control = (addrVar: string, nameVar: string) => {
    const addr = get(addrVar);
    const name = get(nameVar);
    if (addr === undefined) return undefined;
    const parsed = formatSocketAddr(parseSocketAddr(addr, addrVar));
    if (name !== undefined && !isDnsName(name)) {
      throw new TypeError(
        `Cannot parse ${nameVar}: current value is "${name}"`,
      );
    }
    const out: ControlAddr = {
      addr: parsed,
      ...(name === undefined ? {} : { name: name.toLowerCase() }),
    };
    return out;
  };
  const destination = control(
    ENV_DESTINATION_SVC_ADDR,
    ENV_DESTINATION_SVC_NAME,
  );
  const policy = control(ENV_POLICY_SVC_ADDR, ENV_POLICY_SVC_NAME);
  const identitySvc = control(ENV_IDENTITY_SVC_ADDR, ENV_IDENTITY_SVC_NAME);
  if (!destination && !policy && !identitySvc) return {};
  if (policy && !destination) {
    throw new TypeError(
      `Cannot parse ${ENV_POLICY_SVC_ADDR}: ${ENV_DESTINATION_SVC_ADDR} must be set too`,
    );
  }
  const tokenFile = get(ENV_IDENTITY_TOKEN_FILE);
  if (identitySvc) {
    const missing = tokenFile === undefined
      ? ENV_IDENTITY_TOKEN_FILE
      : identity?.localName === undefined
      ? ENV_IDENTITY_LOCAL_NAME
      : identity.dir === undefined
      ? ENV_IDENTITY_DIR
      : undefined;
    if (missing !== undefined) {
      throw new TypeError(
        `Cannot parse ${ENV_IDENTITY_SVC_ADDR}: ${missing} must be set too`,
      );
    }
  }
  const d = DEFAULT_CONTROL_PLANE;
  const suffixesText = get(ENV_DESTINATION_PROFILE_SUFFIXES);
  const profileSuffixes = suffixesText === undefined
    ? d.profileSuffixes
    : suffixesText.split(",").map((x) => x.trim()).filter((x) => x !== "")
      .map((x) => {
        if (x !== "." && !isDnsName(x.replace(/^\./, ""))) {
          throw new TypeError(
            `Cannot parse ${ENV_DESTINATION_PROFILE_SUFFIXES}: current value is "${suffixesText}"`,
          );
        }
        return x.toLowerCase();
      });
  const networksText = get(ENV_DESTINATION_PROFILE_NETWORKS);
  const profileNetworks = networksText === undefined
    ? d.profileNetworks
    : networksText.split(",").map((x) => x.trim()).filter((x) => x !== "")
      .map((x) => {
        const [ip = "", len, extra] = x.split("/");
        const bits = ipBits(ip);
        const n = len === undefined ? bits?.width : Number(len);
        if (
          bits === undefined || extra !== undefined || n === undefined ||
          !Number.isInteger(n) || n < 0 || n > bits.width
        ) {
          throw new TypeError(
            `Cannot parse ${ENV_DESTINATION_PROFILE_NETWORKS}: current value is "${networksText}"`,
          );
        }
        return x;
      });
  const ms = (n: string, dflt: number) => {
    const v = get(n);
    return v === undefined ? dflt : parseDurationMs(v, n);
  };
  const controlPlane: ControlPlaneConfig = {
    ...d,
    ...(destination ? { destination } : {}),
    ...(policy ? { policy } : {}),
    ...(identitySvc ? { identity: identitySvc } : {}),
    destinationContext: get(ENV_DESTINATION_CONTEXT) ?? d.destinationContext,
    profileSuffixes,
    profileNetworks,
    policyWorkload: get(ENV_POLICY_WORKLOAD) ?? d.policyWorkload,
    ...(tokenFile === undefined ? {} : { identityTokenFile: tokenFile }),
    identityMinRefreshMs: ms(ENV_IDENTITY_MIN_REFRESH, d.identityMinRefreshMs),
    identityMaxRefreshMs: ms(ENV_IDENTITY_MAX_REFRESH, d.identityMaxRefreshMs),
    streamInitialTimeoutMs: ms(
      ENV_CONTROL_STREAM_INITIAL_TIMEOUT,
      d.streamInitialTimeoutMs,
    ),
  };
  return { controlPlane };
}

/** `LINKERD2_PROXY_LOG_FORMAT`, when set (linkerd: `plain` unless `json`). */
function logFormatOf(value: string | undefined): { logFormat?: LogFormat } {
  return value === undefined || value.trim() === ""
    ? {}
    : { logFormat: parseLogFormat(value) };
}
