/**
 * A test policy controller: `io.linkerd.proxy.inbound.InboundServerPolicies`
 * served with grpc-js from Petrel's `proto/inbound.proto`, and builders of
 * the `Server` messages the Linkerd policy controller sends for Server,
 * AuthorizationPolicy, MeshTLSAuthentication, NetworkAuthentication,
 * HTTPRoute and HTTPLocalRateLimitPolicy resources (the shapes of
 * linkerd2's `policy-controller/grpc/src/inbound.rs`).
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { controlPlaneServices } from "../../src/api/proto.ts";
import { ipNetworkOf } from "../../src/api/inbound.ts";

/** A `Server` message, as grpc-js takes it (proto field names). */
export type ServerMsg = Record<string, unknown>;

/** The running test controller. */
export interface TestPolicyServer extends AsyncDisposable {
  readonly addr: string;
  /** Requests seen: "workload port". */
  readonly requests: string[];
  /** Open WatchPort streams. */
  readonly streams: number;
  /** Sets the policy of `port` and sends it on every open stream of that port. */
  set(port: number, msg: ServerMsg): void;
  /** Ends every open stream with `code` (they reconnect). */
  breakStreams(code?: number): void;
  close(): Promise<void>;
}

/** Starts the controller on 127.0.0.1:0. */
export async function startPolicyServer(): Promise<TestPolicyServer> {
  const policies = new Map<number, ServerMsg>();
  const streams = new Map<
    grpc.ServerWritableStream<{ workload: string; port: number }, unknown>,
    number
  >();
  const requests: string[] = [];
  const impl = {
    GetPort(
      call: grpc.ServerUnaryCall<{ port: number }, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) {
      const p = policies.get(call.request.port);
      if (p === undefined) cb({ code: grpc.status.NOT_FOUND }, null);
      else cb(null, p);
    },
    WatchPort(
      call: grpc.ServerWritableStream<
        { workload: string; port: number },
        unknown
      >,
    ) {
      const port = call.request.port;
      requests.push(`${call.request.workload} ${port}`);
      streams.set(call, port);
      call.on("cancelled", () => streams.delete(call));
      call.on("close", () => streams.delete(call));
      const p = policies.get(port);
      if (p !== undefined) call.write(p);
    },
  };
  const s = new grpc.Server();
  s.addService(controlPlaneServices().InboundServerPolicies.service, impl);
  const port = await new Promise<number>((resolve, reject) =>
    s.bindAsync(
      "127.0.0.1:0",
      grpc.ServerCredentials.createInsecure(),
      (err, p) => err ? reject(err) : resolve(p),
    )
  );
  const close = async () => {
    for (const c of streams.keys()) c.end();
    streams.clear();
    await new Promise<void>((r) => s.tryShutdown(() => r()));
  };
  return {
    addr: `127.0.0.1:${port}`,
    requests,
    get streams() {
      return streams.size;
    },
    set(p, msg) {
      policies.set(p, msg);
      for (const [c, cp] of streams) if (cp === p) c.write(msg);
    },
    breakStreams(code = grpc.status.UNAVAILABLE) {
      for (const c of [...streams.keys()]) {
        c.emit("error", { code, details: "test break" });
      }
      streams.clear();
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A `meta.Metadata` naming a resource. */
export function resource(
  kind: string,
  name: string,
  group = "policy.linkerd.io",
): Record<string, unknown> {
  return { resource: { group, kind, name, namespace: "test" } };
}

/** A NetworkAuthentication-like network list (with exceptions). */
export function networks(
  ...nets: (string | { net: string; except: string[] })[]
): Record<string, unknown>[] {
  return nets.map((n) =>
    typeof n === "string"
      ? { net: ipNetworkOf(n), except: [] }
      : { net: ipNetworkOf(n.net), except: n.except.map(ipNetworkOf) }
  );
}

/** An `Authz` (an AuthorizationPolicy with its authentication). */
export function authz(
  name: string,
  authn:
    | { unauthenticated: true }
    | { identities?: string[]; suffixes?: string[][] }
    | { meshTLS: "any" },
  nets: Record<string, unknown>[] = networks("0.0.0.0/0", "::/0"),
): Record<string, unknown> {
  let authentication: Record<string, unknown>;
  if ("unauthenticated" in authn) authentication = { unauthenticated: {} };
  else if ("meshTLS" in authn) {
    authentication = { meshTLS: { unauthenticated: {} } };
  } else {
    authentication = {
      meshTLS: {
        identities: {
          identities: (authn.identities ?? []).map((name) => ({ name })),
          suffixes: (authn.suffixes ?? []).map((parts) => ({ parts })),
        },
      },
    };
  }
  return {
    networks: nets,
    authentication,
    labels: {},
    metadata: resource("AuthorizationPolicy", name),
  };
}

/** A Server with protocol detection, these authorizations and inbound HTTP routes. */
export function server(
  name: string,
  opts: {
    authorizations?: Record<string, unknown>[];
    httpRoutes?: Record<string, unknown>[];
    rateLimit?: Record<string, unknown>;
    protocol?: "detect" | "opaque" | "http1" | "http2" | "grpc";
  } = {},
): ServerMsg {
  const kind = opts.protocol ?? "detect";
  const protocol: Record<string, unknown> = kind === "detect"
    ? {
      detect: {
        timeout: { seconds: 10 },
        http_routes: opts.httpRoutes ?? [],
        http_local_rate_limit: opts.rateLimit ?? null,
      },
    }
    : kind === "opaque"
    ? { opaque: {} }
    : kind === "grpc"
    ? { grpc: { routes: [] } }
    : {
      [kind]: {
        routes: opts.httpRoutes ?? [],
        local_rate_limit: opts.rateLimit ?? null,
      },
    };
  return {
    protocol,
    server_ips: [],
    authorizations: opts.authorizations ?? [],
    labels: { group: "policy.linkerd.io", kind: "server", name },
  };
}

/** An inbound HTTPRoute matching a path prefix, with its own authorizations. */
export function httpRoute(
  name: string,
  prefix: string,
  authorizations: Record<string, unknown>[] = [],
): Record<string, unknown> {
  return {
    metadata: resource("HTTPRoute", name, "policy.linkerd.io"),
    hosts: [],
    authorizations,
    rules: [{
      matches: [{ path: { prefix }, headers: [], query_params: [] }],
      filters: [],
    }],
  };
}

/** An HTTPLocalRateLimitPolicy. */
export function rateLimit(
  name: string,
  opts: { total?: number; identity?: number; overrides?: [number, string[]][] },
): Record<string, unknown> {
  return {
    metadata: resource("HTTPLocalRateLimitPolicy", name),
    total: opts.total === undefined ? null : { requestsPerSecond: opts.total },
    identity: opts.identity === undefined
      ? null
      : { requestsPerSecond: opts.identity },
    overrides: (opts.overrides ?? []).map(([rps, ids]) => ({
      limit: { requestsPerSecond: rps },
      clients: { identities: ids.map((name) => ({ name })) },
    })),
  };
}

/**
 * The same controller on python grpcio, its code generated at start-up
 * from `proto/inbound.proto` with Debian's grpc_tools
 * (`support/policy_py.py`): a second, independent reading of the schema.
 */
export async function startPythonPolicyServer(): Promise<TestPolicyServer> {
  const { PYTHON, startPeer } = await import("./proc.ts");
  const repo = decodeURIComponent(new URL("../../", import.meta.url).pathname);
  const dir = await Deno.makeTempDir({ prefix: "petrel-policy-py-" });
  const file = `${dir}/policies.json`;
  const policies: Record<string, ServerMsg> = {};
  const write = () => {
    // Written beside, then renamed: the poller never reads half a file.
    Deno.writeTextFileSync(`${file}.tmp`, JSON.stringify(policies));
    Deno.renameSync(`${file}.tmp`, file);
  };
  write();
  const peer = await startPeer(PYTHON, [
    `${repo}tests/support/policy_py.py`,
    "--proto",
    `${repo}proto`,
    "--out",
    `${dir}/gen`,
    "--policies",
    file,
  ], { startTimeoutMs: 30_000 });
  const close = async () => {
    await peer.stop();
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  const watches = () =>
    peer.stdoutLines().filter((l) => l.startsWith("WATCH "));
  return {
    addr: `127.0.0.1:${peer.port}`,
    get requests() {
      return watches().map((l) => l.slice("WATCH ".length));
    },
    get streams() {
      return watches().length;
    },
    set(port, msg) {
      policies[String(port)] = msg;
      write();
    },
    breakStreams() {
      throw new Error("breakStreams: not supported by the python controller");
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}
