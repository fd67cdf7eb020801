/**
 * The endpoint pool behind a balancer: each endpoint is pending while it
 * connects, failed (backing off) after a connect failure, ready, or removed;
 * discovery updates reset, add and remove endpoints; the choice is power of
 * two choices over the READY endpoints by Peak-EWMA load (linkerd
 * `pool/p2c` `P2cPool` over tower's `ReadyCache`, `proxy/balance`,
 * `reconnect` with `AlwaysReconnect`, `out/http/concrete/balance.rs`). One
 * endpoint and its states are `pool_endpoint.ts`.
 *
 * @module
 */
import { type BackoffSpec, DEFAULT_CONNECT_BACKOFF } from "./backoff.ts";
import type { BreakerState, FailureAccrualSpec } from "./breaker.ts";
import { type Clock, REAL_CLOCK } from "./clock.ts";
import { leastLoadedIndex, p2cIndex } from "./p2c.ts";
import { DEFAULT_EWMA } from "./peak_ewma.ts";
import { type PeerLoadOptions, PeerLoadPool } from "./peer_load.ts";
import {
  CONNECTING,
  type Dispatch,
  type EndpointState,
  type EwmaOptions,
  PoolEndpoint,
  type PoolHooks,
  type PoolService,
  READY,
} from "./pool_endpoint.ts";

export {
  Dispatch,
  type EndpointState,
  type EwmaOptions,
  PoolEndpoint,
  type PoolService,
} from "./pool_endpoint.ts";

/** Balancer metric handle the pool reports into (linkerd `P2cMetrics`, `GaugeBalancerEndpoint`). */
export interface PoolMetrics {
  /** Endpoint counts by state (`outbound_http_balancer_endpoints{endpoint_state}`). */
  endpoints(ready: number, pending: number): void;
  /** A discovery update was applied (`outbound_http_balancer_p2c_updates_total{op}`). */
  update(op: "Reset" | "Add" | "Remove"): void;
  /** A breaker changed gate. */
  breaker(to: BreakerState["kind"]): void;
}

/** How the pool chooses among its ready endpoints. */
export interface ChooseOptions {
  /**
   * Compare every ready endpoint (least Peak-EWMA load) while there are at
   * most this many; P2C above. 0 is linkerd's behaviour (always P2C).
   * @default {0}
   */
  scanBelow?: number;
  /**
   * Use the load peer proxies report on responses where a fresh report
   * exists, Peak-EWMA elsewhere (`peer_load.ts`; not in linkerd). Absent:
   * Peak-EWMA only.
   * @default {undefined}
   */
  peerLoad?: PeerLoadOptions | undefined;
}

/** Options of {@linkcode P2cPool}. */
export interface P2cPoolOptions<S extends PoolService, M>
  extends ChooseOptions {
  /** Builds an endpoint's service (linkerd `NewService` for the endpoint stack). */
  newService: (key: string, meta: M) => S;
  /**
   * Equal metadata keeps an endpoint through `reset`/`add`; different rebuilds it.
   * @default {Object.is}
   */
  sameMeta?: (a: M, b: M) => boolean;
  /** @default {Math.random} */
  random?: () => number;
  /** @default {REAL_CLOCK} */
  clock?: Clock;
  /** @default {DEFAULT_EWMA} (30 ms, 10 s) */
  ewma?: EwmaOptions;
  /** Reconnect backoff after a connect failure. @default {DEFAULT_CONNECT_BACKOFF} */
  connectBackoff?: BackoffSpec;
  /** Per-endpoint circuit breaking; absent = none. */
  failureAccrual?: FailureAccrualSpec | undefined;
  /**
   * The queue in front may dispatch: an endpoint joined the ready set, or
   * (none ready) one failed, so requests may try the failed ones.
   */
  onReady?: () => void;
  /** Every endpoint state change (for logs). */
  onStateChange?: (ep: PoolEndpoint<S, M>, state: EndpointState) => void;
  metrics?: PoolMetrics;
}

/**
 * The pool of a balancer: endpoints by key, the ready set, and the choice
 * (linkerd `P2cPool`: `reset_pool`, `add_endpoint`, `remove_endpoint`,
 * `p2c_ready_index`).
 *
 * @example
 * ```ts ignore
 * const pool = new P2cPool({ newService: (key) => connectTo(key) });
 * pool.reset([["10.0.0.1:80", meta1], ["10.0.0.2:80", meta2]]);
 * const ep = pool.pick(); // undefined until one is ready
 * ```
 */
export class P2cPool<S extends PoolService, M> implements Disposable {
  readonly #endpoints = new Map<string, PoolEndpoint<S, M>>();
  readonly #ready: PoolEndpoint<S, M>[] = [];
  readonly #newService: (key: string, meta: M) => S;
  readonly #sameMeta: (a: M, b: M) => boolean;
  readonly #random: () => number;
  readonly #hooks: PoolHooks<S, M>;
  readonly #ewma: EwmaOptions;
  readonly #scanBelow: number;
  readonly #peerLoad: PeerLoadOptions | undefined;
  readonly #onReady: (() => void) | undefined;
  readonly #onStateChange: P2cPoolOptions<S, M>["onStateChange"];
  readonly #metrics: PoolMetrics | undefined;
  #failureAccrual: FailureAccrualSpec | undefined;
  #disposed = false;

  constructor(opts: P2cPoolOptions<S, M>) {
    this.#newService = opts.newService;
    this.#sameMeta = opts.sameMeta ?? Object.is;
    const random = this.#random = opts.random ?? Math.random;
    this.#ewma = opts.ewma ?? DEFAULT_EWMA;
    this.#scanBelow = opts.scanBelow ?? 0;
    this.#peerLoad = opts.peerLoad &&
      { ...opts.peerLoad, pool: opts.peerLoad.pool ?? new PeerLoadPool() };
    this.#onReady = opts.onReady;
    this.#onStateChange = opts.onStateChange;
    this.#metrics = opts.metrics;
    this.#failureAccrual = opts.failureAccrual;
    this.#hooks = {
      clock: opts.clock ?? REAL_CLOCK,
      random,
      connectBackoff: opts.connectBackoff ?? DEFAULT_CONNECT_BACKOFF,
      changed: (ep, prev) => this.#changed(ep, prev),
      breakerChanged: (to) => this.#metrics?.breaker(to),
    };
  }

  /** Endpoints in the pool (removed ones draining are not counted). */
  get size(): number {
    return this.#endpoints.size;
  }

  /** Endpoints in the ready set. */
  get readyCount(): number {
    return this.#ready.length;
  }

  /** The endpoint at `key`, if in the pool. */
  get(key: string): PoolEndpoint<S, M> | undefined {
    return this.#endpoints.get(key);
  }

  /** The endpoints in the pool. */
  endpoints(): IterableIterator<PoolEndpoint<S, M>> {
    return this.#endpoints.values();
  }

  /**
   * Chooses a ready endpoint: P2C by Peak-EWMA load (a full scan while at
   * most `scanBelow` are ready), or undefined when none is ready.
   */
  pick(): PoolEndpoint<S, M> | undefined {
    const ready = this.#ready;
    // One endpoint needs no clock read.
    return ready.length <= 1 ? ready[0] : this.#choose(this.#hooks.clock.now());
  }

  /**
   * The one choice of {@linkcode P2cPool.pick} and {@linkcode P2cPool.start}:
   * the only ready endpoint, the least loaded while at most `scanBelow` are
   * ready, else P2C (linkerd `p2c_ready_index`); `now` is read once for
   * every load compared.
   */
  #choose(now: number): PoolEndpoint<S, M> | undefined {
    const ready = this.#ready;
    const n = ready.length;
    if (n <= 1) return ready[0];
    if (n <= this.#scanBelow) return ready[leastLoadedIndex(ready, now)];
    return ready[p2cIndex(ready, this.#random, now)];
  }

  /** Endpoints connecting now (a first connect or a reconnect in progress). */
  get connectingCount(): number {
    let n = 0;
    for (const ep of this.#endpoints.values()) {
      if (ep.state === CONNECTING) n++;
    }
    return n;
  }

  /**
   * With no ready endpoint and none connecting, one of the `failed`
   * endpoints (P2C among them), for a request to try connecting itself, as
   * linkerd's HTTP/1 client connects per request; undefined otherwise (the
   * request should wait for a connect in progress, or the pool is empty or
   * every endpoint's breaker is shut).
   */
  pickFallback(): PoolEndpoint<S, M> | undefined {
    if (this.#ready.length > 0) return undefined;
    const failed: PoolEndpoint<S, M>[] = [];
    for (const ep of this.#endpoints.values()) {
      if (ep.state === CONNECTING) return undefined;
      if (ep.state.kind === "failed") failed.push(ep);
    }
    return failed[p2cIndex(failed, this.#random)];
  }

  /**
   * Picks a ready endpoint as {@linkcode P2cPool.pick} and starts a request
   * on it, reading the clock once for both; undefined when none is ready.
   */
  start(): Dispatch | undefined {
    if (this.#ready.length === 0) return undefined;
    const now = this.#hooks.clock.now();
    return this.#choose(now)!.start(now);
  }

  /**
   * Makes the pool exactly `entries`: unchanged endpoints are kept (with
   * their load and state), changed ones rebuilt, missing ones removed
   * (linkerd `P2cPool::reset_pool`).
   */
  reset(entries: Iterable<readonly [string, M]>): void {
    const seen = new Set<string>();
    for (const [key, meta] of entries) {
      if (seen.has(key)) continue;
      seen.add(key);
      this.#add(key, meta);
    }
    for (const key of [...this.#endpoints.keys()]) {
      if (!seen.has(key)) this.#remove(key);
    }
    this.#metrics?.update("Reset");
  }

  /**
   * Adds an endpoint, or rebuilds it when its metadata changed; no-op when
   * equal (linkerd `add_endpoint`).
   */
  add(key: string, meta: M): void {
    this.#add(key, meta);
    this.#metrics?.update("Add");
  }

  /** Removes an endpoint; unknown keys are ignored (linkerd `remove_endpoint`). */
  remove(key: string): void {
    this.#remove(key);
    this.#metrics?.update("Remove");
  }

  /** Replaces every endpoint's breaker when the spec changed (gates reopen). */
  setFailureAccrual(spec: FailureAccrualSpec | undefined): void {
    this.#failureAccrual = spec;
    for (const ep of this.#endpoints.values()) ep.setFailureAccrual(spec);
  }

  /** Disposes every endpoint at once (in-flight bodies finish on their connections). */
  [Symbol.dispose](): void {
    this.#disposed = true;
    for (const ep of this.#endpoints.values()) ep.dispose();
    this.#endpoints.clear();
    this.#ready.length = 0;
    this.#metrics?.endpoints(0, 0);
  }

  #add(key: string, meta: M): void {
    if (this.#disposed) return;
    const old = this.#endpoints.get(key);
    if (old !== undefined) {
      if (this.#sameMeta(old.meta, meta)) return;
      this.#remove(key);
    }
    const ep = new PoolEndpoint(key, meta, this.#newService(key, meta), {
      pool: this.#hooks,
      ewma: this.#ewma,
      failureAccrual: this.#failureAccrual,
      peerLoad: this.#peerLoad,
    });
    this.#endpoints.set(key, ep);
    this.#reportCounts();
    ep.connect();
  }

  #remove(key: string): void {
    const ep = this.#endpoints.get(key);
    if (ep === undefined) return;
    this.#endpoints.delete(key);
    ep.remove();
    this.#reportCounts();
  }

  /** Keeps the ready array in step with one endpoint's state. */
  #changed(ep: PoolEndpoint<S, M>, prev: EndpointState): void {
    const ready = this.#ready;
    const isReady = ep.state === READY;
    let joined = false;
    if (isReady && ep.readyIndex < 0) {
      ep.readyIndex = ready.length;
      ready.push(ep);
      joined = true;
    } else if (!isReady && ep.readyIndex >= 0) {
      const last = ready.pop()!;
      if (last !== ep) {
        ready[ep.readyIndex] = last;
        last.readyIndex = ep.readyIndex;
      }
      ep.readyIndex = -1;
    }
    if (prev !== ep.state) this.#onStateChange?.(ep, ep.state);
    this.#reportCounts();
    // A ready endpoint, or (none ready) a failed one that requests may try.
    if (joined || (ready.length === 0 && ep.state.kind === "failed")) {
      this.#onReady?.();
    }
  }

  #reportCounts(): void {
    const m = this.#metrics;
    if (m === undefined) return;
    const ready = this.#ready.length;
    m.endpoints(ready, this.#endpoints.size - ready);
  }
}
