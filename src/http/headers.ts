/**
 * Header names Petrel reads or writes, and hop-by-hop handling
 * (linkerd `linkerd/http/upgrade` `strip_connection_headers`).
 *
 * @module
 */
import type { HeaderMap } from "./message.ts";

/** Names the logical destination, winning over Host and `:authority`. */
export const L5D_DST_OVERRIDE = "l5d-dst-override";
/** Error text on synthetic responses (linkerd `l5d-proxy-error`). */
export const L5D_PROXY_ERROR = "l5d-proxy-error";
/** `close` when the proxy closes the connection after a synthetic response. */
export const L5D_PROXY_CONNECTION = "l5d-proxy-connection";

/** Headers that never cross a hop, whatever `Connection` lists. */
const HOP_BY_HOP = [
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "te",
  "upgrade",
  "trailer",
  "host",
];
/** Names in HOP_BY_HOP, as a set for lookups. */
export const HOP_BY_HOP_HEADERS: ReadonlySet<string> = new Set(HOP_BY_HOP);

/**
 * Removes hop-by-hop headers in place: `Connection` and every header it
 * lists, plus the fixed list above. `host` is included because each side
 * writes its own (`Host` for HTTP/1, `:authority` for HTTP/2). `te: trailers`
 * is kept (gRPC needs it over HTTP/2).
 */
export function stripHopByHop(headers: HeaderMap): void {
  const conn = headers["connection"];
  if (conn !== undefined) {
    for (const v of Array.isArray(conn) ? conn : [conn]) {
      for (const token of v.split(",")) {
        const name = token.trim().toLowerCase();
        if (name && name !== "te") delete headers[name];
      }
    }
  }
  const te = headers["te"];
  for (const name of HOP_BY_HOP) {
    if (headers[name] !== undefined) delete headers[name];
  }
  if (te !== undefined && hasToken(te, "trailers")) headers["te"] = "trailers";
}

/** True if a comma-separated header value contains `token` (case-insensitive). */
export function hasToken(value: string | string[], token: string): boolean {
  for (const v of Array.isArray(value) ? value : [value]) {
    for (const t of v.split(",")) {
      if (t.trim().toLowerCase() === token) return true;
    }
  }
  return false;
}
