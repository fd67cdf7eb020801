/**
 * Per-proxy metrics registry with linkerd's legacy families
 * (linkerd `app/core/src/metrics.rs`, `http/metrics`, `transport-metrics`).
 *
 * The hot families (`request_total`, `response_total`, `response_latency_ms`
 * and the `tcp_*` transport families) are stored in per-target handles that
 * are resolved once per endpoint, and are read into the prom-client
 * {@linkcode Registry} only at scrape time, as linkerd's handles are. A
 * prom-client child (`counter.labels(...)`) would hash and validate every label
 * on each `inc()`, which is the per-request label lookup that style H2 forbids.
 * Low-rate families (`outbound_http_errors_total`, detection results,
 * `proxy_build_info`) are plain prom-client metrics.
 *
 * @module
 */
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import type { Metric } from "prom-client";
import { RouteMetricFamilies } from "./route.ts";

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

/** Labels of one outbound HTTP endpoint (linkerd `OutboundEndpointLabels`). */
export interface HttpEndpointLabels {
  /** `direction` label, "outbound" or "inbound". */
  direction: string;
  /** Logical authority (`host:port`) the request was routed by. */
  authority: string;
  /** Endpoint socket address, `ip:port` or `[ip6]:port`. */
  targetAddr: string;
  /**
   * TLS of the endpoint connection.
   * @default {{ noTlsReason: "not_provided_by_service_discovery" }}
   */
  tls?: TlsLabels | undefined;
  /** Discovery metric labels, rendered as `dst_<name>` (linkerd `dst_*`). */
  dstLabels?: Record<string, string> | undefined;
}

/** Labels of {@linkcode ProxyMetrics.origProto}. */
export interface OrigProtoLabels {
  /** "outbound" (upgraded) or "inbound" (downgraded). */
  direction: string;
  /** The endpoint (outbound) or the application (inbound), `ip:port`. */
  targetAddr: string;
  /** The `l5d-orig-proto` version, "HTTP/1.1" or "HTTP/1.0". */
  origProto: string;
}

/** Labels of one side of a connection (linkerd `transport-metrics` labels). */
export interface TransportLabels {
  /** `direction` label, "outbound" or "inbound". */
  direction: string;
  /** "src" for accepted connections, "dst" for connections we opened. */
  peer: "src" | "dst";
  /** The peer's socket address (`ip:port`). */
  targetAddr: string;
  /**
   * TLS of the connection.
   * @default {{ noTlsReason: "loopback" }} for "src",
   *   {{ noTlsReason: "not_provided_by_service_discovery" }} for "dst"
   */
  tls?: TlsLabels | undefined;
}

/** What {@linkcode HttpEndpointMetrics.response} records about one response. */
export interface ResponseRecord {
  /** Response classification (linkerd `classify::Class`). */
  classification: "success" | "failure";
  /** gRPC status code, when the request was gRPC. */
  grpcStatus?: number | undefined;
  /** Stream error label (e.g. "timeout", "h2(CANCEL)"), when the stream failed. */
  error?: string | undefined;
  /** Time to the first response body frame, in milliseconds. */
  latencyMs: number;
}

/** Per-endpoint HTTP metric handle (linkerd `http_metrics::Requests` handle). */
export interface HttpEndpointMetrics {
  /** Counts one request (`request_total`). */
  request(): void;
  /** Counts one response (`response_total`) and its latency (`response_latency_ms`). */
  response(status: number, opts: ResponseRecord): void;
}

/** Per-connection-target transport handle (linkerd `transport-metrics` `Sensor`). */
export interface TransportMetrics {
  /** A connection was opened (`tcp_open_total`, `tcp_open_connections`). */
  open(): void;
  /** A connection closed; `errno` is the OS error name, "" or omitted when clean. */
  close(errno?: string): void;
  /** `n` bytes were read from the peer (`tcp_read_bytes_total`). */
  read(n: number): void;
  /** `n` bytes were written to the peer (`tcp_write_bytes_total`). */
  write(n: number): void;
}

/** Detection outcome label values (linkerd `detect` results). */
export type DetectResult =
  | "http/1"
  | "http/2"
  | "not_http"
  | "read_timeout"
  | "error";

/**
 * Per-balancer metric handle (linkerd `out/http/concrete/balance.rs`
 * `P2cMetrics`, `GaugeBalancerEndpoint`, queue `Gate` metrics). Resolve it
 * once per balancer; dispose it with the balancer (its gauges then leave the
 * sums; counters are kept).
 */
export interface HttpBalancerMetrics extends Disposable {
  /** Endpoints by state (`outbound_http_balancer_endpoints{endpoint_state}`, `…_p2c_endpoints`). */
  endpoints(ready: number, pending: number): void;
  /** A discovery update (`outbound_http_balancer_p2c_updates_total{op}`). */
  update(op: "Reset" | "Add" | "Remove"): void;
  /** A breaker changed gate (`outbound_http_balancer_breaker_transitions_total{to}`, Petrel's own). */
  breaker(to: "open" | "shut" | "probation"): void;
  /** A request entered the balancer (`outbound_http_balancer_queue_requests_total`). */
  request(): void;
  /** Requests waiting for a ready endpoint (`outbound_http_balancer_queue_length`). */
  length(n: number): void;
  /** The failfast gate opened or shut (`…_queue_gate_open_total` / `…_queue_gate_shut_total`). */
  gate(open: boolean): void;
  /** A queued request failed with failfast (`…_queue_failfast_total`, Petrel's own). */
  failfast(): void;
  /** A request was shed at the gate or a full queue (`…_queue_loadshed_total`, Petrel's own). */
  loadshed(): void;
}

/** Options of {@linkcode ProxyMetrics.httpBalancer}. */
export interface HttpBalancerOptions {
  /** The failfast timeout, exported as `…_queue_gate_timeout_seconds`. */
  failfastTimeoutMs: number;
}

/** Options of {@linkcode ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /**
   * `version` label of `proxy_build_info`.
   * @default {"0.0.0-dev"}
   */
  version?: string | undefined;
  /**
   * Expose the process-wide `process_*`/`nodejs_*` collectors.
   * @default {true}
   */
  processMetrics?: boolean | undefined;
}

type Labels = Record<string, string>;
type Sample = { labels: Labels; value: number; metricName?: string };

/**
 * A family whose samples are read from handles at scrape time. The prom-client
 * registry only calls `get()` (and `reset()` from `resetMetrics()`), so this
 * object stands in for a prom-client `Metric` (prom-client's `collect` hook).
 */
class CollectedFamily {
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
class LatencySeries {
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

/** One `response_total` series and the latency series of its status. */
class ResponseSeries {
  readonly labels: Labels;
  readonly latency: LatencySeries;
  count = 0;

  constructor(labels: Labels, latency: LatencySeries) {
    this.labels = labels;
    this.latency = latency;
  }
}

/** The shared state behind every handle for one endpoint label set. */
class EndpointSeries implements HttpEndpointMetrics {
  readonly labels: Labels;
  #requests = 0;
  /** Common case (no stream error), keyed by a number (see `response`). */
  readonly #plain = new Map<number, ResponseSeries>();
  /** Responses with a stream error (or an odd gRPC status), keyed by a string. */
  readonly #other = new Map<string, ResponseSeries>();
  readonly #latency = new Map<number, LatencySeries>();

  constructor(labels: Labels) {
    this.labels = labels;
  }

  request(): void {
    this.#requests++;
  }

  response(status: number, opts: ResponseRecord): void {
    let series: ResponseSeries | undefined;
    const grpcStatus = opts.grpcStatus;
    if (
      opts.error === undefined &&
      (grpcStatus === undefined ||
        (grpcStatus >>> 0 === grpcStatus && grpcStatus < 64))
    ) {
      // Numeric key: status, gRPC status + 1 (0 when absent), classification.
      const k = status * 128 + (grpcStatus === undefined ? 0 : grpcStatus + 1);
      const key = opts.classification === "success" ? k : -k - 1;
      series = this.#plain.get(key);
      if (series === undefined) {
        series = this.#newResponse(
          status,
          opts.classification,
          grpcStatus === undefined ? "" : String(grpcStatus),
          "",
        );
        this.#plain.set(key, series);
      }
    } else {
      const grpc = opts.grpcStatus === undefined ? "" : String(opts.grpcStatus);
      const error = opts.error ?? "";
      const key = `${status}|${opts.classification}|${grpc}|${error}`;
      series = this.#other.get(key);
      if (series === undefined) {
        series = this.#newResponse(status, opts.classification, grpc, error);
        this.#other.set(key, series);
      }
    }
    series.count++;
    series.latency.observe(opts.latencyMs);
  }

  #newResponse(
    status: number,
    classification: string,
    grpcStatus: string,
    error: string,
  ): ResponseSeries {
    let latency = this.#latency.get(status);
    if (latency === undefined) {
      latency = new LatencySeries({
        ...this.labels,
        status_code: String(status),
      });
      this.#latency.set(status, latency);
    }
    return new ResponseSeries({
      ...this.labels,
      status_code: String(status),
      classification,
      grpc_status: grpcStatus,
      error,
    }, latency);
  }

  collectRequests(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#requests });
  }

  collectResponses(out: Sample[]): void {
    for (const s of this.#plain.values()) {
      out.push({ labels: s.labels, value: s.count });
    }
    for (const s of this.#other.values()) {
      out.push({ labels: s.labels, value: s.count });
    }
  }

  collectLatency(name: string, out: Sample[]): void {
    for (const s of this.#latency.values()) s.collect(name, out);
  }
}

/** The shared state behind every handle for one transport label set. */
class TransportSeries implements TransportMetrics {
  readonly labels: Labels;
  #opens = 0;
  #cleanCloses = 0;
  #errnoCloses: Map<string, number> | undefined;
  #readBytes = 0;
  #writeBytes = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  open(): void {
    this.#opens++;
  }

  close(errno?: string): void {
    if (errno === undefined || errno === "") {
      this.#cleanCloses++;
      return;
    }
    const m = this.#errnoCloses ??= new Map();
    m.set(errno, (m.get(errno) ?? 0) + 1);
  }

  read(n: number): void {
    this.#readBytes += n;
  }

  write(n: number): void {
    this.#writeBytes += n;
  }

  #closes(): number {
    let n = this.#cleanCloses;
    if (this.#errnoCloses) {
      for (const c of this.#errnoCloses.values()) {
        n += c;
      }
    }
    return n;
  }

  collectOpens(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#opens });
  }

  collectOpenConnections(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#opens - this.#closes() });
  }

  collectCloses(out: Sample[]): void {
    if (this.#cleanCloses > 0 || this.#errnoCloses === undefined) {
      out.push({
        labels: { ...this.labels, errno: "" },
        value: this.#cleanCloses,
      });
    }
    if (this.#errnoCloses) {
      for (const [errno, n] of this.#errnoCloses) {
        out.push({ labels: { ...this.labels, errno }, value: n });
      }
    }
  }

  collectRead(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#readBytes });
  }

  collectWrite(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#writeBytes });
  }
}

const UPDATE_OPS = ["Reset", "Add", "Remove"] as const;
const BREAKER_STATES = ["open", "shut", "probation"] as const;

/** The shared counters of one balancer label set, and its live handles. */
class BalancerSeries {
  readonly labels: Labels;
  readonly handles = new Set<BalancerHandle>();
  readonly updates = [0, 0, 0];
  readonly breaker = [0, 0, 0];
  requests = 0;
  gateOpen = 0;
  gateShut = 0;
  failfast = 0;
  loadshed = 0;
  timeoutSeconds = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  sum(pick: (h: BalancerHandle) => number): number {
    let n = 0;
    for (const h of this.handles) n += pick(h);
    return n;
  }
}

class BalancerHandle implements HttpBalancerMetrics {
  readonly #series: BalancerSeries;
  ready = 0;
  pending = 0;
  queued = 0;

  constructor(series: BalancerSeries) {
    this.#series = series;
    series.handles.add(this);
  }

  endpoints(ready: number, pending: number): void {
    this.ready = ready;
    this.pending = pending;
  }

  update(op: "Reset" | "Add" | "Remove"): void {
    this.#series.updates[UPDATE_OPS.indexOf(op)]!++;
  }

  breaker(to: "open" | "shut" | "probation"): void {
    this.#series.breaker[BREAKER_STATES.indexOf(to)]!++;
  }

  request(): void {
    this.#series.requests++;
  }

  length(n: number): void {
    this.queued = n;
  }

  gate(open: boolean): void {
    if (open) this.#series.gateOpen++;
    else this.#series.gateShut++;
  }

  failfast(): void {
    this.#series.failfast++;
  }

  loadshed(): void {
    this.#series.loadshed++;
  }

  [Symbol.dispose](): void {
    this.#series.handles.delete(this);
  }
}

const LABEL_NAME_REGEXP = /[^a-zA-Z0-9_]/g;

function tlsLabels(tls: TlsLabels, into: Labels): void {
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

const PROCESS_EXCLUDED = [
  // Under Deno 2.9.6 `PerformanceObserver` never reports "gc" entries, so the
  // histogram stays empty; its observer would also never be released.
  "nodejs_gc_duration_seconds",
  // `process._getActiveHandles/_getActiveRequests` are empty stubs in Deno.
  "nodejs_active_handles",
  "nodejs_active_handles_total",
  "nodejs_active_requests",
  "nodejs_active_requests_total",
  // A gauge named `_total` (prom-client's naming), which promtool rejects;
  // nodejs_active_resources carries the same numbers.
  "nodejs_active_resources_total",
];

let processRegistry: Registry | undefined;

/**
 * prom-client's default collectors, created once per process: they describe
 * the process, and each `collectDefaultMetrics()` call starts an event-loop
 * delay monitor that is never released, so proxies share one set.
 */
function processMetrics(): Registry {
  if (processRegistry === undefined) {
    const registry = new Registry();
    collectDefaultMetrics({ register: registry });
    for (const name of PROCESS_EXCLUDED) registry.removeSingleMetric(name);
    processRegistry = registry;
  }
  return processRegistry;
}

/**
 * All metrics of one proxy instance, with its own prom-client registry
 * (linkerd `app/core/src/metrics.rs` `Metrics` + `Proxy` families).
 */
export class ProxyMetrics {
  /** The prom-client registry holding every family of this proxy. */
  readonly registry: Registry;
  readonly #endpoints = new Map<string, EndpointSeries>();
  readonly #transports = new Map<string, TransportSeries>();
  readonly #balancers = new Map<string, BalancerSeries>();
  readonly #httpErrors: Counter<"error">;
  readonly #origProto: Counter<"direction" | "target_addr" | "orig_proto">;
  readonly #detect: Counter<"result">;
  #routes: RouteMetricFamilies | undefined;

  constructor(opts: ProxyMetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];

    new Gauge({
      name: "proxy_build_info",
      help: "Proxy build info.",
      labelNames: ["version"],
      registers,
    }).set({ version: opts.version ?? "0.0.0-dev" }, 1);

    const endpoints = this.#endpoints;
    new CollectedFamily(
      "request_total",
      "Total count of HTTP requests.",
      "counter",
      (out) => {
        for (const e of endpoints.values()) e.collectRequests(out);
      },
    ).register(registry);
    new CollectedFamily(
      "response_total",
      "Total count of HTTP responses.",
      "counter",
      (out) => {
        for (const e of endpoints.values()) e.collectResponses(out);
      },
    ).register(registry);
    new CollectedFamily(
      "response_latency_ms",
      "Elapsed times between a request's headers being received and its response stream completing",
      "histogram",
      (out) => {
        for (const e of endpoints.values()) {
          e.collectLatency("response_latency_ms", out);
        }
      },
    ).register(registry);

    this.#httpErrors = new Counter({
      name: "outbound_http_errors_total",
      help:
        "The total number of outbound HTTP requests that could not be processed due to a proxy error.",
      labelNames: ["error"],
      registers,
    });

    this.#origProto = new Counter({
      name: "http_orig_proto_requests_total",
      help:
        "HTTP/1 requests carried over HTTP/2 between proxies with l5d-orig-proto (outbound: upgraded; inbound: downgraded).",
      labelNames: ["direction", "target_addr", "orig_proto"],
      registers,
    });

    const transports = this.#transports;
    const transportFamily = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      pick: (t: TransportSeries, out: Sample[]) => void,
    ) =>
      new CollectedFamily(name, help, type, (out) => {
        for (const t of transports.values()) pick(t, out);
      }).register(registry);
    transportFamily(
      "tcp_open_total",
      "Total count of opened connections",
      "counter",
      (t, out) => t.collectOpens(out),
    );
    transportFamily(
      "tcp_open_connections",
      "Number of currently-open connections",
      "gauge",
      (t, out) => t.collectOpenConnections(out),
    );
    transportFamily(
      "tcp_read_bytes_total",
      "Total count of bytes read from peers",
      "counter",
      (t, out) => t.collectRead(out),
    );
    transportFamily(
      "tcp_write_bytes_total",
      "Total count of bytes written to peers",
      "counter",
      (t, out) => t.collectWrite(out),
    );
    transportFamily(
      "tcp_close_total",
      "Total count of closed connections",
      "counter",
      (t, out) => t.collectCloses(out),
    );

    const balancers = this.#balancers;
    const balancerFamily = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      pick: (b: BalancerSeries, out: Sample[]) => void,
    ) =>
      new CollectedFamily(name, help, type, (out) => {
        for (const b of balancers.values()) pick(b, out);
      }).register(registry);
    balancerFamily(
      "outbound_http_balancer_endpoints",
      "The number of endpoints currently in a HTTP request balancer",
      "gauge",
      (b, out) => {
        out.push({
          labels: { ...b.labels, endpoint_state: "ready" },
          value: b.sum((h) => h.ready),
        });
        out.push({
          labels: { ...b.labels, endpoint_state: "pending" },
          value: b.sum((h) => h.pending),
        });
      },
    );
    balancerFamily(
      "outbound_http_balancer_p2c_endpoints",
      "The number of endpoints in the P2C balancer",
      "gauge",
      (b, out) =>
        out.push({
          labels: b.labels,
          value: b.sum((h) => h.ready + h.pending),
        }),
    );
    balancerFamily(
      "outbound_http_balancer_p2c_updates_total",
      "The total number of service discovery updates received by a P2C balancer",
      "counter",
      (b, out) => {
        UPDATE_OPS.forEach((op, i) =>
          out.push({ labels: { ...b.labels, op }, value: b.updates[i]! })
        );
      },
    );
    balancerFamily(
      "outbound_http_balancer_queue_length",
      "The number of requests waiting for a ready endpoint",
      "gauge",
      (b, out) => out.push({ labels: b.labels, value: b.sum((h) => h.queued) }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_requests_total",
      "The total number of requests that entered the balancer queue",
      "counter",
      (b, out) => out.push({ labels: b.labels, value: b.requests }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_gate_open_total",
      "The total number of times the failfast gate opened",
      "counter",
      (b, out) => out.push({ labels: b.labels, value: b.gateOpen }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_gate_shut_total",
      "The total number of times the failfast gate shut",
      "counter",
      (b, out) => out.push({ labels: b.labels, value: b.gateShut }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_gate_timeout_seconds",
      "The failfast timeout of the balancer queue",
      "gauge",
      (b, out) => out.push({ labels: b.labels, value: b.timeoutSeconds }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_failfast_total",
      "The total number of queued requests failed because no endpoint became ready in time (Petrel)",
      "counter",
      (b, out) => out.push({ labels: b.labels, value: b.failfast }),
    );
    balancerFamily(
      "outbound_http_balancer_queue_loadshed_total",
      "The total number of requests refused because the gate was shut or the queue full (Petrel)",
      "counter",
      (b, out) => out.push({ labels: b.labels, value: b.loadshed }),
    );
    balancerFamily(
      "outbound_http_balancer_breaker_transitions_total",
      "The total number of endpoint circuit breaker transitions, by the state entered (Petrel)",
      "counter",
      (b, out) => {
        BREAKER_STATES.forEach((to, i) =>
          out.push({ labels: { ...b.labels, to }, value: b.breaker[i]! })
        );
      },
    );

    this.#detect = new Counter({
      name: "outbound_tcp_detect_http_results_total",
      help: "Results of HTTP protocol detection on outbound connections.",
      labelNames: ["result"],
      registers,
    });

    if (opts.processMetrics ?? true) {
      const shared = processMetrics();
      for (const metric of shared.getMetricsAsArray()) {
        const m = shared.getSingleMetric(metric.name);
        if (m) registry.registerMetric(m);
      }
    }
  }

  /**
   * Returns the handle for one endpoint's HTTP metrics; call once per
   * endpoint target (linkerd `NewMetrics` resolving `Requests` per target).
   * Equal label sets share one series.
   */
  httpEndpoint(labels: HttpEndpointLabels): HttpEndpointMetrics {
    const { ip, port } = splitTargetAddr(labels.targetAddr);
    const l: Labels = {
      direction: labels.direction,
      authority: labels.authority,
      target_addr: labels.targetAddr,
      target_ip: ip,
      target_port: port,
    };
    tlsLabels(
      labels.tls ?? { noTlsReason: "not_provided_by_service_discovery" },
      l,
    );
    if (labels.dstLabels) {
      for (const [k, v] of Object.entries(labels.dstLabels)) {
        l[`dst_${k.replace(LABEL_NAME_REGEXP, "_")}`] = v;
      }
    }
    const key = JSON.stringify(l);
    let series = this.#endpoints.get(key);
    if (series === undefined) {
      series = new EndpointSeries(l);
      this.#endpoints.set(key, series);
    }
    return series;
  }

  /**
   * Returns a handle for one balancer's metrics; call once per balancer
   * (linkerd `P2cMetricFamilies::metrics(labels)`). `labels` are linkerd's
   * parent + backend labels. Equal label sets share their counters; the
   * gauges sum the live handles.
   */
  httpBalancer(
    labels: Readonly<Record<string, string>>,
    opts: HttpBalancerOptions,
  ): HttpBalancerMetrics {
    const l: Labels = {};
    for (const [k, v] of Object.entries(labels)) {
      l[k.replace(LABEL_NAME_REGEXP, "_")] = v;
    }
    const key = JSON.stringify(l);
    let series = this.#balancers.get(key);
    if (series === undefined) {
      series = new BalancerSeries(l);
      this.#balancers.set(key, series);
    }
    series.timeoutSeconds = opts.failfastTimeoutMs / 1000;
    return new BalancerHandle(series);
  }

  /** The route retry families (`metrics/route.ts`), registered on first use. */
  get routes(): RouteMetricFamilies {
    return this.#routes ??= new RouteMetricFamilies(this.registry);
  }

  /** Counts one request failed by the proxy (`outbound_http_errors_total`). */
  httpError(kind: string): void {
    this.#httpErrors.inc({ error: kind });
  }

  /**
   * Counts one HTTP/1 request carried over HTTP/2 with `l5d-orig-proto`
   * (`http_orig_proto_requests_total`; linkerd has no counterpart, its
   * endpoint metrics do not tell upgraded traffic apart).
   */
  origProto(labels: OrigProtoLabels): { inc(): void } {
    return this.#origProto.labels({
      direction: labels.direction,
      target_addr: labels.targetAddr,
      orig_proto: labels.origProto,
    });
  }

  /**
   * Returns the handle for one connection target's transport metrics
   * (linkerd `transport-metrics` `Registry::metrics(labels)`).
   */
  transport(labels: TransportLabels): TransportMetrics {
    const l: Labels = {
      direction: labels.direction,
      peer: labels.peer,
      target_addr: labels.targetAddr,
    };
    tlsLabels(
      labels.tls ??
        {
          noTlsReason: labels.peer === "src"
            ? "loopback"
            : "not_provided_by_service_discovery",
        },
      l,
    );
    const key = JSON.stringify(l);
    let series = this.#transports.get(key);
    if (series === undefined) {
      series = new TransportSeries(l);
      this.#transports.set(key, series);
    }
    return series;
  }

  /** Counts one HTTP detection outcome (`outbound_tcp_detect_http_results_total`). */
  detect(result: DetectResult | string): void {
    this.#detect.inc({ result });
  }

  /** Prometheus text format 0.0.4 of every family (linkerd `metrics::Serve`). */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  /** The content type of {@linkcode ProxyMetrics.render}'s output. */
  get contentType(): string {
    return this.registry.contentType;
  }
}
