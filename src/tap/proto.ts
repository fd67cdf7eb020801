/**
 * `proto/tap.proto` loaded with `@grpc/proto-loader` (the decoding rules
 * of `api/proto.ts`), and the conversion of an `ObserveRequest` into a tap
 * (linkerd `tap::grpc::server`).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import { PROTO_LOADER_OPTIONS } from "../api/proto.ts";
import { compileMatch, type MatchMsg, type TapMatch } from "./match.ts";

/** Full name of the tap service. */
export const TAP_SERVICE = "io.linkerd.proxy.tap.Tap";

let def: protoLoader.PackageDefinition | undefined;

/** The package definition of `tap.proto` (loaded once). */
export function tapPackage(): protoLoader.PackageDefinition {
  def ??= protoLoader.loadSync(["tap.proto"], PROTO_LOADER_OPTIONS);
  return def;
}

/** The grpc-js service definition of `io.linkerd.proxy.tap.Tap`. */
export function tapServiceDefinition(): grpc.ServiceDefinition {
  return tapPackage()[TAP_SERVICE] as grpc.ServiceDefinition;
}

/** A decoded `ObserveRequest`. */
export interface ObserveRequestMsg {
  readonly limit: number;
  readonly match: MatchMsg | null;
  readonly extract: {
    readonly extract?: "http";
    readonly http?: { readonly extract?: "headers" } | null;
  } | null;
}

/** What an `ObserveRequest` asks for. */
export interface TapSpec {
  readonly limit: number;
  readonly match: TapMatch;
  readonly extractHeaders: boolean;
}

/** The tap of `req`; throws `TypeError` for a request that is not valid (linkerd `InvalidArgument`). */
export function tapSpecOf(req: ObserveRequestMsg): TapSpec {
  if (!Number.isInteger(req.limit) || req.limit <= 0) {
    throw new TypeError(`Invalid tap limit: current value is "${req.limit}"`);
  }
  return {
    limit: req.limit,
    match: compileMatch(req.match),
    extractHeaders: req.extract?.http?.extract === "headers",
  };
}
