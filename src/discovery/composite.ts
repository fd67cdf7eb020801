/**
 * `CompositeDiscovery`: the Linkerd control plane when configured, then the
 * config file, then DNS, behind one `Discovery` (linkerd `proxy/core`
 * Resolve, `proxy/api-resolve`, the DNS fallback), with idle eviction.
 *
 * @module
 */
import { normalizeAuthority } from "../addr/mod.ts";
import { ResolveError } from "../errors.ts";
import { Watch } from "../svc/watch.ts";
import { deepEqual } from "./_equal.ts";
import type { ControlPlaneService } from "./destination.ts";
import { DnsDiscovery, type DnsService, type LookupFn } from "./dns.ts";
import type { Discovery, ServiceState } from "./resolve.ts";
import { ConfigDiscovery, type StaticServices } from "./static.ts";

/** A source asked first (the control plane); undefined = it does not serve the name. */
export interface PrimaryDiscovery extends Disposable {
  tryResolve(authority: string): Promise<ControlPlaneService | undefined>;
}

/** Options of `CompositeDiscovery`. */
export interface CompositeDiscoveryOptions {
  /**
   * An entry nobody resolved for this long, and with no subscriber, is
   * dropped and its DNS refresh stops (linkerd `DISCOVERY_IDLE_TIMEOUT`).
   * @default {5000}
   */
  idleTimeoutMs?: number;
  /** Interval of the one idle sweep. @default {idleTimeoutMs} */
  sweepMs?: number;
  /** The clock for idle times. @default {performance.now} */
  now?: () => number;
  /** The DNS source; disposed with this one. @default {a new DnsDiscovery} */
  dns?: DnsDiscovery;
  /** The config file source; disposed with this one. @default {a new ConfigDiscovery} */
  config?: ConfigDiscovery;
  /** The initial config file, applied at once (`update(file)`). @default {undefined} */
  file?: StaticServices;
  /** Refresh interval of the DNS source it creates. @default {5000} */
  dnsRefreshMs?: number;
  /** Lookup function of the DNS source it creates. @default {node:dns lookup} */
  lookup?: LookupFn;
  /**
   * Asked first for every name (the Linkerd control plane); names it does
   * not serve go to the config file, then DNS. Disposed with this one.
   * @default {undefined}
   */
  primary?: PrimaryDiscovery;
}

/** A `Watch` that counts its subscribers, so idle eviction spares live ones. */
class TrackedWatch<T> extends Watch<T> {
  #subscribers = 0;

  override subscribe(fn: (value: T) => void): Disposable {
    const inner = super.subscribe(fn);
    this.#subscribers++;
    let done = false;
    return {
      [Symbol.dispose]: () => {
        if (done) return;
        done = true;
        this.#subscribers--;
        inner[Symbol.dispose]();
      },
    };
  }

  get subscribers(): number {
    return this.#subscribers;
  }
}

type Source =
  | { readonly kind: "config"; readonly sub: Disposable }
  | {
    readonly kind: "control";
    readonly service: ControlPlaneService;
    readonly sub: Disposable;
  }
  | {
    readonly kind: "dns";
    readonly service: DnsService;
    readonly sub: Disposable;
  };

interface Entry {
  readonly authority: string;
  readonly watch: TrackedWatch<ServiceState>;
  source: Source;
  lastUsed: number;
  /** Bumped on each source switch, to drop stale async switches. */
  generation: number;
}

/**
 * The outbound `Discovery` (linkerd `Resolve` for logical names): the
 * `primary` source (the Linkerd control plane) answers first when it serves
 * the name; else a service listed in the config file wins; any other name
 * is resolved with DNS on the same port (protocol "auto": the request's own). Each authority gets one cached live `Watch`
 * that follows the source across config reloads (a name added to the file
 * takes over from DNS; a name removed from it falls back to DNS when DNS
 * knows it). Entries idle for `idleTimeoutMs` are swept by one coarse timer.
 */
export class CompositeDiscovery
  implements Discovery, Disposable, AsyncDisposable {
  /** The config file source. */
  readonly config: ConfigDiscovery;
  /** The DNS source. */
  readonly dns: DnsDiscovery;
  readonly #primary: PrimaryDiscovery | undefined;
  readonly #idleMs: number;
  readonly #sweepMs: number;
  readonly #now: () => number;
  readonly #entries = new Map<string, Entry>();
  readonly #pending = new Map<string, Promise<Entry>>();
  readonly #configSub: Disposable;
  #sweepTimer: ReturnType<typeof setInterval> | undefined;
  #disposed = false;

  constructor(options: CompositeDiscoveryOptions = {}) {
    this.dns = options.dns ?? new DnsDiscovery({
      ...(options.dnsRefreshMs === undefined
        ? {}
        : { refreshMs: options.dnsRefreshMs }),
      ...(options.lookup === undefined ? {} : { lookup: options.lookup }),
    });
    this.config = options.config ?? new ConfigDiscovery({ dns: this.dns });
    this.#primary = options.primary;
    this.#idleMs = options.idleTimeoutMs ?? 5000;
    this.#sweepMs = options.sweepMs ?? this.#idleMs;
    this.#now = options.now ?? (() => performance.now());
    this.#configSub = this.config.onUpdate((names) =>
      this.#configChanged(names)
    );
    if (options.file !== undefined) this.config.update(options.file);
  }

  /** Applies a new config file (`ConfigDiscovery.update`). */
  update(config: StaticServices): Promise<void> {
    return this.config.update(config);
  }

  /**
   * Resolves a logical authority ("host[:port]", port 80 by default) to its
   * live state; rejects with `ResolveError` when neither the config file nor
   * DNS knows it.
   */
  async resolve(authority: string): Promise<Watch<ServiceState>> {
    if (this.#disposed) throw new ResolveError(authority);
    let key: string;
    try {
      key = normalizeAuthority(authority);
    } catch (err) {
      throw new ResolveError(authority, { cause: err });
    }
    const cached = this.#entries.get(key);
    if (cached !== undefined) {
      cached.lastUsed = this.#now();
      return cached.watch;
    }
    let pending = this.#pending.get(key);
    if (pending === undefined) {
      pending = this.#create(key);
      this.#pending.set(key, pending);
      const clear = () => this.#pending.delete(key);
      pending.then(clear, clear);
    }
    const entry = await pending;
    entry.lastUsed = this.#now();
    return entry.watch;
  }

  /** The number of cached authorities. */
  get size(): number {
    return this.#entries.size;
  }

  /**
   * Drops every entry with no subscriber that was not resolved for
   * `idleTimeoutMs`, and returns how many were dropped. Runs on a timer;
   * public for tests.
   */
  sweep(): number {
    const now = this.#now();
    let evicted = 0;
    for (const entry of [...this.#entries.values()]) {
      if (entry.watch.subscribers > 0) {
        entry.lastUsed = now;
      } else if (now - entry.lastUsed >= this.#idleMs) {
        this.#evict(entry);
        evicted++;
      }
    }
    if (this.#entries.size === 0) this.#stopSweep();
    return evicted;
  }

  async #create(key: string): Promise<Entry> {
    if (this.#primary !== undefined) {
      const served = await this.#primary.tryResolve(key);
      if (served !== undefined) {
        if (this.#disposed) {
          served[Symbol.dispose]();
          throw new ResolveError(key);
        }
        return this.#addControl(key, served);
      }
    }
    await this.config.settled();
    if (this.#disposed) throw new ResolveError(key);
    if (this.config.has(key)) return this.#add(key, undefined);
    const service = await this.dns.resolveService(key, { protocol: "auto" });
    if (this.#disposed) {
      service[Symbol.dispose]();
      throw new ResolveError(key);
    }
    if (this.config.has(key)) {
      // The file gained the name while DNS answered.
      service[Symbol.dispose]();
      return this.#add(key, undefined);
    }
    return this.#add(key, service);
  }

  #add(key: string, service: DnsService | undefined): Entry {
    let source: Source;
    let watch: TrackedWatch<ServiceState>;
    if (service === undefined) {
      const configWatch = this.config.lookup(key);
      if (configWatch === undefined) throw new ResolveError(key);
      watch = new TrackedWatch(configWatch.get());
      source = { kind: "config", sub: this.#forward(configWatch, watch) };
    } else {
      watch = new TrackedWatch(service.watch.get());
      source = {
        kind: "dns",
        service,
        sub: this.#forward(service.watch, watch),
      };
    }
    const entry: Entry = {
      authority: key,
      watch,
      source,
      lastUsed: this.#now(),
      generation: 0,
    };
    this.#entries.set(key, entry);
    this.#startSweep();
    return entry;
  }

  #addControl(key: string, service: ControlPlaneService): Entry {
    const watch = new TrackedWatch(service.watch.get());
    const entry: Entry = {
      authority: key,
      watch,
      source: {
        kind: "control",
        service,
        sub: this.#forward(service.watch, watch),
      },
      lastUsed: this.#now(),
      generation: 0,
    };
    this.#entries.set(key, entry);
    this.#startSweep();
    return entry;
  }

  #forward(from: Watch<ServiceState>, to: Watch<ServiceState>): Disposable {
    return from.subscribe((state) => {
      if (!deepEqual(to.get(), state)) to.set(state);
    });
  }

  #configChanged(names: ReadonlySet<string>): void {
    for (const entry of this.#entries.values()) {
      const inFile = names.has(entry.authority);
      if (inFile && entry.source.kind === "dns") {
        this.#useConfig(entry);
      } else if (!inFile && entry.source.kind === "config") {
        this.#tryDns(entry);
      }
    }
  }

  #useConfig(entry: Entry): void {
    const watch = this.config.lookup(entry.authority);
    if (watch === undefined) return;
    this.#detach(entry.source);
    entry.generation++;
    entry.source = { kind: "config", sub: this.#forward(watch, entry.watch) };
    if (!deepEqual(entry.watch.get(), watch.get())) {
      entry.watch.set(watch.get());
    }
  }

  /** A name dropped from the file falls back to DNS if DNS knows it. */
  async #tryDns(entry: Entry): Promise<void> {
    const generation = ++entry.generation;
    let service: DnsService;
    try {
      service = await this.dns.resolveService(entry.authority, {
        protocol: "auto",
      });
    } catch {
      return; // Keep the (now empty) config state.
    }
    if (
      this.#disposed || this.#entries.get(entry.authority) !== entry ||
      entry.generation !== generation || this.config.has(entry.authority)
    ) {
      service[Symbol.dispose]();
      return;
    }
    this.#detach(entry.source);
    entry.source = {
      kind: "dns",
      service,
      sub: this.#forward(service.watch, entry.watch),
    };
    const state = service.watch.get();
    if (!deepEqual(entry.watch.get(), state)) entry.watch.set(state);
  }

  #detach(source: Source): void {
    source.sub[Symbol.dispose]();
    if (source.kind !== "config") source.service[Symbol.dispose]();
  }

  #evict(entry: Entry): void {
    entry.generation++;
    this.#detach(entry.source);
    entry.watch.close();
    this.#entries.delete(entry.authority);
  }

  #startSweep(): void {
    if (this.#sweepTimer !== undefined || this.#disposed) return;
    this.#sweepTimer = setInterval(() => this.sweep(), this.#sweepMs);
  }

  #stopSweep(): void {
    clearInterval(this.#sweepTimer);
    this.#sweepTimer = undefined;
  }

  /** Same as `[Symbol.dispose]()`. */
  dispose(): void {
    this[Symbol.dispose]();
  }

  /** Stops the sweep and every DNS refresh, closes every watch, and disposes both sources. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    this.#stopSweep();
    for (const entry of [...this.#entries.values()]) this.#evict(entry);
    this.#configSub[Symbol.dispose]();
    this.config[Symbol.dispose]();
    this.dns[Symbol.dispose]();
    this.#primary?.[Symbol.dispose]();
  }

  /** Disposes, then waits for DNS lookups and resolutions in flight. */
  async [Symbol.asyncDispose](): Promise<void> {
    const pending = [...this.#pending.values()];
    this[Symbol.dispose]();
    await Promise.allSettled(pending);
    await this.dns[Symbol.asyncDispose]();
  }
}
