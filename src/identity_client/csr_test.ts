import assert from "node:assert/strict";
import { createPublicKey } from "node:crypto";
import { derLength, integer, oid, set } from "./_der.ts";
import { createCsr, derToPem, generateLocalKey } from "./csr.ts";

const hex = (b: Uint8Array) =>
  [...b].map((x) => x.toString(16).padStart(2, "0")).join("");

Deno.test("oid() and integer() encode as X.690 says", () => {
  assert.equal(hex(oid("1.2.840.10045.4.3.2")), "06082a8648ce3d040302");
  assert.equal(hex(oid("2.5.29.17")), "0603551d11");
  assert.equal(hex(integer(0)), "020100");
  assert.equal(hex(integer(128)), "02020080");
  assert.equal(hex(derLength(127)), "7f");
  assert.equal(hex(derLength(128)), "8180");
  assert.equal(hex(derLength(300)), "82012c");
  // SET OF sorts its elements.
  assert.equal(hex(set(integer(2), integer(1))), "3106020101020102");
  assert.throws(() => oid("3.1"), TypeError);
});

async function opensslText(
  der: Uint8Array,
): Promise<{ code: number; out: string }> {
  const child = new Deno.Command("openssl", {
    args: ["req", "-inform", "DER", "-verify", "-noout", "-text"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(der);
  await w.close();
  const o = await child.output();
  const dec = new TextDecoder();
  return { code: o.code, out: dec.decode(o.stdout) + dec.decode(o.stderr) };
}

Deno.test("createCsr() makes a DER CSR openssl verifies, with one DNS SAN", async () => {
  const key = generateLocalKey();
  const name =
    "default.emojivoto.serviceaccount.identity.linkerd.cluster.local";
  const csr = createCsr(name, key);
  const { code, out } = await opensslText(csr);
  assert.equal(code, 0, out);
  assert.match(out, /self-signature verify OK/);
  assert.match(out, /ASN1 OID: prime256v1/);
  assert.match(out, new RegExp(`Subject: CN = ${name.replaceAll(".", "\\.")}`));
  assert.match(
    out,
    /Subject Alternative Name:\s*\n\s*DNS:default\.emojivoto\.[^\n,]*local\n/,
  );
  assert.match(out, /Signature Algorithm: ecdsa-with-SHA256/);
  assert.ok(
    derToPem(csr, "CERTIFICATE REQUEST").startsWith(
      "-----BEGIN CERTIFICATE REQUEST-----\n",
    ),
  );
  // The key is P-256.
  assert.equal(
    createPublicKey(key.privateKey).asymmetricKeyDetails?.namedCurve,
    "prime256v1",
  );
});

Deno.test("createCsr() leaves the subject empty for names longer than a CN allows", async () => {
  const name = `${
    "a".repeat(60)
  }.ns.serviceaccount.identity.linkerd.cluster.local`;
  const { code, out } = await opensslText(createCsr(name, generateLocalKey()));
  assert.equal(code, 0, out);
  assert.match(out, /Subject:\s*\n/);
  assert.ok(out.includes(`DNS:${name}`));
});

Deno.test("createCsr() refuses a name that is not a DNS name", () => {
  assert.throws(() => createCsr("spiffe://x/y", generateLocalKey()), TypeError);
});
