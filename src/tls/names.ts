/**
 * TLS identity names: what a workload identity looks like and how it is
 * read from a certificate's subjectAltName (linkerd `linkerd/identity`
 * `Id`, `linkerd/tls` `ServerName`/`ClientId`, `meshtls/verifier`).
 *
 * A linkerd identity is a DNS-like name, e.g.
 * `web.ns.serviceaccount.identity.linkerd.cluster.local` (a DNS SAN), or a
 * SPIFFE URI (a URI SAN).
 *
 * @module
 */
import { isDnsName } from "../config/parse.ts";

/** The header carrying the verified client identity to the application (linkerd `l5d-client-id`). */
export const L5D_CLIENT_ID = "l5d-client-id";

/** One subjectAltName entry of a certificate. */
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
  return isDnsName(id);
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
 * Parses the `subjectaltname` text of `node:tls`/`node:crypto`
 * (`"DNS:a.b, URI:spiffe://x, IP Address:1.2.3.4"`) into its DNS and URI
 * entries; other kinds are ignored (linkerd verifies DNS and URI SANs only).
 */
export function parseSubjectAltName(text: string | undefined): SanEntry[] {
  if (!text) return [];
  const out: SanEntry[] = [];
  for (const part of splitEntries(text)) {
    const colon = part.indexOf(":");
    if (colon < 0) continue;
    const kind = part.slice(0, colon).trim().toUpperCase();
    let value = part.slice(colon + 1).trim();
    // Node quotes values that hold a comma or quote (JSON-style).
    if (value.startsWith('"') && value.endsWith('"')) {
      try {
        value = JSON.parse(value) as string;
      } catch { /* keep as written */ }
    }
    if (kind === "DNS") out.push({ kind: "dns", value });
    else if (kind === "URI") out.push({ kind: "uri", value });
  }
  return out;
}

/** Splits on commas outside double quotes. */
function splitEntries(text: string): string[] {
  const out: string[] = [];
  let cur = "";
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === "\\" && quoted && i + 1 < text.length) {
      cur += c + text[++i];
    } else if (c === '"') {
      quoted = !quoted;
      cur += c;
    } else if (c === "," && !quoted) {
      out.push(cur.trim());
      cur = "";
    } else {
      cur += c;
    }
  }
  if (cur.trim() !== "") out.push(cur.trim());
  return out;
}

/**
 * The identity a certificate proves: its first DNS SAN, else its first
 * URI SAN (linkerd `client_identity`: the peer's `ClientId`).
 */
export function identityOfSans(sans: readonly SanEntry[]): string | undefined {
  const dns = sans.find((s) => s.kind === "dns");
  if (dns) return normalizeIdentity(dns.value);
  const uri = sans.find((s) => s.kind === "uri");
  return uri?.value;
}

/**
 * True when one of `sans` is exactly `expected` (linkerd verifier: "the
 * leaf's SANs must contain the expected identity"); DNS names compare
 * case-insensitively, URIs exactly. Wildcards are not identities.
 */
export function sansMatch(
  sans: readonly SanEntry[],
  expected: string,
): boolean {
  const want = normalizeIdentity(expected);
  return sans.some((s) =>
    s.kind === "dns"
      ? normalizeIdentity(s.value) === want
      : s.value === expected
  );
}
