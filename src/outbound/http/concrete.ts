/**
 * A concrete backend: the endpoints of one service, kept in sync with
 * discovery, and the choice among them (linkerd `out/http/concrete.rs`,
 * `proxy/balance`, `pool/p2c`).
 *
 * This balancer picks by power of two choices over in-flight requests and
 * queues requests while no endpoint exists, failing them after the failfast
 * timeout. Peak-EWMA load and endpoint readiness come with the balancer issue.
 *
 * @module
 */
import type { EndpointMeta, ServiceState } from "../../discovery/resolve.ts";
import { FailFastError, LoadShedError } from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../../http/message.ts";
import type { Watch } from "../../svc/watch.ts";
import type { OutboundCtx } from "../runtime.ts";
import type { EndpointTarget, HttpEndpoint } from "./endpoint.ts";

/** The target of a concrete stack (linkerd `Concrete`). */
export interface ConcreteTarget {
  /** The logical service, "host:port". */
  readonly logical: string;
  readonly state: Watch<ServiceState>;
}

interface Waiter {
  resolve: () => void;
  reject: (err: Error) => void;
  timer: ReturnType<typeof setTimeout>;
}

/** Balances requests over a service's endpoints (linkerd `Balance`). */
export class Balancer implements Disposable {
  readonly #ctx: OutboundCtx;
  readonly #target: ConcreteTarget;
  readonly #newEndpoint: (t: EndpointTarget) => HttpEndpoint;
  readonly #endpoints = new Map<
    string,
    { meta: EndpointMeta; ep: HttpEndpoint }
  >();
  #list: HttpEndpoint[] = [];
  #waiters: Waiter[] = [];
  #sub: Disposable;
  #protocol: ServiceState["protocol"];

  constructor(
    ctx: OutboundCtx,
    target: ConcreteTarget,
    newEndpoint: (t: EndpointTarget) => HttpEndpoint,
  ) {
    this.#ctx = ctx;
    this.#target = target;
    this.#newEndpoint = newEndpoint;
    this.#protocol = target.state.get().protocol;
    this.#update(target.state.get());
    this.#sub = target.state.subscribe((s) => this.#update(s));
  }

  /** Endpoints currently in the pool. */
  get size(): number {
    return this.#list.length;
  }

  /** Dispatches `req` to one endpoint, waiting (bounded) while none exists. */
  call(req: HttpRequest): Promise<HttpResponse> {
    const ep = this.#pick();
    if (ep) return ep.service(req);
    return this.#wait().then(() => this.call(req));
  }

  /** Power of two choices over in-flight requests (tower `p2c`). */
  #pick(): HttpEndpoint | undefined {
    const list = this.#list;
    const n = list.length;
    if (n === 0) return undefined;
    if (n === 1) return list[0];
    const random = this.#ctx.random;
    const i = Math.floor(random() * n);
    let j = Math.floor(random() * (n - 1));
    if (j >= i) j++;
    const a = list[i]!, b = list[j]!;
    return b.pending < a.pending ? b : a;
  }

  #wait(): Promise<void> {
    const { httpQueueCapacity, httpFailfastTimeoutMs } = this.#ctx.settings;
    if (this.#waiters.length >= httpQueueCapacity) {
      return Promise.reject(new LoadShedError("backend queue is full"));
    }
    return new Promise((resolve, reject) => {
      const waiter: Waiter = {
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#waiters = this.#waiters.filter((w) => w !== waiter);
          reject(
            new FailFastError(this.#target.logical, httpFailfastTimeoutMs),
          );
        }, httpFailfastTimeoutMs),
      };
      this.#waiters.push(waiter);
    });
  }

  /** Applies a discovery update as a reset: keep, rebuild or drop (linkerd `reset_pool`). */
  #update(state: ServiceState): void {
    const protocolChanged = state.protocol !== this.#protocol;
    this.#protocol = state.protocol;
    const next = new Map<string, { meta: EndpointMeta; ep: HttpEndpoint }>();
    for (const meta of state.endpoints) {
      const old = this.#endpoints.get(meta.addr);
      if (old && !protocolChanged && sameMeta(old.meta, meta)) {
        next.set(meta.addr, old);
        this.#endpoints.delete(meta.addr);
      } else if (!next.has(meta.addr)) {
        next.set(meta.addr, {
          meta,
          ep: this.#newEndpoint({
            logical: this.#target.logical,
            protocol: state.protocol,
            meta,
          }),
        });
      }
    }
    // Endpoints no longer present finish their in-flight requests, then close.
    for (const { ep } of this.#endpoints.values()) retire(ep);
    this.#endpoints.clear();
    for (const [k, v] of next) this.#endpoints.set(k, v);
    this.#list = [...next.values()].map((v) => v.ep);
    if (this.#list.length > 0 && this.#waiters.length > 0) {
      const waiters = this.#waiters;
      this.#waiters = [];
      for (const w of waiters) {
        clearTimeout(w.timer);
        w.resolve();
      }
    }
  }

  [Symbol.dispose](): void {
    this.#sub[Symbol.dispose]();
    for (const w of this.#waiters) {
      clearTimeout(w.timer);
      w.reject(new LoadShedError("backend closed"));
    }
    this.#waiters = [];
    for (const { ep } of this.#endpoints.values()) ep[Symbol.dispose]();
    this.#endpoints.clear();
    this.#list = [];
  }
}

function sameMeta(a: EndpointMeta, b: EndpointMeta): boolean {
  return a.addr === b.addr && a.identity === b.identity &&
    a.weight === b.weight && a.host === b.host && a.port === b.port;
}

/** Closes an endpoint once its pending requests are answered. */
function retire(ep: HttpEndpoint): void {
  if (ep.pending === 0) {
    ep[Symbol.dispose]();
    return;
  }
  const timer = setInterval(() => {
    if (ep.pending === 0) {
      clearInterval(timer);
      ep[Symbol.dispose]();
    }
  }, 100);
}
