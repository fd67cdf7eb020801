/**
 * `io.linkerd.proxy.meta` resource metadata as decoded from the wire, and
 * its conversion to the route model's `RouteRef` (linkerd `client-policy`
 * `Meta`).
 *
 * @module
 */
import type { RouteRef } from "../http/route/model.ts";

/** A decoded `meta.Resource`. */
export interface Resource {
  readonly group: string;
  readonly kind: string;
  readonly name: string;
  readonly namespace: string;
  readonly section: string;
  readonly port: number;
}

/** A decoded `meta.Metadata` (`kind` names the member set). */
export interface Metadata {
  readonly kind?: "default" | "resource";
  readonly default?: string;
  readonly resource?: Resource | null;
}

/**
 * The `RouteRef` of a metadata message; `fallback` names a default ref when
 * the message is absent or empty (linkerd `Meta::new_default`).
 */
export function routeRefOf(
  meta: Metadata | null | undefined,
  fallback: string,
): RouteRef {
  const r = meta?.resource;
  if (meta?.kind !== "default" && r !== undefined && r !== null) {
    return {
      kind: "resource",
      group: r.group,
      resourceKind: r.kind,
      name: r.name,
      namespace: r.namespace,
      ...(r.section === "" ? {} : { section: r.section }),
      ...(r.port === 0 ? {} : { port: r.port }),
    };
  }
  const name = meta?.default;
  return {
    kind: "default",
    name: name === undefined || name === "" ? fallback : name,
  };
}
