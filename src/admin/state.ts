/**
 * The admin dashboard's state (`GET /state.json`): services, endpoints with
 * request/error rates and latency percentiles, balancers, routes and recent
 * errors, read from the proxy's own metric families (Petrel's own; linkerd
 * has `linkerd viz` outside the proxy instead).
 *
 * @module
 */
import type { ProxyMetrics } from "../metrics/registry.ts";
import type { RescuedError } from "../http/respond.ts";

/**
 * The live state of one balancer endpoint (state and Peak-EWMA cost), when
 * the outbound stack exposes its pools.
 */
export interface EndpointLive {
  backend: string;
  addr: string;
  state: string;
  inFlight: number;
  costMs: number;
}

/** Where the dashboard's non-metric state comes from. */
export interface StateSource {
  /** Configured services (the current config file). */
  services(): { name: string; protocol: string; endpoints: string[] }[];
  /** The most recent rescued errors, newest last. */
  recentErrors(): readonly RescuedError[];
  /** Live endpoint states and costs, when known. */
  endpoints?(): Iterable<EndpointLive>;
}

/** A fixed-size ring of recent errors, fed by the outbound rescue layer. */
export class ErrorRing {
  readonly #items: RescuedError[] = [];
  readonly #capacity: number;

  constructor(capacity = 50) {
    this.#capacity = capacity;
  }

  push(e: RescuedError): void {
    this.#items.push(e);
    if (this.#items.length > this.#capacity) this.#items.shift();
  }

  list(): readonly RescuedError[] {
    return this.#items;
  }
}

/** One row of the endpoints table. */
export interface EndpointState {
  direction: string;
  authority: string;
  addr: string;
  requests: number;
  failures: number;
  requestRate: number;
  errorRate: number;
  p50Ms: number | null;
  p95Ms: number | null;
  p99Ms: number | null;
  state?: string;
  inFlight?: number;
  costMs?: number;
}

/** The whole `/state.json` document. */
export interface DashboardState {
  timeMs: number;
  services: { name: string; protocol: string; endpoints: string[] }[];
  endpoints: EndpointState[];
  balancers: { backend: string; ready: number; pending: number }[];
  routes: {
    parent: string;
    route: string;
    requests: number;
    errors: number;
    requestRate: number;
    errorRate: number;
  }[];
  recentErrors: readonly RescuedError[];
}

interface Sample {
  labels: Record<string, string | number>;
  value: number;
  metricName?: string;
}

interface Counts {
  requests: number;
  failures: number;
}

/** Percentile `q` from cumulative histogram buckets (upper bound, ms). */
export function percentile(
  buckets: readonly (readonly [number, number])[],
  q: number,
): number | null {
  const sorted = [...buckets].sort((a, b) => a[0] - b[0]);
  const total = sorted.at(-1)?.[1] ?? 0;
  if (total === 0) return null;
  const want = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of sorted) {
    if (count >= want) {
      if (!Number.isFinite(le)) return prevLe;
      // Linear interpolation inside the bucket, as histogram_quantile does.
      const inBucket = count - prevCount;
      return inBucket === 0
        ? le
        : prevLe + (le - prevLe) * ((want - prevCount) / inBucket);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

/**
 * Builds `/state.json` documents; rates are per second over the interval
 * since the snapshot taken at least `windowMs` before (so several pollers
 * do not shrink the window).
 */
export class DashboardStateBuilder {
  readonly #metrics: ProxyMetrics;
  readonly #source: StateSource;
  readonly #windowMs: number;
  #history: { timeMs: number; counts: Map<string, Counts> }[] = [];

  constructor(metrics: ProxyMetrics, source: StateSource, windowMs = 1000) {
    this.#metrics = metrics;
    this.#source = source;
    this.#windowMs = windowMs;
  }

  async state(nowMs = Date.now()): Promise<DashboardState> {
    const families = await this.#metrics.registry.getMetricsAsJSON();
    const byName = new Map<string, Sample[]>();
    for (const f of families) {
      byName.set(f.name, f.values as unknown as Sample[]);
    }
    const counts = new Map<string, Counts>();
    const bump = (key: string, field: keyof Counts, n: number) => {
      const c = counts.get(key) ?? { requests: 0, failures: 0 };
      c[field] += n;
      counts.set(key, c);
    };
    const epKey = (l: Sample["labels"]) =>
      `ep\u0000${l.direction}\u0000${l.authority}\u0000${l.target_addr}`;
    for (const s of byName.get("request_total") ?? []) {
      bump(epKey(s.labels), "requests", s.value);
    }
    for (const s of byName.get("response_total") ?? []) {
      if (s.labels.classification === "failure") {
        bump(epKey(s.labels), "failures", s.value);
      }
    }
    const buckets = new Map<string, Map<number, number>>();
    for (const s of byName.get("response_latency_ms") ?? []) {
      if (s.metricName !== "response_latency_ms_bucket") continue;
      const k = epKey(s.labels);
      const le = s.labels.le === "+Inf" ? Infinity : Number(s.labels.le);
      const m = buckets.get(k) ?? new Map<number, number>();
      m.set(le, (m.get(le) ?? 0) + s.value);
      buckets.set(k, m);
    }
    const routeKey = (l: Sample["labels"]) =>
      `rt\u0000${l.parent_name}:${l.parent_port}\u0000${l.route_name}`;
    for (
      const name of [
        "outbound_http_route_request_statuses_total",
        "outbound_grpc_route_request_statuses_total",
      ]
    ) {
      for (const s of byName.get(name) ?? []) {
        const k = routeKey(s.labels);
        bump(k, "requests", s.value);
        const status = Number(s.labels.http_status);
        const grpc = s.labels.grpc_status;
        if (
          s.labels.error !== "" && s.labels.error !== undefined ||
          status >= 500 || (grpc !== undefined && grpc !== "" && grpc !== "OK")
        ) bump(k, "failures", s.value);
      }
    }

    // Rates against the newest snapshot at least windowMs old.
    this.#history.push({ timeMs: nowMs, counts });
    while (
      this.#history.length > 2 &&
      nowMs - this.#history[1]!.timeMs >= this.#windowMs
    ) this.#history.shift();
    const base = this.#history[0]!;
    const dtS = (nowMs - base.timeMs) / 1000;
    const rate = (k: string, f: keyof Counts) => {
      if (dtS <= 0) return 0;
      const prev = base.counts.get(k)?.[f] ?? 0;
      return Math.max(0, ((counts.get(k)?.[f] ?? 0) - prev) / dtS);
    };

    const live = new Map<string, EndpointLive>();
    for (const e of this.#source.endpoints?.() ?? []) {
      live.set(`${e.backend}\u0000${e.addr}`, e);
    }
    const endpoints: EndpointState[] = [];
    for (const [k, c] of counts) {
      if (!k.startsWith("ep\u0000")) continue;
      const [, direction, authority, addr] = k.split("\u0000") as [
        string,
        string,
        string,
        string,
      ];
      const b = [...(buckets.get(k) ?? new Map()).entries()] as [
        number,
        number,
      ][];
      const row: EndpointState = {
        direction,
        authority,
        addr,
        requests: c.requests,
        failures: c.failures,
        requestRate: rate(k, "requests"),
        errorRate: rate(k, "failures"),
        p50Ms: percentile(b, 0.5),
        p95Ms: percentile(b, 0.95),
        p99Ms: percentile(b, 0.99),
      };
      const l = live.get(`${authority}\u0000${addr}`);
      if (l) {
        row.state = l.state;
        row.inFlight = l.inFlight;
        row.costMs = l.costMs;
      }
      endpoints.push(row);
    }
    endpoints.sort((a, b) =>
      (a.authority + a.addr).localeCompare(b.authority + b.addr)
    );

    const balancers = new Map<
      string,
      { backend: string; ready: number; pending: number }
    >();
    for (const s of byName.get("outbound_http_balancer_endpoints") ?? []) {
      const backend = `${s.labels.backend_name}:${s.labels.backend_port}`;
      const b = balancers.get(backend) ?? { backend, ready: 0, pending: 0 };
      if (s.labels.endpoint_state === "ready") b.ready += s.value;
      else b.pending += s.value;
      balancers.set(backend, b);
    }

    const routes: DashboardState["routes"] = [];
    for (const [k, c] of counts) {
      if (!k.startsWith("rt\u0000")) continue;
      const [, parent, route] = k.split("\u0000") as [string, string, string];
      routes.push({
        parent,
        route,
        requests: c.requests,
        errors: c.failures,
        requestRate: rate(k, "requests"),
        errorRate: rate(k, "failures"),
      });
    }

    return {
      timeMs: nowMs,
      services: this.#source.services(),
      endpoints,
      balancers: [...balancers.values()],
      routes,
      recentErrors: this.#source.recentErrors(),
    };
  }
}
