/**
 * `ObserveRequest.Match` as a predicate over a request (linkerd
 * `linkerd/app/core/src/tap`'s `Match`: all/any/not, source and
 * destination netmask or port range, destination labels, HTTP scheme,
 * method, authority and path).
 *
 * @module
 */
import {
  type HttpMethod,
  methodOf,
  type Scheme,
  schemeOf,
} from "../api/http_types.ts";
import { type IPAddress, ipAddressOf } from "../api/net.ts";

/** What a match looks at: one request as the tap layer sees it. */
export interface TapRequestView {
  readonly method: string;
  readonly scheme: string;
  readonly authority: string;
  readonly path: string;
  /** The client, "ip:port", when known. */
  readonly source: string | undefined;
  /** The destination, "ip:port", when known. */
  readonly destination: string | undefined;
  /** The destination's labels (linkerd `dst_*` metadata), when known. */
  readonly destinationLabels?: Readonly<Record<string, string>>;
  /** The route's labels, when known. */
  readonly routeLabels?: Readonly<Record<string, string>>;
}

/** A decoded `ObserveRequest.Match.Tcp`. */
export interface TcpMatchMsg {
  readonly match?: "netmask" | "ports";
  readonly netmask?:
    | { readonly ip: IPAddress | null; readonly mask: number }
    | null;
  readonly ports?: { readonly min: number; readonly max: number } | null;
}

/** A decoded `ObserveRequest.Match.Http.StringMatch`. */
export interface StringMatchMsg {
  readonly match?: "exact" | "prefix";
  readonly exact?: string;
  readonly prefix?: string;
}

/** A decoded `ObserveRequest.Match` (`match` names the member set). */
export interface MatchMsg {
  readonly match?:
    | "all"
    | "any"
    | "not"
    | "source"
    | "destination"
    | "http"
    | "destination_label"
    | "route_label";
  readonly all?: { readonly matches: readonly MatchMsg[] } | null;
  readonly any?: { readonly matches: readonly MatchMsg[] } | null;
  readonly not?: MatchMsg | null;
  readonly source?: TcpMatchMsg | null;
  readonly destination?: TcpMatchMsg | null;
  readonly http?: {
    readonly match?: "scheme" | "method" | "authority" | "path";
    readonly scheme?: Scheme | null;
    readonly method?: HttpMethod | null;
    readonly authority?: StringMatchMsg | null;
    readonly path?: StringMatchMsg | null;
  } | null;
  readonly destination_label?:
    | { readonly key: string; readonly value: string }
    | null;
  readonly route_label?:
    | { readonly key: string; readonly value: string }
    | null;
}

/** A compiled match. */
export type TapMatch = (req: TapRequestView) => boolean;

/** Matches everything (an unset match, as linkerd). */
export const MATCH_ALL: TapMatch = () => true;

/**
 * Compiles a decoded match; throws `TypeError` for one that cannot be
 * (linkerd answers `InvalidArgument`). An unset match matches every request.
 */
export function compileMatch(m: MatchMsg | null | undefined): TapMatch {
  if (m === null || m === undefined || m.match === undefined) return MATCH_ALL;
  switch (m.match) {
    case "all": {
      const ms = (m.all?.matches ?? []).map(compileMatch);
      return (r) => ms.every((f) => f(r));
    }
    case "any": {
      const ms = (m.any?.matches ?? []).map(compileMatch);
      return (r) => ms.some((f) => f(r));
    }
    case "not": {
      const inner = compileMatch(m.not);
      return (r) => !inner(r);
    }
    case "source": {
      const f = compileTcp(m.source);
      return (r) => r.source !== undefined && f(r.source);
    }
    case "destination": {
      const f = compileTcp(m.destination);
      return (r) => r.destination !== undefined && f(r.destination);
    }
    case "destination_label": {
      const l = m.destination_label;
      if (!l) return MATCH_ALL;
      return (r) => r.destinationLabels?.[l.key] === l.value;
    }
    case "route_label": {
      const l = m.route_label;
      if (!l) return MATCH_ALL;
      return (r) => r.routeLabels?.[l.key] === l.value;
    }
    case "http":
      return compileHttp(m.http);
  }
  throw new TypeError(`Cannot parse tap match: current value is "${m.match}"`);
}

function compileHttp(h: MatchMsg["http"]): TapMatch {
  if (!h || h.match === undefined) return MATCH_ALL;
  switch (h.match) {
    case "scheme": {
      const want = schemeOf(h.scheme);
      return want === undefined ? MATCH_ALL : (r) => r.scheme === want;
    }
    case "method": {
      const want = methodOf(h.method)?.toUpperCase();
      return want === undefined ? MATCH_ALL : (r) => r.method === want;
    }
    case "authority": {
      const f = compileString(h.authority);
      return (r) => f(r.authority.toLowerCase());
    }
    case "path": {
      const f = compileString(h.path);
      return (r) => f(r.path);
    }
  }
  throw new TypeError(
    `Cannot parse tap HTTP match: current value is "${h.match}"`,
  );
}

function compileString(
  s: StringMatchMsg | null | undefined,
): (v: string) => boolean {
  if (!s || s.match === undefined) return () => true;
  if (s.match === "exact") {
    const want = s.exact ?? "";
    return (v) => v === want;
  }
  const prefix = s.prefix ?? "";
  return (v) => v.startsWith(prefix);
}

function compileTcp(
  t: TcpMatchMsg | null | undefined,
): (addr: string) => boolean {
  if (!t || t.match === undefined) return () => true;
  if (t.match === "ports") {
    const min = t.ports?.min ?? 0;
    const max = t.ports?.max ?? 0;
    // Either bound unset: the range is the one port given.
    const lo = min === 0 ? max : min;
    const hi = max === 0 ? min : max;
    return (addr) => {
      const port = Number(addr.slice(addr.lastIndexOf(":") + 1));
      return port >= lo && port <= hi;
    };
  }
  const nm = t.netmask;
  if (!nm || !nm.ip) throw new TypeError("Cannot parse tap netmask: no ip");
  const net = ipValue(nm.ip);
  const mask = Math.min(nm.mask, net.bits);
  const shift = BigInt(net.bits - mask);
  return (addr) => {
    const host = addr.slice(0, addr.lastIndexOf(":")).replace(/^\[|\]$/g, "");
    let v: { bits: number; value: bigint };
    try {
      v = ipValue(ipAddressOf(host));
    } catch {
      return false;
    }
    return v.bits === net.bits && (v.value >> shift) === (net.value >> shift);
  };
}

/** An address message as its bit width and value. */
function ipValue(ip: IPAddress): { bits: number; value: bigint } {
  if (ip.ip === "ipv6" || (ip.ip === undefined && ip.ipv6)) {
    const v6 = ip.ipv6!;
    return {
      bits: 128,
      value: (BigInt(v6.first) << 64n) | BigInt(v6.last),
    };
  }
  return { bits: 32, value: BigInt((ip.ipv4 ?? 0) >>> 0) };
}
