/**
 * Configuration: linkerd's defaults, the environment, the YAML file and its
 * watcher (linkerd `app/src/env.rs` + `env/*.rs`).
 *
 * @module
 */
export * from "./config.ts";
export * from "./env.ts";
export * from "./parse.ts";
export * from "./watch.ts";
export * from "./yaml.ts";
