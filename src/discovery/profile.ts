/**
 * Service profiles from the Linkerd destination controller:
 * `Destination.GetProfile` for one logical service, followed with reconnects
 * and converted to Petrel's route model (linkerd `service-profiles`
 * `client.rs`).
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { DestinationProfile, GetDestination } from "../api/destination.ts";
import { type ServiceProfile, serviceProfileOf } from "../api/profile.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import type { Logger } from "../log.ts";
import { Watch } from "../svc/watch.ts";
import { isIP } from "node:net";
import { ControlStream, Status } from "./_control_stream.ts";

/** Status codes that end a profile lookup for good: the controller has no profile for the name. */
export const PROFILE_FATAL_CODES: ReadonlySet<number> = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.NOT_FOUND,
  Status.UNIMPLEMENTED,
]);

/** linkerd's default `LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES`. */
export const DEFAULT_PROFILE_SUFFIXES: readonly string[] = Object.freeze([
  "svc.cluster.local.",
]);

/** The Destination client methods used for profiles. */
export interface ProfileClient {
  GetProfile(
    req: GetDestination,
  ): grpc.ClientReadableStream<DestinationProfile>;
}

/**
 * True when profiles are looked up for `host` (linkerd `allow_profile`):
 * its name ends with one of `suffixes` ("." allows every name).
 */
export function profileAllowed(
  host: string,
  suffixes: readonly string[],
): boolean {
  const name = (host.endsWith(".") ? host : host + ".").toLowerCase();
  return suffixes.some((s) => {
    const suffix = (s.endsWith(".") ? s : s + ".").toLowerCase();
    if (suffix === ".") return true;
    const dotted = suffix.startsWith(".") ? suffix : "." + suffix;
    return name === suffix || name.endsWith(dotted);
  });
}

/**
 * Whether an IP profile lookup is allowed: the address is inside one of
 * `networks` (CIDRs, `LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS`; linkerd
 * `service-profiles` allowlist, empty = none). Malformed entries match
 * nothing.
 */
export function ipInNetworks(ip: string, networks: readonly string[]): boolean {
  const bits = ipBits(ip);
  if (bits === undefined) return false;
  return networks.some((cidr) => {
    const slash = cidr.indexOf("/");
    const net = ipBits(slash < 0 ? cidr : cidr.slice(0, slash));
    if (net === undefined || net.width !== bits.width) return false;
    const len = slash < 0 ? net.width : Number(cidr.slice(slash + 1));
    if (!Number.isInteger(len) || len < 0 || len > net.width) return false;
    const shift = BigInt(net.width - len);
    return (bits.value >> shift) === (net.value >> shift);
  });
}

/** An IP address as a number of 32 or 128 bits, or undefined. */
export function ipBits(
  ip: string,
): { value: bigint; width: 32 | 128 } | undefined {
  const text = ip.startsWith("[") && ip.endsWith("]") ? ip.slice(1, -1) : ip;
  const family = isIP(text);
  if (family === 4) {
    return {
      value: text.split(".").reduce((a, o) => (a << 8n) | BigInt(o), 0n),
      width: 32,
    };
  }
  if (family !== 6) return undefined;
  // The URL parser writes the canonical form; expand it group by group.
  const canon = new URL(`http://[${text}]/`).hostname.slice(1, -1);
  const [head, tail] = canon.includes("::")
    ? canon.split("::") as [string, string]
    : [canon, undefined];
  const h = head ? head.split(":") : [];
  const t = tail ? tail.split(":") : [];
  const groups = tail === undefined
    ? h
    : [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return {
    value: groups.reduce((a, g) => (a << 16n) | BigInt(parseInt(g, 16)), 0n),
    width: 128,
  };
}

/** Options of {@linkcode ProfileWatch}. */
export interface ProfileWatchOptions {
  /** `LINKERD2_PROXY_DESTINATION_CONTEXT`. @default {""} */
  contextToken?: string;
  backoff?: BackoffSpec;
  random?: () => number;
  log?: Logger | undefined;
}

/**
 * The live service profile of one logical service (linkerd
 * `service_profiles::Client`): each message replaces the profile; an
 * invalid one is logged and the last good one stays; a broken stream keeps
 * the last profile while it reconnects; a fatal status leaves `undefined`.
 */
export class ProfileWatch implements Disposable {
  /** The current profile; undefined until the first one, or when there is none. */
  readonly profile: Watch<ServiceProfile | undefined> = new Watch<
    ServiceProfile | undefined
  >(undefined);
  /** Settles with the first profile, or when the controller has none. */
  readonly started: Promise<void>;
  readonly #stream: ControlStream<DestinationProfile>;

  constructor(
    client: ProfileClient,
    authority: string,
    opts: ProfileWatchOptions = {},
  ) {
    let started!: () => void;
    this.started = new Promise((r) => started = r);
    const req: GetDestination = {
      scheme: "",
      path: authority,
      context_token: opts.contextToken ?? "",
    };
    this.#stream = new ControlStream<DestinationProfile>({
      name: `Destination.GetProfile ${authority}`,
      open: () => client.GetProfile(req),
      onMessage: (msg) => {
        try {
          this.profile.set(serviceProfileOf(msg, authority));
        } finally {
          started();
        }
      },
      onFatal: () => {
        this.profile.set(undefined);
        started();
      },
      fatalCodes: PROFILE_FATAL_CODES,
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
      log: opts.log,
    });
  }

  /** Cancels the lookup. */
  [Symbol.dispose](): void {
    this.#stream[Symbol.dispose]();
    this.profile.close();
  }
}
