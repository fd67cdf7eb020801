/**
 * `io.linkerd.proxy.net` addresses as decoded from the wire, and their
 * conversions to and from Petrel's "ip:port" text (linkerd2-proxy-api
 * `net.rs` `TcpAddress` ↔ `SocketAddr`).
 *
 * @module
 */
import { isIP } from "node:net";

/** A decoded `net.IPv6`: two big-endian 64-bit halves as decimal strings. */
export interface IPv6 {
  readonly first: string | number;
  readonly last: string | number;
}

/** A decoded `net.IPAddress` (`ip` names the member set). */
export interface IPAddress {
  readonly ip?: "ipv4" | "ipv6";
  readonly ipv4?: number;
  readonly ipv6?: IPv6 | null;
}

/** A decoded `net.TcpAddress`. */
export interface TcpAddress {
  readonly ip: IPAddress | null | undefined;
  readonly port: number;
}

/** The text form of an IP address message ("10.0.0.1", "fd00::1"); throws `TypeError` when unset. */
export function formatIp(ip: IPAddress | null | undefined): string {
  if (ip?.ipv4 !== undefined && ip.ip !== "ipv6") {
    const n = ip.ipv4 >>> 0;
    return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join(".");
  }
  if (ip?.ipv6 !== undefined && ip.ipv6 !== null) {
    const first = BigInt(ip.ipv6.first);
    const last = BigInt(ip.ipv6.last);
    const groups: number[] = [];
    for (const half of [first, last]) {
      for (let shift = 48n; shift >= 0n; shift -= 16n) {
        groups.push(Number((half >> shift) & 0xffffn));
      }
    }
    return compressIpv6(groups);
  }
  throw new TypeError("Cannot parse IP address: no address is set");
}

/** RFC 5952 text: lower-case hex, the longest run (≥ 2) of zero groups as "::". */
function compressIpv6(groups: readonly number[]): string {
  let bestAt = -1;
  let bestLen = 1;
  for (let i = 0; i < groups.length;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < groups.length && groups[j] === 0) j++;
    if (j - i > bestLen) {
      bestAt = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = groups.map((g) => g.toString(16));
  if (bestAt < 0) return hex.join(":");
  return hex.slice(0, bestAt).join(":") + "::" +
    hex.slice(bestAt + bestLen).join(":");
}

/**
 * "ip:port" ("[v6]:port") of a `TcpAddress`; throws `TypeError` when the
 * address or port is missing or invalid.
 */
export function formatTcpAddress(addr: TcpAddress | null | undefined): string {
  if (addr === null || addr === undefined) {
    throw new TypeError("Cannot parse TCP address: it is not set");
  }
  const ip = formatIp(addr.ip);
  if (!Number.isInteger(addr.port) || addr.port <= 0 || addr.port > 65535) {
    throw new RangeError(
      `Cannot parse TCP address: current port is "${addr.port}"`,
    );
  }
  return ip.includes(":") ? `[${ip}]:${addr.port}` : `${ip}:${addr.port}`;
}

/** The `IPAddress` message of an IP literal; throws `TypeError` for anything else. */
export function ipAddressOf(ip: string): IPAddress {
  const text = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const family = isIP(text);
  if (family === 4) {
    const n = text.split(".").reduce((acc, o) => acc * 256 + Number(o), 0);
    return { ipv4: n };
  }
  if (family === 6) {
    const groups = expandIpv6(text);
    let first = 0n;
    let last = 0n;
    for (let i = 0; i < 4; i++) first = (first << 16n) | BigInt(groups[i]!);
    for (let i = 4; i < 8; i++) last = (last << 16n) | BigInt(groups[i]!);
    return { ipv6: { first: first.toString(), last: last.toString() } };
  }
  throw new TypeError(`Cannot parse IP address: current value is "${ip}"`);
}

function expandIpv6(text: string): number[] {
  let s = text;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two groups.
  const v4 = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(s);
  if (v4) {
    const [a, b, c, d] = v4.slice(1).map(Number) as [
      number,
      number,
      number,
      number,
    ];
    s = s.slice(0, v4.index) +
      ((a << 8) | b).toString(16) + ":" + ((c << 8) | d).toString(16);
  }
  const [head, tail] = s.includes("::") ? s.split("::") : [s, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const zeros = tail === undefined
    ? []
    : Array(8 - h.length - t.length).fill("0");
  return [...h, ...zeros, ...t].map((g) => parseInt(g, 16));
}

/** The `TcpAddress` message of "ip:port" / "[v6]:port"; throws `TypeError` otherwise. */
export function tcpAddressOf(addr: string): TcpAddress {
  const colon = addr.lastIndexOf(":");
  const port = Number(addr.slice(colon + 1));
  if (colon < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) {
    throw new TypeError(`Cannot parse TCP address: current value is "${addr}"`);
  }
  return { ip: ipAddressOf(addr.slice(0, colon)), port };
}
