/**
 * TLS identity names: what a workload identity looks like, how it is read
 * from a certificate's subjectAltName, and how it is compared (linkerd
 * `linkerd/identity` `Id`, `linkerd/tls` `ServerName`/`ClientId`,
 * `meshtls/verifier`).
 *
 * A linkerd identity is a DNS name, e.g.
 * `web.ns.serviceaccount.identity.linkerd.cluster.local` (a DNS SAN), or a
 * URI such as a SPIFFE ID (a URI SAN). The SANs are read from the
 * certificate's DER ({@linkcode certificateSans}), never from a text
 * rendering of them: Deno's `X509Certificate.subjectAltName` does not quote
 * a name holding a comma, so a single DNS SAN
 * `evil.test, DNS:web.ns…` would read as two names.
 *
 * @module
 */
import { isDnsIdentityName } from "../addr/dns_name.ts";
import { readSubjectAltNames } from "./_der_read.ts";

/** The header carrying the verified client identity to the application (linkerd `l5d-client-id`). */
export const L5D_CLIENT_ID = "l5d-client-id";

/** One subjectAltName entry of a certificate, as the certificate spells it. */
export interface SanEntry {
  readonly kind: "dns" | "uri";
  readonly value: string;
}

/**
 * True for an identity Petrel can verify: a DNS-like name or a URI with a
 * scheme (linkerd `Id::Dns` / `Id::Uri`).
 */
export function isIdentityName(id: string): boolean {
  if (/^[a-z][a-z0-9+.-]*:\/\/\S+$/i.test(id)) return true;
  return isDnsIdentityName(id.endsWith(".") ? id.slice(0, -1) : id);
}

/**
 * Normalizes an identity for comparison: DNS names are lower-cased without
 * a trailing dot; URIs are kept as they are.
 */
export function normalizeIdentity(id: string): string {
  if (id.includes("://")) return id;
  const lower = id.toLowerCase();
  return lower.endsWith(".") ? lower.slice(0, -1) : lower;
}

/**
 * The DNS and URI SANs of a DER certificate, in certificate order (linkerd
 * `extract_ids_from_cert` reads them with `x509-parser`). Throws a
 * `SyntaxError` when the certificate's DER does not parse: the caller
 * refuses such a certificate.
 */
export function certificateSans(der: Uint8Array): SanEntry[] {
  return readSubjectAltNames(der);
}

/**
 * The identity a SAN proves, in canonical form, or undefined when it is no
 * valid identity (linkerd `Id::parse_dns_name` / `Id::parse_uri`): a DNS
 * SAN must be a valid DNS name without a trailing dot (webpki's rules,
 * underscores allowed; no wildcard, comma or space) and is lower-cased; a
 * URI SAN must parse as a URL (WHATWG, as Rust's `url` crate) and is
 * compared in its serialized form.
 */
export function sanIdentity(san: SanEntry): string | undefined {
  return san.kind === "dns" ? parseDnsId(san.value) : parseUriId(san.value);
}

function parseDnsId(name: string): string | undefined {
  return isDnsIdentityName(name) ? name.toLowerCase() : undefined;
}

function parseUriId(uri: string): string | undefined {
  // `new URL` trims C0 controls and spaces; an identity must not have them.
  if (!/^[\x21-\x7e]+$/.test(uri)) return undefined;
  try {
    return new URL(uri).href;
  } catch {
    return undefined;
  }
}

/** A SAN that is no valid identity, as it reads in messages. */
function describeSan(san: SanEntry): string {
  const id = sanIdentity(san);
  return id ??
    `${san.kind.toUpperCase()}:${JSON.stringify(san.value)} (invalid)`;
}

/** The SANs for a log or error message; invalid ones quoted and marked. */
export function describeSans(sans: readonly SanEntry[]): string {
  return sans.map(describeSan).join(", ") || "no DNS or URI SAN";
}

/**
 * The identity a certificate proves: its first SAN that is a valid
 * identity, DNS or URI, in certificate order (linkerd `client_identity`:
 * the first of the parsed ids). Invalid SANs are skipped.
 */
export function identityOfSans(sans: readonly SanEntry[]): string | undefined {
  for (const san of sans) {
    const id = sanIdentity(san);
    if (id !== undefined) return id;
  }
  return undefined;
}

/** `expected` in canonical form: a DNS name (one trailing dot dropped), else a URI. */
function expectedIdentity(expected: string): SanEntry | undefined {
  const trimmed = expected.endsWith(".") ? expected.slice(0, -1) : expected;
  const dns = parseDnsId(trimmed);
  if (dns !== undefined) return { kind: "dns", value: dns };
  const uri = parseUriId(expected);
  return uri === undefined ? undefined : { kind: "uri", value: uri };
}

/**
 * True when one of `sans` proves exactly `expected` (linkerd `verify_id`:
 * the parsed ids contain the expected `Id`). DNS names compare ASCII
 * case-insensitively, URIs by their serialized form; a DNS id never equals
 * a URI id; invalid SANs never match; wildcards are not identities.
 */
export function sansMatch(
  sans: readonly SanEntry[],
  expected: string,
): boolean {
  const want = expectedIdentity(expected);
  if (want === undefined) return false;
  return sans.some((s) =>
    s.kind === want.kind && sanIdentity(s) === want.value
  );
}
