/**
 * The proxy's key and certificate signing request, made in memory: an
 * ECDSA P-256 key and a DER PKCS#10 CSR whose only SAN is the local
 * identity (linkerd `proxy-identity`, which writes `key.p8` and `csr.der`;
 * RFC 2986, RFC 5280 §4.2.1.6).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  generateKeyPairSync,
  type KeyObject,
  sign as signData,
} from "node:crypto";
import {
  bitString,
  contextTag,
  integer,
  octetString,
  oid,
  sequence,
  set,
  utf8String,
} from "./_der.ts";

/** OID of ecdsa-with-SHA256 (RFC 5758). */
export const OID_ECDSA_WITH_SHA256 = "1.2.840.10045.4.3.2";
/** OID of the PKCS#9 extensionRequest attribute. */
export const OID_EXTENSION_REQUEST = "1.2.840.113549.1.9.14";
/** OID of the subjectAltName extension. */
export const OID_SUBJECT_ALT_NAME = "2.5.29.17";
/** OID of the commonName attribute. */
export const OID_COMMON_NAME = "2.5.4.3";

/** X.520's upper bound of a common name: longer identities leave the subject empty. */
const MAX_COMMON_NAME = 64;

/** The proxy's key pair (linkerd `key.p8`). */
export interface LocalKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
}

/** Makes an ECDSA P-256 key pair (linkerd `proxy-identity` `generateAndStoreKey`). */
export function generateLocalKey(): LocalKey {
  const { privateKey, publicKey } = generateKeyPairSync("ec", {
    namedCurve: "P-256",
  });
  return { privateKey, publicKey };
}

/** The private key as PKCS#8 PEM. */
export function privateKeyPem(key: LocalKey): string {
  return key.privateKey.export({ type: "pkcs8", format: "pem" }).toString();
}

/**
 * A DER certificate signing request for `identity` (a DNS name), signed
 * with `key`: one DNS SAN equal to `identity`, and the subject CN equal to
 * it too when it fits in 64 characters (linkerd `proxy-identity`
 * `generateAndStoreCSR`).
 */
export function createCsr(identity: string, key: LocalKey): Uint8Array {
  const name = identity.toLowerCase();
  if (
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*$/.test(
      name,
    )
  ) {
    throw new TypeError(
      `Cannot make a CSR: identity is not a DNS name: current value is "${identity}"`,
    );
  }
  const subject = name.length <= MAX_COMMON_NAME
    ? sequence(set(sequence(oid(OID_COMMON_NAME), utf8String(name))))
    : sequence();
  const spki = new Uint8Array(
    key.publicKey.export({ type: "spki", format: "der" }),
  );
  // GeneralNames ::= SEQUENCE OF GeneralName; dNSName is [2] IA5String.
  const sans = sequence(contextTag(2, new TextEncoder().encode(name), false));
  const extensions = sequence(
    sequence(oid(OID_SUBJECT_ALT_NAME), octetString(sans)),
  );
  const attributes = contextTag(
    0,
    sequence(oid(OID_EXTENSION_REQUEST), set(extensions)),
    true,
  );
  const info = sequence(integer(0), subject, spki, attributes);
  const signature = signData(
    "sha256",
    info,
    { key: key.privateKey, dsaEncoding: "der" },
  );
  return sequence(
    info,
    sequence(oid(OID_ECDSA_WITH_SHA256)),
    bitString(new Uint8Array(signature)),
  );
}

/** PEM text of DER bytes under `label` (e.g. "CERTIFICATE REQUEST"). */
export function derToPem(der: Uint8Array, label: string): string {
  const b64 = Buffer.from(der).toString("base64");
  const lines = b64.match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${
    lines.join("\n")
  }\n-----END ${label}-----\n`;
}
