/**
 * Value parsers for configuration: durations,
 * booleans, ports and counts (socket addresses and names: `src/addr/`) (linkerd `app/src/env.rs` `parse_*` and
 * `env/types.rs`).
 *
 * Every parser takes the value and the `name` of what is being parsed (an
 * environment variable, or a field kind like "duration") and throws a
 * `TypeError` (malformed) or `RangeError` (out of range) whose message reads
 * `Cannot parse NAME: current value is "VALUE"`.
 *
 * @module
 */
import { cannotParse } from "../addr/socket_addr.ts";

/** The linkerd duration grammar: digits and an optional unit. */
const DURATION_REGEXP = /^\s*(\d+)(ms|s|m|h|d)?\s*$/;

const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const DIGITS_REGEXP = /^\d+$/;

/**
 * Parses a linkerd duration (`^\s*(\d+)(ms|s|m|h|d)?\s*$`; a unitless value
 * is only allowed for `0`) into milliseconds (linkerd `parse_duration`).
 */
export function parseDurationMs(value: string, name: string): number {
  const m = DURATION_REGEXP.exec(value);
  if (!m) throw new TypeError(cannotParse(name, value));
  const n = Number(m[1]);
  const unit = m[2];
  if (unit === undefined) {
    if (n !== 0) {
      throw new TypeError(
        `${
          cannotParse(name, value)
        } (a duration needs a unit: ms, s, m, h or d)`,
      );
    }
    return 0;
  }
  const ms = n * (UNIT_MS[unit] ?? 1);
  if (!Number.isSafeInteger(ms)) throw new RangeError(cannotParse(name, value));
  return ms;
}

/** Parses `true` or `false` (linkerd `parse_bool`, Rust `bool::from_str`). */
export function parseBool(value: string, name: string): boolean {
  if (value === "true") return true;
  if (value === "false") return false;
  throw new TypeError(cannotParse(name, value));
}

/** Parses a non-negative decimal integer, at most `max` (linkerd `parse_number::<usize>`). */
export function parseUint(
  value: string,
  name: string,
  options: {
    /** Largest accepted value. @default {Number.MAX_SAFE_INTEGER} */
    max?: number;
  } = {},
): number {
  const trimmed = value.trim();
  if (!DIGITS_REGEXP.test(trimmed)) {
    throw new TypeError(cannotParse(name, value));
  }
  const n = Number(trimmed);
  if (
    !Number.isSafeInteger(n) || n > (options.max ?? Number.MAX_SAFE_INTEGER)
  ) {
    throw new RangeError(cannotParse(name, value));
  }
  return n;
}

/** Parses a TCP port, 0 to 65535 (linkerd `parse_port`). */
export function parsePort(value: string, name: string): number {
  return parseUint(value, name, { max: 65535 });
}

/** Parses a finite decimal number within `[min, max]` (linkerd `parse_number::<f64>`, e.g. backoff jitter). */
export function parseNumber(
  value: string,
  name: string,
  options: {
    /** Smallest accepted value. @default {-Infinity} */
    min?: number;
    /** Largest accepted value. @default {Infinity} */
    max?: number;
  } = {},
): number {
  const trimmed = value.trim();
  const n = trimmed === "" ? NaN : Number(trimmed);
  if (!Number.isFinite(n)) throw new TypeError(cannotParse(name, value));
  if (n < (options.min ?? -Infinity) || n > (options.max ?? Infinity)) {
    throw new RangeError(cannotParse(name, value));
  }
  return n;
}
