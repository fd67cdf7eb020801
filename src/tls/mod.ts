/**
 * Mesh TLS: the local identity from PEM files with reload, the mTLS client
 * that verifies a server's identity, and TLS termination for the inbound
 * proxy (linkerd `linkerd/meshtls`, `linkerd/tls`, `linkerd/identity`).
 *
 * @module
 */
export {
  connectTls,
  type ConnectTlsOptions,
  DEFAULT_CLIENT_ALPN,
} from "./client.ts";
export {
  REASON_TEXT,
  TlsError,
  type TlsFailureReason,
  type TlsObserver,
} from "./errors.ts";
export {
  type Credentials,
  IDENTITY_DIR_FILES,
  type IdentitySource,
  loadCredentials,
  splitPemCertificates,
} from "./credentials.ts";
export { LocalIdentity, type WatchIdentityOptions } from "./identity.ts";
export {
  certificateSans,
  describeSans,
  identityOfSans,
  isIdentityName,
  L5D_CLIENT_ID,
  normalizeIdentity,
  type SanEntry,
  sanIdentity,
  sansMatch,
} from "./names.ts";
export {
  DEFAULT_SERVER_ALPN,
  type TlsAccepted,
  TlsTerminator,
  type TlsTerminatorOptions,
} from "./server.ts";
export {
  type PeerVerdict,
  type VerifiedSocket,
  type VerifyOptions,
  verifyPeer,
} from "./verify.ts";
