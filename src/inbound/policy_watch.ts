/**
 * The inbound policy store (linkerd `app/inbound/src/policy/{store,api}.rs`):
 * one live policy per port. With a policy controller, each port is watched
 * with `InboundServerPolicies.WatchPort` (the `INBOUND_PORTS` at start, any
 * other port on its first connection), starting from the default policy;
 * each message replaces the policy, an invalid one is logged and the last
 * good policy stays, a broken stream keeps the last policy while it
 * reconnects with backoff. Without a controller every port has its default.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { PortSpec, Server } from "../api/inbound.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import { ControlStream, Status } from "../discovery/_control_stream.ts";
import type { Logger } from "../log.ts";
import { Watch } from "../svc/watch.ts";
import { serverPolicyOf } from "./api.ts";
import type { ServerPolicy } from "./server_policy.ts";

/** The InboundServerPolicies client methods used here. */
export interface InboundPolicyClient {
  WatchPort(req: PortSpec): grpc.ClientReadableStream<Server>;
}

/** Statuses that end a port's watch: the default policy stays (linkerd `GrpcRecover`). */
const FATAL_CODES: ReadonlySet<number> = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.UNIMPLEMENTED,
]);

/** Options of {@linkcode InboundPolicyStore}. */
export interface InboundPolicyStoreOptions {
  /** The default policy of a port (opaque ports, require-identity ports...). */
  defaultFor(port: number): ServerPolicy;
  /** The policy controller; absent = defaults only. */
  client?: InboundPolicyClient | undefined;
  /** `LINKERD2_PROXY_POLICY_WORKLOAD`. @default {""} */
  workload?: string;
  /** Ports watched from the start (`LINKERD2_PROXY_INBOUND_PORTS`). @default {[]} */
  ports?: readonly number[];
  backoff?: BackoffSpec | undefined;
  log?: Logger | undefined;
  /** Called once on dispose, after the watches (closes the client's channel). */
  onDispose?: (() => void) | undefined;
}

/** The live policies of every port (linkerd `policy::Store`). */
export class InboundPolicyStore implements Disposable {
  readonly #opts: InboundPolicyStoreOptions;
  readonly #ports = new Map<number, Watch<ServerPolicy>>();
  readonly #streams: ControlStream<Server>[] = [];
  #disposed = false;

  constructor(opts: InboundPolicyStoreOptions) {
    this.#opts = opts;
    for (const p of opts.ports ?? []) this.get(p);
  }

  /** The live policy of `port` (its watch starts on first use). */
  get(port: number): Watch<ServerPolicy> {
    let w = this.#ports.get(port);
    if (w !== undefined) return w;
    w = new Watch(this.#opts.defaultFor(port));
    this.#ports.set(port, w);
    const client = this.#opts.client;
    if (client !== undefined && !this.#disposed) this.#watch(client, port, w);
    return w;
  }

  #watch(client: InboundPolicyClient, port: number, w: Watch<ServerPolicy>) {
    const req: PortSpec = { workload: this.#opts.workload ?? "", port };
    const log = this.#opts.log;
    this.#streams.push(
      new ControlStream<Server>({
        name: `InboundServerPolicies.WatchPort ${port}`,
        open: () => client.WatchPort(req),
        onMessage: (msg) => {
          const policy = serverPolicyOf(msg);
          w.set(policy);
          log?.debug("inbound policy updated", {
            port,
            server: policy.meta.name,
            protocol: policy.protocol.kind,
          });
        },
        onFatal: (f) =>
          log?.warn("inbound policy watch ended; keeping the current policy", {
            port,
            code: f.code,
            details: f.details,
          }),
        fatalCodes: FATAL_CODES,
        ...(this.#opts.backoff ? { backoff: this.#opts.backoff } : {}),
        log,
      }),
    );
  }

  /** Ports known so far. */
  get ports(): number[] {
    return [...this.#ports.keys()];
  }

  /** Cancels every watch. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    for (const s of this.#streams) s[Symbol.dispose]();
    this.#streams.length = 0;
    for (const w of this.#ports.values()) w.close();
    this.#opts.onDispose?.();
  }
}
