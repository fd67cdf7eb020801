import assert from "node:assert/strict";
import {
  describeSans,
  identityOfSans,
  isIdentityName,
  normalizeIdentity,
  type SanEntry,
  sanIdentity,
  sansMatch,
} from "./names.ts";

const dns = (value: string): SanEntry => ({ kind: "dns", value });
const uri = (value: string): SanEntry => ({ kind: "uri", value });
const WEB = "web.ns.serviceaccount.identity.linkerd.cluster.local";

Deno.test("sanIdentity() takes valid DNS names (lower-cased) and URLs only", () => {
  assert.equal(sanIdentity(dns("Web.NS.svc")), "web.ns.svc");
  assert.equal(sanIdentity(dns("_m.foo-1.bar")), "_m.foo-1.bar");
  for (
    const bad of [
      `evil.test, DNS:${WEB}`,
      `${WEB}, DNS:evil.test`,
      "a b.svc",
      "*.ns.svc",
      "web.ns.svc.", // linkerd refuses a trailing dot in an identity
      "-a.svc",
      "a-.svc",
      "a..svc",
      "1.2.3.4",
      "",
      "x".repeat(64) + ".svc",
      "spiffe://td/ns/x",
    ]
  ) {
    assert.equal(sanIdentity(dns(bad)), undefined, bad);
  }
  assert.equal(sanIdentity(uri("spiffe://td/ns/x")), "spiffe://td/ns/x");
  assert.equal(sanIdentity(uri("SPIFFE://td/ns/x")), "spiffe://td/ns/x");
  assert.equal(sanIdentity(uri("no-scheme")), undefined);
  assert.equal(sanIdentity(uri(" spiffe://td/x")), undefined);
  assert.equal(sanIdentity(uri("spiffe://td/x, URI:spiffe://td/y")), undefined);
});

Deno.test("sansMatch() compares like linkerd verify_id: exact ids, DNS case-insensitive", () => {
  const sans = [dns("Web.NS.svc"), uri("spiffe://td/Web")];
  assert.equal(sansMatch(sans, "web.ns.svc"), true);
  assert.equal(sansMatch(sans, "WEB.ns.svc."), true);
  assert.equal(sansMatch(sans, "spiffe://td/Web"), true);
  assert.equal(sansMatch(sans, "spiffe://td/web"), false);
  assert.equal(sansMatch(sans, "other.ns.svc"), false);
  assert.equal(sansMatch(sans, "ns.svc"), false);
  assert.equal(sansMatch([dns("*.ns.svc")], "a.ns.svc"), false);
  assert.equal(sansMatch([dns("web.ns.svc.")], "web.ns.svc"), false);
  // One SAN holding a comma proves neither name in it.
  assert.equal(sansMatch([dns(`evil.test, DNS:${WEB}`)], WEB), false);
  assert.equal(sansMatch([dns(`${WEB}, DNS:evil.test`)], WEB), false);
  assert.equal(sansMatch([dns("evil.test"), dns(WEB)], WEB), true);
  // A DNS id never equals a URI id.
  assert.equal(sansMatch([uri("dns://web.ns.svc")], "web.ns.svc"), false);
  assert.equal(sansMatch([], "web.ns.svc"), false);
  assert.equal(sansMatch(sans, "not an identity"), false);
});

Deno.test("identityOfSans() is the first valid SAN, DNS or URI (linkerd client_identity)", () => {
  assert.equal(
    identityOfSans([uri("spiffe://x/y"), dns("A.b")]),
    "spiffe://x/y",
  );
  assert.equal(identityOfSans([dns("A.b"), uri("spiffe://x/y")]), "a.b");
  assert.equal(
    identityOfSans([dns(`${WEB}, DNS:evil.test`), dns("real.ns.svc")]),
    "real.ns.svc",
  );
  assert.equal(identityOfSans([dns(`${WEB}, DNS:evil.test`)]), undefined);
  assert.equal(identityOfSans([]), undefined);
});

Deno.test("describeSans() quotes and marks the invalid SANs", () => {
  assert.equal(
    describeSans([dns("A.b"), dns("evil.test, DNS:x.y")]),
    'a.b, DNS:"evil.test, DNS:x.y" (invalid)',
  );
  assert.equal(describeSans([]), "no DNS or URI SAN");
});

Deno.test("isIdentityName() and normalizeIdentity()", () => {
  assert.equal(isIdentityName(WEB), true);
  assert.equal(isIdentityName("spiffe://td/ns/web"), true);
  assert.equal(isIdentityName("not a name"), false);
  assert.equal(normalizeIdentity("Web.NS."), "web.ns");
});
