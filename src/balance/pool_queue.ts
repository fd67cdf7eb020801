/**
 * The bounded queue in front of a pool, with the failfast gate: requests
 * wait here while no endpoint is ready; when none becomes ready within the
 * failfast timeout the waiting requests fail with `FailFastError` (504) and
 * the gate shuts, so new requests fail at once with `LoadShedError` (503),
 * until an endpoint is ready again (linkerd `proxy/balance/queue`
 * `PoolQueue` + worker, `stack/src/failfast.rs`, `Gate`).
 *
 * @module
 */
import { FailFastError, LoadShedError } from "../errors.ts";
import { type Clock, REAL_CLOCK, type TimerId } from "./clock.ts";

/**
 * The failfast gate (linkerd worker states + `gate::State`): open with no
 * one waiting, waiting (requests queued and the failfast timer running), or
 * failfast (gate shut).
 */
export type GateState =
  | { readonly kind: "open" }
  | { readonly kind: "waiting"; readonly sinceMs: number }
  | { readonly kind: "failfast"; readonly sinceMs: number };

/** A queued request: the queue fails it on failfast or disposal. */
export interface Queued {
  fail(err: Error): void;
}

/** Queue metric handle (linkerd `outbound_http_balancer_queue_*`). */
export interface QueueMetrics {
  /** Requests waiting now (`…_queue_length`). */
  length(n: number): void;
  /** The gate opened (`…_queue_gate_open_total`) or shut (`…_queue_gate_shut_total`). */
  gate(open: boolean): void;
  /** A queued request failed with FailFastError. */
  failfast(): void;
  /** A request was refused at once with LoadShedError (gate shut or queue full). */
  loadshed(): void;
}

/** Options of {@linkcode PoolQueue}. */
export interface PoolQueueOptions {
  /** Most requests waiting (linkerd `OUTBOUND_HTTP_QUEUE_CAPACITY`, 10 000). */
  capacity: number;
  /** How long requests wait for a ready endpoint (linkerd `OUTBOUND_HTTP_FAILFAST_TIMEOUT`, 3 s). */
  failfastTimeoutMs: number;
  /** The backend's name, for errors. */
  backend: string;
  /** @default {REAL_CLOCK} */
  clock?: Clock;
  metrics?: QueueMetrics;
  /** Gate changes, for logs ("Unavailable; entering failfast" / "Available; exited failfast"). */
  onGate?: (state: GateState) => void;
}

const OPEN: GateState = Object.freeze({ kind: "open" });

/**
 * The request queue and failfast gate of one balancer (linkerd `PoolQueue`).
 *
 * @example
 * ```ts ignore
 * const q = new PoolQueue({ capacity: 10_000, failfastTimeoutMs: 3000, backend: "web:80" });
 * const shed = q.push(item); // LoadShedError when shut or full
 * pool.onReady = () => q.drain((item) => dispatchIfReady(item));
 * ```
 */
export class PoolQueue<T extends Queued> implements Disposable {
  readonly #capacity: number;
  readonly #failfastMs: number;
  readonly #backend: string;
  readonly #clock: Clock;
  readonly #metrics: QueueMetrics | undefined;
  readonly #onGate: ((state: GateState) => void) | undefined;
  readonly #items = new Ring<T>();
  #state: GateState = OPEN;
  #timer: TimerId | undefined;

  constructor(opts: PoolQueueOptions) {
    this.#capacity = opts.capacity;
    this.#failfastMs = opts.failfastTimeoutMs;
    this.#backend = opts.backend;
    this.#clock = opts.clock ?? REAL_CLOCK;
    this.#metrics = opts.metrics;
    this.#onGate = opts.onGate;
  }

  /** The gate's state. */
  get state(): GateState {
    return this.#state;
  }

  /** Requests waiting. */
  get length(): number {
    return this.#items.length;
  }

  /**
   * Queues `item` to wait for a ready endpoint. Returns the error to fail
   * it with instead when the gate is shut (failfast) or the queue is full.
   */
  push(item: T): LoadShedError | undefined {
    if (this.#state.kind === "failfast") {
      this.#metrics?.loadshed();
      return new LoadShedError(`${this.#backend}: service in fail-fast`);
    }
    if (this.#items.length >= this.#capacity) {
      this.#metrics?.loadshed();
      return new LoadShedError(`${this.#backend}: request queue is full`);
    }
    this.#items.push(item);
    this.#metrics?.length(this.#items.length);
    if (this.#state.kind === "open") this.#wait();
    return undefined;
  }

  /** Withdraws a waiting item (its client went away); false if not queued. */
  cancel(item: T): boolean {
    if (!this.#items.remove(item)) return false;
    this.#metrics?.length(this.#items.length);
    if (this.#items.length === 0 && this.#state.kind === "waiting") {
      this.#stopTimer();
      this.#state = OPEN;
    }
    return true;
  }

  /**
   * An endpoint is ready: leaves failfast, then hands waiting items to
   * `dispatch` in order until it returns false (no ready endpoint left).
   */
  drain(dispatch: (item: T) => boolean): void {
    if (this.#state.kind === "failfast") {
      this.#state = OPEN;
      this.#metrics?.gate(true);
      this.#onGate?.(OPEN);
    }
    const items = this.#items;
    if (items.length === 0) return;
    let progress = false;
    while (items.length > 0) {
      if (!dispatch(items.peek()!)) break;
      items.shift();
      progress = true;
    }
    if (!progress) return;
    this.#metrics?.length(items.length);
    this.#stopTimer();
    this.#state = OPEN;
    // Requests still waiting start a new wait (linkerd's worker times each wait).
    if (items.length > 0) this.#wait();
  }

  /** Fails every waiting item with `err` and stops the timer. */
  [Symbol.dispose](): void {
    this.#stopTimer();
    this.#failAll(() => new LoadShedError(`${this.#backend}: backend closed`));
  }

  #wait(): void {
    const sinceMs = this.#clock.now();
    this.#state = { kind: "waiting", sinceMs };
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#state = { kind: "failfast", sinceMs: this.#clock.now() };
      this.#metrics?.gate(false);
      this.#onGate?.(this.#state);
      this.#failAll(() => {
        this.#metrics?.failfast();
        return new FailFastError(this.#backend, this.#failfastMs);
      });
    }, this.#failfastMs);
  }

  #failAll(err: () => Error): void {
    const items = this.#items;
    if (items.length === 0) return;
    const failed: T[] = [];
    while (items.length > 0) failed.push(items.shift()!);
    this.#metrics?.length(0);
    for (const item of failed) item.fail(err());
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) {
      this.#clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }
}

/** A growable ring buffer (undici `FixedQueue`; never `Array.shift` on a big array). */
class Ring<T> {
  #buf: (T | undefined)[] = new Array(16);
  #head = 0;
  #length = 0;

  get length(): number {
    return this.#length;
  }

  push(item: T): void {
    if (this.#length === this.#buf.length) this.#grow();
    this.#buf[(this.#head + this.#length) % this.#buf.length] = item;
    this.#length++;
  }

  peek(): T | undefined {
    return this.#length === 0 ? undefined : this.#buf[this.#head];
  }

  shift(): T | undefined {
    if (this.#length === 0) return undefined;
    const item = this.#buf[this.#head];
    this.#buf[this.#head] = undefined;
    this.#head = (this.#head + 1) % this.#buf.length;
    this.#length--;
    return item;
  }

  /** Removes `item` (O(n); for the rare cancel). */
  remove(item: T): boolean {
    const n = this.#length;
    const cap = this.#buf.length;
    for (let k = 0; k < n; k++) {
      if (this.#buf[(this.#head + k) % cap] !== item) continue;
      for (let m = k; m < n - 1; m++) {
        this.#buf[(this.#head + m) % cap] =
          this.#buf[(this.#head + m + 1) % cap];
      }
      this.#buf[(this.#head + n - 1) % cap] = undefined;
      this.#length--;
      return true;
    }
    return false;
  }

  #grow(): void {
    const old = this.#buf;
    const next = new Array<T | undefined>(old.length * 2);
    for (let k = 0; k < this.#length; k++) {
      next[k] = old[(this.#head + k) % old.length];
    }
    this.#buf = next;
    this.#head = 0;
  }
}
