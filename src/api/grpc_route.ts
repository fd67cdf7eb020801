/**
 * `io.linkerd.proxy.grpc_route` matches and filters as decoded from the
 * wire, and their conversion to the route model (linkerd `client-policy`
 * `grpc.rs`).
 *
 * @module
 */
import type {
  GrpcFailureInjector as ModelGrpcFailureInjector,
  GrpcRouteMatch as ModelGrpcRouteMatch,
} from "../http/route/model.ts";
import {
  type HeaderMatch,
  headerMatchOf,
  type Ratio,
  ratioOf,
} from "./http_route.ts";

/** A decoded `grpc_route.GrpcRpcMatch` (empty strings match anything). */
export interface GrpcRpcMatch {
  readonly service: string;
  readonly method: string;
}

/** A decoded `grpc_route.GrpcRouteMatch`. */
export interface GrpcRouteMatch {
  readonly rpc: GrpcRpcMatch | null | undefined;
  readonly headers: readonly HeaderMatch[];
}

/** A decoded `grpc_route.GrpcFailureInjector`. */
export interface GrpcFailureInjector {
  readonly code: number;
  readonly message: string;
  readonly ratio: Ratio | null | undefined;
}

/** The model's gRPC route match (linkerd `MatchRoute::try_from`). */
export function grpcRouteMatchOf(m: GrpcRouteMatch): ModelGrpcRouteMatch {
  const service = m.rpc?.service ?? "";
  const method = m.rpc?.method ?? "";
  const rpc = service === "" && method === "" ? undefined : {
    ...(service === "" ? {} : { service }),
    ...(method === "" ? {} : { method }),
  };
  return {
    ...(rpc === undefined ? {} : { rpc }),
    headers: m.headers.map(headerMatchOf),
  };
}

/** The model's gRPC failure injector; code 0 or above 16 throws `RangeError`. */
export function grpcFailureInjectorOf(
  f: GrpcFailureInjector,
): ModelGrpcFailureInjector {
  if (f.code < 1 || f.code > 16) {
    throw new RangeError(
      `Cannot parse gRPC failure injector code: current value is "${f.code}"`,
    );
  }
  return { code: f.code, message: f.message, ratio: ratioOf(f.ratio) };
}
