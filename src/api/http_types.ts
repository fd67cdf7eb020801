/**
 * `io.linkerd.proxy.http_types` as decoded from the wire (method, scheme,
 * headers), and their conversions (linkerd2-proxy-api `http_types.rs`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { type Header, REGISTERED_METHODS } from "../http/route/model.ts";

export { REGISTERED_METHODS };

/** A decoded `http_types.HttpMethod` (`type` names the member set). */
export interface HttpMethod {
  readonly type?: "registered" | "unregistered";
  /** The enum value's name, e.g. "GET" (or its number). */
  readonly registered?: string | number;
  readonly unregistered?: string;
}

/** A decoded `http_types.Scheme`. */
export interface Scheme {
  readonly type?: "registered" | "unregistered";
  /** "HTTP" or "HTTPS" (or 0 / 1). */
  readonly registered?: string | number;
  readonly unregistered?: string;
}

/** A decoded `http_types.Headers`. */
export interface Headers {
  readonly headers: readonly {
    readonly name: string;
    readonly value: Uint8Array | string;
  }[];
}

/** The method token of a method message ("GET"); undefined when unset. */
export function methodOf(m: HttpMethod | null | undefined): string | undefined {
  if (m === null || m === undefined) return undefined;
  if (m.type === "unregistered" || m.registered === undefined) {
    return m.unregistered === undefined || m.unregistered === ""
      ? undefined
      : m.unregistered;
  }
  if (typeof m.registered === "number") {
    const name = REGISTERED_METHODS[m.registered];
    if (name === undefined) {
      throw new TypeError(
        `Cannot parse HTTP method: current value is "${m.registered}"`,
      );
    }
    return name;
  }
  return m.registered;
}

/** The method message of a token: registered when it is one of the nine. */
export function httpMethodOf(method: string): HttpMethod {
  const upper = method.toUpperCase();
  return REGISTERED_METHODS.includes(upper)
    ? { registered: upper }
    : { unregistered: method };
}

/** "http", "https", or undefined for an unset scheme; other schemes throw `TypeError`. */
export function schemeOf(
  s: Scheme | null | undefined,
): "http" | "https" | undefined {
  if (s === null || s === undefined) return undefined;
  const raw = s.type === "unregistered" ? s.unregistered : s.registered;
  if (raw === undefined || raw === "") return undefined;
  const name = String(raw).toLowerCase();
  if (name === "http" || name === "0") return "http";
  if (name === "https" || name === "1") return "https";
  throw new TypeError(`Cannot parse scheme: current value is "${raw}"`);
}

/** The headers of a headers message, names lower-cased (bytes read as latin-1). */
export function headersOf(h: Headers | null | undefined): Header[] {
  if (h === null || h === undefined) return [];
  return h.headers.map((x) => ({
    name: x.name.toLowerCase(),
    value: bytesText(x.value),
  }));
}

/** A bytes field as text (latin-1, as header values are). */
export function bytesText(v: Uint8Array | string): string {
  return typeof v === "string" ? v : Buffer.from(v).toString("latin1");
}
