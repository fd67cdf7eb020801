/**
 * Outbound policy from the Linkerd policy controller: `OutboundPolicies.Watch`
 * for one logical service, followed with reconnects and converted to
 * Petrel's route model (linkerd `app/outbound/src/policy/api.rs`,
 * `client-policy`).
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { type ClientPolicy, clientPolicyOf } from "../api/client_policy.ts";
import type { OutboundPolicy, TrafficSpec } from "../api/outbound.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import type { Logger } from "../log.ts";
import { Watch } from "../svc/watch.ts";
import { isIP } from "node:net";
import { tcpAddressOf } from "../api/net.ts";
import { ControlStream, Status } from "./_control_stream.ts";

/**
 * Status codes that end a policy watch for good (linkerd's policy `Recover`):
 * the controller does not know the target.
 */
export const POLICY_FATAL_CODES: ReadonlySet<number> = new Set([
  Status.INVALID_ARGUMENT,
  Status.FAILED_PRECONDITION,
  Status.NOT_FOUND,
  Status.UNIMPLEMENTED,
]);

/** The OutboundPolicies client methods used here. */
export interface PolicyClient {
  Watch(req: TrafficSpec): grpc.ClientReadableStream<OutboundPolicy>;
}

/**
 * The `TrafficSpec` of a target: `addr` for an "ip:port" (an original
 * destination: the policy controller maps a ClusterIP to its Service),
 * else `authority` (linkerd `out/policy/api.rs`).
 */
export function trafficSpecOf(target: string, workload: string): TrafficSpec {
  const colon = target.lastIndexOf(":");
  const host = target.slice(0, colon).replace(/^\[(.*)\]$/, "$1");
  return isIP(host) !== 0
    ? { source_workload: workload, addr: tcpAddressOf(target) }
    : { source_workload: workload, authority: target };
}

/** Options of {@linkcode PolicyWatch}. */
export interface PolicyWatchOptions {
  /** `LINKERD2_PROXY_POLICY_WORKLOAD`. @default {""} */
  workload?: string;
  backoff?: BackoffSpec;
  random?: () => number;
  log?: Logger | undefined;
}

/**
 * The live outbound policy of one logical service (linkerd
 * `policy::api::Api::watch`): each message replaces the policy; an invalid
 * one is logged and the last good policy stays; a broken stream keeps the
 * last policy while it reconnects; a fatal status (unknown target) leaves
 * `undefined`.
 */
export class PolicyWatch implements Disposable {
  /** The current policy; undefined until the first one, or when there is none. */
  readonly policy: Watch<ClientPolicy | undefined> = new Watch<
    ClientPolicy | undefined
  >(undefined);
  /** Settles with the first policy, or when the controller has none. */
  readonly started: Promise<void>;
  readonly #stream: ControlStream<OutboundPolicy>;

  constructor(
    client: PolicyClient,
    authority: string,
    opts: PolicyWatchOptions = {},
  ) {
    let started!: () => void;
    this.started = new Promise((r) => started = r);
    const req: TrafficSpec = trafficSpecOf(authority, opts.workload ?? "");
    this.#stream = new ControlStream<OutboundPolicy>({
      name: `OutboundPolicies.Watch ${authority}`,
      open: () => client.Watch(req),
      onMessage: (msg) => {
        try {
          this.policy.set(clientPolicyOf(msg, authority));
        } finally {
          started();
        }
      },
      onFatal: () => {
        this.policy.set(undefined);
        started();
      },
      fatalCodes: POLICY_FATAL_CODES,
      ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
      ...(opts.random === undefined ? {} : { random: opts.random }),
      log: opts.log,
    });
  }

  /** Cancels the watch. */
  [Symbol.dispose](): void {
    this.#stream[Symbol.dispose]();
    this.policy.close();
  }
}
