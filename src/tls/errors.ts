/**
 * Why a TLS handshake or a peer's identity was refused (linkerd
 * `meshtls` handshake errors, the verifier's "certificate does not match
 * TLS identity", the inbound policy's unauthenticated refusals).
 *
 * @module
 */
import { ProxyError } from "../errors.ts";

/**
 * The reason label of a TLS refusal (`tls_handshake_errors_total{reason}`,
 * `inbound_connections_denied_total{reason}`).
 */
export type TlsFailureReason =
  /** The peer's SANs do not contain the expected identity. */
  | "identity_mismatch"
  /** The peer's certificate is past its notAfter. */
  | "expired"
  /** The peer's certificate is before its notBefore. */
  | "not_yet_valid"
  /** The peer's chain does not reach the trust anchors. */
  | "untrusted"
  /** The peer presented no certificate where one is required. */
  | "no_client_cert"
  /** A plaintext connection where TLS is required. */
  | "plaintext"
  /** This proxy has no certificate (yet) to present. */
  | "no_local_identity"
  /** The handshake did not finish within the connect/detect timeout. */
  | "timeout"
  /** Anything else: a peer alert, no TLS 1.3, a reset mid-handshake. */
  | "handshake";

/** Human text for each reason, used in `l5d-proxy-error` and logs. */
export const REASON_TEXT: Readonly<Record<TlsFailureReason, string>> = {
  identity_mismatch: "certificate does not match TLS identity",
  expired: "certificate expired",
  not_yet_valid: "certificate not yet valid",
  untrusted: "certificate not trusted (chain does not reach the trust anchors)",
  no_client_cert: "client certificate required",
  plaintext: "TLS required (plaintext connection)",
  no_local_identity: "no local identity certificate",
  timeout: "TLS handshake timed out",
  handshake: "TLS handshake failed",
};

/**
 * A TLS handshake or identity check failed (linkerd meshtls errors). Carried
 * as the `cause` of an `EndpointIoError` on the outbound side, so it is
 * answered with a 502 whose `l5d-proxy-error` names the reason.
 */
export class TlsError extends ProxyError {
  readonly kind = "tls";
  /** The reason label. */
  readonly reason: TlsFailureReason;
  /** "outbound" (we are the client) or "inbound" (we are the server). */
  readonly direction: "outbound" | "inbound";

  constructor(
    reason: TlsFailureReason,
    opts: {
      direction: "outbound" | "inbound";
      /** Extra detail after the reason text, e.g. "expected a, got b". */
      detail?: string;
      cause?: unknown;
    },
  ) {
    super(
      `TLS: ${REASON_TEXT[reason]}${opts.detail ? ` (${opts.detail})` : ""}`,
      opts.cause === undefined ? undefined : { cause: opts.cause },
    );
    this.name = "TlsError";
    this.reason = reason;
    this.direction = opts.direction;
  }
}

/**
 * Receives the outcome of every handshake (the TLS metrics implement it;
 * linkerd counts TLS per connection in its transport labels).
 */
export interface TlsObserver {
  /** A handshake finished and the peer was accepted. */
  handshake(direction: "outbound" | "inbound"): void;
  /** A handshake failed or the peer was refused. */
  failure(direction: "outbound" | "inbound", reason: TlsFailureReason): void;
}
