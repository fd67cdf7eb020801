/**
 * Route retries (linkerd `linkerd/http/retry`): the retry loop with its
 * policy, the replayable request body, trailer peeking for gRPC, the
 * backoff and the retry budget.
 *
 * @module
 */
export {
  errorLabel,
  hasRouteTimeouts,
  newHttpRetry,
  newStreamTimeouts,
  type RetryMetrics,
  type RetryOptions,
  type RetryPolicy,
  retryPolicyOf,
  type RouteCall,
} from "./retry.ts";
export { ReplayBody } from "./replay_body.ts";
export { type Peeked, peekTrailers } from "./peek_trailers.ts";
export {
  backoffDelayMs,
  type BackoffSpec,
  DEFAULT_RETRY_BACKOFF,
  delay,
} from "./backoff.ts";
export {
  DEFAULT_RETRY_BUDGET,
  type RetryBudgetSpec,
  TpsBudget,
} from "./budget.ts";
