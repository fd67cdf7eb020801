/**
 * Failure accrual for one endpoint: consecutive failures shut it, a growing
 * backoff later lets exactly one probe through, and the probe's outcome
 * reopens it or shuts it again (linkerd `out/http/breaker/consecutive_failures.rs`,
 * the `Gate` of `linkerd/http/classify/src/gate.rs`).
 *
 * @module
 */
import { backoffDelayMs } from "./backoff.ts";
import type { Clock, TimerId } from "./clock.ts";

/**
 * Consecutive-failures circuit breaking per endpoint (linkerd
 * `FailureAccrual.ConsecutiveFailures`; controller defaults 7, 1 s, 60 s, 0.5).
 */
export interface FailureAccrualSpec {
  readonly kind: "consecutive";
  /** Failures in a row that shut the endpoint (0 never trips). */
  readonly maxFailures: number;
  readonly minPenaltyMs: number;
  readonly maxPenaltyMs: number;
  /** Jitter ratio in [0, 1]. */
  readonly jitter: number;
}

/**
 * The breaker's gate (linkerd `gate::State`): open (ready), shut (not ready,
 * the endpoint counts as pending) or probation (one permit, then not ready
 * until the probe's class is known).
 */
export type BreakerState =
  | { readonly kind: "open"; readonly failures: number }
  | {
    readonly kind: "shut";
    readonly attempt: number;
    readonly untilMs: number;
  }
  | {
    readonly kind: "probation";
    readonly attempt: number;
    /** The one probe request is in flight. */
    readonly probing: boolean;
  };

/** What one dispatched request holds from the breaker. */
export interface BreakerPermit {
  /** This request is the probation probe. */
  readonly probe: boolean;
}

/** How a request ended, for the breaker (linkerd `Class::is_failure`, or nothing to say). */
export type Outcome = "success" | "failure" | "none";

/** Options of {@linkcode ConsecutiveFailures}. */
export interface BreakerOptions {
  readonly spec: FailureAccrualSpec;
  readonly clock: Clock;
  /** Jitter source in [0, 1). */
  readonly random: () => number;
  /** Called after every change of the gate: shut, probation, probe taken, reopened. */
  readonly onChange?: (state: BreakerState, prev: BreakerState) => void;
}

const OPEN: BreakerState = Object.freeze({ kind: "open", failures: 0 });
const NORMAL: BreakerPermit = Object.freeze({ probe: false });
const PROBE: BreakerPermit = Object.freeze({ probe: true });

/**
 * The consecutive-failures breaker (linkerd `ConsecutiveFailures`):
 * `maxFailures` failures in a row shut the gate for `min·2^n` (capped at
 * `max`, plus jitter); then probation lets one request through; its success
 * reopens (and resets the backoff), its failure shuts again for longer.
 * Outcomes that arrive while shut, or in probation from requests other than
 * the probe, are ignored.
 *
 * @example
 * ```ts ignore
 * const b = new ConsecutiveFailures({ spec, clock, random: Math.random });
 * if (b.permits) {
 *   const permit = b.acquire();
 *   // … send, classify …
 *   b.record(permit, "failure");
 * }
 * ```
 */
export class ConsecutiveFailures implements Disposable {
  readonly #spec: FailureAccrualSpec;
  readonly #clock: Clock;
  readonly #random: () => number;
  readonly #onChange: BreakerOptions["onChange"];
  #state: BreakerState = OPEN;
  #timer: TimerId | undefined;

  constructor(opts: BreakerOptions) {
    this.#spec = opts.spec;
    this.#clock = opts.clock;
    this.#random = opts.random;
    this.#onChange = opts.onChange;
  }

  /** The current state. */
  get state(): BreakerState {
    return this.#state;
  }

  /** True when a request may be sent now (open, or probation with its probe unused). */
  get permits(): boolean {
    const s = this.#state;
    return s.kind === "open" || (s.kind === "probation" && !s.probing);
  }

  /** Takes a permit for one request; in probation this is the probe. */
  acquire(): BreakerPermit {
    const s = this.#state;
    if (s.kind === "open") return NORMAL;
    if (s.kind === "probation" && !s.probing) {
      this.#set({ kind: "probation", attempt: s.attempt, probing: true });
      return PROBE;
    }
    // Not permitted (a caller raced the gate): count it as an ordinary request.
    return NORMAL;
  }

  /** Records how a permitted request ended. */
  record(permit: BreakerPermit, outcome: Outcome): void {
    const s = this.#state;
    switch (s.kind) {
      case "open": {
        if (outcome === "success") {
          if (s.failures !== 0) this.#state = OPEN;
        } else if (outcome === "failure") {
          const failures = s.failures + 1;
          const max = this.#spec.maxFailures;
          if (max > 0 && failures >= max) this.#shut(0);
          else this.#state = { kind: "open", failures };
        }
        return;
      }
      case "shut":
        return;
      case "probation": {
        if (!permit.probe || !s.probing) return;
        if (outcome === "success") this.#set(OPEN);
        else if (outcome === "failure") this.#shut(s.attempt + 1);
        else {this.#set({
            kind: "probation",
            attempt: s.attempt,
            probing: false,
          });}
        return;
      }
    }
  }

  /** Stops the backoff timer. */
  [Symbol.dispose](): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #shut(attempt: number): void {
    const spec = this.#spec;
    const delayMs = backoffDelayMs(
      {
        minMs: spec.minPenaltyMs,
        maxMs: spec.maxPenaltyMs,
        jitter: spec.jitter,
      },
      attempt,
      this.#random,
    );
    this.#set({
      kind: "shut",
      attempt,
      untilMs: this.#clock.now() + delayMs,
    });
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#set({ kind: "probation", attempt, probing: false });
    }, delayMs);
  }

  #set(next: BreakerState): void {
    const prev = this.#state;
    this.#state = next;
    this.#onChange?.(next, prev);
  }
}
