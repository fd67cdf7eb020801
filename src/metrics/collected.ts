/**
 * The plumbing under Petrel's metric families: families whose samples are
 * read from per-target handles at scrape time (as linkerd's handles are; a
 * prom-client child would hash and validate every label on each `inc()`),
 * the latency histogram series, and the label helpers.
 *
 * @module
 */
import type { Metric, Registry } from "prom-client";

/** Latency buckets in milliseconds (linkerd `metrics/src/latency.rs` `BOUNDS`). */
export const LATENCY_BUCKETS_MS: readonly number[] = Object.freeze([
  1,
  2,
  3,
  4,
  5,
  10,
  20,
  30,
  40,
  50,
  100,
  200,
  300,
  400,
  500,
  1000,
  2000,
  3000,
  4000,
  5000,
  10000,
  20000,
  30000,
  40000,
  50000,
]);

/**
 * TLS labels of a connection or endpoint (linkerd `tls::ConditionalClientTls`
 * `FmtLabels`): `tls="true"` with `server_id` (client side) or `client_id`
 * (server side), or `tls="no_identity"` with `no_tls_reason`.
 */
export type TlsLabels =
  | { serverId: string }
  | { clientId: string }
  | { noTlsReason: string };

/** One label set of a series. */
export type Labels = Record<string, string>;

/** One sample handed to prom-client at scrape time. */
export type Sample = { labels: Labels; value: number; metricName?: string };

/**
 * A family whose samples are read from handles at scrape time. The prom-client
 * registry only calls `get()` (and `reset()` from `resetMetrics()`), so this
 * object stands in for a prom-client `Metric` (prom-client's `collect` hook).
 */
export class CollectedFamily {
  name: string;
  readonly help: string;
  readonly type: "counter" | "gauge" | "histogram";
  readonly aggregator = "sum";
  readonly labelNames: string[] = [];
  #collect: (out: Sample[]) => void;

  constructor(
    name: string,
    help: string,
    type: "counter" | "gauge" | "histogram",
    collect: (out: Sample[]) => void,
  ) {
    this.name = name;
    this.help = help;
    this.type = type;
    this.#collect = collect;
  }

  get(): Promise<
    {
      name: string;
      help: string;
      type: string;
      aggregator: string;
      values: Sample[];
    }
  > {
    const values: Sample[] = [];
    this.#collect(values);
    return Promise.resolve({
      name: this.name,
      help: this.help,
      type: this.type,
      aggregator: this.aggregator,
      values,
    });
  }

  /** Handles own their values; a registry reset does not clear them. */
  reset(): void {}

  register(registry: Registry): void {
    registry.registerMetric(this as unknown as Metric);
  }
}

/** One latency histogram series (non-cumulative bucket counts). */
export class LatencySeries {
  readonly labels: Labels;
  readonly #counts = new Float64Array(LATENCY_BUCKETS_MS.length + 1);
  #sum = 0;
  #count = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  observe(ms: number): void {
    const bounds = LATENCY_BUCKETS_MS;
    const n = bounds.length;
    let i = 0;
    // Linear scan: most latencies fall in the first few buckets.
    while (i < n && ms > bounds[i]!) i++;
    this.#counts[i]!++;
    if (ms > 0) this.#sum += ms;
    this.#count++;
  }

  collect(name: string, out: Sample[]): void {
    let cumulative = 0;
    const bounds = LATENCY_BUCKETS_MS;
    for (let i = 0; i < bounds.length; i++) {
      cumulative += this.#counts[i]!;
      out.push({
        metricName: `${name}_bucket`,
        labels: { ...this.labels, le: String(bounds[i]) },
        value: cumulative,
      });
    }
    cumulative += this.#counts[bounds.length]!;
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...this.labels, le: "+Inf" },
      value: cumulative,
    });
    out.push({
      metricName: `${name}_sum`,
      labels: this.labels,
      value: this.#sum,
    });
    out.push({
      metricName: `${name}_count`,
      labels: this.labels,
      value: this.#count,
    });
  }
}

/** Characters not allowed in a Prometheus label name. */
export const LABEL_NAME_REGEXP = /[^a-zA-Z0-9_]/g;

/** Writes the TLS labels of `tls` into `into`. */
export function tlsLabels(tls: TlsLabels, into: Labels): void {
  if ("serverId" in tls) {
    into.tls = "true";
    into.server_id = tls.serverId;
  } else if ("clientId" in tls) {
    into.tls = "true";
    into.client_id = tls.clientId;
  } else {
    into.tls = "no_identity";
    into.no_tls_reason = tls.noTlsReason;
  }
}

/** Splits `ip:port` / `[ip6]:port` into `target_ip` and `target_port`. */
export function splitTargetAddr(addr: string): { ip: string; port: string } {
  if (addr.startsWith("[")) {
    const end = addr.indexOf("]");
    if (end > 0) {
      const rest = addr.slice(end + 1);
      return {
        ip: addr.slice(1, end),
        port: rest.startsWith(":") ? rest.slice(1) : "",
      };
    }
  }
  const colon = addr.lastIndexOf(":");
  if (colon < 0 || addr.indexOf(":") !== colon) return { ip: addr, port: "" };
  return { ip: addr.slice(0, colon), port: addr.slice(colon + 1) };
}
