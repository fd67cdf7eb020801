/**
 * One endpoint of a balancer's pool: its service, Peak-EWMA load,
 * connection state (pending while it connects, failed and backing off after
 * a connect failure, ready, or removed) and breaker, and one request in
 * flight on it (`Dispatch`) (linkerd `reconnect` with `AlwaysReconnect`,
 * tower `ReadyCache` states, `PendingUntilFirstData`). The pool and its
 * choice are `pool.ts`.
 *
 * @module
 */
import type { FailureAccrualSpec } from "./breaker.ts";
import { backoffDelayMs, type BackoffSpec } from "./backoff.ts";
import {
  type BreakerPermit,
  type BreakerState,
  ConsecutiveFailures,
  type Outcome,
} from "./breaker.ts";
import type { Clock, TimerId } from "./clock.ts";
import {
  PeakEwma,
  type PeakEwmaHandle,
  type PeakEwmaOptions,
} from "./peak_ewma.ts";
import { parsePeerLoad, PeerLoad, type PeerLoadOptions } from "./peer_load.ts";

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

/** The shared state objects (compared by identity). */
export const CONNECTING: EndpointState = Object.freeze({
  kind: "pending",
  reason: "connecting",
});
export const BREAKER: EndpointState = Object.freeze({
  kind: "pending",
  reason: "breaker",
});
export const READY: EndpointState = Object.freeze({ kind: "ready" });
export const REMOVED: EndpointState = Object.freeze({ kind: "removed" });

/** The pool's side of an endpoint: everything a state change must update. */
export interface PoolHooks<S extends PoolService, M> {
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
