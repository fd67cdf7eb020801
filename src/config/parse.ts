/**
 * Value parsers for configuration: durations, socket addresses, authorities,
 * booleans, ports and counts (linkerd `app/src/env.rs` `parse_*` and
 * `env/types.rs`).
 *
 * Every parser takes the value and the `name` of what is being parsed (an
 * environment variable, or a field kind like "duration") and throws a
 * `TypeError` (malformed) or `RangeError` (out of range) whose message reads
 * `Cannot parse NAME: current value is "VALUE"`.
 *
 * @module
 */
import { isIP } from "node:net";

/** A host (IP literal or DNS name, lower-case, no brackets) and a port (linkerd `SocketAddr` / `NameAddr`). */
export interface SocketAddr {
  readonly host: string;
  readonly port: number;
}

/** The linkerd duration grammar: digits and an optional unit. */
const DURATION_REGEXP = /^\s*(\d+)(ms|s|m|h|d)?\s*$/;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DIGITS_REGEXP = /^\d+$/;
const HOST_LABEL_REGEXP = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/;
const BRACKETED_REGEXP = /^\[([^\]]+)\]:(\d+)$/;

function cannotParse(name: string, value: string): string {
  return `Cannot parse ${name}: current value is "${value}"`;
}

/**
 * Parses a linkerd duration (`^\s*(\d+)(ms|s|m|h|d)?\s*$`; a unitless value
 * is only allowed for `0`) into milliseconds (linkerd `parse_duration`).
 */
export function parseDurationMs(value: string, name: string): number {
  const m = DURATION_REGEXP.exec(value);
  if (!m) throw new TypeError(cannotParse(name, value));
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === undefined) {
    if (n !== 0) {
      throw new TypeError(
        `${
          cannotParse(name, value)
        } (a duration needs a unit: ms, s, m, h or d)`,
      );
    }
    return 0;
  }
  const ms = n * (UNIT_MS[unit] ?? 1);
  if (!Number.isSafeInteger(ms)) throw new RangeError(cannotParse(name, value));
  return ms;
}

/** Parses `true` or `false` (linkerd `parse_bool`, Rust `bool::from_str`). */
export function parseBool(value: string, name: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new TypeError(cannotParse(name, value));
}

/** Parses a non-negative decimal integer, at most `max` (linkerd `parse_number::<usize>`). */
export function parseUint(
  value: string,
  name: string,
  options: {
    /** Largest accepted value. @default {Number.MAX_SAFE_INTEGER} */
    max?: number;
  } = {},
): number {
  const trimmed = value.trim();
  if (!DIGITS_REGEXP.test(trimmed)) {
    throw new TypeError(cannotParse(name, value));
  }
  const n = Number(trimmed);
  if (
    !Number.isSafeInteger(n) || n > (options.max ?? Number.MAX_SAFE_INTEGER)
  ) {
    throw new RangeError(cannotParse(name, value));
  }
  return n;
}

/** Parses a TCP port, 0 to 65535 (linkerd `parse_port`). */
export function parsePort(value: string, name: string): number {
  return parseUint(value, name, { max: 65535 });
}

/** Parses a finite decimal number within `[min, max]` (linkerd `parse_number::<f64>`, e.g. backoff jitter). */
export function parseNumber(
  value: string,
  name: string,
  options: {
    /** Smallest accepted value. @default {-Infinity} */
    min?: number;
    /** Largest accepted value. @default {Infinity} */
    max?: number;
  } = {},
): number {
  const trimmed = value.trim();
  const n = trimmed === "" ? NaN : Number(trimmed);
  if (!Number.isFinite(n)) throw new TypeError(cannotParse(name, value));
  if (n < (options.min ?? -Infinity) || n > (options.max ?? Infinity)) {
    throw new RangeError(cannotParse(name, value));
  }
  return n;
}

/**
 * True when `host` is a syntactically valid DNS name (letters, digits, `_`
 * and `-`, labels of 1–63 characters, at most 253 in all, an optional
 * trailing dot, and a last label that is not all digits) (linkerd `dns::Name`).
 */
export function isDnsName(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.toLowerCase().split(".");
  if (!labels.every((l) => HOST_LABEL_REGEXP.test(l))) return false;
  return !DIGITS_REGEXP.test(labels[labels.length - 1] ?? "");
}

/** Lower-cases a DNS name and drops one trailing dot; IP literals are lower-cased. */
function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * Parses `ip:port`, `[v6]:port` or (unless `ip` is set) `host:port` into a
 * lower-case host and a port (linkerd `parse_socket_addr` / `NameAddr`).
 * With `defaultPort`, the `:port` part may be omitted.
 */
export function parseSocketAddr(
  value: string,
  name: string,
  options: {
    /** Only accept IP literals (a listen address). @default {false} */
    ip?: boolean;
    /** Port used when the value has none; without it a port is required. @default {undefined} */
    defaultPort?: number;
  } = {},
): SocketAddr {
  const fail = (): never => {
    throw new TypeError(cannotParse(name, value));
  };
  const text = value.trim();
  let host: string;
  let portText: string | undefined;
  if (text.startsWith("[")) {
    const m = BRACKETED_REGEXP.exec(text);
    if (m) {
      host = m[1] ?? "";
      portText = m[2];
    } else if (
      options.defaultPort !== undefined && text.endsWith("]") &&
      text.indexOf("]") === text.length - 1
    ) {
      host = text.slice(1, -1);
    } else {
      return fail();
    }
    if (isIP(host) !== 6) return fail();
  } else {
    const colon = text.lastIndexOf(":");
    if (colon === -1) {
      if (options.defaultPort === undefined) return fail();
      host = text;
    } else {
      host = text.slice(0, colon);
      portText = text.slice(colon + 1);
    }
    if (host.includes(":")) return fail(); // IPv6 needs brackets
    const family = isIP(host);
    if (family === 0 && (options.ip || !isDnsName(host))) return fail();
  }
  let port: number;
  if (portText === undefined) {
    port = options.defaultPort ?? fail();
  } else {
    if (!DIGITS_REGEXP.test(portText)) return fail();
    port = Number(portText);
    if (port > 65535) throw new RangeError(cannotParse(name, value));
  }
  return { host: normalizeHost(host), port };
}

/**
 * Parses a logical authority `host[:port]` (port 80 by default) into its
 * normalized parts: lower-case, no trailing dot (linkerd `NameAddr` from an
 * `http::uri::Authority`).
 */
export function parseAuthority(
  value: string,
  name: string,
  options: {
    /** Port used when the authority has none. @default {80} */
    defaultPort?: number;
  } = {},
): SocketAddr {
  return parseSocketAddr(value, name, {
    defaultPort: options.defaultPort ?? 80,
  });
}

/** Formats a socket address as `host:port`, bracketing IPv6 (`[::1]:80`) (Rust `SocketAddr: Display`). */
export function formatSocketAddr(addr: SocketAddr): string {
  return addr.host.includes(":")
    ? `[${addr.host}]:${addr.port}`
    : `${addr.host}:${addr.port}`;
}

/** True when `host` is an IPv4 or IPv6 literal (no brackets). */
export function isIpAddr(host: string): boolean {
  return isIP(host) !== 0;
}

/**
 * Normalizes a logical authority to lower-case "host:port" (port 80 when
 * omitted, IPv6 bracketed); the key of every discovery cache. Throws a
 * `TypeError` when it is not a valid authority.
 */
export function normalizeAuthority(authority: string): string {
  return formatSocketAddr(parseAuthority(authority, "authority"));
}
