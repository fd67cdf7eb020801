/**
 * Discovery from the Linkerd control plane: `Destination.Get` per logical
 * service (endpoints), joined with `Destination.GetProfile` and
 * `OutboundPolicies.Watch` (routes, failure accrual) into one live
 * `ServiceState` (linkerd `proxy/api-resolve`, `proxy/resolve` `recover.rs`,
 * `app/outbound` discovery).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { isIP } from "node:net";
import {
  type DiscoveredEndpoint,
  endpointOf,
  type GetDestination,
  type Update,
} from "../api/destination.ts";
import { formatTcpAddress } from "../api/net.ts";
import type { ClientPolicy } from "../api/client_policy.ts";
import type { ServiceProfile } from "../api/profile.ts";
import { type ControlChannel, controlPlaneServices } from "../api/proto.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import { parseAuthority } from "../addr/mod.ts";
import type { Logger } from "../log.ts";
import { Watch } from "../svc/watch.ts";
import { deepEqual } from "./_equal.ts";
import {
  ControlStream,
  DEFAULT_CONTROL_BACKOFF,
  Status,
  type StreamFailure,
} from "./_control_stream.ts";
import { type PolicyClient, PolicyWatch } from "./policy.ts";
import {
  DEFAULT_PROFILE_SUFFIXES,
  ipInNetworks,
  profileAllowed,
  type ProfileClient,
  ProfileWatch,
} from "./profile.ts";
import type { ServiceState, UpstreamProtocol } from "./resolve.ts";

export { DEFAULT_CONTROL_BACKOFF } from "./_control_stream.ts";

/**
 * Status codes that end a resolution for good (linkerd
 * `BackoffUnlessInvalidArgument`: InvalidArgument and FailedPrecondition);
 * any other status, and a clean end, reconnect with backoff.
 */
export const DESTINATION_FATAL_CODES: ReadonlySet<number> = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
]);

/** The Destination client methods used for endpoints. */
export interface DestinationClient {
  Get(req: GetDestination): grpc.ClientReadableStream<Update>;
}

/** How a resolution began. */
export type ResolutionStart =
  | { readonly kind: "served" }
  /** The control plane does not serve the name (a fatal status, or `no_endpoints { exists: false }` first). */
  | { readonly kind: "rejected"; readonly reason: string };

/** Options of {@linkcode DestinationResolution}. */
export interface DestinationResolutionOptions {
  /** `LINKERD2_PROXY_DESTINATION_CONTEXT`. @default {""} */
  contextToken?: string;
  backoff?: BackoffSpec;
  random?: () => number;
  log?: Logger | undefined;
}

/**
 * The endpoints of one logical service from `Destination.Get` (linkerd
 * `api_resolve::Resolve` behind `recover::Resolve`): `add` adds or updates,
 * `remove` removes, `no_endpoints` empties the set; the first `add` after
 * each (re)connection replaces the set, dropping endpoints that went away
 * meanwhile. While the stream is broken the last known endpoints stay.
 */
export class DestinationResolution implements Disposable {
  /** The current endpoints, in the order they were added. */
  readonly endpoints: Watch<readonly DiscoveredEndpoint[]> = new Watch<
    readonly DiscoveredEndpoint[]
  >([]);
  /** Settles with the first update or a fatal status. */
  readonly started: Promise<ResolutionStart>;
  readonly #log: Logger | undefined;
  readonly #stream: ControlStream<Update>;
  #set = new Map<string, DiscoveredEndpoint>();
  #resetPending = true;
  #served = false;
  #start!: (s: ResolutionStart) => void;

  constructor(
    client: DestinationClient,
    authority: string,
    opts: DestinationResolutionOptions = {},
  ) {
    this.#log = opts.log;
    this.started = new Promise((r) => this.#start = r);
    const req: GetDestination = {
      scheme: "",
      path: authority,
      context_token: opts.contextToken ?? "",
    };
    this.#stream = new ControlStream<Update>({
      name: `Destination.Get ${authority}`,
      open: () => client.Get(req),
      onMessage: (u, first) => this.#onUpdate(u, first),
      onFatal: (f) => this.#onFatal(f),
      fatalCodes: DESTINATION_FATAL_CODES,
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
      log: opts.log,
    });
  }

  #onUpdate(u: Update, first: boolean): void {
    if (first) this.#resetPending = true;
    const kind = u.update ??
      (u.add
        ? "add"
        : u.remove
        ? "remove"
        : u.no_endpoints
        ? "no_endpoints"
        : undefined);
    switch (kind) {
      case "add": {
        const next = this.#resetPending ? new Map() : new Map(this.#set);
        this.#resetPending = false;
        for (const wa of u.add?.addrs ?? []) {
          try {
            const ep = endpointOf(wa, u.add?.metric_labels);
            next.set(ep.meta.addr, ep);
          } catch (err) {
            this.#log?.warn("ignoring an invalid endpoint", {
              error: err instanceof Error ? err.message : String(err),
            });
          }
        }
        this.#set = next;
        break;
      }
      case "remove": {
        const next = new Map(this.#set);
        for (const a of u.remove?.addrs ?? []) {
          try {
            next.delete(formatTcpAddress(a));
          } catch {
            // an invalid address cannot be in the set
          }
        }
        this.#set = next;
        break;
      }
      case "no_endpoints":
        if (!this.#served && u.no_endpoints?.exists === false) {
          this.#start({
            kind: "rejected",
            reason: "the service does not exist",
          });
        }
        this.#resetPending = false;
        this.#set = new Map();
        break;
      default:
        return;
    }
    this.#served = true;
    this.#start({ kind: "served" });
    this.#publish();
  }

  #onFatal(f: StreamFailure): void {
    this.#start({ kind: "rejected", reason: `${f.code} ${f.details}` });
    // linkerd: the resolution fails; Petrel leaves it without endpoints.
    this.#set = new Map();
    this.#publish();
  }

  #publish(): void {
    const list = [...this.#set.values()];
    if (!deepEqual(list, this.endpoints.get())) this.endpoints.set(list);
  }

  /** Cancels the stream. */
  [Symbol.dispose](): void {
    this.#stream[Symbol.dispose]();
    this.endpoints.close();
  }
}

/** A control-plane service as resolved: its live state; dispose to stop every stream. */
export interface ControlPlaneService extends Disposable {
  readonly watch: Watch<ServiceState>;
}

/** Options of {@linkcode ControlPlaneDiscovery}. */
export interface ControlPlaneDiscoveryOptions {
  /** The Destination service, "host:port" (`LINKERD2_PROXY_DESTINATION_SVC_ADDR`). */
  destinationAddr: string;
  /** The policy service (`LINKERD2_PROXY_POLICY_SVC_ADDR`); absent = no policy. */
  policyAddr?: string | undefined;
  /** `LINKERD2_PROXY_DESTINATION_CONTEXT`. @default {""} */
  contextToken?: string | undefined;
  /** `LINKERD2_PROXY_POLICY_WORKLOAD`. @default {""} */
  workload?: string | undefined;
  /** `LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES`. @default {["svc.cluster.local."]} */
  profileSuffixes?: readonly string[] | undefined;
  /**
   * `LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS`: CIDRs whose "ip:port"
   * targets (original destinations) get a `GetProfile`. @default {[]}
   */
  profileNetworks?: readonly string[] | undefined;
  /** Reconnect backoff of every stream. @default {DEFAULT_CONTROL_BACKOFF} */
  backoff?: BackoffSpec | undefined;
  /**
   * How long `tryResolve` waits for the first answers before serving what
   * it has (linkerd `CONTROL_STREAM_INITIAL_TIMEOUT`, chart 3 s).
   * @default {3000}
   */
  initialTimeoutMs?: number | undefined;
  /** Credentials and options of the Destination channel. @default {plaintext} */
  destinationChannel?: ControlChannel | undefined;
  /** Credentials and options of the policy channel. @default {plaintext} */
  policyChannel?: ControlChannel | undefined;
  random?: (() => number) | undefined;
  log?: Logger | undefined;
}

/**
 * Resolves logical services through the Linkerd control plane: endpoints
 * from `Destination.Get`, routes from the service profile when it has routes
 * or a traffic split (linkerd gives profiles precedence), else from the
 * outbound policy, and failure accrual from the policy (never with profile
 * routing). Endpoints that all carry the `h2` protocol hint make the
 * service's upstream protocol HTTP/2; otherwise the request's own.
 *
 * A name the Destination service rejects (InvalidArgument /
 * FailedPrecondition, or `no_endpoints { exists: false }` as its first
 * answer) is not served: `tryResolve` returns undefined and the caller
 * falls back to the config file or DNS. A control plane that does not answer
 * within `initialTimeoutMs` leaves the service without endpoints while the
 * streams keep reconnecting.
 */
export class ControlPlaneDiscovery implements Disposable {
  readonly #opts: ControlPlaneDiscoveryOptions;
  readonly #destination: grpc.Client & DestinationClient & ProfileClient;
  readonly #policy: (grpc.Client & PolicyClient) | undefined;
  readonly #suffixes: readonly string[];
  readonly #timeoutMs: number;
  /** The stop function of every resolution in use. */
  readonly #live = new Set<() => void>();
  #disposed = false;

  constructor(opts: ControlPlaneDiscoveryOptions) {
    this.#opts = opts;
    this.#suffixes = opts.profileSuffixes ?? DEFAULT_PROFILE_SUFFIXES;
    this.#timeoutMs = opts.initialTimeoutMs ?? 3_000;
    const backoff = opts.backoff ?? DEFAULT_CONTROL_BACKOFF;
    const channelOptions: grpc.ChannelOptions = {
      "grpc.initial_reconnect_backoff_ms": Math.max(backoff.minMs, 1),
      "grpc.max_reconnect_backoff_ms": Math.max(backoff.maxMs, 1),
    };
    const insecure = grpc.credentials.createInsecure();
    const services = controlPlaneServices();
    const dst = opts.destinationChannel;
    this.#destination = new services.Destination(
      opts.destinationAddr,
      dst?.credentials ?? insecure,
      { ...channelOptions, ...dst?.options },
    ) as unknown as grpc.Client & DestinationClient & ProfileClient;
    const pol = opts.policyChannel;
    this.#policy = opts.policyAddr === undefined
      ? undefined
      : new services.OutboundPolicies(
        opts.policyAddr,
        pol?.credentials ?? insecure,
        { ...channelOptions, ...pol?.options },
      ) as unknown as grpc.Client & PolicyClient;
  }

  /**
   * Resolves `authority` (normalized "host:port") through the control plane;
   * undefined when the control plane does not serve the name.
   */
  async tryResolve(
    authority: string,
  ): Promise<ControlPlaneService | undefined> {
    if (this.#disposed) return undefined;
    const o = this.#opts;
    const common = {
      ...(o.backoff === undefined ? {} : { backoff: o.backoff }),
      ...(o.random === undefined ? {} : { random: o.random }),
      log: o.log,
    };
    const resolution = new DestinationResolution(
      this.#destination,
      authority,
      { ...common, contextToken: o.contextToken ?? "" },
    );
    const { host } = parseAuthority(authority, "authority");
    const allowed = isIP(host) !== 0
      ? ipInNetworks(host, o.profileNetworks ?? [])
      : profileAllowed(host, this.#suffixes);
    const profile = allowed
      ? new ProfileWatch(this.#destination, authority, {
        ...common,
        contextToken: o.contextToken ?? "",
      })
      : undefined;
    const policy = this.#policy === undefined
      ? undefined
      : new PolicyWatch(this.#policy, authority, {
        ...common,
        workload: o.workload ?? "",
      });
    const streams: Disposable[] = [resolution];
    if (profile) streams.push(profile);
    if (policy) streams.push(policy);
    const stopAll = () => {
      for (const s of streams) s[Symbol.dispose]();
    };
    this.#live.add(stopAll);

    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), this.#timeoutMs);
    });
    const start = await Promise.race([resolution.started, timeout]);
    if (start !== "timeout" && start.kind === "rejected") {
      clearTimeout(timer);
      o.log?.debug("control plane does not serve the name", {
        authority,
        reason: start.reason,
      });
      this.#forget(stopAll);
      return undefined;
    }
    // Routes before the first request: wait for the profile and policy too.
    await Promise.race([
      Promise.all([profile?.started, policy?.started]),
      timeout,
    ]);
    clearTimeout(timer);
    if (this.#disposed) {
      stopAll();
      return undefined;
    }

    let protocol: UpstreamProtocol = "auto";
    const stateNow = (): ServiceState => {
      const endpoints = resolution.endpoints.get();
      if (endpoints.length > 0) {
        protocol = endpoints.every((e) => e.h2) ? "http2" : "auto";
      }
      return serviceStateOf(
        authority,
        protocol,
        endpoints,
        profile?.profile.get(),
        policy?.policy.get(),
      );
    };
    const watch = new Watch<ServiceState>(stateNow());
    const refresh = () => {
      const next = stateNow();
      if (!deepEqual(watch.get(), next)) watch.set(next);
    };
    const subs = [
      resolution.endpoints.subscribe(refresh),
      profile?.profile.subscribe(refresh),
      policy?.policy.subscribe(refresh),
    ];
    let disposed = false;
    const service: ControlPlaneService = {
      watch,
      [Symbol.dispose]: () => {
        if (disposed) return;
        disposed = true;
        for (const s of subs) s?.[Symbol.dispose]();
        this.#forget(stopAll);
        watch.close();
      },
    };
    return service;
  }

  #forget(stop: () => void): void {
    this.#live.delete(stop);
    stop();
  }

  /** Cancels every stream and closes the channels. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const stop of this.#live) stop();
    this.#live.clear();
    this.#destination.close();
    this.#policy?.close();
  }
}

/**
 * One service's state from its endpoints, profile and policy (linkerd:
 * profile routes win over policy routes; profile routing has no breaker).
 */
export function serviceStateOf(
  authority: string,
  protocol: UpstreamProtocol,
  endpoints: readonly DiscoveredEndpoint[],
  profile: ServiceProfile | undefined,
  policy: ClientPolicy | undefined,
): ServiceState {
  const profileRoutes = profile?.routes;
  const routes = profileRoutes ?? policy?.routes;
  const failureAccrual = profileRoutes === undefined
    ? policy?.failureAccrual
    : undefined;
  return {
    name: authority,
    protocol,
    endpoints: endpoints.map((e) => e.meta),
    source: "destination",
    ...(routes === undefined ? {} : { routes }),
    ...(failureAccrual === undefined ? {} : { failureAccrual }),
    ...(profile?.opaque || policy?.opaque ? { opaque: true } : {}),
  };
}
