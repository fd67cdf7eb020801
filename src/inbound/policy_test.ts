import assert from "node:assert/strict";
import { authorize } from "./policy.ts";

const VERIFIED = {
  tls: true,
  peer: {
    kind: "verified",
    identity: "a.ns.serviceaccount.identity.linkerd.cluster.local",
    sans: [],
    notAfterMs: 0,
  },
} as const;
const NONE = { tls: true, peer: { kind: "none" } } as const;
const EXPIRED = {
  tls: true,
  peer: { kind: "rejected", reason: "expired", detail: "notAfter x" },
} as const;
const PLAIN = { tls: false } as const;

Deno.test("authorize() all-unauthenticated allows plaintext and anonymous TLS, not a bad certificate", () => {
  assert.deepEqual(authorize("all-unauthenticated", PLAIN), {
    allow: true,
    clientId: undefined,
  });
  assert.deepEqual(authorize("all-unauthenticated", NONE), {
    allow: true,
    clientId: undefined,
  });
  assert.deepEqual(authorize("all-unauthenticated", VERIFIED), {
    allow: true,
    clientId: VERIFIED.peer.identity,
  });
  const d = authorize("all-unauthenticated", EXPIRED);
  assert.equal(d.allow, false);
  assert.equal(!d.allow && d.reason, "expired");
  assert.match(
    !d.allow ? d.message : "",
    /client certificate expired \(notAfter x\)/,
  );
});

Deno.test("authorize() all-authenticated requires a verified client certificate", () => {
  const plain = authorize("all-authenticated", PLAIN);
  assert.equal(!plain.allow && plain.reason, "plaintext");
  assert.match(!plain.allow ? plain.message : "", /TLS required/);
  const none = authorize("all-authenticated", NONE);
  assert.equal(!none.allow && none.reason, "no_client_cert");
  assert.deepEqual(authorize("all-authenticated", VERIFIED), {
    allow: true,
    clientId: VERIFIED.peer.identity,
  });
});

Deno.test("authorize() deny refuses everything", () => {
  for (const c of [PLAIN, NONE, VERIFIED]) {
    const d = authorize("deny", c);
    assert.equal(!d.allow && d.reason, "deny");
  }
});
