/**
 * A per-target cache that drops entries nobody used for a while (linkerd
 * `NewIdleCached`). One coarse sweep timer serves the whole cache.
 *
 * @module
 */

/** Options for {@linkcode IdleCache}. */
export interface IdleCacheOptions<V> {
  /** Entries unused for this long are evicted. */
  idleMs: number;
  /** Called on an evicted (or cleared) value: close its sockets and timers. */
  dispose?: (value: V) => void;
  /** Clock in ms. @default performance.now */
  now?: () => number;
}

interface Entry<V> {
  value: V;
  usedAt: number;
  /** Requests currently using the entry: never evicted while > 0. */
  active: number;
}

/** Caches values by string key with idle eviction (linkerd `idle_cache`). */
export class IdleCache<V> {
  readonly #entries = new Map<string, Entry<V>>();
  readonly #opts: IdleCacheOptions<V>;
  readonly #now: () => number;
  #timer: ReturnType<typeof setInterval> | undefined;

  constructor(opts: IdleCacheOptions<V>) {
    this.#opts = opts;
    this.#now = opts.now ?? (() => performance.now());
  }

  /** Returns the cached value for `key` (marking it used), or undefined. */
  get(key: string): V | undefined {
    const e = this.#entries.get(key);
    if (e === undefined) return undefined;
    e.usedAt = this.#now();
    return e.value;
  }

  /** Caches `value` under `key` and returns it. */
  insert(key: string, value: V): V {
    this.#entries.set(key, { value, usedAt: this.#now(), active: 0 });
    this.#arm();
    return value;
  }

  /** Marks `key` busy until the returned function is called (in-flight use). */
  hold(key: string): () => void {
    const e = this.#entries.get(key);
    if (!e) return () => {};
    e.active++;
    return () => {
      e.active--;
      e.usedAt = this.#now();
    };
  }

  /** Removes `key` if it still maps to `value` (a failed build is not cached). */
  evict(key: string, value: V): void {
    const e = this.#entries.get(key);
    if (e && e.value === value) {
      this.#entries.delete(key);
      this.#opts.dispose?.(e.value);
    }
  }

  /** Number of cached entries. */
  get size(): number {
    return this.#entries.size;
  }

  /** Evicts every entry idle for longer than `idleMs`; returns how many. */
  sweep(): number {
    const cutoff = this.#now() - this.#opts.idleMs;
    let n = 0;
    for (const [k, e] of this.#entries) {
      if (e.active === 0 && e.usedAt <= cutoff) {
        this.#entries.delete(k);
        this.#opts.dispose?.(e.value);
        n++;
      }
    }
    if (this.#entries.size === 0 && this.#timer !== undefined) {
      clearInterval(this.#timer);
      this.#timer = undefined;
    }
    return n;
  }

  /** Disposes every entry and stops the sweep timer. */
  clear(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
    const values = [...this.#entries.values()];
    this.#entries.clear();
    for (const e of values) this.#opts.dispose?.(e.value);
  }

  #arm(): void {
    if (this.#timer !== undefined) return;
    const every = Math.max(10, Math.min(this.#opts.idleMs / 2, 1000));
    const timer = setInterval(() => this.sweep(), every);
    Deno.unrefTimer(timer as unknown as number);
    this.#timer = timer;
  }
}
