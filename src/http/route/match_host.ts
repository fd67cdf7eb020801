/**
 * Hostname matching (linkerd `http/route/src/http/match/host.rs`): exact
 * names and `*.suffix` wildcards, case-insensitive; a trailing dot on the
 * request's host is ignored unless the pattern has one.
 *
 * @module
 */
import { isIpAddr } from "../../addr/mod.ts";
import type { HostMatch } from "./model.ts";

/** How a host matched (linkerd `HostMatch` summary): exact beats suffix, then longer wins. */
export interface HostSummary {
  readonly kind: "exact" | "suffix";
  /** Characters matched: the exact name, or the suffix with its leading dot. */
  readonly length: number;
}

/** A host pattern compiled once per route table (linkerd `MatchHost`). */
export interface HostMatcher {
  readonly kind: "exact" | "suffix";
  /** Lower-case: the exact name, or the suffix with its leading dot (".example.com"). */
  readonly value: string;
  /** The pattern ends with a dot, so the request's trailing dot counts. */
  readonly dotted: boolean;
}

/** Scores are encoded so that a larger number is a better match; 0 = no host condition. */
const SUFFIX_BASE = 1;
const EXACT_BASE = 1 << 20;

/** Compiles a host pattern. */
export function compileHostMatch(spec: HostMatch): HostMatcher {
  if (spec.kind === "exact") {
    const value = spec.host.toLowerCase();
    return { kind: "exact", value, dotted: value.endsWith(".") };
  }
  const labels = spec.reverseLabels.map((l) => l.toLowerCase());
  const value = labels.map((l) => "." + l).reverse().join("");
  // A leading "" label (a pattern with a trailing dot) makes value end in ".".
  return { kind: "suffix", value, dotted: labels[0] === "" };
}

/**
 * Parses a hostname pattern as written in configuration: `name` or
 * `*.suffix` (linkerd `MatchHost::from_str`). Throws `TypeError` for IP
 * addresses and malformed names.
 */
export function parseHostMatch(pattern: string): HostMatch {
  const cannot = () =>
    new TypeError(`Cannot parse hostname: current value is "${pattern}"`);
  if (pattern === "" || isIpAddr(pattern.replace(/^\[|\]$/g, ""))) {
    throw cannot();
  }
  const wild = pattern.startsWith("*.");
  const name = wild ? pattern.slice(2) : pattern;
  const bare = name.endsWith(".") ? name.slice(0, -1) : name;
  if (
    bare === "" ||
    !bare.split(".").every((l) =>
      /^[A-Za-z0-9_]([A-Za-z0-9_-]*[A-Za-z0-9_])?$/.test(l)
    )
  ) {
    throw cannot();
  }
  const lower = name.toLowerCase();
  return wild
    ? { kind: "suffix", reverseLabels: lower.split(".").reverse() }
    : { kind: "exact", host: lower };
}

/**
 * The host part of an authority, lower-case (no userinfo, no port, no
 * brackets around IPv6).
 */
export function authorityHost(authority: string): string {
  let a = authority;
  const at = a.lastIndexOf("@");
  if (at >= 0) a = a.slice(at + 1);
  if (a.startsWith("[")) {
    const end = a.indexOf("]");
    return (end < 0 ? a.slice(1) : a.slice(1, end)).toLowerCase();
  }
  const colon = a.indexOf(":");
  return (colon < 0 ? a : a.slice(0, colon)).toLowerCase();
}

/**
 * The score of `m` against a lower-case `host` (`hostNoDot` = `host`
 * without one trailing dot): 0 when it does not match, else larger is better.
 */
export function hostScore(
  m: HostMatcher,
  host: string,
  hostNoDot: string,
): number {
  const h = m.dotted ? host : hostNoDot;
  if (m.kind === "exact") {
    return h === m.value ? EXACT_BASE + m.value.length : 0;
  }
  return h.endsWith(m.value) ? SUFFIX_BASE + m.value.length : 0;
}

/** Summarizes a host match for `authority` (for tests; the router uses scores). */
export function matchHost(
  m: HostMatcher,
  authority: string,
): HostSummary | undefined {
  const host = authorityHost(authority);
  const s = hostScore(m, host, stripDot(host));
  return s === 0 ? undefined : summarizeHostScore(s);
}

/** Turns a host score back into its summary. */
export function summarizeHostScore(score: number): HostSummary | undefined {
  if (score === 0) return undefined;
  return score >= EXACT_BASE
    ? { kind: "exact", length: score - EXACT_BASE }
    : { kind: "suffix", length: score - SUFFIX_BASE };
}

/** `host` without one trailing dot. */
export function stripDot(host: string): string {
  return host.endsWith(".") ? host.slice(0, -1) : host;
}
