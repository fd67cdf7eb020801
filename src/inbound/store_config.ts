/**
 * The inbound policy store from the inbound settings (linkerd
 * `app/src/env.rs` `inbound::policy::Config::Discover`): the default
 * policy of each port (opaque on `INBOUND_PORTS_DISABLE_PROTOCOL_DETECTION`,
 * `all-authenticated` on `INBOUND_PORTS_REQUIRE_IDENTITY`, mesh TLS on
 * `INBOUND_PORTS_REQUIRE_TLS`) and the policy controller's client.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import { type ControlChannel, controlPlaneServices } from "../api/proto.ts";
import type { BackoffSpec } from "../balance/backoff.ts";
import type { Logger } from "../log.ts";
import type { InboundPolicy } from "./policy.ts";
import {
  type InboundPolicyClient,
  InboundPolicyStore,
} from "./policy_watch.ts";
import {
  defaultPolicy,
  opaquePolicy,
  parseCidr,
  type ServerPolicy,
} from "./server_policy.ts";

/** The settings the store needs (config's `InboundConfig` has them). */
export interface InboundPolicySettings {
  readonly policy: InboundPolicy;
  readonly detectTimeoutMs: number;
  readonly ports?: readonly number[] | undefined;
  readonly opaquePorts?: readonly number[] | undefined;
  readonly requireIdentityPorts?: readonly number[] | undefined;
  readonly requireTlsPorts?: readonly number[] | undefined;
  readonly clusterNetworks?: readonly string[] | undefined;
}

/** Where the policy controller is. */
export interface InboundPolicyControl {
  policyAddr?: string;
  policyChannel?: ControlChannel;
  workload?: string;
  backoff?: BackoffSpec;
  log?: Logger;
}

/**
 * The default policy of each port (linkerd `Store::spawn_discover`'s
 * defaults, with Petrel honouring the injector's require-identity and
 * require-TLS port lists as linkerd's proxy did before the policy API).
 */
export function defaultPolicyFor(
  s: InboundPolicySettings,
): (port: number) => ServerPolicy {
  const o = {
    detectTimeoutMs: s.detectTimeoutMs,
    clusterNetworks: (s.clusterNetworks ?? []).map(parseCidr),
  };
  const base = defaultPolicy(s.policy, o);
  const opaque = new Set(s.opaquePorts ?? []);
  const identity = new Set(s.requireIdentityPorts ?? []);
  const tls = new Set(s.requireTlsPorts ?? []);
  const strict = s.policy === "deny";
  const authenticated = strict ? base : defaultPolicy("all-authenticated", o);
  const tlsOnly = strict ? base : defaultPolicy("all-tls-unauthenticated", o);
  const cache = new Map<number, ServerPolicy>();
  return (port) => {
    let p = cache.get(port);
    if (p !== undefined) return p;
    p = identity.has(port) ? authenticated : tls.has(port) ? tlsOnly : base;
    if (opaque.has(port)) p = opaquePolicy(p);
    cache.set(port, p);
    return p;
  };
}

/** The store of `settings`, watching the policy controller when one is given. */
export function inboundPolicyStoreOf(
  settings: InboundPolicySettings,
  control: InboundPolicyControl = {},
): InboundPolicyStore {
  let client: InboundPolicyClient | undefined;
  if (control.policyAddr !== undefined) {
    const ch = control.policyChannel;
    const backoff = control.backoff;
    client = new (controlPlaneServices().InboundServerPolicies)(
      control.policyAddr,
      ch?.credentials ?? grpc.credentials.createInsecure(),
      {
        ...(backoff === undefined ? {} : {
          "grpc.initial_reconnect_backoff_ms": Math.max(backoff.minMs, 1),
          "grpc.max_reconnect_backoff_ms": Math.max(backoff.maxMs, 1),
        }),
        ...ch?.options,
      },
    ) as unknown as InboundPolicyClient;
  }
  return new InboundPolicyStore({
    defaultFor: defaultPolicyFor(settings),
    client,
    workload: control.workload ?? "",
    ports: settings.ports ?? [],
    backoff: control.backoff,
    log: control.log,
    onDispose: () => (client as unknown as grpc.Client | undefined)?.close(),
  });
}
