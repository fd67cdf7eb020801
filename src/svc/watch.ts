/**
 * A value that changes over time, with subscribers (tokio `watch`,
 * linkerd `stack/watch.rs`).
 *
 * @module
 */

/** Holds the latest value and notifies subscribers of each change (tokio `watch`). */
export class Watch<T> {
  #value: T;
  #subs = new Set<(value: T) => void>();
  #closed = false;

  constructor(initial: T) {
    this.#value = initial;
  }

  /** The current value. */
  get(): T {
    return this.#value;
  }

  /** Publishes a new value to every subscriber. Ignored once closed. */
  set(value: T): void {
    if (this.#closed) return;
    this.#value = value;
    for (const fn of [...this.#subs]) fn(value);
  }

  /** Calls `fn` on each later change; dispose the result to stop. */
  subscribe(fn: (value: T) => void): Disposable {
    this.#subs.add(fn);
    return { [Symbol.dispose]: () => this.#subs.delete(fn) };
  }

  /** Stops publishing and drops every subscriber. */
  close(): void {
    this.#closed = true;
    this.#subs.clear();
  }

  /** True after `close()`. */
  get closed(): boolean {
    return this.#closed;
  }
}
