/**
 * The balancer families (linkerd `out/http/concrete/balance.rs`
 * `P2cMetricFamilies`, queue `Gate` metrics): `outbound_http_balancer_*`,
 * counters per label set, gauges summed over the live handles.
 *
 * @module
 */
import type { Registry } from "prom-client";
import {
  CollectedFamily,
  LABEL_NAME_REGEXP,
  type Labels,
  type Sample,
} from "./collected.ts";

/** "host:port" → [name, port] of a default-kind parent or backend ("" port without one). */
export function nameAndPort(authority: string): [string, string] {
  const colon = authority.lastIndexOf(":");
  return colon > 0
    ? [authority.slice(0, colon), authority.slice(colon + 1)]
    : [authority, ""];
}

/**
 * linkerd's 12 balancer labels of a backend: the default-kind parent
 * service and backend, both "host:port" (`parent_*`, `backend_*`). A
 * service's own balancer has `backend` = `parent`.
 */
export function backendLabels(
  parent: string,
  backend: string = parent,
): Record<string, string> {
  const [parentName, parentPort] = nameAndPort(parent);
  const [backendName, backendPort] = nameAndPort(backend);
  return {
    parent_group: "",
    parent_kind: "default",
    parent_namespace: "",
    parent_name: parentName,
    parent_port: parentPort,
    parent_section_name: "",
    backend_group: "",
    backend_kind: "default",
    backend_namespace: "",
    backend_name: backendName,
    backend_port: backendPort,
    backend_section_name: "",
  };
}

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

/** The balancer families of one proxy, registered on its registry. */
export class BalancerFamilies {
  readonly #balancers = new Map<string, BalancerSeries>();

  constructor(registry: Registry) {
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
}
