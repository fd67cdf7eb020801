/**
 * DNS discovery: A/AAAA records of a name, refreshed periodically (linkerd
 * `linkerd/dns` + the DNS fallback of `proxy/dns-resolve`).
 *
 * Uses `node:dns/promises` `lookup(host, { all: true })` (getaddrinfo), which
 * honours /etc/hosts, so `localhost` works. IP literals resolve to themselves
 * without any lookup.
 *
 * @module
 */
import { lookup as dnsLookup } from "node:dns/promises";
import { isIP } from "node:net";
import { ResolveError } from "../errors.ts";
import { Watch } from "../svc/watch.ts";
import {
  formatSocketAddr,
  parseAuthority,
  type SocketAddr,
} from "../addr/mod.ts";
import type { ServiceState, UpstreamProtocol } from "./resolve.ts";

/** One address as `dns.lookup` returns it. */
export interface LookupAddress {
  readonly address: string;
  readonly family: number;
}

/** Looks up every address of `host` (`dns.lookup(host, { all: true })`). */
export type LookupFn = (host: string) => Promise<readonly LookupAddress[]>;

/** Options of `DnsDiscovery`. */
export interface DnsDiscoveryOptions {
  /** Interval between re-resolutions of each watched name. @default {5000} */
  refreshMs?: number;
  /** The lookup function (tests inject one). @default {getaddrinfo via node:dns/promises} */
  lookup?: LookupFn;
}

/** A live view of one DNS name's addresses (sorted IPs, no port); dispose to release it. */
export interface DnsName extends Disposable {
  readonly host: string;
  /** The last known addresses; empty until a lookup first succeeds. */
  readonly addresses: Watch<readonly string[]>;
  /** Settles after the first lookup, whether it succeeded or not. */
  readonly ready: Promise<void>;
  /** The error of the most recent lookup, if it failed. */
  readonly lastError: Error | undefined;
}

/** A live `ServiceState` for one authority from DNS; dispose to stop refreshing. */
export interface DnsService extends Disposable {
  readonly watch: Watch<ServiceState>;
}

function defaultLookup(host: string): Promise<readonly LookupAddress[]> {
  return dnsLookup(host, { all: true });
}

function sameList(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((v, i) => v === b[i]);
}

class HostEntry {
  readonly host: string;
  readonly addresses: Watch<readonly string[]>;
  ready: Promise<void>;
  refs = 0;
  lastError: Error | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;

  constructor(host: string, initial: readonly string[]) {
    this.host = host;
    this.addresses = new Watch(initial);
    this.ready = Promise.resolve();
  }
}

/**
 * Resolves and watches DNS names (linkerd `dns::Resolver`): each watched
 * name is re-resolved every `refreshMs`; a failed refresh keeps the last
 * known addresses; subscribers only hear about real changes.
 */
export class DnsDiscovery implements Disposable, AsyncDisposable {
  readonly #refreshMs: number;
  readonly #lookup: LookupFn;
  readonly #hosts = new Map<string, HostEntry>();
  readonly #inflight = new Set<Promise<void>>();
  #disposed = false;

  constructor(options: DnsDiscoveryOptions = {}) {
    this.#refreshMs = options.refreshMs ?? 5000;
    this.#lookup = options.lookup ?? defaultLookup;
  }

  /**
   * Follows `host` (lower-case name or IP literal): returns at once and keeps
   * resolving every `refreshMs`, even while lookups fail (for endpoints
   * written as host names in the config file).
   */
  followHost(host: string): DnsName {
    if (this.#disposed) throw new TypeError("DnsDiscovery is disposed");
    let entry = this.#hosts.get(host);
    if (entry === undefined) {
      entry = this.#start(host);
      this.#hosts.set(host, entry);
    }
    entry.refs++;
    return this.#handle(entry);
  }

  /**
   * Resolves `host` and keeps it fresh; rejects with `ResolveError` when the
   * first lookup fails (e.g. ENOTFOUND).
   */
  async resolveHost(host: string): Promise<DnsName> {
    const name = this.followHost(host);
    await name.ready;
    if (name.addresses.get().length === 0) {
      const cause = name.lastError;
      name[Symbol.dispose]();
      throw new ResolveError(
        host,
        cause === undefined ? undefined : { cause },
      );
    }
    return name;
  }

  /**
   * Resolves a logical authority "host[:port]" (port 80 by default) to a
   * live `ServiceState` with source "dns", one endpoint per address.
   * Rejects with `ResolveError` when the name does not resolve.
   */
  async resolveService(
    authority: string,
    options: {
      /** The protocol of the endpoints. @default {"http1"} */
      protocol?: UpstreamProtocol;
    } = {},
  ): Promise<DnsService> {
    let addr: SocketAddr;
    try {
      addr = parseAuthority(authority, "authority");
    } catch (err) {
      throw new ResolveError(authority, { cause: err });
    }
    let name: DnsName;
    try {
      name = await this.resolveHost(addr.host);
    } catch (err) {
      throw new ResolveError(
        authority,
        err instanceof ResolveError && err.cause !== undefined
          ? { cause: err.cause }
          : { cause: err },
      );
    }
    const serviceName = formatSocketAddr(addr);
    const protocol = options.protocol ?? "http1";
    const stateOf = (ips: readonly string[]): ServiceState => ({
      name: serviceName,
      protocol,
      endpoints: ips.map((ip) => ({
        addr: formatSocketAddr({ host: ip, port: addr.port }),
        host: ip,
        port: addr.port,
      })),
      source: "dns",
    });
    const watch = new Watch(stateOf(name.addresses.get()));
    const sub = name.addresses.subscribe((ips) => watch.set(stateOf(ips)));
    return {
      watch,
      [Symbol.dispose]() {
        sub[Symbol.dispose]();
        name[Symbol.dispose]();
        watch.close();
      },
    };
  }

  /** The number of names being refreshed (for tests and metrics). */
  get size(): number {
    return this.#hosts.size;
  }

  #start(host: string): HostEntry {
    if (isIP(host) !== 0) return new HostEntry(host, [host]);
    const entry = new HostEntry(host, []);
    entry.ready = this.#refresh(entry);
    return entry;
  }

  #refresh(entry: HostEntry): Promise<void> {
    const run = (async () => {
      try {
        const found = await this.#lookup(entry.host);
        const ips = [...new Set(found.map((a) => a.address))].sort();
        entry.lastError = undefined;
        if (ips.length > 0 && !sameList(ips, entry.addresses.get())) {
          entry.addresses.set(ips);
        }
      } catch (err) {
        // Keep the last known addresses.
        entry.lastError = err instanceof Error ? err : new Error(String(err));
      } finally {
        this.#schedule(entry);
      }
    })();
    this.#inflight.add(run);
    run.then(() => this.#inflight.delete(run));
    return run;
  }

  #schedule(entry: HostEntry): void {
    if (
      this.#disposed || entry.refs === 0 ||
      this.#hosts.get(entry.host) !== entry
    ) return;
    entry.timer = setTimeout(() => {
      entry.timer = undefined;
      this.#refresh(entry);
    }, this.#refreshMs);
  }

  #handle(entry: HostEntry): DnsName {
    let released = false;
    return {
      host: entry.host,
      addresses: entry.addresses,
      ready: entry.ready,
      get lastError() {
        return entry.lastError;
      },
      [Symbol.dispose]: () => {
        if (released) return;
        released = true;
        this.#release(entry);
      },
    };
  }

  #release(entry: HostEntry): void {
    entry.refs--;
    if (entry.refs > 0) return;
    clearTimeout(entry.timer);
    entry.timer = undefined;
    if (this.#hosts.get(entry.host) === entry) this.#hosts.delete(entry.host);
    entry.addresses.close();
  }

  /** Stops every refresh. */
  [Symbol.dispose](): void {
    this.#disposed = true;
    for (const entry of this.#hosts.values()) {
      clearTimeout(entry.timer);
      entry.timer = undefined;
      entry.addresses.close();
    }
    this.#hosts.clear();
  }

  /** Stops every refresh and waits for lookups in flight. */
  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await Promise.all([...this.#inflight]);
  }
}
