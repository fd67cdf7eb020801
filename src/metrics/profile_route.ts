/**
 * The ServiceProfile route families (linkerd `app/core/src/metrics.rs`
 * `http_profile_route` and `http_profile_route_actual`, `ProfileRouteLabels`):
 * `route_request_total`, `route_response_total`, `route_response_latency_ms`
 * per logical request, and `route_actual_request_total`,
 * `route_actual_response_total` per attempt (no latency), labelled
 * `direction`, `dst` (the profile's logical `name:port`) and the route's
 * metric labels as `rt_<name>` (a profile's route name is `rt_route`; the
 * implicit catch-all route has none). `linkerd viz routes` reads them.
 *
 * @module
 */
import type { Registry } from "prom-client";
import type { HttpRequest, HttpResponse } from "../http/message.ts";
import { LABEL_NAME_REGEXP, type Labels } from "./collected.ts";
import { EndpointSeries, registerRequestFamilies } from "./http.ts";
import { recordExchange } from "./http_endpoint.ts";

/** Labels of one profile route (linkerd `ProfileRouteLabels`). */
export interface ProfileRouteLabels {
  /** "outbound" or "inbound". */
  readonly direction: string;
  /** The profile's logical address, `name:port`. */
  readonly dst: string;
  /** The route's `metrics_labels`, printed as `rt_<name>`. */
  readonly routeLabels?: Readonly<Record<string, string>> | undefined;
}

/** A profile route's recorder, resolved once per route. */
export interface ProfileRouteMetrics {
  /** Records one request answered by `p`; returns the response, its body observed. */
  record(req: HttpRequest, p: Promise<HttpResponse>): Promise<HttpResponse>;
}

class ProfileRouteSeries implements ProfileRouteMetrics {
  readonly #series: EndpointSeries;

  constructor(series: EndpointSeries) {
    this.#series = series;
  }

  record(req: HttpRequest, p: Promise<HttpResponse>): Promise<HttpResponse> {
    return recordExchange(this.#series, req, p);
  }
}

/** The profile route families of one registry; build once per registry. */
export class ProfileRouteFamilies {
  readonly #logical = new Map<string, ProfileRouteSeries>();
  readonly #actual = new Map<string, ProfileRouteSeries>();
  readonly #logicalSeries: EndpointSeries[] = [];
  readonly #actualSeries: EndpointSeries[] = [];

  constructor(registry: Registry) {
    registerRequestFamilies(
      registry,
      "route_",
      () => this.#logicalSeries,
      true,
    );
    registerRequestFamilies(
      registry,
      "route_actual_",
      () => this.#actualSeries,
      false,
    );
  }

  /** The per-request recorder of a route (`route_*`); equal labels share one series. */
  route(labels: ProfileRouteLabels): ProfileRouteMetrics {
    return this.#resolve(this.#logical, this.#logicalSeries, labels);
  }

  /** The per-attempt recorder of a route (`route_actual_*`). */
  actual(labels: ProfileRouteLabels): ProfileRouteMetrics {
    return this.#resolve(this.#actual, this.#actualSeries, labels);
  }

  #resolve(
    keys: Map<string, ProfileRouteSeries>,
    all: EndpointSeries[],
    labels: ProfileRouteLabels,
  ): ProfileRouteMetrics {
    const l = profileRouteLabels(labels);
    const key = JSON.stringify(l);
    let s = keys.get(key);
    if (s === undefined) {
      const series = new EndpointSeries(l);
      all.push(series);
      s = new ProfileRouteSeries(series);
      keys.set(key, s);
    }
    return s;
  }
}

/** `direction`, `dst`, then `rt_<name>` for each route label, in order. */
export function profileRouteLabels(labels: ProfileRouteLabels): Labels {
  const l: Labels = { direction: labels.direction, dst: labels.dst };
  for (const [k, v] of Object.entries(labels.routeLabels ?? {})) {
    l[`rt_${k.replace(LABEL_NAME_REGEXP, "_")}`] = v;
  }
  return l;
}
