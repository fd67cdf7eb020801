/**
 * Test doubles for the balancer: a manual clock, a seeded random source and
 * a pool service whose probe the test settles (tokio's paused clock,
 * tower-test `mock`).
 *
 * @module
 */
import type { Clock, TimerId } from "./clock.ts";
import type { PoolService } from "./pool.ts";

interface Timer {
  id: number;
  at: number;
  fn: () => void;
}

/** A clock that moves only when told; timers fire in time order. */
export class ManualClock implements Clock {
  #now: number;
  #timers: Timer[] = [];
  #nextId = 1;

  constructor(start = 0) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  setTimeout(fn: () => void, ms: number): TimerId {
    const t = { id: this.#nextId++, at: this.#now + Math.max(0, ms), fn };
    this.#timers.push(t);
    return t.id;
  }

  clearTimeout(id: TimerId): void {
    this.#timers = this.#timers.filter((t) => t.id !== id);
  }

  /** Timers not yet fired. */
  get pending(): number {
    return this.#timers.length;
  }

  /** The time of the next timer, if any. */
  get nextAt(): number | undefined {
    let at: number | undefined;
    for (const t of this.#timers) if (at === undefined || t.at < at) at = t.at;
    return at;
  }

  /** Moves time forward by `ms`, firing due timers in order. */
  advance(ms: number): void {
    const end = this.#now + ms;
    for (;;) {
      let next: Timer | undefined;
      for (const t of this.#timers) {
        if (t.at <= end && (next === undefined || t.at < next.at)) next = t;
      }
      if (next === undefined) break;
      this.#timers = this.#timers.filter((t) => t !== next);
      this.#now = next.at;
      next.fn();
    }
    this.#now = end;
  }
}

/** A deterministic random source in [0, 1) (mulberry32). */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Returns the given values in turn (then repeats the last). */
export function scriptedRandom(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)]!;
}

/** A pool service whose probes the test resolves or rejects. */
export class MockService implements PoolService {
  readonly key: string;
  probes: {
    resolve: () => void;
    reject: (e: Error) => void;
    signal: AbortSignal;
  }[] = [];
  disposed = false;

  constructor(key: string) {
    this.key = key;
  }

  probe(signal: AbortSignal): Promise<void> {
    return new Promise((resolve, reject) => {
      this.probes.push({ resolve, reject, signal });
    });
  }

  /** Settles the latest probe. */
  async connect(ok: boolean): Promise<void> {
    const p = this.probes.at(-1);
    if (!p) throw new Error(`${this.key}: no probe in flight`);
    if (ok) p.resolve();
    else p.reject(new Error(`${this.key}: connection refused`));
    await flush();
  }

  [Symbol.dispose](): void {
    this.disposed = true;
  }
}

/** Lets promise callbacks run. */
export async function flush(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
}
