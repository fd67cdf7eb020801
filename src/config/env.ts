/**
 * The environment and command line: the only place Petrel reads them
 * (linkerd `app/src/env.rs`).
 *
 * Precedence: environment variables > the YAML file > linkerd's defaults.
 * An empty variable counts as unset. Bad values throw, aborting start-up.
 *
 * @module
 */
import EMBEDDED_CONFIG_YAML from "../../petrel.yaml" with { type: "text" };
import {
  type AdminConfig,
  type BackoffConfig,
  type Config,
  DEFAULT_ADMIN,
  DEFAULT_LOG_LEVEL,
  DEFAULT_OUTBOUND,
  DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
  type FileConfig,
  type OutboundConfig,
} from "./config.ts";
import {
  formatSocketAddr,
  parseBool,
  parseDurationMs,
  parseNumber,
  parseSocketAddr,
  parseUint,
} from "./parse.ts";
import { parseConfigYaml } from "./yaml.ts";

/** linkerd `ENV_OUTBOUND_LISTEN_ADDR`. */
export const ENV_OUTBOUND_LISTEN_ADDR = "LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR";
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
/** Petrel's own: the YAML config file (like `--config FILE`). */
export const ENV_PETREL_CONFIG = "PETREL_CONFIG";

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

/** Reads and parses a config file; I/O errors throw a `TypeError` naming the file. */
export function readConfigFile(path: string): FileConfig {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch (err) {
    throw new TypeError(
      `Cannot read config file "${path}": ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  return parseConfigYaml(text, path);
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
  const file = fileConfig ??
    (configPath !== undefined
      ? readConfigFile(configPath)
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

  const fo = file.outbound ?? {};
  const connectBackoff = envBackoff(env) ?? fo.connectBackoff ??
    DEFAULT_OUTBOUND.connectBackoff;
  const outbound: OutboundConfig = {
    ...DEFAULT_OUTBOUND,
    ...fo,
    connectBackoff,
    ...defined({
      listenAddr: listen(ENV_OUTBOUND_LISTEN_ADDR),
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
    }),
  };
  const admin: AdminConfig = {
    ...DEFAULT_ADMIN,
    ...file.admin,
    ...defined({
      listenAddr: listen(ENV_ADMIN_LISTEN_ADDR),
      shutdownEnabled: bool(ENV_SHUTDOWN_ENDPOINT_ENABLED),
    }),
  };
  const config: Config = {
    outbound,
    admin,
    shutdownGracePeriodMs: duration(ENV_SHUTDOWN_GRACE_PERIOD) ??
      file.shutdownGracePeriodMs ?? DEFAULT_SHUTDOWN_GRACE_PERIOD_MS,
    logLevel: get(ENV_LOG) ?? file.logLevel ?? DEFAULT_LOG_LEVEL,
    file,
  };
  return configPath === undefined ? config : { ...config, configPath };
}

/** The three backoff variables, all or none (linkerd `parse_backoff`). */
function envBackoff(
  env: Readonly<Record<string, string>>,
): BackoffConfig | undefined {
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
