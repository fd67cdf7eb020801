/**
 * Load reported by the peer proxy: a meshed Petrel's inbound tells the
 * client-side Petrel, on each response, how many requests its application
 * has in flight and how much application time one request in flight costs;
 * the client's balancer turns that into the expected latency of one more
 * request there, and falls back to linkerd's Peak-EWMA where no fresh
 * report exists (non-Petrel endpoints, first requests, endpoints left idle).
 *
 * Not in linkerd. The idea is Prequal's (Wydrowski, Kleinberg, Rumble,
 * NSDI 2024: balance on the server's requests-in-flight and latency, not on
 * what one client sees) and gRPC's ORCA-weighted round robin (load reported
 * by the backend in-band); the cost rule is Petrel's own, chosen in
 * `bench/lb_sim.ts` (see bench/RESULTS.md, "Peer-reported load").
 *
 * The header, `l5d-petrel-load: inflight=3;svc=1.25ms`:
 * - `inflight`: requests the inbound has in flight at its application when
 *   the response head leaves (the answered one excluded), over all clients;
 * - `svc`: an EWMA over recent requests of the application's latency ÷ its
 *   requests in flight when the request arrived (itself included): the
 *   service time of one request for a serial application, the time per
 *   request (1 / throughput) of a saturated concurrent one.
 *
 * The expected latency of one more request is `svc × (n + 1)`, where
 * `n = max(inflight + requests this client sent since the report, own in
 * flight)`.
 *
 * @module
 */
/** The response header carrying the inbound's load (Petrel's own; not linkerd's). */
export const PEER_LOAD_HEADER = "l5d-petrel-load";

/** One parsed {@linkcode PEER_LOAD_HEADER} value. */
export interface PeerLoadReport {
  /** Requests in flight at the peer's application. */
  readonly inflight: number;
  /** Application ms per request in flight (EWMA). */
  readonly svcMs: number;
}

/**
 * The header value for a report (Petrel's own format).
 *
 * @example
 * ```ts
 * import { formatPeerLoad } from "./peer_load.ts";
 * formatPeerLoad(3, 1.2345); // "inflight=3;svc=1.23ms"
 * ```
 */
export function formatPeerLoad(inflight: number, svcMs: number): string {
  return `inflight=${inflight};svc=${
    svcMs >= 100 ? Math.round(svcMs) : Math.round(svcMs * 100) / 100
  }ms`;
}

/**
 * Parses a {@linkcode PEER_LOAD_HEADER} value; undefined for anything but
 * `inflight=<int>;svc=<number>ms` (fields in any order, unknown fields
 * ignored, so a later Petrel may add some).
 *
 * @example
 * ```ts
 * import { parsePeerLoad } from "./peer_load.ts";
 * parsePeerLoad("inflight=3;svc=1.2ms"); // { inflight: 3, svcMs: 1.2 }
 * parsePeerLoad("inflight=x"); // undefined
 * ```
 */
export function parsePeerLoad(value: string): PeerLoadReport | undefined {
  let inflight = -1, svcMs = -1;
  for (const part of value.split(";")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq).trim();
    const v = part.slice(eq + 1).trim();
    if (key === "inflight") {
      if (!/^\d{1,9}$/.test(v)) return undefined;
      inflight = Number(v);
    } else if (key === "svc") {
      if (!/^\d{1,9}(\.\d{1,6})?ms$/.test(v)) return undefined;
      svcMs = Number(v.slice(0, -2));
    }
  }
  return inflight < 0 || svcMs < 0 ? undefined : { inflight, svcMs };
}

/** Options of {@linkcode InboundLoad}. */
export interface InboundLoadOptions {
  /**
   * The weight of each new sample in the `svc` EWMA.
   * @default {DEFAULT_PEER_LOAD.alpha}
   */
  alpha?: number;
}

/** Defaults of the reporting and the client-side rule (tuned in bench/lb_sim.ts). */
export const DEFAULT_PEER_LOAD = Object.freeze({
  /** Weight of each sample in the inbound's `svc` EWMA. */
  alpha: 0.2,
  /** A report older than this is stale: the client uses Peak-EWMA. */
  staleMs: 1_000,
});

/**
 * The inbound side: a running count of requests in flight at the
 * application and the `svc` EWMA, one per inbound (all clients together).
 * No allocation per request beyond the header value.
 *
 * @example One request
 * ```ts
 * import { InboundLoad } from "./peer_load.ts";
 * const load = new InboundLoad();
 * const rif = load.start(); // 1: this request, in flight
 * load.finish(rif, 0, 8); // "inflight=0;svc=8ms" (8 ms at 1 in flight)
 * ```
 */
export class InboundLoad {
  readonly #alpha: number;
  #inflight = 0;
  #svcMs = -1;

  constructor(opts: InboundLoadOptions = {}) {
    this.#alpha = opts.alpha ?? DEFAULT_PEER_LOAD.alpha;
  }

  /** Requests in flight at the application now. */
  get inflight(): number {
    return this.#inflight;
  }

  /** The current `svc` estimate in ms (−1 before the first sample). */
  get svcMs(): number {
    return this.#svcMs;
  }

  /** A request goes to the application: returns its in-flight count at arrival (itself included). */
  start(): number {
    return ++this.#inflight;
  }

  /**
   * Its response head is back (or it failed) at `nowMs`, having started at
   * `startMs`: records the sample and returns the header value to send.
   */
  finish(rifAtStart: number, startMs: number, nowMs: number): string {
    this.#inflight--;
    const sample = Math.max(0, nowMs - startMs) / Math.max(1, rifAtStart);
    const s = this.#svcMs;
    this.#svcMs = s < 0 ? sample : s + this.#alpha * (sample - s);
    return formatPeerLoad(this.#inflight, this.#svcMs);
  }
}

/** Options of {@linkcode PeerLoad}. */
export interface PeerLoadOptions {
  /**
   * A report older than this no longer counts; Peak-EWMA decides until the
   * next one arrives (bounded exploration: an endpoint left idle is judged
   * by its decaying Peak-EWMA, so a recovered one is tried again).
   * @default {DEFAULT_PEER_LOAD.staleMs}
   */
  staleMs?: number;
  /** Shared by the endpoints of one pool. @default {none: no guess for new endpoints} */
  pool?: PeerLoadPool | undefined;
}

/** Something with linkerd's load (the fallback): a Peak-EWMA. */
export interface FallbackLoad {
  load(nowMs?: number): number;
}

/**
 * What the endpoints of one pool share: an EWMA of the latencies they
 * report, the guess for a Petrel endpoint that has not answered yet.
 */
export class PeerLoadPool {
  #svcMs = -1;

  /** The reference latency (−1 before any report). */
  get svcMs(): number {
    return this.#svcMs;
  }

  /** @internal */
  sample(svcMs: number): void {
    const s = this.#svcMs;
    this.#svcMs = s < 0 ? svcMs : s + 0.1 * (svcMs - s);
  }
}

/**
 * The client side, one per endpoint: the latest report and the requests
 * sent since, turned into the expected latency of one more request.
 * Until the endpoint's first response it is assumed as loaded as the
 * pool's reporting endpoints (when there are any); when its first response
 * carries no report it is a non-Petrel peer and Peak-EWMA decides.
 *
 * @example A report, then a request sent
 * ```ts
 * import { PeerLoad } from "./peer_load.ts";
 * const peer = new PeerLoad();
 * peer.report({ inflight: 2, svcMs: 5 }, 0);
 * peer.sent();
 * peer.load(10, 1, { load: () => 99 }); // 5 × (2 + 1 + 1) = 20
 * ```
 */
export class PeerLoad {
  readonly #staleMs: number;
  readonly #pool: PeerLoadPool | undefined;
  #mode: "unknown" | "reporting" | "silent" = "unknown";
  #inflight = 0;
  #svcMs = 0;
  #atMs = -Infinity;
  #sentSince = 0;

  constructor(opts: PeerLoadOptions = {}) {
    this.#staleMs = opts.staleMs ?? DEFAULT_PEER_LOAD.staleMs;
    this.#pool = opts.pool;
  }

  /** Whether a report fresh at `nowMs` exists. */
  fresh(nowMs: number): boolean {
    return nowMs - this.#atMs <= this.#staleMs;
  }

  /** A request was dispatched to the endpoint. */
  sent(): void {
    this.#sentSince++;
  }

  /** A response head arrived (after its report, if it had one). */
  answered(): void {
    if (this.#mode === "unknown") this.#mode = "silent";
  }

  /** A response carried `r` (at `nowMs`). */
  report(r: PeerLoadReport, nowMs: number): void {
    this.#mode = "reporting";
    this.#inflight = r.inflight;
    this.#svcMs = r.svcMs;
    this.#atMs = nowMs;
    this.#sentSince = 0;
    this.#pool?.sample(r.svcMs);
  }

  /**
   * The cost of one more request: with a fresh report,
   * `svc × (n + 1)`, n = max(inflight + sent since, own in flight); before the first response, the pool's reference latency ×
   * (own in flight + 1); else the fallback's (Peak-EWMA) load.
   */
  load(nowMs: number, ownInFlight: number, fallback: FallbackLoad): number {
    if (nowMs - this.#atMs <= this.#staleMs) {
      const n = Math.max(this.#inflight + this.#sentSince, ownInFlight);
      return this.#svcMs * (n + 1);
    }
    if (this.#mode === "unknown") {
      const ref = this.#pool?.svcMs ?? -1;
      if (ref >= 0) return ref * (ownInFlight + 1);
    }
    return fallback.load(nowMs);
  }
}
