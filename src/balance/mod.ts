/**
 * Load balancing: Peak-EWMA load, power of two choices, the endpoint pool
 * with its readiness states and reconnect backoff, failure accrual, and the
 * queue with its failfast gate (linkerd `pool`, `pool/p2c`, `proxy/balance`,
 * `proxy/balance/queue`, `exp-backoff`, `out/http/breaker`; tower `balance`,
 * `load/peak_ewma`).
 *
 * @module
 */
export * from "./backoff.ts";
export * from "./breaker.ts";
export * from "./clock.ts";
export * from "./ewma.ts";
export * from "./p2c.ts";
export * from "./peak_ewma.ts";
export * from "./pool.ts";
export * from "./pool_queue.ts";
