/**
 * Tap: live request events for `linkerd viz tap` (linkerd
 * `linkerd-proxy-tap`): the registry and stack layer, the match
 * expressions, and the mTLS server of `io.linkerd.proxy.tap.Tap`.
 *
 * @module
 */
export {
  compileMatch,
  MATCH_ALL,
  type MatchMsg,
  type TapMatch,
  type TapRequestView,
} from "./match.ts";
export {
  type ObserveRequestMsg,
  TAP_SERVICE,
  tapServiceDefinition,
  type TapSpec,
  tapSpecOf,
} from "./proto.ts";
export {
  startTapServer,
  type TapServer,
  type TapServerOptions,
} from "./server.ts";
export {
  newTapLayer,
  Tap,
  type TapDirection,
  type TapEventObject,
  type TapOptions,
  Taps,
} from "./tap.ts";
