/**
 * Query parameter matching (linkerd
 * `http/route/src/http/match/query_param.rs`): the query is decoded as
 * `application/x-www-form-urlencoded`, and any occurrence of the name may
 * satisfy the condition.
 *
 * @module
 */
import { compileRegex, fullMatch } from "./match_path.ts";
import type { QueryParamMatch } from "./model.ts";

/** A query parameter condition compiled once per route table (linkerd `MatchQueryParam`). */
export interface QueryParamMatcher {
  readonly name: string;
  readonly exact: string | undefined;
  readonly re: RegExp | undefined;
}

/** A decoded query: name/value pairs in order. */
export type QueryPairs = readonly (readonly [string, string])[];

/** Compiles a query parameter condition. */
export function compileQueryParamMatch(
  spec: QueryParamMatch,
): QueryParamMatcher {
  return spec.kind === "exact"
    ? { name: spec.name, exact: spec.value, re: undefined }
    : { name: spec.name, exact: undefined, re: compileRegex(spec.value) };
}

/** True when some `name=value` pair satisfies `m`. */
export function queryParamMatches(
  m: QueryParamMatcher,
  pairs: QueryPairs,
): boolean {
  for (const [name, value] of pairs) {
    if (name !== m.name) continue;
    if (m.exact !== undefined ? value === m.exact : fullMatch(m.re!, value)) {
      return true;
    }
  }
  return false;
}

/**
 * Decodes a query string (without "?") as form-urlencoded: "&" separates
 * pairs, "+" is a space, percent escapes are decoded (an invalid escape is
 * kept as written), a pair without "=" has an empty value, empty pairs are
 * skipped (the WHATWG / Rust `form_urlencoded::parse` rules).
 */
export function parseQuery(query: string): QueryPairs {
  const out: [string, string][] = [];
  for (const part of query.split("&")) {
    if (part === "") continue;
    const eq = part.indexOf("=");
    const name = eq < 0 ? part : part.slice(0, eq);
    const value = eq < 0 ? "" : part.slice(eq + 1);
    out.push([decodeComponent(name), decodeComponent(value)]);
  }
  return out;
}

function decodeComponent(s: string): string {
  if (s.indexOf("+") >= 0) s = s.replaceAll("+", " ");
  if (s.indexOf("%") < 0) return s;
  try {
    return decodeURIComponent(s);
  } catch {
    // Decode the valid escapes one by one; keep the rest as written.
    return s.replace(/(%[0-9a-fA-F]{2})+/g, (run) => {
      try {
        return decodeURIComponent(run);
      } catch {
        return run;
      }
    });
  }
}
