/**
 * The inbound default policy: which connections may reach the application
 * (linkerd `LINKERD2_PROXY_INBOUND_DEFAULT_POLICY`,
 * `linkerd/app/inbound/src/policy`, `DefaultPolicy::{Allow, Deny}` with
 * `all-unauthenticated` / `all-authenticated` / `deny`).
 *
 * @module
 */
import { REASON_TEXT, type TlsFailureReason } from "../tls/errors.ts";
import type { PeerVerdict } from "../tls/verify.ts";
import {
  DEFAULT_POLICY_NAMES,
  type DefaultPolicyName,
} from "./server_policy.ts";

/** linkerd's default inbound policies (all six; see `server_policy.ts`). */
export type InboundPolicy = DefaultPolicyName;

/** The policies, for validation. */
export const INBOUND_POLICIES: readonly InboundPolicy[] = DEFAULT_POLICY_NAMES;

/** How a connection arrived. */
export type ConnectionAuth =
  | { readonly tls: false }
  | { readonly tls: true; readonly peer: PeerVerdict };

/** Why a connection is refused: a TLS reason, or the `deny` policy. */
export type DenyReason = TlsFailureReason | "deny";

/** The policy's answer for one connection. */
export type Decision =
  | {
    readonly allow: true;
    /** The verified client identity, for `l5d-client-id`. */
    readonly clientId: string | undefined;
  }
  | {
    readonly allow: false;
    readonly reason: DenyReason;
    readonly message: string;
  };

/**
 * Applies `policy` to a connection's TLS (the listener uses it for the
 * certificate check; authorization is per port and per request, `authz.ts`):
 * a client certificate that is present but refused is always denied;
 * `all-authenticated` also denies plaintext and TLS without a client
 * certificate; `deny` denies everything.
 */
export function authorize(
  policy: InboundPolicy,
  conn: ConnectionAuth,
): Decision {
  if (policy === "deny") {
    return deny("deny", "the inbound policy denies all connections");
  }
  if (!conn.tls) {
    if (policy === "all-authenticated") {
      return deny(
        "plaintext",
        `unauthorized connection: ${REASON_TEXT.plaintext}; this server requires mTLS with a verified client identity`,
      );
    }
    return { allow: true, clientId: undefined };
  }
  const peer = conn.peer;
  switch (peer.kind) {
    case "verified":
      // A trusted certificate with no valid identity SAN proves no one
      // (linkerd: `client_id: None`, unauthenticated).
      if (peer.identity === undefined && policy === "all-authenticated") {
        return deny(
          "identity_mismatch",
          `unauthorized connection: client ${REASON_TEXT.identity_mismatch} (no valid DNS or URI SAN); this server requires a verified client identity`,
        );
      }
      return { allow: true, clientId: peer.identity };
    case "rejected":
      return deny(
        peer.reason,
        `unauthorized connection: client ${
          REASON_TEXT[peer.reason]
        } (${peer.detail})`,
      );
    case "none":
      if (policy === "all-authenticated") {
        return deny(
          "no_client_cert",
          `unauthorized connection: ${REASON_TEXT.no_client_cert}; this server requires a verified client identity`,
        );
      }
      return { allow: true, clientId: undefined };
  }
}

function deny(reason: DenyReason, message: string): Decision {
  return { allow: false, reason, message };
}
