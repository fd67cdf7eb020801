/**
 * The pause between retries (linkerd `linkerd/http/retry` with
 * `linkerd/exp-backoff`): exponential from `minMs`, capped at `maxMs`, with
 * linkerd's jitter (up to `jitter · base` more, the total still capped).
 * The delay math is shared with the reconnect backoff
 * (`balance/backoff.ts`); this module adds the route defaults and an
 * abortable wait on an injectable clock.
 *
 * @module
 */
import { backoffDelayMs, type BackoffSpec } from "../../balance/backoff.ts";
import type { Clock } from "../../balance/clock.ts";

export { backoffDelayMs, type BackoffSpec };

/** linkerd's controller default for route retries: 25 ms → 250 ms, jitter 1. */
export const DEFAULT_RETRY_BACKOFF: BackoffSpec = Object.freeze({
  minMs: 25,
  maxMs: 250,
  jitter: 1,
});

/**
 * Waits `ms` on `clock` (linkerd: the retry's `backoff.next().await`).
 * Resolves at once for `ms <= 0`; rejects with the signal's reason when
 * `signal` aborts first, and never leaves its timer behind.
 */
export function delay(
  ms: number,
  clock: Clock,
  signal?: AbortSignal,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  if (ms <= 0) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const onAbort = () => {
      clock.clearTimeout(timer);
      reject(signal!.reason);
    };
    const timer = clock.setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
