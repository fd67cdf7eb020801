/**
 * `petrel init`: the pod's traffic redirect (linkerd2-proxy-init).
 *
 * @module
 */
export * from "./cli.ts";
export * from "./rules.ts";
