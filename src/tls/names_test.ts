import assert from "node:assert/strict";
import {
  identityOfSans,
  isIdentityName,
  normalizeIdentity,
  parseSubjectAltName,
  sansMatch,
} from "./names.ts";

Deno.test("parseSubjectAltName() keeps DNS and URI entries", () => {
  assert.deepEqual(
    parseSubjectAltName(
      'DNS:web.ns.serviceaccount.identity.linkerd.cluster.local, IP Address:10.0.0.1, URI:spiffe://td/ns/x, DNS:"a,b"',
    ),
    [
      {
        kind: "dns",
        value: "web.ns.serviceaccount.identity.linkerd.cluster.local",
      },
      { kind: "uri", value: "spiffe://td/ns/x" },
      { kind: "dns", value: "a,b" },
    ],
  );
  assert.deepEqual(parseSubjectAltName(undefined), []);
});

Deno.test("sansMatch() compares DNS names case-insensitively and URIs exactly", () => {
  const sans = parseSubjectAltName("DNS:Web.NS.svc., URI:spiffe://td/Web");
  assert.equal(sansMatch(sans, "web.ns.svc"), true);
  assert.equal(sansMatch(sans, "spiffe://td/Web"), true);
  assert.equal(sansMatch(sans, "spiffe://td/web"), false);
  assert.equal(sansMatch(sans, "other.ns.svc"), false);
  assert.equal(
    sansMatch(parseSubjectAltName("DNS:*.ns.svc"), "a.ns.svc"),
    false,
  );
});

Deno.test("identityOfSans() prefers the first DNS SAN", () => {
  assert.equal(
    identityOfSans(parseSubjectAltName("URI:spiffe://x, DNS:A.b")),
    "a.b",
  );
  assert.equal(
    identityOfSans(parseSubjectAltName("URI:spiffe://x")),
    "spiffe://x",
  );
  assert.equal(identityOfSans([]), undefined);
});

Deno.test("isIdentityName() and normalizeIdentity()", () => {
  assert.equal(
    isIdentityName("web.ns.serviceaccount.identity.linkerd.cluster.local"),
    true,
  );
  assert.equal(isIdentityName("spiffe://td/ns/web"), true);
  assert.equal(isIdentityName("not a name"), false);
  assert.equal(normalizeIdentity("Web.NS."), "web.ns");
});
