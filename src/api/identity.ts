/**
 * `io.linkerd.proxy.identity` (the Identity API) messages as decoded from
 * the wire (linkerd `proxy/identity-client` `certify.rs`).
 *
 * @module
 */
import type { Timestamp } from "./duration.ts";

/** A decoded `identity.CertifyRequest`. */
export interface CertifyRequest {
  /** The local identity name. */
  readonly identity: string;
  /** The service-account token. */
  readonly token: Uint8Array;
  /** The DER certificate signing request. */
  readonly certificate_signing_request: Uint8Array;
}

/** A decoded `identity.CertifyResponse`. */
export interface CertifyResponse {
  /** The leaf certificate (DER). */
  readonly leaf_certificate: Uint8Array;
  /** Intermediate certificates (DER), leaf side first. */
  readonly intermediate_certificates: readonly Uint8Array[];
  readonly valid_until: Timestamp | null | undefined;
}
