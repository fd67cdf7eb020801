/**
 * A concrete backend: the endpoints of one service kept in sync with
 * discovery, the choice among the ready ones, and the queue with its
 * failfast gate in front (linkerd `out/http/concrete.rs`,
 * `out/http/concrete/balance.rs`, `proxy/balance`, `pool/p2c`,
 * `proxy/balance/queue`).
 *
 * Per request: power of two choices over READY endpoints by Peak-EWMA
 * load; with no ready endpoint the request waits in the queue, and fails
 * with `FailFastError` (504) when none becomes ready within the failfast
 * timeout, after which new requests fail at once with `LoadShedError` (503)
 * until an endpoint is ready again.
 *
 * Endpoints connect eagerly (a TCP probe; linkerd `SpawnReady`) and
 * reconnect with backoff after a failed connect (linkerd `AlwaysReconnect`):
 * a refused or timed-out connect makes the endpoint pending, never an error
 * of its own. A request whose connect failed sent nothing, so it is
 * dispatched again to another endpoint when one is ready or connecting,
 * for any method. With no endpoint ready or connecting, a request tries a
 * failed endpoint itself and its connect error is the answer (502, or 504
 * for a connect timeout), as linkerd's per-request HTTP/1 connect; a
 * response from it makes the endpoint ready at once.
 *
 * @module
 */
import type { BackoffSpec } from "../../balance/backoff.ts";
import type { Clock } from "../../balance/clock.ts";
import {
  type Dispatch,
  type EwmaOptions,
  P2cPool,
  type PoolEndpoint,
} from "../../balance/pool.ts";
import {
  type GateState,
  PoolQueue,
  type Queued,
} from "../../balance/pool_queue.ts";
import type { FailureAccrualSpec } from "../../balance/breaker.ts";
import type {
  EndpointMeta,
  ServiceState,
  UpstreamProtocol,
} from "../../discovery/resolve.ts";
import type { HttpRequest, HttpResponse } from "../../http/message.ts";
import type { HttpBalancerMetrics } from "../../metrics/registry.ts";
import type { Watch } from "../../svc/watch.ts";
import type { LiveBalancer, OutboundCtx } from "../runtime.ts";
import type { EndpointTarget, HttpEndpoint } from "./endpoint.ts";
import { backendLabels } from "../../metrics/balancer.ts";
import type { NewService } from "../../svc/service.ts";

/** The target of a concrete stack (linkerd `Concrete`). */
export interface ConcreteTarget {
  /** The logical service, "host:port". */
  readonly logical: string;
  readonly state: Watch<ServiceState>;
  /**
   * Labels of the balancer metrics (linkerd's parent + backend labels).
   * @default {default-kind parent and backend named after `logical`}
   */
  readonly metricLabels?: Readonly<Record<string, string>>;
}

/** Options of {@linkcode Balancer}, mostly for tests and the simulation. */
export interface BalancerOptions {
  /** @default {REAL_CLOCK} */
  clock?: Clock;
  /** @default {ctx.random} */
  random?: () => number;
  /** @default {ctx.settings.connectBackoff, else 100 ms → 60 s, jitter 0.1} */
  connectBackoff?: BackoffSpec;
  /** Peak-EWMA parameters. @default {30 ms default RTT, 10 s decay} */
  ewma?: EwmaOptions;
  /**
   * Compare every ready endpoint while at most this many are ready (P2C
   * above). @default {DEFAULT_SCAN_BELOW}
   */
  scanBelow?: number;
}

/**
 * Ready endpoints up to which the balancer compares all of them instead of
 * two at random. 0 = linkerd's pure P2C: in bench/lb_sim.ts the full scan
 * of small pools helped some loaded small-pool scenarios but was worse in
 * others (and no different on the wire), so it is not the default.
 */
export const DEFAULT_SCAN_BELOW = 0;

/** What the pool keeps per endpoint: its discovery metadata and protocol. */
interface PoolMeta {
  readonly meta: EndpointMeta;
  readonly protocol: UpstreamProtocol;
}

type Endpoint = PoolEndpoint<HttpEndpoint, PoolMeta>;

/** A request waiting in the queue. */
class Waiting implements Queued {
  readonly req: HttpRequest;
  readonly attempt: number;
  readonly resolve: (rsp: Promise<HttpResponse>) => void;
  readonly reject: (err: unknown) => void;
  onAbort: (() => void) | undefined;

  constructor(
    req: HttpRequest,
    attempt: number,
    resolve: (rsp: Promise<HttpResponse>) => void,
    reject: (err: unknown) => void,
  ) {
    this.req = req;
    this.attempt = attempt;
    this.resolve = resolve;
    this.reject = reject;
  }

  detach(): void {
    if (this.onAbort) {
      this.req.ext.signal?.removeEventListener("abort", this.onAbort);
      this.onAbort = undefined;
    }
  }

  fail(err: Error): void {
    this.detach();
    this.reject(err);
  }
}

/** Builds the endpoint stack of one endpoint (linkerd's endpoint NewService). */
export type NewEndpoint = NewService<EndpointTarget, HttpEndpoint>;

/** Builds the concrete stack of one backend (linkerd's concrete NewService). */
export type NewConcrete = NewService<ConcreteTarget, Balancer>;

/**
 * The concrete stage: one P2C balancer with its failfast queue per backend
 * target, over endpoint stacks built by `newEndpoint` (linkerd
 * `out/http/concrete.rs`, `push_concrete`).
 */
export function newHttpConcrete(
  ctx: OutboundCtx,
  newEndpoint: NewEndpoint,
  opts: BalancerOptions = {},
): NewConcrete {
  return (t) => new Balancer(ctx, t, newEndpoint, opts);
}

/** Balances requests over a service's endpoints (linkerd `Balance` + `PoolQueue`). */
export class Balancer implements Disposable {
  readonly #ctx: OutboundCtx;
  readonly #target: ConcreteTarget;
  readonly #live: Set<LiveBalancer> | undefined;
  readonly #pool: P2cPool<HttpEndpoint, PoolMeta>;
  readonly #queue: PoolQueue<Waiting>;
  readonly #metrics: HttpBalancerMetrics | undefined;
  readonly #sub: Disposable;
  #failureAccrual: FailureAccrualSpec | undefined;

  constructor(
    ctx: OutboundCtx,
    target: ConcreteTarget,
    newEndpoint: (t: EndpointTarget) => HttpEndpoint,
    opts: BalancerOptions = {},
  ) {
    this.#ctx = ctx;
    this.#target = target;
    const logical = target.logical;
    const { httpQueueCapacity, httpFailfastTimeoutMs } = ctx.settings;
    this.#metrics = balancerMetrics(ctx, target, httpFailfastTimeoutMs);
    const initial = target.state.get();
    this.#failureAccrual = initial.failureAccrual;
    const log = ctx.log;
    this.#queue = new PoolQueue<Waiting>({
      capacity: httpQueueCapacity,
      failfastTimeoutMs: httpFailfastTimeoutMs,
      backend: logical,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
      onGate: (s) =>
        log.info(
          s.kind === "failfast"
            ? "Unavailable; entering failfast"
            : "Available; exited failfast",
          { backend: logical },
        ),
    });
    const connectBackoff = opts.connectBackoff ?? ctx.settings.connectBackoff;
    this.#pool = new P2cPool<HttpEndpoint, PoolMeta>({
      newService: (_key, m) =>
        newEndpoint({ logical, protocol: m.protocol, meta: m.meta }),
      sameMeta,
      random: opts.random ?? ctx.random,
      scanBelow: opts.scanBelow ?? DEFAULT_SCAN_BELOW,
      // Fixed when the balancer is built (a changed kind applies to new balancers).
      peerLoad: initial.loadBalancer === "peer-load" ? {} : undefined,
      failureAccrual: initial.failureAccrual,
      ...(opts.clock ? { clock: opts.clock } : {}),
      ...(opts.ewma ? { ewma: opts.ewma } : {}),
      ...(connectBackoff ? { connectBackoff } : {}),
      ...(this.#metrics ? { metrics: this.#metrics } : {}),
      onReady: () => this.#queue.drain(this.#dispatchWaiting),
      onStateChange: (ep, s) =>
        log.debug("endpoint state", {
          backend: logical,
          addr: ep.key,
          state: s.kind,
          ...(s.kind === "failed"
            ? {
              error: s.error instanceof Error
                ? s.error.message
                : String(s.error),
            }
            : {}),
        }),
    });
    this.#update(initial);
    this.#sub = target.state.subscribe((s) => this.#update(s));
    this.#live = ctx.balancers;
    this.#live?.add(this);
  }

  /** Endpoints in the pool (not counting removed ones still draining). */
  get size(): number {
    return this.#pool.size;
  }

  /** Endpoints ready for requests. */
  get readyCount(): number {
    return this.#pool.readyCount;
  }

  /** The failfast gate: while `failfast`, requests are shed (503). */
  get gate(): GateState {
    return this.#queue.state;
  }

  /**
   * False while in failfast (linkerd: the backend's `Gate` is shut, so a
   * route's distributor skips it and `LoadShed` answers 503).
   */
  get available(): boolean {
    return this.#queue.state.kind !== "failfast" || this.#pool.readyCount > 0;
  }

  /** The pool (read-only use: tests, diagnostics). */
  get pool(): P2cPool<HttpEndpoint, PoolMeta> {
    return this.#pool;
  }

  /** Dispatches `req` to a ready endpoint, or queues it until one is ready. */
  call(req: HttpRequest): Promise<HttpResponse> {
    this.#metrics?.request();
    return this.#call(req, 0);
  }

  /** The logical service this balancer serves. */
  get logical(): string {
    return this.#target.logical;
  }

  [Symbol.dispose](): void {
    this.#live?.delete(this);
    this.#sub[Symbol.dispose]();
    this.#queue[Symbol.dispose]();
    this.#pool[Symbol.dispose]();
    this.#metrics?.[Symbol.dispose]();
  }

  /** Starts a request on a ready endpoint, else on a failed one to try when none is connecting. */
  #start(): Dispatch | undefined {
    return this.#pool.start() ?? this.#pool.pickFallback()?.start();
  }

  #call(req: HttpRequest, attempt: number): Promise<HttpResponse> {
    const d = this.#start();
    if (d !== undefined) return this.#dispatch(d, req, attempt);
    return new Promise<HttpResponse>((resolve, reject) => {
      const w = new Waiting(req, attempt, resolve, reject);
      const shed = this.#queue.push(w);
      if (shed !== undefined) {
        reject(shed);
        return;
      }
      const signal = req.ext.signal;
      if (signal !== undefined) {
        w.onAbort = () => {
          if (this.#queue.cancel(w)) w.fail(toError(signal.reason));
        };
        signal.addEventListener("abort", w.onAbort, { once: true });
      }
    });
  }

  /** The queue's dispatch: false when no endpoint is ready. */
  #dispatchWaiting = (w: Waiting): boolean => {
    const d = this.#start();
    if (d === undefined) return false;
    w.detach();
    w.resolve(this.#dispatch(d, w.req, w.attempt));
    return true;
  };

  #dispatch(
    d: Dispatch,
    req: HttpRequest,
    attempt: number,
  ): Promise<HttpResponse> {
    const ep: Endpoint = d.endpoint;
    const svc = ep.service;
    let p: Promise<HttpResponse>;
    try {
      p = svc.call !== undefined
        ? svc.call(req, d)
        : svc.service(req).then((rsp) => {
          d.firstFrame();
          return rsp;
        });
    } catch (err) {
      p = Promise.reject(err);
    }
    return p.then(
      (rsp) => {
        d.settled(true);
        return rsp;
      },
      (err) => this.#failed(ep, d, req, attempt, err),
    );
  }

  #failed(
    ep: Endpoint,
    d: Dispatch,
    req: HttpRequest,
    attempt: number,
    err: unknown,
  ): Promise<HttpResponse> {
    if (ep.service.isConnectError?.(err)) {
      // Nothing was sent: the endpoint reconnects (AlwaysReconnect). The
      // request goes to another endpoint when one is ready or connecting;
      // otherwise the connect error is the answer (502/504), as linkerd's
      // HTTP/1 client answers a refused connect.
      d.connectFailed(err);
      const pool = this.#pool;
      if (
        !req.ext.signal?.aborted && attempt < pool.size &&
        (pool.readyCount > 0 || pool.connectingCount > 0)
      ) {
        this.#ctx.log.debug("connect failed; dispatching elsewhere", {
          backend: this.#target.logical,
          addr: ep.key,
          error: err instanceof Error ? err.message : String(err),
        });
        return this.#call(req, attempt + 1);
      }
      return Promise.reject(err);
    }
    if (ep.service.call === undefined) {
      d.firstFrame();
      d.classified("failure");
    }
    d.settled(false);
    return Promise.reject(err);
  }

  /** Applies a discovery update as a reset: keep, rebuild or drop (linkerd `reset_pool`). */
  #update(state: ServiceState): void {
    const spec = state.failureAccrual;
    if (!sameSpec(spec, this.#failureAccrual)) {
      this.#failureAccrual = spec;
      this.#pool.setFailureAccrual(spec);
    }
    const protocol = state.protocol;
    this.#pool.reset(
      state.endpoints.map((meta) => [meta.addr, { meta, protocol }] as const),
    );
  }
}

function sameMeta(a: PoolMeta, b: PoolMeta): boolean {
  const x = a.meta, y = b.meta;
  return a.protocol === b.protocol && x.addr === y.addr &&
    x.identity === y.identity && x.weight === y.weight && x.host === y.host &&
    x.port === y.port;
}

function sameSpec(
  a: FailureAccrualSpec | undefined,
  b: FailureAccrualSpec | undefined,
): boolean {
  if (a === b) return true;
  if (a === undefined || b === undefined) return false;
  return a.kind === b.kind && a.maxFailures === b.maxFailures &&
    a.minPenaltyMs === b.minPenaltyMs && a.maxPenaltyMs === b.maxPenaltyMs &&
    a.jitter === b.jitter;
}

function toError(reason: unknown): Error {
  return reason instanceof Error ? reason : new Error(String(reason));
}

/** The balancer's metric handle, when the metrics implementation has one. */
function balancerMetrics(
  ctx: OutboundCtx,
  target: ConcreteTarget,
  failfastTimeoutMs: number,
): HttpBalancerMetrics | undefined {
  return ctx.metrics.httpBalancer?.(
    target.metricLabels ?? backendLabels(target.logical),
    { failfastTimeoutMs },
  );
}
