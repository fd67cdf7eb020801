/**
 * `google.protobuf.Duration` and `Timestamp` as decoded from the wire, and
 * their conversions to milliseconds (linkerd2-proxy-api uses `prost_types`).
 *
 * @module
 */

/** A decoded `google.protobuf.Duration` (seconds as a decimal string). */
export interface Duration {
  readonly seconds: string | number;
  readonly nanos: number;
}

/** A decoded `google.protobuf.Timestamp`. */
export interface Timestamp {
  readonly seconds: string | number;
  readonly nanos: number;
}

/**
 * Milliseconds of a duration, or undefined when it is absent. Negative
 * durations throw a `RangeError` (linkerd rejects them too).
 */
export function durationMs(d: Duration | null | undefined): number | undefined {
  if (d === null || d === undefined) return undefined;
  const ms = Number(d.seconds) * 1000 + Math.floor((d.nanos ?? 0) / 1e6);
  if (!Number.isFinite(ms) || ms < 0) {
    throw new RangeError(
      `Cannot parse duration: current value is "${d.seconds}s ${d.nanos}ns"`,
    );
  }
  return ms;
}

/** A duration message for `ms` milliseconds. */
export function durationOf(ms: number): Duration {
  const seconds = Math.floor(ms / 1000);
  return {
    seconds: String(seconds),
    nanos: Math.round((ms - seconds * 1000) * 1e6),
  };
}

/** Milliseconds since the Unix epoch of a timestamp, or undefined when absent. */
export function timestampMs(
  t: Timestamp | null | undefined,
): number | undefined {
  if (t === null || t === undefined) return undefined;
  return Number(t.seconds) * 1000 + Math.floor((t.nanos ?? 0) / 1e6);
}

/** A timestamp message for `ms` milliseconds since the Unix epoch. */
export function timestampOf(ms: number): Timestamp {
  const seconds = Math.floor(ms / 1000);
  return {
    seconds: String(seconds),
    nanos: Math.round((ms - seconds * 1000) * 1e6),
  };
}
