/**
 * The authority of an HTTP request as the client wrote it (Host,
 * `:authority`, `l5d-dst-override`), normalized on the request path
 * (linkerd `NewNormalizeUri`): lenient and fast, unlike
 * {@linkcode normalizeAuthority} which validates a configured name.
 *
 * @module
 */
import { BadRequestError } from "../errors.ts";

/**
 * Lower-cases a request authority, strips userinfo and one trailing dot of
 * the host, and adds `defaultPort` when there is none. Throws a
 * `BadRequestError` (a 400) when the port is malformed.
 */
export function normalizeHttpAuthority(
  raw: string,
  defaultPort: number,
): string {
  let a = raw.trim().toLowerCase();
  const at = a.lastIndexOf("@");
  if (at >= 0) a = a.slice(at + 1);
  if (a.startsWith("[")) {
    const end = a.indexOf("]");
    if (end < 0) throw new BadRequestError(`invalid authority "${raw}"`);
    const rest = a.slice(end + 1);
    if (rest === "") return `${a}:${defaultPort}`;
    if (!/^:\d{1,5}$/.test(rest)) {
      throw new BadRequestError(`invalid authority "${raw}"`);
    }
    return a;
  }
  const colon = a.lastIndexOf(":");
  if (colon < 0) return `${a}:${defaultPort}`;
  const port = a.slice(colon + 1);
  if (port === "") return `${a.slice(0, colon)}:${defaultPort}`;
  if (!/^\d{1,5}$/.test(port) || Number(port) > 65535 || colon === 0) {
    throw new BadRequestError(`invalid authority "${raw}"`);
  }
  if (a.slice(0, colon).endsWith(".")) {
    return `${a.slice(0, colon - 1)}:${port}`;
  }
  return a;
}
