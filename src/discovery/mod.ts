/**
 * Discovery: the Linkerd control plane when configured, then the config
 * file, then DNS, behind one `Discovery` (`composite.ts`; linkerd
 * `proxy/core` Resolve, `proxy/api-resolve`, the DNS fallback).
 *
 * @module
 */
export * from "./composite.ts";
export * from "./resolve.ts";
export * from "./dns.ts";
export * from "./static.ts";
// Types only: destination.ts loads @grpc/grpc-js, which app.ts imports on
// demand when a control plane is configured (issue 19).
export type * from "./destination.ts";
export * from "./policy.ts";
export * from "./profile.ts";
