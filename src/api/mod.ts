/**
 * The Linkerd control-plane API (linkerd2-proxy-api): Petrel's `proto/`
 * files loaded with `@grpc/proto-loader`, the decoded message types, and
 * their conversion to Petrel's discovery and route model.
 *
 * @module
 */
export * from "./proto.ts";
export * from "./duration.ts";
export * from "./net.ts";
export * from "./meta.ts";
export * from "./http_types.ts";
export * from "./http_route.ts";
export * from "./grpc_route.ts";
export * from "./destination.ts";
export * from "./outbound.ts";
export * from "./client_policy.ts";
export * from "./profile.ts";
export * from "./identity.ts";
