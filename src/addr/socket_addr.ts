/**
 * Socket addresses and logical authorities: `ip:port`, `[v6]:port`,
 * `host:port` (linkerd `addr` crate: `SocketAddr`, `NameAddr`, `Addr`).
 *
 * The parsers take the value and the `name` of what is being parsed (an
 * environment variable, or a field kind like "endpoint") and throw a
 * `TypeError` (malformed) or `RangeError` (out of range) whose message reads
 * `Cannot parse NAME: current value is "VALUE"`.
 *
 * @module
 */
import { isIP } from "node:net";
import { isDnsName } from "./dns_name.ts";

/** A host (IP literal or DNS name, lower-case, no brackets) and a port (linkerd `SocketAddr` / `NameAddr`). */
export interface SocketAddr {
  readonly host: string;
  readonly port: number;
}

const DIGITS_REGEXP = /^\d+$/;
const BRACKETED_REGEXP = /^\[([^\]]+)\]:(\d+)$/;

/** The message of every parse error: `Cannot parse NAME: current value is "VALUE"`. */
export function cannotParse(name: string, value: string): string {
  return `Cannot parse ${name}: current value is "${value}"`;
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

/**
 * Splits an already normalized "host:port" / "[v6]:port" (a config value or
 * a pool key) into host and port, without validating the host. Throws a
 * `TypeError` when there is no port.
 */
export function splitHostPort(addr: string): SocketAddr {
  const m = /^\[([^\]]+)\]:(\d+)$/.exec(addr) ?? /^([^:]+):(\d+)$/.exec(addr);
  if (!m) throw new TypeError(cannotParse("address", addr));
  return { host: m[1]!, port: Number(m[2]) };
}
