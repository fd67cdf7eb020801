/**
 * DNS names (linkerd `dns::Name`, after webpki's reference-identifier rules).
 *
 * @module
 */

const DNS_LABEL_REGEXP = /^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$/i;
const DIGITS_REGEXP = /^\d+$/;

/**
 * True when `host` is a syntactically valid DNS name: letters, digits, `_`
 * and inner `-`, labels of 1–63 characters, at most 253 in all, and a last
 * label that is not all digits (RFC 5280 "preferred name syntax" with
 * underscores, as webpki). One trailing dot is allowed (a fully qualified
 * name); identities use {@linkcode isDnsIdentityName}, which allows none.
 */
export function isDnsName(host: string): boolean {
  const name = host.endsWith(".") ? host.slice(0, -1) : host;
  if (name.length === 0 || name.length > 253) return false;
  const labels = name.split(".");
  if (!labels.every((l) => DNS_LABEL_REGEXP.test(l))) return false;
  return !DIGITS_REGEXP.test(labels[labels.length - 1] ?? "");
}

/**
 * True for a DNS name as a certificate SAN or TLS identity spells it: the
 * {@linkcode isDnsName} rule without a trailing dot (webpki refuses one).
 */
export function isDnsIdentityName(name: string): boolean {
  return !name.endsWith(".") && isDnsName(name);
}
