/**
 * The inbound proxy: TLS termination, the default policy, and forwarding
 * to the local application with `l5d-client-id` (linkerd
 * `linkerd/app/inbound`).
 *
 * @module
 */
export { InboundHttp, type InboundHttpOptions } from "./http.ts";
export {
  DEFAULT_INBOUND_LISTEN_ADDR,
  type InboundListenerOptions,
  type InboundObserver,
  startInboundListener,
} from "./listener.ts";
export {
  authorize,
  type ConnectionAuth,
  type Decision,
  type DenyReason,
  INBOUND_POLICIES,
  type InboundPolicy,
} from "./policy.ts";
export {
  defaultPolicyFor,
  type InboundPolicyControl,
  type InboundPolicySettings,
  inboundPolicyStoreOf,
} from "./store_config.ts";
export {
  type InboundPolicyClient,
  InboundPolicyStore,
  type InboundPolicyStoreOptions,
} from "./policy_watch.ts";
export { InboundAuthzMetrics } from "./metrics.ts";
export * from "./server_policy.ts";
