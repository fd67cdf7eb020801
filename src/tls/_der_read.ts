/**
 * A small, strict ASN.1 DER reader (X.690 §8, §10): just enough to walk an
 * X.509 certificate (RFC 5280 §4.1) to its subjectAltName extension
 * (§4.2.1.6) and return the DNS and URI names it holds, byte for byte.
 *
 * Anything that is not well-formed DER where the walk goes (indefinite or
 * non-minimal lengths, high tag numbers, a length past its parent, trailing
 * bytes, a missing field, a second subjectAltName) throws a `SyntaxError`,
 * so a caller refuses the certificate rather than guessing (linkerd reads
 * the SANs with `x509-parser`, whose errors fail the identity check).
 *
 * The counterpart of the encoder in `src/identity_client/_der.ts`; kept here so
 * that `tls/` does not import from `identity_client/`.
 *
 * @module
 */

/** One element: its tag byte and where its content lies in the buffer. */
export interface DerElement {
  /** The identifier octet (class, constructed bit, tag number below 31). */
  readonly tag: number;
  /** Offset of the first content byte. */
  readonly start: number;
  /** Offset just past the last content byte. */
  readonly end: number;
}

/** One name of a subjectAltName, as the certificate spells it. */
export interface DerSan {
  /** `dNSName` ([2]) or `uniformResourceIdentifier` ([6]). */
  readonly kind: "dns" | "uri";
  /** The IA5String content, unaltered. */
  readonly value: string;
}

/** OID 2.5.29.17 (id-ce-subjectAltName), encoded content bytes. */
const SUBJECT_ALT_NAME_OID = Uint8Array.of(0x55, 0x1d, 0x11);

const TAG_BOOLEAN = 0x01;
const TAG_INTEGER = 0x02;
const TAG_OCTET_STRING = 0x04;
const TAG_OID = 0x06;
const TAG_SEQUENCE = 0x30;
/** `[0] EXPLICIT Version` of a TBSCertificate. */
const TAG_VERSION = 0xa0;
/** `[1] IMPLICIT issuerUniqueID` (a BIT STRING). */
const TAG_ISSUER_UID = 0x81;
/** `[2] IMPLICIT subjectUniqueID`. */
const TAG_SUBJECT_UID = 0x82;
/** `[3] EXPLICIT Extensions`. */
const TAG_EXTENSIONS = 0xa3;

/** GeneralName choices (RFC 5280 §4.2.1.6), by identifier octet. */
const GENERAL_NAME_TAGS: ReadonlySet<number> = new Set([
  0xa0, // otherName
  0x81, // rfc822Name
  0x82, // dNSName
  0xa3, // x400Address
  0xa4, // directoryName
  0xa5, // ediPartyName
  0x86, // uniformResourceIdentifier
  0x87, // iPAddress
  0x88, // registeredID
]);
const TAG_DNS_NAME = 0x82;
const TAG_URI = 0x86;

function fail(what: string, at: number): never {
  throw new SyntaxError(`Cannot parse certificate DER: ${what} at byte ${at}`);
}

/**
 * Reads the element starting at `at`, which must end by `end` (its
 * parent's end). Strict DER: single-octet tags, definite minimal lengths.
 */
export function readElement(
  der: Uint8Array,
  at: number,
  end: number,
): DerElement {
  if (at >= end) fail("missing element", at);
  const tag = der[at]!;
  if ((tag & 0x1f) === 0x1f) fail("high tag number form", at);
  if (at + 1 >= end) fail("missing length", at + 1);
  const first = der[at + 1]!;
  let length: number;
  let start: number;
  if (first < 0x80) {
    length = first;
    start = at + 2;
  } else {
    const n = first & 0x7f;
    if (n === 0) fail("indefinite length", at + 1);
    if (n > 4) fail("length too long", at + 1);
    if (at + 2 + n > end) fail("truncated length", at + 1);
    length = 0;
    for (let i = 0; i < n; i++) length = length * 256 + der[at + 2 + i]!;
    if (der[at + 2]! === 0) fail("non-minimal length", at + 1);
    if (length < 0x80) fail("non-minimal length", at + 1);
    start = at + 2 + n;
  }
  if (start + length > end) fail("length past the end of its parent", at);
  return { tag, start, end: start + length };
}

/** Reads the element at `at` and checks its tag. */
function expect(
  der: Uint8Array,
  at: number,
  end: number,
  tag: number,
  what: string,
): DerElement {
  const el = readElement(der, at, end);
  if (el.tag !== tag) fail(`expected ${what}, found tag 0x${hex(el.tag)}`, at);
  return el;
}

function hex(n: number): string {
  return n.toString(16).padStart(2, "0");
}

function equalBytes(der: Uint8Array, el: DerElement, want: Uint8Array) {
  if (el.end - el.start !== want.length) return false;
  for (let i = 0; i < want.length; i++) {
    if (der[el.start + i] !== want[i]) return false;
  }
  return true;
}

/**
 * The DNS and URI names of a certificate's subjectAltName extension, in
 * their order in the certificate; `[]` when it has no such extension.
 * Throws a `SyntaxError` when the certificate is not well-formed DER along
 * the way (linkerd `extract_ids_from_cert`'s parse step).
 */
export function readSubjectAltNames(der: Uint8Array): DerSan[] {
  // Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }
  const cert = expect(der, 0, der.length, TAG_SEQUENCE, "Certificate");
  if (cert.end !== der.length) fail("trailing bytes", cert.end);
  const tbs = expect(der, cert.start, cert.end, TAG_SEQUENCE, "TBSCertificate");
  const alg = expect(
    der,
    tbs.end,
    cert.end,
    TAG_SEQUENCE,
    "signatureAlgorithm",
  );
  const sig = expect(der, alg.end, cert.end, 0x03, "signatureValue");
  if (sig.end !== cert.end) fail("extra field in Certificate", sig.end);

  let at = tbs.start;
  let el = readElement(der, at, tbs.end);
  if (el.tag === TAG_VERSION) {
    const v = expect(der, el.start, el.end, TAG_INTEGER, "version");
    if (v.end !== el.end) fail("extra bytes in version", v.end);
    at = el.end;
  }
  // serialNumber, signature, issuer, validity, subject, subjectPublicKeyInfo
  const fields: [number, string][] = [
    [TAG_INTEGER, "serialNumber"],
    [TAG_SEQUENCE, "signature"],
    [TAG_SEQUENCE, "issuer"],
    [TAG_SEQUENCE, "validity"],
    [TAG_SEQUENCE, "subject"],
    [TAG_SEQUENCE, "subjectPublicKeyInfo"],
  ];
  for (const [tag, what] of fields) {
    at = expect(der, at, tbs.end, tag, what).end;
  }
  let extensions: DerElement | undefined;
  let last = 0;
  while (at < tbs.end) {
    el = readElement(der, at, tbs.end);
    const order = el.tag === TAG_ISSUER_UID
      ? 1
      : el.tag === TAG_SUBJECT_UID
      ? 2
      : el.tag === TAG_EXTENSIONS
      ? 3
      : fail(`unexpected tag 0x${hex(el.tag)} in TBSCertificate`, at);
    if (order <= last) fail("TBSCertificate fields out of order", at);
    last = order;
    if (el.tag === TAG_EXTENSIONS) extensions = el;
    at = el.end;
  }
  if (extensions === undefined) return [];

  // Extensions ::= SEQUENCE SIZE (1..MAX) OF Extension
  const list = expect(
    der,
    extensions.start,
    extensions.end,
    TAG_SEQUENCE,
    "Extensions",
  );
  if (list.end !== extensions.end) {
    fail("extra bytes after Extensions", list.end);
  }
  if (list.start === list.end) fail("empty Extensions", list.start);
  let san: DerElement | undefined;
  for (at = list.start; at < list.end;) {
    // Extension ::= SEQUENCE { extnID, critical BOOLEAN DEFAULT FALSE, extnValue }
    const ext = expect(der, at, list.end, TAG_SEQUENCE, "Extension");
    const id = expect(der, ext.start, ext.end, TAG_OID, "extnID");
    let next = readElement(der, id.end, ext.end);
    if (next.tag === TAG_BOOLEAN) {
      const b = der[next.start];
      if (next.end - next.start !== 1 || (b !== 0x00 && b !== 0xff)) {
        fail("bad BOOLEAN", id.end);
      }
      next = readElement(der, next.end, ext.end);
    }
    if (next.tag !== TAG_OCTET_STRING) fail("expected extnValue", id.end);
    if (next.end !== ext.end) fail("extra bytes in Extension", next.end);
    if (equalBytes(der, id, SUBJECT_ALT_NAME_OID)) {
      if (san !== undefined) fail("second subjectAltName extension", at);
      san = next;
    }
    at = ext.end;
  }
  if (san === undefined) return [];

  // GeneralNames ::= SEQUENCE SIZE (1..MAX) OF GeneralName
  const names = expect(der, san.start, san.end, TAG_SEQUENCE, "GeneralNames");
  if (names.end !== san.end) fail("extra bytes after GeneralNames", names.end);
  if (names.start === names.end) fail("empty GeneralNames", names.start);
  const out: DerSan[] = [];
  for (at = names.start; at < names.end;) {
    const name = readElement(der, at, names.end);
    if (!GENERAL_NAME_TAGS.has(name.tag)) {
      fail(`unknown GeneralName tag 0x${hex(name.tag)}`, at);
    }
    if (name.tag === TAG_DNS_NAME || name.tag === TAG_URI) {
      out.push({
        kind: name.tag === TAG_DNS_NAME ? "dns" : "uri",
        value: ia5String(der, name),
      });
    }
    at = name.end;
  }
  return out;
}

/** The text of an IA5String (7-bit ASCII only). */
function ia5String(der: Uint8Array, el: DerElement): string {
  let s = "";
  for (let i = el.start; i < el.end; i++) {
    const c = der[i]!;
    if (c > 0x7f) fail("non-ASCII byte in IA5String", i);
    s += String.fromCharCode(c);
  }
  return s;
}
