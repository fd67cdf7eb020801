/**
 * Path matching (linkerd `http/route/src/http/match/path.rs`) and the
 * anchored regex check shared by every matcher.
 *
 * @module
 */
import type { PathMatch } from "./model.ts";

/** How a path matched (linkerd `PathMatch`): the kind and the characters matched. */
export interface PathSummary {
  readonly kind: "exact" | "prefix" | "regex";
  readonly length: number;
}

/** A path condition compiled once per route table (linkerd `MatchPath`). */
export type PathMatcher =
  | { readonly kind: "exact"; readonly value: string }
  | {
    readonly kind: "prefix";
    /** The prefix with trailing slashes trimmed ("" for "/"). */
    readonly trimmed: string;
    readonly root: boolean;
  }
  | {
    readonly kind: "regex";
    readonly re: RegExp;
    /** A literal every match starts with (checked before running the regex). */
    readonly literal: string;
  };

/**
 * Compiles a regex as linkerd's `regex` crate is used: a leftmost match that
 * must cover the whole value. Sticky (`y`) anchors the search at 0, which is
 * where the leftmost-first match must start anyway. Throws `SyntaxError`.
 */
export function compileRegex(source: string): RegExp {
  return new RegExp(source, "uy");
}

/** True when `re` (from {@linkcode compileRegex}) matches all of `value` (linkerd: `find` then `start == 0 && end == len`). */
export function fullMatch(re: RegExp, value: string): boolean {
  re.lastIndex = 0;
  const m = re.exec(value);
  return m !== null && m[0].length === value.length;
}

/** Compiles a path condition (regexes compiled here, once). */
export function compilePathMatch(spec: PathMatch): PathMatcher {
  switch (spec.kind) {
    case "exact":
      return { kind: "exact", value: spec.value };
    case "prefix":
      return {
        kind: "prefix",
        trimmed: trimTrailingSlashes(spec.value),
        root: spec.value === "/",
      };
    case "regex":
      return {
        kind: "regex",
        re: compileRegex(spec.value),
        literal: literalPrefix(spec.value),
      };
  }
}

const META = new Set("\\.^$|?*+()[]{}");
const QUANTIFIERS = new Set("?*+{");

/**
 * The literal text every match of the regex `source` starts with, read
 * conservatively: "" when the source has an alternation anywhere; a
 * character followed by a quantifier is not part of it. `^/a\.b/[0-9]+`
 * gives "/a.b/".
 */
export function literalPrefix(source: string): string {
  if (source.includes("|")) return "";
  let i = source.startsWith("^") ? 1 : 0;
  let out = "";
  while (i < source.length) {
    let c = source[i]!;
    let width = 1;
    if (c === "\\") {
      const next = source[i + 1];
      // Only escaped punctuation is a plain literal (\d, \w… are classes).
      if (next === undefined || /[0-9A-Za-z]/.test(next)) break;
      c = next;
      width = 2;
    } else if (META.has(c)) {
      break;
    }
    const after = source[i + width];
    if (after !== undefined && QUANTIFIERS.has(after)) break;
    out += c;
    i += width;
  }
  return out;
}

/**
 * The number of characters `m` matches in `path` (no query), or -1
 * (linkerd `MatchPath::match_length`). `trimmedPath` is `path` without
 * trailing slashes.
 */
export function pathMatchLength(
  m: PathMatcher,
  path: string,
  trimmedPath: string,
): number {
  switch (m.kind) {
    case "exact":
      return m.value === path ? m.value.length : -1;
    case "regex":
      if (m.literal !== "" && !path.startsWith(m.literal)) return -1;
      return fullMatch(m.re, path) ? path.length : -1;
    case "prefix": {
      if (m.root) return 1;
      const p = m.trimmed;
      if (!trimmedPath.startsWith(p)) return -1;
      // The prefix must cover whole segments: /foo matches /foo/bar, not /foobar.
      return trimmedPath.length === p.length ||
          trimmedPath.charCodeAt(p.length) === 0x2f
        ? p.length
        : -1;
    }
  }
}

/** Summarizes a path match (for tests and redirects). */
export function matchPath(
  m: PathMatcher,
  path: string,
): PathSummary | undefined {
  const n = pathMatchLength(m, path, trimTrailingSlashes(path));
  return n < 0 ? undefined : { kind: m.kind, length: n };
}

/** `s` without trailing "/" characters (Rust `trim_end_matches('/')`). */
export function trimTrailingSlashes(s: string): string {
  let end = s.length;
  while (end > 0 && s.charCodeAt(end - 1) === 0x2f) end--;
  return end === s.length ? s : s.slice(0, end);
}
