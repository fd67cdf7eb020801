/**
 * The inbound local rate limit (linkerd `server-policy/src/local_rate_limit.rs`
 * on `governor`): a GCRA limiter per quota of `rps` requests per second with
 * a burst of `rps`; the total limit is checked first, then an override for
 * the client's identity (which replaces the per-identity limit), else the
 * per-identity limit (clients without an identity share one bucket).
 *
 * @module
 */
import type { RateLimitSpec } from "./server_policy.ts";

/** Which limit refused a request (linkerd `RateLimitError`). */
export type RateLimitScope = "total" | "identity" | "override";

/** A refused request: the scope and the limit, for `l5d-proxy-error`. */
export interface RateLimited {
  readonly scope: RateLimitScope;
  readonly rps: number;
  /** linkerd's message, e.g. "total rate limit exceeded: 10rps". */
  readonly message: string;
}

/** One GCRA cell stream (governor `RateLimiter::direct` with `Quota::per_second`). */
export class Gcra {
  readonly #intervalMs: number;
  readonly #toleranceMs: number;
  #tat = -Infinity;

  constructor(rps: number) {
    this.#intervalMs = 1000 / rps;
    this.#toleranceMs = this.#intervalMs * (rps - 1);
  }

  /** Takes one cell at `nowMs`; false when the quota is spent. */
  check(nowMs: number): boolean {
    const tat = Math.max(this.#tat, nowMs);
    if (tat - nowMs > this.#toleranceMs) return false;
    this.#tat = tat + this.#intervalMs;
    return true;
  }
}

const MESSAGES: Record<RateLimitScope, string> = {
  total: "total rate limit exceeded",
  identity: "per-identity rate limit exceeded",
  override: "override rate limit exceeded",
};

/** Most per-identity buckets kept; the oldest are dropped beyond it. */
const MAX_IDENTITY_BUCKETS = 10_000;

/** The limiters of one policy (linkerd `LocalRateLimit`). */
export class LocalRateLimit {
  readonly spec: RateLimitSpec;
  readonly #now: () => number;
  readonly #total: Gcra | undefined;
  readonly #overrides = new Map<string, Gcra>();
  readonly #perIdentity = new Map<string, Gcra>();

  constructor(spec: RateLimitSpec, opts: { now?: () => number } = {}) {
    this.spec = spec;
    this.#now = opts.now ?? performance.now.bind(performance);
    this.#total = spec.totalRps > 0 ? new Gcra(spec.totalRps) : undefined;
    const shared = new Map<number, Gcra>();
    for (const [id, rps] of spec.overrides) {
      // One override lists several identities that share its limiter.
      let g = shared.get(rps);
      if (g === undefined) shared.set(rps, g = new Gcra(rps));
      this.#overrides.set(id, g);
    }
  }

  /** Checks one request of `clientId` (undefined: no identity); undefined = allowed. */
  check(clientId: string | undefined): RateLimited | undefined {
    const now = this.#now();
    const s = this.spec;
    if (this.#total !== undefined && !this.#total.check(now)) {
      return limited("total", s.totalRps);
    }
    if (clientId !== undefined) {
      const o = this.#overrides.get(clientId);
      if (o !== undefined) {
        return o.check(now)
          ? undefined
          : limited("override", s.overrides.get(clientId)!);
      }
    }
    if (s.identityRps > 0) {
      const key = clientId ?? "";
      let g = this.#perIdentity.get(key);
      if (g === undefined) {
        if (this.#perIdentity.size >= MAX_IDENTITY_BUCKETS) {
          this.#perIdentity.delete(this.#perIdentity.keys().next().value!);
        }
        this.#perIdentity.set(key, g = new Gcra(s.identityRps));
      }
      if (!g.check(now)) return limited("identity", s.identityRps);
    }
    return undefined;
  }
}

function limited(scope: RateLimitScope, rps: number): RateLimited {
  return { scope, rps, message: `${MESSAGES[scope]}: ${rps}rps` };
}
