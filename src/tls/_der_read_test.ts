import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import {
  bitString,
  concat,
  contextTag,
  integer,
  octetString,
  oid,
  sequence,
  set,
  tlv,
  utf8String,
} from "../identity_client/_der.ts";
import { makePki, meshIdentity } from "../../tests/support/certs.ts";
import { readElement, readSubjectAltNames } from "./_der_read.ts";

const ascii = (s: string) => new TextEncoder().encode(s);
const dns = (s: string) => contextTag(2, ascii(s), false);
const uri = (s: string) => contextTag(6, ascii(s), false);
const ECDSA_SHA256 = "1.2.840.10045.4.3.2";

/** An extension: `id`, optional critical flag, `value` wrapped in an OCTET STRING. */
function ext(id: string, value: Uint8Array, critical?: boolean): Uint8Array {
  return sequence(
    oid(id),
    ...(critical === undefined
      ? []
      : [tlv(0x01, Uint8Array.of(critical ? 0xff : 0))]),
    octetString(value),
  );
}

function sanExt(...names: Uint8Array[]): Uint8Array {
  return ext("2.5.29.17", sequence(...names));
}

/** A structurally complete (unsigned) X.509 v3 certificate with `exts`. */
function cert(exts?: readonly Uint8Array[], rawExtensions?: Uint8Array) {
  const tbs = sequence(
    contextTag(0, integer(2), true),
    integer(4097),
    sequence(oid(ECDSA_SHA256)),
    sequence(set(sequence(oid("2.5.4.3"), utf8String("ca")))),
    sequence(
      tlv(0x17, ascii("250101000000Z")),
      tlv(0x17, ascii("350101000000Z")),
    ),
    sequence(),
    sequence(sequence(oid("1.2.840.10045.2.1")), bitString(Uint8Array.of(4))),
    ...(rawExtensions
      ? [rawExtensions]
      : exts
      ? [contextTag(3, sequence(...exts), true)]
      : []),
  );
  return sequence(
    tbs,
    sequence(oid(ECDSA_SHA256)),
    bitString(Uint8Array.of(1)),
  );
}

Deno.test("readSubjectAltNames() reads the DNS SAN of an openssl certificate", async () => {
  await using pki = await makePki();
  const id = meshIdentity("web", "ns");
  const leaf = await pki.issue(id);
  const der = new Uint8Array(new X509Certificate(leaf.certPem).raw);
  assert.deepEqual(readSubjectAltNames(der), [{ kind: "dns", value: id }]);
  // Every truncation of a real certificate is refused.
  for (let n = 0; n < der.length; n++) {
    assert.throws(() => readSubjectAltNames(der.subarray(0, n)), SyntaxError);
  }
  // So is a trailing byte.
  assert.throws(
    () => readSubjectAltNames(concat(der, Uint8Array.of(0))),
    /trailing bytes/,
  );
});

Deno.test("readSubjectAltNames() keeps DNS and URI names in order and skips the other kinds", () => {
  const names = readSubjectAltNames(cert([
    ext("2.5.29.19", sequence(), true), // basicConstraints, critical
    sanExt(
      uri("spiffe://td/ns/web/sa/x"),
      tlv(0x87, Uint8Array.of(127, 0, 0, 1)), // iPAddress
      dns("a.example"),
      tlv(0x81, ascii("me@example.com")), // rfc822Name
      contextTag(
        0,
        concat(oid("1.2.3"), contextTag(0, utf8String("x"), true)),
        true,
      ), // otherName
      dns("evil.test, DNS:web.ns.svc"),
    ),
  ]));
  assert.deepEqual(names, [
    { kind: "uri", value: "spiffe://td/ns/web/sa/x" },
    { kind: "dns", value: "a.example" },
    { kind: "dns", value: "evil.test, DNS:web.ns.svc" },
  ]);
});

Deno.test("readSubjectAltNames() returns [] without extensions or without a SAN", () => {
  assert.deepEqual(readSubjectAltNames(cert()), []);
  assert.deepEqual(
    readSubjectAltNames(cert([ext("2.5.29.19", sequence(), true)])),
    [],
  );
  // A critical SAN reads the same.
  assert.deepEqual(
    readSubjectAltNames(cert([ext("2.5.29.17", sequence(dns("a.b")), true)])),
    [{ kind: "dns", value: "a.b" }],
  );
});

Deno.test("readSubjectAltNames() refuses malformed SAN extensions", () => {
  const cases: [string, Uint8Array, RegExp][] = [
    ["empty GeneralNames", cert([sanExt()]), /empty GeneralNames/],
    [
      "two SAN extensions",
      cert([sanExt(dns("a.b")), sanExt(dns("web.ns.svc"))]),
      /second subjectAltName/,
    ],
    [
      "unknown GeneralName tag",
      cert([sanExt(tlv(0x89, ascii("x")))]),
      /unknown GeneralName tag 0x89/,
    ],
    [
      "non-ASCII dNSName",
      cert([sanExt(contextTag(2, Uint8Array.of(0x61, 0xc3, 0xa9), false))]),
      /non-ASCII/,
    ],
    [
      "bytes after GeneralNames",
      cert([ext("2.5.29.17", concat(sequence(dns("a.b")), dns("c.d")))]),
      /extra bytes after GeneralNames/,
    ],
    [
      "GeneralNames not a SEQUENCE",
      cert([ext("2.5.29.17", dns("a.b"))]),
      /expected GeneralNames/,
    ],
    [
      "bad critical BOOLEAN",
      cert([
        sequence(
          oid("2.5.29.17"),
          tlv(0x01, Uint8Array.of(1)),
          octetString(sequence(dns("a.b"))),
        ),
      ]),
      /bad BOOLEAN/,
    ],
    [
      "empty Extensions",
      cert([]),
      /empty Extensions/,
    ],
    [
      "fields out of order",
      cert(
        undefined,
        concat(
          contextTag(3, sequence(sanExt(dns("a.b"))), true),
          tlv(0x81, Uint8Array.of(0)),
        ),
      ),
      /out of order/,
    ],
    ["garbage", Uint8Array.of(0x30, 0x03, 0x02, 0x01), /length past the end/],
    ["not a SEQUENCE", Uint8Array.of(0x31, 0x00), /expected Certificate/],
    ["text", ascii("DNS:web.ns.svc"), /Cannot parse certificate DER/],
    ["empty", new Uint8Array(0), /missing element/],
  ];
  for (const [what, der, message] of cases) {
    assert.throws(() => readSubjectAltNames(der), message, what);
  }
});

Deno.test("readSubjectAltNames() refuses a dNSName whose length runs past its parent", () => {
  const good = cert([sanExt(dns("a.b"), dns("web.ns.svc"))]);
  // Find the first dNSName (0x82 0x03 "a.b") and claim a longer length.
  const at = good.findIndex((b, i) =>
    b === 0x82 && good[i + 1] === 3 && good[i + 2] === 0x61
  );
  assert.ok(at > 0);
  for (const len of [4, 0x20, 0x7f]) {
    const bad = good.slice();
    bad[at + 1] = len;
    // Within the SAN's own SEQUENCE, so the walk either refuses the length
    // or finds the next name misaligned; it never returns web.ns.svc alone.
    assert.throws(() => readSubjectAltNames(bad), SyntaxError, `length ${len}`);
  }
});

Deno.test("readElement() enforces DER lengths and tags", () => {
  const el = readElement(Uint8Array.of(0x04, 0x02, 1, 2), 0, 4);
  assert.deepEqual(el, { tag: 0x04, start: 2, end: 4 });
  const long = concat(Uint8Array.of(0x04, 0x81, 0x80), new Uint8Array(0x80));
  assert.deepEqual(readElement(long, 0, long.length), {
    tag: 0x04,
    start: 3,
    end: 0x83,
  });
  const bad: [number[], RegExp][] = [
    [[0x04, 0x80, 0, 0], /indefinite length/],
    [[0x04, 0x81, 0x05, 1, 2, 3, 4, 5], /non-minimal length/],
    [[0x04, 0x82, 0x00, 0x01, 1], /non-minimal length/],
    [[0x04, 0x85, 1, 1, 1, 1, 1], /length too long/],
    [[0x04, 0x82, 0x01], /truncated length/],
    [[0x04, 0x03, 1, 2], /length past the end/],
    [[0x1f, 0x01, 0x00], /high tag number/],
    [[0x04], /missing length/],
  ];
  for (const [bytes, message] of bad) {
    assert.throws(
      () => readElement(Uint8Array.from(bytes), 0, bytes.length),
      message,
      bytes.join(","),
    );
  }
});
