/**
 * The outbound route request and backend families (linkerd
 * `out/http/logical/policy/route/metrics.rs`, `…/route/backend/metrics.rs`,
 * `http/prom` `record_response`, `count_reqs`), HTTP and gRPC:
 *
 * - `outbound_{http,grpc}_route_request_duration_seconds` (buckets 0.05,
 *   0.5, 1, 10): request start → response end, per parent + route;
 * - `outbound_http_route_request_statuses_total{http_status,error}`,
 *   `outbound_grpc_route_request_statuses_total{grpc_status,error}`;
 * - `outbound_{http,grpc}_route_backend_requests_total` (parent + route +
 *   backend);
 * - `outbound_{http,grpc}_route_backend_response_duration_seconds`
 *   (buckets 0.025 … 10): request end → response end;
 * - `outbound_http_route_backend_response_statuses_total`, gRPC twin.
 *
 * Handles are resolved once per route rule and per route backend, when the
 * route stack is built; a request costs a clock read at its start and end,
 * a bucket scan and one map lookup keyed by the status number.
 *
 * @module
 */
import type { Registry } from "prom-client";
import {
  causeOf,
  FailFastError,
  LoadShedError,
  StreamResetError,
} from "../errors.ts";
import { observeBody } from "../http/classify.ts";
import type { HttpRequest, HttpResponse } from "../http/message.ts";
import { errorLabel } from "../http/retry/retry.ts";
import { CollectedFamily, type Labels, type Sample } from "./collected.ts";
import { endpointRescueStatus } from "./http_endpoint.ts";

/** linkerd `REQUEST_BUCKETS` (seconds). */
export const ROUTE_REQUEST_BUCKETS: readonly number[] = Object.freeze([
  0.05,
  0.5,
  1,
  10,
]);
/** linkerd `RESPONSE_BUCKETS` (seconds). */
export const ROUTE_BACKEND_BUCKETS: readonly number[] = Object.freeze([
  0.025,
  0.05,
  0.1,
  0.25,
  0.5,
  1,
  10,
]);

/** gRPC code names as linkerd labels them (`tonic::Code`). */
const GRPC_NAMES = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** A histogram in seconds with fixed bounds (non-cumulative counts). */
class SecondsHistogram {
  readonly labels: Labels;
  readonly #bounds: readonly number[];
  readonly #counts: Float64Array;
  #sum = 0;
  #count = 0;

  constructor(labels: Labels, bounds: readonly number[]) {
    this.labels = labels;
    this.#bounds = bounds;
    this.#counts = new Float64Array(bounds.length + 1);
  }

  observe(seconds: number): void {
    const b = this.#bounds;
    let i = 0;
    while (i < b.length && seconds > b[i]!) i++;
    this.#counts[i]!++;
    if (seconds > 0) this.#sum += seconds;
    this.#count++;
  }

  collect(name: string, out: Sample[]): void {
    let c = 0;
    const b = this.#bounds;
    for (let i = 0; i < b.length; i++) {
      c += this.#counts[i]!;
      out.push({
        metricName: `${name}_bucket`,
        labels: { ...this.labels, le: String(b[i]) },
        value: c,
      });
    }
    c += this.#counts[b.length]!;
    out.push({
      metricName: `${name}_bucket`,
      labels: { ...this.labels, le: "+Inf" },
      value: c,
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

/**
 * Status counts of one label set: keyed by a number (HTTP status, or gRPC
 * code + 1000) when there is no error, else by the error label.
 */
class StatusCounts {
  readonly labels: Labels;
  readonly #grpc: boolean;
  readonly #byStatus = new Map<number, { labels: Labels; n: number }>();
  readonly #byError = new Map<string, { labels: Labels; n: number }>();

  constructor(labels: Labels, grpc: boolean) {
    this.labels = labels;
    this.#grpc = grpc;
  }

  status(code: number): void {
    let e = this.#byStatus.get(code);
    if (e === undefined) {
      const l = this.#grpc
        ? { ...this.labels, grpc_status: GRPC_NAMES[code] ?? "UNKNOWN" }
        : { ...this.labels, http_status: String(code) };
      e = { labels: { ...l, error: "" }, n: 0 };
      this.#byStatus.set(code, e);
    }
    e.n++;
  }

  error(label: string, code: number | undefined): void {
    const key = `${code ?? ""}|${label}`;
    let e = this.#byError.get(key);
    if (e === undefined) {
      const status = code === undefined
        ? ""
        : this.#grpc
        ? GRPC_NAMES[code] ?? "UNKNOWN"
        : String(code);
      e = {
        labels: {
          ...this.labels,
          [this.#grpc ? "grpc_status" : "http_status"]: status,
          error: label,
        },
        n: 0,
      };
      this.#byError.set(key, e);
    }
    e.n++;
  }

  collect(out: Sample[]): void {
    for (const e of this.#byStatus.values()) {
      out.push({ labels: e.labels, value: e.n });
    }
    for (const e of this.#byError.values()) {
      out.push({ labels: e.labels, value: e.n });
    }
  }
}

/** linkerd's route error label of a failed request (`labels.rs` `Error`). */
export function routeErrorOf(err: unknown): string {
  const label = errorLabel(err);
  if (label !== undefined) return label;
  if (causeOf(err, FailFastError)) return "FAIL_FAST";
  if (causeOf(err, LoadShedError)) return "LOAD_SHED";
  if (causeOf(err, StreamResetError)) return "RESET";
  return "UNKNOWN";
}

/** A route's or a route backend's recorder. */
export interface RouteRequestMetrics {
  /**
   * Records one request answered by `p`: its status (gRPC: `grpc-status`
   * at the end of the stream) and its duration up to the response's end.
   * Returns the response, its body observed.
   */
  record(req: HttpRequest, p: Promise<HttpResponse>): Promise<HttpResponse>;
}

/** Recorder of one label set: a duration histogram and status counts. */
class RouteSeries implements RouteRequestMetrics {
  readonly duration: SecondsHistogram;
  readonly statuses: StatusCounts;
  readonly #grpc: boolean;
  readonly #requests: { n: number } | undefined;

  constructor(
    labels: Labels,
    grpc: boolean,
    bounds: readonly number[],
    requests: { n: number } | undefined,
  ) {
    this.duration = new SecondsHistogram(labels, bounds);
    this.statuses = new StatusCounts(labels, grpc);
    this.#grpc = grpc;
    this.#requests = requests;
  }

  record(_req: HttpRequest, p: Promise<HttpResponse>): Promise<HttpResponse> {
    if (this.#requests) this.#requests.n++;
    const start = performance.now();
    return p.then((rsp) => {
      const grpc = this.#grpc;
      const inHeaders = grpc ? rsp.headers["grpc-status"] : undefined;
      if (rsp.body === null || (grpc && inHeaders !== undefined)) {
        this.#done(rsp, start, inHeaders);
        if (rsp.body === null) return rsp;
      }
      const body = rsp.body!;
      rsp.body = observeBody(body, {
        end: (trailers) => {
          if (grpc && inHeaders !== undefined) return;
          this.#done(rsp, start, grpc ? trailers?.["grpc-status"] : undefined);
        },
        error: (err) => {
          if (grpc && inHeaders !== undefined) return;
          this.duration.observe((performance.now() - start) / 1000);
          this.statuses.error(
            routeErrorOf(err),
            grpc ? undefined : rsp.status,
          );
        },
      });
      return rsp;
    }, (err) => {
      this.duration.observe((performance.now() - start) / 1000);
      const rescued = endpointRescueStatus(err);
      if (rescued > 0 && !this.#grpc) this.statuses.status(rescued);
      else this.statuses.error(routeErrorOf(err), undefined);
      throw err;
    });
  }

  #done(
    rsp: HttpResponse,
    start: number,
    grpcStatus: string | string[] | undefined,
  ): void {
    this.duration.observe((performance.now() - start) / 1000);
    if (!this.#grpc) {
      this.statuses.status(rsp.status);
      return;
    }
    const code = typeof grpcStatus === "string" ? Number(grpcStatus) : 2;
    this.statuses.status(code >= 0 && code <= 16 ? code : 2);
  }
}

interface KindFamilies {
  readonly routes: RouteSeries[];
  readonly backends: { series: RouteSeries; requests: { n: number } }[];
}

/**
 * The route request and backend families of one registry (linkerd
 * `RouteMetrics` / `RouteBackendMetrics` families); build once per registry.
 */
export class RouteRequestFamilies {
  readonly #kinds: Record<"http" | "grpc", KindFamilies> = {
    http: { routes: [], backends: [] },
    grpc: { routes: [], backends: [] },
  };
  readonly #routeKeys = new Map<string, RouteSeries>();
  readonly #backendKeys = new Map<string, RouteSeries>();

  constructor(registry: Registry) {
    for (const kind of ["http", "grpc"] as const) {
      const k = this.#kinds[kind];
      const p = `outbound_${kind}_route_`;
      new CollectedFamily(
        `${p}request_duration_seconds`,
        "The time between request initialization and response completion",
        "histogram",
        (out) => {
          for (const s of k.routes) {
            s.duration.collect(`${p}request_duration_seconds`, out);
          }
        },
      ).register(registry);
      new CollectedFamily(
        `${p}request_statuses_total`,
        "Completed request-response streams",
        "counter",
        (out) => {
          for (const s of k.routes) s.statuses.collect(out);
        },
      ).register(registry);
      new CollectedFamily(
        `${p}backend_requests_total`,
        "The total number of requests dispatched",
        "counter",
        (out) => {
          for (const b of k.backends) {
            out.push({ labels: b.series.duration.labels, value: b.requests.n });
          }
        },
      ).register(registry);
      new CollectedFamily(
        `${p}backend_response_duration_seconds`,
        "The time between request completion and response completion",
        "histogram",
        (out) => {
          for (const b of k.backends) {
            b.series.duration.collect(
              `${p}backend_response_duration_seconds`,
              out,
            );
          }
        },
      ).register(registry);
      new CollectedFamily(
        `${p}backend_response_statuses_total`,
        "Completed responses",
        "counter",
        (out) => {
          for (const b of k.backends) b.series.statuses.collect(out);
        },
      ).register(registry);
    }
  }

  /** The recorder of one route (parent + route + `hostname` labels); equal labels share it. */
  route(
    kind: "http" | "grpc",
    labels: Readonly<Record<string, string>>,
  ): RouteRequestMetrics {
    const key = `${kind}|${JSON.stringify(labels)}`;
    let s = this.#routeKeys.get(key);
    if (s === undefined) {
      s = new RouteSeries(
        { ...labels },
        kind === "grpc",
        ROUTE_REQUEST_BUCKETS,
        undefined,
      );
      this.#routeKeys.set(key, s);
      this.#kinds[kind].routes.push(s);
    }
    return s;
  }

  /** The recorder of one route backend (parent + route + backend labels). */
  backend(
    kind: "http" | "grpc",
    labels: Readonly<Record<string, string>>,
  ): RouteRequestMetrics {
    const key = `${kind}|${JSON.stringify(labels)}`;
    let s = this.#backendKeys.get(key);
    if (s === undefined) {
      const requests = { n: 0 };
      s = new RouteSeries(
        { ...labels },
        kind === "grpc",
        ROUTE_BACKEND_BUCKETS,
        requests,
      );
      this.#backendKeys.set(key, s);
      this.#kinds[kind].backends.push({ series: s, requests });
    }
    return s;
  }
}

/** A parent, route or backend reference: a default "host:port", or resource metadata. */
export type MetaRef =
  | { readonly kind: "default"; readonly name: string }
  | {
    readonly kind: "resource";
    readonly group: string;
    readonly resourceKind: string;
    readonly name: string;
    readonly namespace: string;
    readonly section?: string;
    readonly port?: number;
  };

/** "host:port" → [name, port] ("" port without one). */
function nameAndPort(authority: string): [string, string] {
  const colon = authority.lastIndexOf(":");
  return colon > 0
    ? [authority.slice(0, colon), authority.slice(colon + 1)]
    : [authority, ""];
}

/** linkerd's `<prefix>_{group,kind,namespace,name,port,section_name}` of a reference. */
function refLabels(
  prefix: "parent" | "backend",
  ref: MetaRef,
  into: Record<string, string>,
): void {
  if (ref.kind === "default") {
    const [name, port] = nameAndPort(ref.name);
    into[`${prefix}_group`] = "";
    into[`${prefix}_kind`] = "default";
    into[`${prefix}_namespace`] = "";
    into[`${prefix}_name`] = name;
    into[`${prefix}_port`] = port;
    into[`${prefix}_section_name`] = "";
    return;
  }
  into[`${prefix}_group`] = ref.group;
  into[`${prefix}_kind`] = ref.resourceKind;
  into[`${prefix}_namespace`] = ref.namespace;
  into[`${prefix}_name`] = ref.name;
  into[`${prefix}_port`] = ref.port === undefined ? "" : String(ref.port);
  into[`${prefix}_section_name`] = ref.section ?? "";
}

/**
 * linkerd's parent + route labels (+ empty `hostname`) of a route, from the
 * policy's metadata: a resource parent (e.g. `Service`, `core`) keeps its
 * kind, namespace and port; a default one is the "host:port" it names.
 */
export function routeMetaLabels(
  parent: MetaRef,
  route: MetaRef,
): Record<string, string> {
  const l: Record<string, string> = {};
  refLabels("parent", parent, l);
  if (route.kind === "default") {
    l.route_group = "";
    l.route_kind = "default";
    l.route_namespace = "";
    l.route_name = route.name;
  } else {
    l.route_group = route.group;
    l.route_kind = route.resourceKind;
    l.route_namespace = route.namespace;
    l.route_name = route.name;
  }
  l.hostname = "";
  return l;
}

/** linkerd's parent + route + backend labels of a route backend. */
export function routeBackendMetaLabels(
  parent: MetaRef,
  route: MetaRef,
  backend: MetaRef,
): Record<string, string> {
  const l = routeMetaLabels(parent, route);
  delete l.hostname;
  refLabels("backend", backend, l);
  return l;
}
