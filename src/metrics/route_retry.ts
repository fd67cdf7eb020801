/**
 * Per-route retry and stream-error metrics (linkerd
 * `out/http/logical/policy/route/retry.rs` `RouteRetryMetrics`, registered
 * under `outbound_{http,grpc}_route_retry_`; reference §3.3, §11.3).
 *
 * - `outbound_{http,grpc}_route_retry_requests_total`: retries sent;
 * - `…_retry_successes_total`: retries that got an answer needing no
 *   further retry;
 * - `…_retry_limit_exceeded_total`: requests whose last allowed retry was
 *   still retryable;
 * - `…_retry_overflow_total`: retries the budget refused;
 * - `outbound_{http,grpc}_route_attempt_errors_total{error}` (Petrel):
 *   attempts on routes with a retry or timeout policy that ended with a
 *   timeout or a reset, by linkerd's route error label (`REQUEST_TIMEOUT`,
 *   `RESPONSE_HEADERS_TIMEOUT`, `RESPONSE_STREAM_TIMEOUT`, `IDLE_TIMEOUT`,
 *   `CANCEL`, `REFUSED`, `ENHANCE_YOUR_CALM`, `RESET`).
 *
 * Labels: linkerd's parent and route labels plus `hostname` (empty, as
 * linkerd without `OUTBOUND_METRICS_HOSTNAME_LABELS`). These count retries
 * and failures, never every request, so plain prom-client counters serve;
 * each route resolves its label set once, when its stack is built.
 *
 * @module
 */
import { Counter, type Registry } from "prom-client";
import type { RetryMetrics } from "../http/retry/retry.ts";
import { nameAndPort } from "./balancer.ts";

/** linkerd's parent + route label names (`out/metrics.rs`), plus `hostname`. */
export const ROUTE_LABEL_NAMES = [
  "parent_group",
  "parent_kind",
  "parent_namespace",
  "parent_name",
  "parent_port",
  "parent_section_name",
  "route_group",
  "route_kind",
  "route_namespace",
  "route_name",
  "hostname",
] as const;

/** One route's label values. */
export type RouteLabels = Readonly<
  Record<(typeof ROUTE_LABEL_NAMES)[number], string>
>;

/** The route error labels the attempt-error family takes (linkerd `labels.rs`). */
export const ROUTE_ERROR_LABELS: readonly string[] = Object.freeze([
  "REQUEST_TIMEOUT",
  "RESPONSE_HEADERS_TIMEOUT",
  "RESPONSE_STREAM_TIMEOUT",
  "IDLE_TIMEOUT",
  "CANCEL",
  "REFUSED",
  "ENHANCE_YOUR_CALM",
  "RESET",
]);

type Name = (typeof ROUTE_LABEL_NAMES)[number] | "error";

interface Families {
  readonly requests: Counter<Name>;
  readonly successes: Counter<Name>;
  readonly limitExceeded: Counter<Name>;
  readonly overflow: Counter<Name>;
  readonly errors: Counter<Name>;
}

/**
 * The route retry families of one registry, HTTP and gRPC (linkerd
 * `RouteRetryMetrics` families). Build once per registry.
 */
export class RouteMetricFamilies {
  readonly #http: Families;
  readonly #grpc: Families;

  constructor(registry: Registry) {
    this.#http = families("http", registry);
    this.#grpc = families("grpc", registry);
  }

  /**
   * The retry metric handle of one route (linkerd
   * `RouteRetryMetrics::metrics(labels)`); its series start at 0.
   */
  route(kind: "http" | "grpc", labels: RouteLabels): RetryMetrics {
    const f = kind === "grpc" ? this.#grpc : this.#http;
    const l: Record<string, string> = { ...labels };
    for (const c of [f.requests, f.successes, f.limitExceeded, f.overflow]) {
      c.inc(l, 0);
    }
    return {
      retry: () => f.requests.inc(l),
      success: () => f.successes.inc(l),
      limitExceeded: () => f.limitExceeded.inc(l),
      overflow: () => f.overflow.inc(l),
      error: (error) => f.errors.inc({ ...l, error }),
    };
  }
}

function families(kind: "http" | "grpc", registry: Registry): Families {
  const registers = [registry];
  const labelNames: Name[] = [...ROUTE_LABEL_NAMES];
  const counter = (name: string, help: string, extra: Name[] = []) =>
    new Counter<Name>({
      name: `outbound_${kind}_route_${name}`,
      help,
      labelNames: [...labelNames, ...extra],
      registers,
    });
  return {
    requests: counter(
      "retry_requests_total",
      "The total number of retries sent.",
    ),
    successes: counter(
      "retry_successes_total",
      "The total number of retries that got a response needing no further retry.",
    ),
    limitExceeded: counter(
      "retry_limit_exceeded_total",
      "The total number of requests whose last allowed retry was still retryable.",
    ),
    overflow: counter(
      "retry_overflow_total",
      "The total number of retries not sent because the retry budget was spent.",
    ),
    errors: counter(
      "attempt_errors_total",
      "The total number of attempts on routes with a retry or timeout policy that ended with a timeout or a reset, by error (Petrel).",
      ["error"],
    ),
  };
}

/**
 * linkerd's labels of a route: the parent (a default-kind service
 * `host:port`) and the route's metadata.
 */
export function routeLabels(
  parent: string,
  route:
    | { readonly kind: "default"; readonly name: string }
    | {
      readonly kind: "resource";
      readonly group: string;
      readonly resourceKind: string;
      readonly name: string;
      readonly namespace: string;
    },
): RouteLabels {
  const [parentName, parentPort] = nameAndPort(parent);
  const base = {
    parent_group: "",
    parent_kind: "default",
    parent_namespace: "",
    parent_name: parentName,
    parent_port: parentPort,
    parent_section_name: "",
    hostname: "",
  };
  return route.kind === "default"
    ? {
      ...base,
      route_group: "",
      route_kind: "default",
      route_namespace: "",
      route_name: route.name,
    }
    : {
      ...base,
      route_group: route.group,
      route_kind: route.resourceKind,
      route_namespace: route.namespace,
      route_name: route.name,
    };
}
