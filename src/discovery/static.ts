/**
 * Discovery from the YAML config file: each configured service is a live
 * `Watch<ServiceState>` updated when the file changes (Petrel's stand-in for
 * linkerd's Destination `Get` stream, `proxy/api-resolve`).
 *
 * @module
 */
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type { ServiceRoutes } from "../http/route/model.ts";
import { formatSocketAddr, isIpAddr, normalizeAuthority } from "../addr/mod.ts";
import { Watch } from "../svc/watch.ts";
import { deepEqual } from "./_equal.ts";
import { DnsDiscovery, type DnsName } from "./dns.ts";
import type {
  EndpointMeta,
  ServiceState,
  UpstreamProtocol,
} from "./resolve.ts";

/** One endpoint of a configured service, as written in the file. */
export interface StaticEndpoint {
  /** "ip:port", "[v6]:port" or "host:port" (a DNS name resolved by discovery). */
  readonly addr: string;
  readonly host: string;
  readonly port: number;
  /** Expected TLS identity; the service's `identity` when the endpoint has none. */
  readonly identity?: string;
  readonly weight?: number;
  /** The endpoint is a Petrel/linkerd proxy: HTTP/1 goes to it over HTTP/2 (`l5d-orig-proto`). */
  readonly meshed?: boolean;
}

/** One service of the static source (a YAML `services` entry): a logical authority and its endpoints. */
export interface StaticService {
  /** The normalized logical authority, lower-case "host:port". */
  readonly name: string;
  readonly protocol: UpstreamProtocol;
  readonly endpoints: readonly StaticEndpoint[];
  /**
   * "ip:port"s the service answers for (a ClusterIP): a connection
   * redirected to one is routed to this service (sidecar mode).
   */
  readonly addresses?: readonly string[];
  /** Connections to its `addresses` are opaque TCP: no protocol detection (linkerd opaque ports). */
  readonly opaque?: boolean;
  /** Default identity of the endpoints. */
  readonly identity?: string;
  /** The service's routes; absent = one default route to its endpoints. */
  readonly routes?: ServiceRoutes;
  /** Circuit breaking per endpoint; absent = none. */
  readonly failureAccrual?: FailureAccrualSpec;
  /** The balancer's cost rule; absent = linkerd's P2C over Peak-EWMA. */
  readonly loadBalancer?: import("./resolve.ts").LoadBalancerKind;
}

/** What the static source reads from a config file: its services. */
export interface StaticServices {
  readonly services: readonly StaticService[];
}

/** Options of `ConfigDiscovery`. */
export interface ConfigDiscoveryOptions {
  /**
   * Resolves endpoints written as host names. Not disposed by
   * `ConfigDiscovery` when given.
   * @default {a private DnsDiscovery}
   */
  dns?: DnsDiscovery;
}

interface FollowedName {
  readonly name: DnsName;
  readonly sub: Disposable;
}

/**
 * Serves the services of the current config file (linkerd `Resolve` over a
 * static source): one `Watch` per service name, reused across updates; only
 * services whose state changed are republished; a service removed from the
 * file is published with no endpoints.
 */
export class ConfigDiscovery implements Disposable {
  readonly #dns: DnsDiscovery;
  readonly #ownsDns: boolean;
  #services = new Map<string, StaticService>();
  /** A service's `addresses` ("ip:port") → its name. */
  #aliases = new Map<string, string>();
  readonly #watches = new Map<string, Watch<ServiceState>>();
  readonly #followed = new Map<string, FollowedName>();
  readonly #listeners = new Set<(names: ReadonlySet<string>) => void>();
  #settled: Promise<void> = Promise.resolve();
  #disposed = false;

  constructor(options: ConfigDiscoveryOptions = {}) {
    this.#ownsDns = options.dns === undefined;
    this.#dns = options.dns ?? new DnsDiscovery();
  }

  /**
   * Applies a new config file. Services with only IP endpoints are
   * published before this returns; the promise settles once every newly
   * named endpoint host had its first DNS lookup (see `settled()`).
   */
  update(config: StaticServices): Promise<void> {
    if (this.#disposed) throw new TypeError("ConfigDiscovery is disposed");
    const next = new Map(config.services.map((s) => [s.name, s]));
    const hosts = new Set<string>();
    for (const svc of next.values()) {
      for (const ep of svc.endpoints) {
        if (!isIpAddr(ep.host)) hosts.add(ep.host);
      }
    }
    const firstLookups: Promise<void>[] = [];
    for (const host of hosts) {
      if (this.#followed.has(host)) continue;
      const name = this.#dns.followHost(host);
      const sub = name.addresses.subscribe(() => this.#hostChanged(host));
      this.#followed.set(host, { name, sub });
      firstLookups.push(name.ready);
    }
    this.#services = next;
    this.#aliases = new Map(
      config.services.flatMap((s) =>
        (s.addresses ?? []).map((a) => [a, s.name] as const)
      ),
    );
    for (const [host, followed] of this.#followed) {
      if (hosts.has(host)) continue;
      followed.sub[Symbol.dispose]();
      followed.name[Symbol.dispose]();
      this.#followed.delete(host);
    }
    for (const svc of next.values()) {
      this.#publish(svc.name, this.#stateOf(svc));
    }
    for (const name of this.#watches.keys()) {
      if (!next.has(name)) this.#publish(name, this.#removedState(name));
    }
    const names: ReadonlySet<string> = new Set([
      ...next.keys(),
      ...this.#aliases.keys(),
    ]);
    for (const fn of [...this.#listeners]) fn(names);
    const settled = Promise.all(firstLookups).then(() => {});
    this.#settled = settled;
    return settled;
  }

  /** Settles once the latest `update()` has resolved its new endpoint host names. */
  settled(): Promise<void> {
    return this.#settled;
  }

  /**
   * The live state of the configured service named by `authority`
   * ("host[:port]", any case, port 80 by default), or undefined when the
   * current file does not list it.
   */
  lookup(authority: string): Watch<ServiceState> | undefined {
    const name = this.#nameOf(authority);
    if (name === undefined || !this.#services.has(name)) return undefined;
    return this.#watches.get(name);
  }

  /** True when the current file lists `authority` (a name or one of a service's `addresses`). */
  has(authority: string): boolean {
    const name = this.#nameOf(authority);
    return name !== undefined && this.#services.has(name);
  }

  /** The service name of an authority or of one of its `addresses`. */
  #nameOf(authority: string): string | undefined {
    const name = normalizeOrUndefined(authority);
    return name === undefined ? undefined : this.#aliases.get(name) ?? name;
  }

  /** The service names of the current file. */
  get names(): readonly string[] {
    return [...this.#services.keys()];
  }

  /** Calls `fn` with the new set of service names after each `update()`. */
  onUpdate(fn: (names: ReadonlySet<string>) => void): Disposable {
    this.#listeners.add(fn);
    return { [Symbol.dispose]: () => this.#listeners.delete(fn) };
  }

  #hostChanged(host: string): void {
    for (const svc of this.#services.values()) {
      if (svc.endpoints.some((ep) => ep.host === host)) {
        this.#publish(svc.name, this.#stateOf(svc));
      }
    }
  }

  #publish(name: string, state: ServiceState): void {
    const watch = this.#watches.get(name);
    if (watch === undefined) {
      this.#watches.set(name, new Watch(state));
    } else if (!deepEqual(watch.get(), state)) {
      watch.set(state);
    }
  }

  #removedState(name: string): ServiceState {
    const last = this.#watches.get(name)?.get();
    return {
      name,
      protocol: last?.protocol ?? "http1",
      endpoints: [],
      source: "config",
    };
  }

  #stateOf(svc: StaticService): ServiceState {
    const endpoints: EndpointMeta[] = [];
    const seen = new Set<string>();
    const add = (ep: StaticEndpoint, host: string) => {
      const addr = formatSocketAddr({ host, port: ep.port });
      if (seen.has(addr)) return;
      seen.add(addr);
      const meta: {
        addr: string;
        host: string;
        port: number;
        identity?: string;
        weight?: number;
        meshed?: boolean;
      } = { addr, host, port: ep.port };
      if (ep.identity !== undefined) meta.identity = ep.identity;
      if (ep.meshed === true) meta.meshed = true;
      if (ep.weight !== undefined) meta.weight = ep.weight;
      endpoints.push(meta);
    };
    for (const ep of svc.endpoints) {
      if (isIpAddr(ep.host)) {
        add(ep, ep.host);
      } else {
        const ips = this.#followed.get(ep.host)?.name.addresses.get() ?? [];
        for (const ip of ips) add(ep, ip);
      }
    }
    const state: ServiceState = {
      name: svc.name,
      protocol: svc.protocol,
      endpoints,
      source: "config",
      ...(svc.routes === undefined ? {} : { routes: svc.routes }),
      ...(svc.failureAccrual === undefined
        ? {}
        : { failureAccrual: svc.failureAccrual }),
      ...(svc.loadBalancer === undefined
        ? {}
        : { loadBalancer: svc.loadBalancer }),
      ...(svc.opaque === true ? { opaque: true } : {}),
    };
    return state;
  }

  /** Stops DNS refreshes and closes every watch. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const followed of this.#followed.values()) {
      followed.sub[Symbol.dispose]();
      followed.name[Symbol.dispose]();
    }
    this.#followed.clear();
    for (const watch of this.#watches.values()) watch.close();
    this.#listeners.clear();
    if (this.#ownsDns) this.#dns[Symbol.dispose]();
  }
}

function normalizeOrUndefined(authority: string): string | undefined {
  try {
    return normalizeAuthority(authority);
  } catch {
    return undefined;
  }
}
