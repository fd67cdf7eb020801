/**
 * HTTP and gRPC routes (linkerd `linkerd/http/route`): the route model,
 * matchers compiled once per table, route selection with linkerd's
 * precedence, and the filters.
 *
 * @module
 */
export * from "./model.ts";
export * from "./select.ts";
export * from "./grpc.ts";
export * from "./match_host.ts";
export * from "./match_path.ts";
export * from "./match_header.ts";
export * from "./match_query_param.ts";
export * from "./filter_modify_header.ts";
export * from "./filter_redirect.ts";
export * from "./filter_inject_failure.ts";
