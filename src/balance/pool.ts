/**
 * The endpoint pool behind a balancer: each endpoint is pending while it
 * connects, failed (backing off) after a connect failure, ready, or removed;
 * discovery updates reset, add and remove endpoints; the choice is power of
 * two choices over the READY endpoints by Peak-EWMA load (linkerd
 * `pool/p2c` `P2cPool` over tower's `ReadyCache`, `proxy/balance`,
 * `reconnect` with `AlwaysReconnect`, `out/http/concrete/balance.rs`).
 *
 * @module
 */
import type { FailureAccrualSpec } from "./breaker.ts";
import {
  backoffDelayMs,
  type BackoffSpec,
  DEFAULT_CONNECT_BACKOFF,
} from "./backoff.ts";
import {
  type BreakerPermit,
  type BreakerState,
  ConsecutiveFailures,
  type Outcome,
} from "./breaker.ts";
import { type Clock, REAL_CLOCK, type TimerId } from "./clock.ts";
import { leastLoadedIndex, p2cIndex } from "./p2c.ts";
import {
  DEFAULT_EWMA,
  PeakEwma,
  type PeakEwmaHandle,
  type PeakEwmaOptions,
} from "./peak_ewma.ts";
import {
  parsePeerLoad,
  PeerLoad,
  type PeerLoadOptions,
  PeerLoadPool,
} from "./peer_load.ts";

/** Peak-EWMA parameters of every endpoint (see {@linkcode PeakEwmaOptions}). */
export type EwmaOptions = Omit<PeakEwmaOptions, "now">;

/** What the pool needs from an endpoint's service. */
export interface PoolService extends Disposable {
  /**
   * Resolves once the endpoint accepts connections, rejects when it does
   * not (linkerd `Reconnect` + `SpawnReady` driving the connect). Absent:
   * the endpoint is ready at once.
   */
  probe?(signal: AbortSignal): Promise<void>;
}

/**
 * The state of one endpoint in the pool (tower `ReadyCache`'s pending /
 * ready / failed, with linkerd's `AlwaysReconnect`: a failed connect never
 * evicts, it backs off and reconnects).
 */
export type EndpointState =
  /** Connecting (first connect or a reconnect), or its breaker is shut / probing. */
  | { readonly kind: "pending"; readonly reason: "connecting" | "breaker" }
  /** The last connect failed; reconnecting after a backoff. Counted as pending. */
  | {
    readonly kind: "failed";
    readonly error: unknown;
    /** Connect failures in a row (1 after the first). */
    readonly failures: number;
    /** When the next connect starts (clock ms). */
    readonly retryAtMs: number;
  }
  /** In the P2C set. */
  | { readonly kind: "ready" }
  /** Gone from discovery: finishes its in-flight requests, gets no new ones. */
  | { readonly kind: "removed" };

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

const CONNECTING: EndpointState = Object.freeze({
  kind: "pending",
  reason: "connecting",
});
const BREAKER: EndpointState = Object.freeze({
  kind: "pending",
  reason: "breaker",
});
const READY: EndpointState = Object.freeze({ kind: "ready" });
const REMOVED: EndpointState = Object.freeze({ kind: "removed" });

/** The pool's side of an endpoint: everything a state change must update. */
interface PoolHooks<S extends PoolService, M> {
  readonly clock: Clock;
  readonly random: () => number;
  readonly connectBackoff: BackoffSpec;
  changed(ep: PoolEndpoint<S, M>, prev: EndpointState): void;
  breakerChanged(to: BreakerState["kind"]): void;
}

/**
 * One endpoint in a {@linkcode P2cPool}: its service, Peak-EWMA load,
 * connection state and breaker.
 */
export class PoolEndpoint<S extends PoolService, M> {
  /** The pool key, "ip:port". */
  readonly key: string;
  readonly meta: M;
  readonly service: S;
  readonly #pool: PoolHooks<S, M>;
  readonly #ewma: PeakEwma;
  readonly #peer: PeerLoad | undefined;
  #state: EndpointState = CONNECTING;
  #conn: "connecting" | "failed" | "connected" = "connecting";
  #failures = 0;
  #abort: AbortController | undefined;
  #timer: TimerId | undefined;
  #breaker: ConsecutiveFailures | undefined;
  #inFlight = 0;
  #disposed = false;
  /** Index in the pool's ready array; −1 when not ready. */
  readyIndex = -1;

  constructor(
    key: string,
    meta: M,
    service: S,
    opts: {
      pool: PoolHooks<S, M>;
      ewma: EwmaOptions;
      failureAccrual: FailureAccrualSpec | undefined;
      peerLoad?: PeerLoadOptions | undefined;
    },
  ) {
    this.key = key;
    this.meta = meta;
    this.service = service;
    this.#pool = opts.pool;
    const clock = opts.pool.clock;
    this.#ewma = new PeakEwma({ ...opts.ewma, now: () => clock.now() });
    this.#breaker = this.#newBreaker(opts.failureAccrual);
    if (opts.peerLoad) this.#peer = new PeerLoad(opts.peerLoad);
  }

  /** The current state. */
  get state(): EndpointState {
    return this.#state;
  }

  /** The breaker's state, when failure accrual is configured. */
  get breaker(): BreakerState | undefined {
    return this.#breaker?.state;
  }

  /** Requests dispatched here whose response head has not arrived. */
  get inFlight(): number {
    return this.#inFlight;
  }

  /** The Peak-EWMA estimator (read-only use: tests, metrics). */
  get ewma(): PeakEwma {
    return this.#ewma;
  }

  /**
   * The cost of one more request here (tower `Load::load`): Peak-EWMA, or
   * the peer's reported load while fresh (`peerLoad` option).
   */
  load(nowMs?: number): number {
    const peer = this.#peer;
    if (peer === undefined) return this.#ewma.load(nowMs);
    const now = nowMs ?? this.#pool.clock.now();
    return peer.load(now, this.#inFlight, this.#ewma);
  }

  /** @internal A response carried the peer's load report (header value). */
  peerReport(value: string): void {
    const peer = this.#peer;
    if (peer === undefined) return;
    const r = parsePeerLoad(value);
    if (r !== undefined) peer.report(r, this.#pool.clock.now());
  }

  /**
   * Starts one request: counts it pending for Peak-EWMA, takes the breaker
   * permit (the probe, in probation). Settle the returned handle. `nowMs`
   * saves a clock read.
   */
  start(nowMs?: number): Dispatch {
    this.#inFlight++;
    this.#peer?.sent();
    const h = this.#ewma.start(nowMs);
    const permit = this.#breaker?.acquire();
    return new Dispatch(this, h, permit);
  }

  /** @internal Starts connecting (SpawnReady). */
  connect(): void {
    if (this.#state === REMOVED) return;
    const probe = this.service.probe;
    if (probe === undefined) {
      this.#connected();
      return;
    }
    this.#conn = "connecting";
    this.#refresh();
    const abort = new AbortController();
    this.#abort = abort;
    let probing: Promise<void>;
    try {
      probing = probe.call(this.service, abort.signal);
    } catch (err) {
      probing = Promise.reject(err);
    }
    probing.then(
      () => {
        if (abort.signal.aborted) return;
        this.#abort = undefined;
        this.#connected();
      },
      (err) => {
        if (abort.signal.aborted) return;
        this.#abort = undefined;
        this.#connectFailed(err);
      },
    );
  }

  /** @internal A request failed to connect: nothing was sent (linkerd `Reconnect` sees the error). */
  requestConnectFailed(err: unknown): void {
    // Only a connected endpoint changes: a probe or backoff is already running.
    if (this.#conn === "connected" && this.#state !== REMOVED) {
      this.#connectFailed(err);
    }
  }

  /** @internal */
  record(permit: BreakerPermit | undefined, outcome: Outcome): void {
    if (permit !== undefined && !this.#disposed) {
      this.#breaker?.record(permit, outcome);
    }
  }

  /** @internal A response arrived: the endpoint is reachable after all. */
  responded(): void {
    this.#peer?.answered();
    if (this.#conn !== "failed" || this.#state === REMOVED) return;
    if (this.#timer !== undefined) {
      this.#pool.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#connected();
  }

  /** @internal */
  settled(): void {
    this.#inFlight--;
    if (this.#inFlight === 0 && this.#state === REMOVED) this.#disposeService();
  }

  /** @internal Replaces the breaker (failure accrual changed); the gate reopens. */
  setFailureAccrual(spec: FailureAccrualSpec | undefined): void {
    if (this.#disposed) return;
    this.#breaker?.[Symbol.dispose]();
    this.#breaker = this.#newBreaker(spec);
    this.#refresh();
  }

  /**
   * @internal Leaves the pool: no new requests; the service is disposed once
   * the in-flight ones have their response heads (their bodies finish).
   */
  remove(): void {
    if (this.#state === REMOVED) return;
    this.#stop();
    const prev = this.#state;
    this.#state = REMOVED;
    this.#pool.changed(this, prev);
    if (this.#inFlight === 0) this.#disposeService();
  }

  /** @internal Disposes at once (the whole pool is going away). */
  dispose(): void {
    this.#stop();
    this.#state = REMOVED;
    this.#disposeService();
  }

  #newBreaker(
    spec: FailureAccrualSpec | undefined,
  ): ConsecutiveFailures | undefined {
    if (spec === undefined) return undefined;
    const pool = this.#pool;
    return new ConsecutiveFailures({
      spec,
      clock: pool.clock,
      random: pool.random,
      onChange: (next, prev) => {
        if (next.kind !== prev.kind) pool.breakerChanged(next.kind);
        this.#refresh();
      },
    });
  }

  #connected(): void {
    this.#conn = "connected";
    this.#failures = 0;
    this.#refresh();
  }

  #connectFailed(err: unknown): void {
    this.#conn = "failed";
    const failures = ++this.#failures;
    const clock = this.#pool.clock;
    const delayMs = backoffDelayMs(
      this.#pool.connectBackoff,
      failures - 1,
      this.#pool.random,
    );
    this.#setState({
      kind: "failed",
      error: err,
      failures,
      retryAtMs: clock.now() + delayMs,
    });
    this.#timer = clock.setTimeout(() => {
      this.#timer = undefined;
      this.connect();
    }, delayMs);
  }

  /** Recomputes the state from the connection and the breaker. */
  #refresh(): void {
    const s = this.#state;
    // Removed is final; "failed" holds its details until the reconnect starts.
    if (s === REMOVED || this.#conn === "failed") return;
    let next: EndpointState;
    if (this.#conn === "connecting") next = CONNECTING;
    else if (this.#breaker !== undefined && !this.#breaker.permits) {
      next = BREAKER;
    } else next = READY;
    if (next !== s) this.#setState(next);
  }

  #setState(next: EndpointState): void {
    const prev = this.#state;
    this.#state = next;
    this.#pool.changed(this, prev);
  }

  #stop(): void {
    this.#abort?.abort();
    this.#abort = undefined;
    if (this.#timer !== undefined) {
      this.#pool.clock.clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#breaker?.[Symbol.dispose]();
  }

  #disposeService(): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.service[Symbol.dispose]();
  }
}

/**
 * One request in flight on a {@linkcode PoolEndpoint}: report its first
 * response frame, its class and when its dispatch settled.
 */
export class Dispatch {
  // deno-lint-ignore no-explicit-any
  readonly #ep: PoolEndpoint<any, any>;
  readonly #ewma: PeakEwmaHandle;
  readonly #permit: BreakerPermit | undefined;
  #classified = false;
  #settled = false;

  constructor(
    // deno-lint-ignore no-explicit-any
    ep: PoolEndpoint<any, any>,
    ewma: PeakEwmaHandle,
    permit: BreakerPermit | undefined,
  ) {
    this.#ep = ep;
    this.#ewma = ewma;
    this.#permit = permit;
  }

  /** The endpoint this request went to. */
  // deno-lint-ignore no-explicit-any
  get endpoint(): PoolEndpoint<any, any> {
    return this.#ep;
  }

  /** When the request started (clock ms). */
  get sentAtMs(): number {
    return this.#ewma.sentAtMs;
  }

  /**
   * The response's first body frame (or its end, or the head of a response
   * without body): the Peak-EWMA RTT sample (linkerd `PendingUntilFirstData`).
   * Returns the clock time it read (undefined when called again).
   */
  firstFrame(): number | undefined {
    return this.#ewma.complete();
  }

  /** The response carried a peer load report (`l5d-petrel-load` value). */
  peerLoad(value: string): void {
    this.#ep.peerReport(value);
  }

  /** The response's final class, for the breaker (once; later calls are ignored). */
  classified(outcome: Outcome): void {
    if (this.#classified) return;
    this.#classified = true;
    this.#ep.record(this.#permit, outcome);
  }

  /**
   * The response head arrived (`responded`), or the call failed. A response
   * from a `failed` endpoint makes it ready at once (it is reachable again).
   */
  settled(responded: boolean): void {
    if (this.#settled) return;
    this.#settled = true;
    if (responded) this.#ep.responded();
    this.#ep.settled();
  }

  /**
   * The request never reached the endpoint (its connect failed): no RTT
   * sample, no class; the endpoint goes to `failed` and reconnects.
   */
  connectFailed(err: unknown): void {
    this.#ewma.cancel();
    this.classified("none");
    this.#ep.requestConnectFailed(err);
    this.settled(false);
  }
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
    const n = ready.length;
    if (n <= 1) return ready[0];
    if (n <= this.#scanBelow) {
      return ready[leastLoadedIndex(ready, this.#hooks.clock.now())];
    }
    // p2cIndex() inlined to read the clock once for both loads.
    const random = this.#random;
    const i = Math.floor(random() * n);
    let j = Math.floor(random() * (n - 1));
    if (j >= i) j++;
    const a = ready[i]!, b = ready[j]!;
    const now = this.#hooks.clock.now();
    return b.load(now) < a.load(now) ? b : a;
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
    const ready = this.#ready;
    const n = ready.length;
    if (n === 0) return undefined;
    const now = this.#hooks.clock.now();
    let ep: PoolEndpoint<S, M>;
    if (n === 1) ep = ready[0]!;
    else if (n <= this.#scanBelow) ep = ready[leastLoadedIndex(ready, now)]!;
    else {
      const random = this.#random;
      const i = Math.floor(random() * n);
      let j = Math.floor(random() * (n - 1));
      if (j >= i) j++;
      const a = ready[i]!, b = ready[j]!;
      ep = b.load(now) < a.load(now) ? b : a;
    }
    return ep.start(now);
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
