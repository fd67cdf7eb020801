/**
 * The identity check after a handshake (linkerd `meshtls/verifier`): the
 * chain must verify to the trust anchors (done by the TLS stack; its
 * verdict is `socket.authorized`), then the leaf's SANs must contain the
 * expected identity. The dialed address plays no part.
 *
 * Handshakes run with `rejectUnauthorized: false` so that the peer's
 * certificate can be inspected whatever the verdict, and the refusal can
 * say why (expired, untrusted, wrong identity) rather than the TLS stack's
 * generic error codes. No application byte is written or read before
 * {@linkcode verifyPeer} has accepted the peer.
 *
 * The SANs are read from the leaf's DER, never from the TLS stack's text
 * rendering of them (which Deno does not quote: one DNS SAN
 * `a, DNS:b` would print as two names). A leaf whose DER does not parse
 * is refused.
 *
 * @module
 */
import { X509Certificate } from "node:crypto";
import type tls from "node:tls";
import type { TlsFailureReason } from "./errors.ts";
import {
  certificateSans,
  describeSans,
  identityOfSans,
  type SanEntry,
  sansMatch,
} from "./names.ts";

/** The outcome of {@linkcode verifyPeer}. */
export type PeerVerdict =
  /** The peer presented no certificate (only possible for clients). */
  | { readonly kind: "none" }
  /** The chain is trusted and the identity matches (or none was expected). */
  | {
    readonly kind: "verified";
    /**
     * The expected identity, or the peer's own: its first SAN that is a
     * valid identity; undefined when none is (linkerd `client_identity`).
     */
    readonly identity: string | undefined;
    readonly sans: readonly SanEntry[];
    /** The leaf's notAfter, ms since the epoch. */
    readonly notAfterMs: number;
  }
  /** The peer's certificate is refused. */
  | {
    readonly kind: "rejected";
    readonly reason: TlsFailureReason;
    readonly detail: string;
  };

/** Options of {@linkcode verifyPeer}. */
export interface VerifyOptions {
  /** The identity the peer must prove; absent = any trusted identity. */
  expected?: string | undefined;
  /** The clock, ms since the epoch. @default {Date.now()} */
  nowMs?: number;
}

/** The parts of a `TLSSocket` the check reads. */
export type VerifiedSocket = Pick<
  tls.TLSSocket,
  "authorized" | "authorizationError" | "getPeerCertificate"
>;

/**
 * Checks the peer of a finished handshake (linkerd verifier: chain to the
 * anchors, then the SAN must equal the expected identity).
 */
export function verifyPeer(
  socket: VerifiedSocket,
  opts: VerifyOptions = {},
): PeerVerdict {
  const peer = socket.getPeerCertificate(false) as
    | Partial<tls.PeerCertificate>
    | null
    | undefined;
  const raw = peer?.raw;
  if (!peer || !raw || raw.length === 0) return { kind: "none" };
  let leaf: X509Certificate;
  try {
    leaf = new X509Certificate(raw);
  } catch (err) {
    return {
      kind: "rejected",
      reason: "untrusted",
      detail: `unreadable certificate: ${
        err instanceof Error ? err.message : String(err)
      }`,
    };
  }
  if (!socket.authorized) return diagnose(leaf, socket, opts.nowMs);
  let sans: SanEntry[];
  try {
    sans = certificateSans(raw);
  } catch (err) {
    return {
      kind: "rejected",
      reason: "identity_mismatch",
      detail: `unreadable subjectAltName: ${
        err instanceof Error ? err.message : String(err)
      }`,
    };
  }
  const expected = opts.expected;
  if (expected !== undefined && !sansMatch(sans, expected)) {
    return {
      kind: "rejected",
      reason: "identity_mismatch",
      detail: `expected ${expected}, got ${describeSans(sans)}`,
    };
  }
  return {
    kind: "verified",
    identity: expected ?? identityOfSans(sans),
    sans,
    notAfterMs: Date.parse(leaf.validTo),
  };
}

/** Why the TLS stack refused the chain, in the terms of the reason labels. */
function diagnose(
  leaf: X509Certificate,
  socket: VerifiedSocket,
  nowMs = Date.now(),
): PeerVerdict {
  const notAfter = Date.parse(leaf.validTo);
  const notBefore = Date.parse(leaf.validFrom);
  const code = String(socket.authorizationError ?? "unknown verify error");
  if (Number.isFinite(notAfter) && nowMs > notAfter) {
    return {
      kind: "rejected",
      reason: "expired",
      detail: `notAfter ${new Date(notAfter).toISOString()}`,
    };
  }
  if (Number.isFinite(notBefore) && nowMs < notBefore) {
    return {
      kind: "rejected",
      reason: "not_yet_valid",
      detail: `notBefore ${new Date(notBefore).toISOString()}`,
    };
  }
  return {
    kind: "rejected",
    reason: "untrusted",
    detail: `issuer "${oneLine(leaf.issuer)}": ${code}`,
  };
}

function oneLine(dn: string): string {
  return dn.split("\n").filter((s) => s !== "").join(", ");
}
