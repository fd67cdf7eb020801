/**
 * Header matching (linkerd `http/route/src/http/match/header.rs`): any value
 * of the header equals the exact value, or fully matches the regex.
 *
 * @module
 */
import type { HeaderMap } from "../message.ts";
import { compileRegex, fullMatch } from "./match_path.ts";
import type { HeaderMatch } from "./model.ts";

/** A header condition compiled once per route table (linkerd `MatchHeader`). */
export interface HeaderMatcher {
  readonly name: string;
  readonly exact: string | undefined;
  readonly re: RegExp | undefined;
}

/** Compiles a header condition (name lower-cased, regex compiled). */
export function compileHeaderMatch(spec: HeaderMatch): HeaderMatcher {
  const name = spec.name.toLowerCase();
  return spec.kind === "exact"
    ? { name, exact: spec.value, re: undefined }
    : { name, exact: undefined, re: compileRegex(spec.value) };
}

/** True when some value of the header satisfies `m` (linkerd `MatchHeader::is_match`). */
export function headerMatches(m: HeaderMatcher, headers: HeaderMap): boolean {
  const v = headers[m.name];
  if (v === undefined) return false;
  if (typeof v === "string") return valueMatches(m, v);
  for (const one of v) if (valueMatches(m, one)) return true;
  return false;
}

function valueMatches(m: HeaderMatcher, value: string): boolean {
  return m.exact !== undefined ? value === m.exact : fullMatch(m.re!, value);
}
