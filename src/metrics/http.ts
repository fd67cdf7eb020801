/**
 * The HTTP families (linkerd `http/metrics`, `app/core/src/metrics.rs`):
 * `request_total`, `response_total`, `response_latency_ms` in per-endpoint
 * handles, `outbound_http_errors_total` and `http_orig_proto_requests_total`.
 *
 * @module
 */
import { Counter, type Registry } from "prom-client";
import {
  CollectedFamily,
  LABEL_NAME_REGEXP,
  type Labels,
  LatencySeries,
  type Sample,
  splitTargetAddr,
  type TlsLabels,
  tlsLabels,
} from "./collected.ts";

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
  dstLabels?: Readonly<Record<string, string>> | undefined;
  /** Labels appended as given: the inbound `srv_*`, `route_*`, `authz_*`. */
  extra?: Readonly<Record<string, string>> | undefined;
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

/**
 * The shared state behind every handle for one label set of the request
 * families (an endpoint's, or a profile route's in `profile_route.ts`).
 */
export class EndpointSeries implements HttpEndpointMetrics {
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
      // linkerd prints `status_code` only when there was a response.
      latency = new LatencySeries(
        status > 0
          ? { ...this.labels, status_code: String(status) }
          : { ...this.labels },
      );
      this.#latency.set(status, latency);
    }
    return new ResponseSeries({
      ...latency.labels,
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

/**
 * Registers `<prefix>request_total`, `<prefix>response_latency_ms` (when
 * `latencies`) and `<prefix>response_total` over the series `all` gives at
 * each scrape (linkerd `requests/report.rs` with `with_prefix`).
 */
export function registerRequestFamilies(
  registry: Registry,
  prefix: string,
  all: () => Iterable<EndpointSeries>,
  latencies: boolean,
): void {
  new CollectedFamily(
    `${prefix}request_total`,
    "Total count of HTTP requests.",
    "counter",
    (out) => {
      for (const e of all()) e.collectRequests(out);
    },
  ).register(registry);
  new CollectedFamily(
    `${prefix}response_total`,
    "Total count of HTTP responses.",
    "counter",
    (out) => {
      for (const e of all()) e.collectResponses(out);
    },
  ).register(registry);
  if (!latencies) return;
  const name = `${prefix}response_latency_ms`;
  new CollectedFamily(
    name,
    "Elapsed times between a request's headers being received and its response stream completing",
    "histogram",
    (out) => {
      for (const e of all()) e.collectLatency(name, out);
    },
  ).register(registry);
}

/** The HTTP families of one proxy, registered on its registry. */
export class HttpFamilies {
  readonly #endpoints = new Map<string, EndpointSeries>();
  readonly #httpErrors: Counter<"error">;
  readonly #origProto: Counter<"direction" | "target_addr" | "orig_proto">;

  constructor(registry: Registry) {
    const registers = [registry];
    const endpoints = this.#endpoints;
    registerRequestFamilies(registry, "", () => endpoints.values(), true);

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
  }

  /**
   * Returns the handle for one endpoint's HTTP metrics; call once per
   * endpoint target (linkerd `NewMetrics` resolving `Requests` per target).
   * Equal label sets share one series.
   */
  httpEndpoint(labels: HttpEndpointLabels): HttpEndpointMetrics {
    const { ip, port } = splitTargetAddr(labels.targetAddr);
    // linkerd prints `authority` only when the target has one.
    const l: Labels = { direction: labels.direction };
    if (labels.authority !== "") l.authority = labels.authority;
    l.target_addr = labels.targetAddr;
    l.target_ip = ip;
    l.target_port = port;
    tlsLabels(
      labels.tls ?? { noTlsReason: "not_provided_by_service_discovery" },
      l,
    );
    if (labels.dstLabels) {
      for (const [k, v] of Object.entries(labels.dstLabels)) {
        l[`dst_${k.replace(LABEL_NAME_REGEXP, "_")}`] = v;
      }
    }
    if (labels.extra) Object.assign(l, labels.extra);
    const key = JSON.stringify(l);
    let series = this.#endpoints.get(key);
    if (series === undefined) {
      series = new EndpointSeries(l);
      this.#endpoints.set(key, series);
    }
    return series;
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
}
