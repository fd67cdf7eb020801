/**
 * Per-proxy metrics registry with linkerd's legacy families
 * (linkerd `app/core/src/metrics.rs`): one prom-client registry holding the
 * HTTP (`http.ts`), transport (`transport.ts`) and balancer (`balancer.ts`)
 * families, the route families (`route.ts`), detection results, build info
 * and the process collectors. The plumbing is in `collected.ts`.
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
import { RouteRequestFamilies } from "./route_families.ts";
import { ProfileRouteFamilies } from "./profile_route.ts";
import { collectDefaultMetrics, Counter, Gauge, Registry } from "prom-client";
import {
  BalancerFamilies,
  type HttpBalancerMetrics,
  type HttpBalancerOptions,
} from "./balancer.ts";
import {
  type HttpEndpointLabels,
  type HttpEndpointMetrics,
  HttpFamilies,
  type OrigProtoLabels,
} from "./http.ts";
import { RouteMetricFamilies } from "./route_retry.ts";
import {
  type DetectResult,
  TransportFamilies,
  type TransportLabels,
  type TransportMetrics,
} from "./transport.ts";

export {
  LATENCY_BUCKETS_MS,
  splitTargetAddr,
  type TlsLabels,
} from "./collected.ts";
export type {
  HttpEndpointLabels,
  HttpEndpointMetrics,
  OrigProtoLabels,
  ResponseRecord,
} from "./http.ts";
export type {
  DetectResult,
  TransportLabels,
  TransportMetrics,
} from "./transport.ts";
export type { HttpBalancerMetrics, HttpBalancerOptions } from "./balancer.ts";

/** Options of {@linkcode ProxyMetrics}. */
export interface ProxyMetricsOptions {
  /**
   * `version` label of `proxy_build_info`.
   * @default {"0.0.0-dev"}
   */
  version?: string | undefined;
  /** `git_sha` label of `proxy_build_info`. @default {""} */
  gitSha?: string | undefined;
  /** `date` label of `proxy_build_info`. @default {""} */
  buildDate?: string | undefined;
  /**
   * Expose the process-wide `process_*`/`nodejs_*` collectors.
   * @default {true}
   */
  processMetrics?: boolean | undefined;
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
  readonly #http: HttpFamilies;
  readonly #transport: TransportFamilies;
  readonly #balancer: BalancerFamilies;
  readonly #detect: Counter<"result">;
  #routes: RouteMetricFamilies | undefined;
  #routeRequests: RouteRequestFamilies | undefined;
  #profileRoutes: ProfileRouteFamilies | undefined;

  constructor(opts: ProxyMetricsOptions = {}) {
    const registry = new Registry();
    this.registry = registry;
    const registers = [registry];

    // linkerd `core/src/build_info.rs`: date, git_sha, profile, vendor, version.
    new Gauge({
      name: "proxy_build_info",
      help: "Proxy build info",
      labelNames: ["date", "git_sha", "profile", "vendor", "version"],
      registers,
    }).set({
      date: opts.buildDate ?? "",
      git_sha: opts.gitSha ?? "",
      profile: "release",
      vendor: "petrel",
      version: opts.version ?? "0.0.0-dev",
    }, 1);

    // Registration order is the order of `/metrics`.
    this.#http = new HttpFamilies(registry);
    this.#transport = new TransportFamilies(registry);
    this.#balancer = new BalancerFamilies(registry);

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
   * endpoint target. Equal label sets share one series.
   */
  httpEndpoint(labels: HttpEndpointLabels): HttpEndpointMetrics {
    return this.#http.httpEndpoint(labels);
  }

  /** Returns a handle for one balancer's metrics; call once per balancer. */
  httpBalancer(
    labels: Readonly<Record<string, string>>,
    opts: HttpBalancerOptions,
  ): HttpBalancerMetrics {
    return this.#balancer.httpBalancer(labels, opts);
  }

  /** The route request and backend families (`metrics/route_families.ts`), registered on first use. */
  get routeRequests(): RouteRequestFamilies {
    return this.#routeRequests ??= new RouteRequestFamilies(this.registry);
  }

  /** The ServiceProfile route families (`metrics/profile_route.ts`), registered on first use. */
  get profileRoutes(): ProfileRouteFamilies {
    return this.#profileRoutes ??= new ProfileRouteFamilies(this.registry);
  }

  /** The route retry families (`metrics/route_retry.ts`), registered on first use. */
  get routes(): RouteMetricFamilies {
    return this.#routes ??= new RouteMetricFamilies(this.registry);
  }

  /** Counts one request failed by the proxy (`outbound_http_errors_total`). */
  httpError(kind: string): void {
    this.#http.httpError(kind);
  }

  /** Counts HTTP/1 requests carried over HTTP/2 (`http_orig_proto_requests_total`). */
  origProto(labels: OrigProtoLabels): { inc(): void } {
    return this.#http.origProto(labels);
  }

  /** Returns the handle for one connection target's transport metrics. */
  transport(labels: TransportLabels): TransportMetrics {
    return this.#transport.transport(labels);
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
