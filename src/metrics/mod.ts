/**
 * Proxy metrics on prom-client: linkerd's legacy families with per-target
 * handles (linkerd `linkerd/metrics`, `app/core/src/metrics.rs`).
 *
 * @module
 */
export * from "./registry.ts";
