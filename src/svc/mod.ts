/**
 * Composition only: services, layers, stacks and caches. No HTTP, no I/O.
 *
 * @module
 */
export * from "./service.ts";
export * from "./stack.ts";
export * from "./watch.ts";
export * from "./idle_cache.ts";
