/**
 * The request redirect filter (linkerd
 * `http/route/src/http/filter/redirect.rs`): computes the `Location` from
 * the request, the filter and how the route's path matched.
 *
 * @module
 */
import { InvalidRedirectError } from "../../errors.ts";
import type { PathSummary } from "./match_path.ts";
import { DEFAULT_REDIRECT_STATUS, type RequestRedirect } from "./model.ts";

/** A redirect to answer with (linkerd `Redirection`). */
export interface Redirection {
  readonly status: number;
  readonly location: string;
}

/** The parts of a request a redirect reads. */
export interface RedirectSource {
  /** "http" or "https" (empty = "http"). */
  readonly scheme: string;
  /** As the client sent it: `host[:port]`. */
  readonly authority: string;
  /** Path and query. */
  readonly path: string;
}

/**
 * The redirect for `req`, or undefined when the location would be the
 * request's own URI (a no-op, as linkerd). Throws `InvalidRedirectError`
 * for a prefix replacement when the route did not match by path prefix.
 *
 * - scheme: the filter's, else the request's, else http;
 * - authority: `host` + `port` → exactly that; `host` → that host with the
 *   request's port unless it is the scheme's default; `port` → the
 *   request's host with that port, omitted when it is the scheme's default;
 * - path: `full` replaces path and query; `prefix` replaces the matched
 *   prefix and keeps the query; none keeps both.
 */
export function redirectRequest(
  filter: RequestRedirect,
  req: RedirectSource,
  pathMatch: PathSummary,
): Redirection | undefined {
  const origScheme = req.scheme === "" ? "http" : req.scheme;
  const scheme = filter.scheme ?? origScheme;
  const authority = redirectAuthority(filter, req.authority, scheme);
  const pathAndQuery = redirectPath(filter, req.path, pathMatch);
  if (
    scheme === origScheme &&
    authority.toLowerCase() === req.authority.toLowerCase() &&
    pathAndQuery === req.path
  ) {
    return undefined;
  }
  return {
    status: filter.status ?? DEFAULT_REDIRECT_STATUS,
    location: `${scheme}://${authority}${pathAndQuery}`,
  };
}

function redirectAuthority(
  filter: RequestRedirect,
  orig: string,
  scheme: string,
): string {
  const { host, port } = splitAuthority(orig);
  if (filter.host !== undefined) {
    if (filter.port !== undefined) return `${filter.host}:${filter.port}`;
    const keep = port === undefined
      ? undefined
      : portUnlessDefault(scheme, port);
    return keep === undefined ? filter.host : `${filter.host}:${keep}`;
  }
  if (filter.port !== undefined) {
    const p = portUnlessDefault(scheme, filter.port);
    if (p !== undefined && p !== port) return `${host}:${p}`;
    if (p === undefined && port !== undefined) return host;
  }
  return orig;
}

function redirectPath(
  filter: RequestRedirect,
  orig: string,
  pathMatch: PathSummary,
): string {
  const replace = filter.path;
  if (replace === undefined) return orig;
  if (replace.kind === "full") return replace.value;
  const q = orig.indexOf("?");
  const path = q < 0 ? orig : orig.slice(0, q);
  if (pathMatch.kind !== "prefix" || pathMatch.length > path.length) {
    throw new InvalidRedirectError(
      "redirects may only replace the path prefix when a path prefix match applied",
    );
  }
  const rest = path.slice(pathMatch.length);
  let out = replace.value;
  if (rest !== "") {
    if (!rest.startsWith("/")) {
      if (!out.endsWith("/")) out += "/";
    } else if (out.endsWith("/")) {
      // "/" replacing "/foo" in "/foo/bar" is "/bar" (Gateway API), not "//bar".
      out = out.slice(0, -1);
    }
    out += rest;
  }
  if (out === "") out = "/";
  return q < 0 ? out : `${out}${orig.slice(q)}`;
}

function portUnlessDefault(scheme: string, port: number): number | undefined {
  if (scheme === "http" && port === 80) return undefined;
  if (scheme === "https" && port === 443) return undefined;
  return port;
}

/** Splits `host[:port]` (IPv6 stays bracketed); userinfo is dropped. */
function splitAuthority(a: string): { host: string; port: number | undefined } {
  const at = a.lastIndexOf("@");
  if (at >= 0) a = a.slice(at + 1);
  const colon = a.lastIndexOf(":");
  if (colon < 0 || a.lastIndexOf("]") > colon) {
    return { host: a, port: undefined };
  }
  const port = Number(a.slice(colon + 1));
  return Number.isInteger(port) && colon + 1 < a.length
    ? { host: a.slice(0, colon), port }
    : { host: a.slice(0, colon), port: undefined };
}
