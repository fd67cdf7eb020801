/**
 * Loads Petrel's `proto/` files (the linkerd2-proxy-api messages) with
 * `@grpc/proto-loader` and builds the grpc-js service constructors of the
 * three control-plane services (linkerd2-proxy-api's generated `src/gen/`).
 *
 * Decoded messages follow {@linkcode PROTO_LOADER_OPTIONS}: field names as
 * in the `.proto` files, 64-bit integers as decimal strings, enums as their
 * names, scalar defaults filled in, repeated fields always arrays, unset
 * message fields `null`, and each `oneof` named by a virtual field holding
 * the name of the member that is set.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import {
  certificateSans,
  describeSans,
  type SanEntry,
  sansMatch,
} from "../tls/names.ts";

/** The folder holding Petrel's `.proto` files. */
export const PROTO_DIR: string = decodeURIComponent(
  new URL("../../proto/", import.meta.url).pathname,
);

/** The `.proto` files that define the three services (the rest are imported). */
export const SERVICE_PROTO_FILES: readonly string[] = Object.freeze([
  "destination.proto",
  "outbound.proto",
  "identity.proto",
  "inbound.proto",
]);

/** How messages are decoded (see the module doc). */
export const PROTO_LOADER_OPTIONS: protoLoader.Options = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: true,
  arrays: true,
  oneofs: true,
  includeDirs: [PROTO_DIR],
});

/** Full names of the services, as grpc-js routes them. */
export const DESTINATION_SERVICE = "io.linkerd.proxy.destination.Destination";
/** Full name of the outbound policy service. */
export const OUTBOUND_POLICIES_SERVICE =
  "io.linkerd.proxy.outbound.OutboundPolicies";
/** Full name of the identity service. */
export const IDENTITY_SERVICE = "io.linkerd.proxy.identity.Identity";
/** Full name of the inbound policy service. */
export const INBOUND_POLICIES_SERVICE =
  "io.linkerd.proxy.inbound.InboundServerPolicies";

let packageDefinition: protoLoader.PackageDefinition | undefined;

/** The package definition of every control-plane message (loaded once). */
export function controlPlanePackage(): protoLoader.PackageDefinition {
  packageDefinition ??= protoLoader.loadSync(
    [...SERVICE_PROTO_FILES],
    PROTO_LOADER_OPTIONS,
  );
  return packageDefinition;
}

/** The grpc-js client constructors and service definitions of the control plane. */
export interface ControlPlaneServices {
  readonly Destination: grpc.ServiceClientConstructor;
  readonly OutboundPolicies: grpc.ServiceClientConstructor;
  readonly Identity: grpc.ServiceClientConstructor;
  readonly InboundServerPolicies: grpc.ServiceClientConstructor;
}

let services: ControlPlaneServices | undefined;

/** The grpc-js constructors of Destination, OutboundPolicies and Identity (linkerd2-proxy-api `*_client`/`*_server`). */
export function controlPlaneServices(): ControlPlaneServices {
  if (services === undefined) {
    const def = controlPlanePackage();
    const ctor = (name: string) =>
      grpc.makeClientConstructor(
        def[name] as grpc.ServiceDefinition,
        name,
      ) as grpc.ServiceClientConstructor;
    services = {
      Destination: ctor(DESTINATION_SERVICE),
      OutboundPolicies: ctor(OUTBOUND_POLICIES_SERVICE),
      Identity: ctor(IDENTITY_SERVICE),
      InboundServerPolicies: ctor(INBOUND_POLICIES_SERVICE),
    };
  }
  return services;
}

/**
 * One RPC of a control-plane service (`service` as {@linkcode DESTINATION_SERVICE}),
 * with its request/response serializers: the encoder and decoder of its
 * messages for tests and tools.
 */
export function rpcMethod(
  service: string,
  method: string,
): grpc.MethodDefinition<unknown, unknown> {
  const def = controlPlanePackage()[service] as
    | Record<string, grpc.MethodDefinition<unknown, unknown>>
    | undefined;
  const m = def?.[method];
  if (m === undefined || typeof m.responseSerialize !== "function") {
    throw new TypeError(`Cannot find RPC "${service}/${method}"`);
  }
  return m;
}

/** True for a loopback host ("127.x.x.x", "::1", "localhost"). */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, "").toLowerCase();
  return h === "localhost" || h === "::1" || /^127\.\d+\.\d+\.\d+$/.test(h);
}

/**
 * Whether the certificate (DER) proves the control-plane server identity
 * `name`: undefined when it does, else the error. The SANs come from the
 * DER, never from the subjectaltname text (Deno does not quote a SAN that
 * holds a comma, so the text can be spoofed).
 */
export function checkControlServerIdentity(
  name: string,
  der: Uint8Array,
): Error | undefined {
  let sans: SanEntry[];
  try {
    sans = certificateSans(new Uint8Array(der));
  } catch (err) {
    return new Error(
      `certificate of "${name}" has unreadable SANs: ${(err as Error).message}`,
    );
  }
  return sansMatch(sans, name) ? undefined : new Error(
    `certificate does not match TLS identity "${name}" (got ${
      describeSans(sans)
    })`,
  );
}

/** The channel credentials and options of one control-plane service. */
export interface ControlChannel {
  readonly credentials: grpc.ChannelCredentials;
  readonly options: grpc.ChannelOptions;
}

/**
 * How to reach a control-plane service (linkerd `control::Config`): TLS
 * verified against the trust anchors, expecting the server identity `name`
 * as SAN and SNI, unless the address is loopback or no name or anchors are
 * known, which use plaintext (linkerd skips TLS for loopback too).
 * Petrel presents no client certificate to the control plane.
 */
export function controlChannel(
  addr: string,
  opts: {
    name?: string | undefined;
    trustAnchorsPem?: string | undefined;
    /** TLS even to a loopback address (tests of the TLS path). */
    tlsOnLoopback?: boolean;
  },
): ControlChannel {
  const host = addr.slice(0, addr.lastIndexOf(":"));
  const name = opts.name;
  const anchors = opts.trustAnchorsPem;
  if (
    (isLoopbackHost(host) && !opts.tlsOnLoopback) || name === undefined ||
    anchors === undefined || anchors.trim() === ""
  ) {
    return { credentials: grpc.credentials.createInsecure(), options: {} };
  }
  const credentials = grpc.credentials.createSsl(
    Buffer.from(anchors),
    null,
    null,
    {
      checkServerIdentity: (_host, cert) =>
        checkControlServerIdentity(name, cert.raw),
    },
  );
  return {
    credentials,
    options: {
      "grpc.ssl_target_name_override": name,
      "grpc.default_authority": name,
    },
  };
}

/**
 * The trust anchors (PEM) of the identity configuration: the PEM text, else
 * the anchors file, else undefined (a file that cannot be read counts as
 * absent).
 */
export function trustAnchorsPemOf(
  identity:
    | {
      readonly trustAnchorsPem?: string | undefined;
      readonly trustAnchorsFile?: string | undefined;
    }
    | undefined,
): string | undefined {
  if (identity?.trustAnchorsPem !== undefined) return identity.trustAnchorsPem;
  if (identity?.trustAnchorsFile === undefined) return undefined;
  try {
    return Deno.readTextFileSync(identity.trustAnchorsFile);
  } catch {
    return undefined;
  }
}
