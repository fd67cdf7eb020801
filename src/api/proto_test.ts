import assert from "node:assert/strict";
import { X509Certificate } from "node:crypto";
import { makePki } from "../../tests/support/certs.ts";
import { checkControlServerIdentity, controlChannel } from "./proto.ts";

const NAME =
  "linkerd-identity.linkerd.serviceaccount.identity.linkerd.cluster.local";

Deno.test("checkControlServerIdentity() reads the SANs from the DER: a comma-spoofed SAN is refused", async () => {
  await using pki = await makePki();
  const der = async (sans?: string[]) =>
    new Uint8Array(
      new X509Certificate(
        (await pki.issue(NAME, sans ? { sans } : {})).certPem,
      ).raw,
    );
  assert.equal(checkControlServerIdentity(NAME, await der()), undefined);
  assert.equal(
    checkControlServerIdentity(NAME.toUpperCase(), await der()),
    undefined,
  );
  // One dNSName whose text reads like two names.
  const spoofed = checkControlServerIdentity(
    NAME,
    await der([`DNS:evil.test, DNS:${NAME}`]),
  );
  assert.match(String(spoofed), /does not match TLS identity.*\(invalid\)/);
  assert.match(
    String(checkControlServerIdentity(NAME, await der(["DNS:other.test"]))),
    /got other\.test/,
  );
  assert.match(
    String(checkControlServerIdentity(NAME, new Uint8Array([0x30, 0x03]))),
    /unreadable SANs/,
  );
});

Deno.test("controlChannel(): plaintext to loopback (as linkerd) or without a name or anchors; TLS otherwise", () => {
  const anchors =
    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----";
  const plain = (c: ReturnType<typeof controlChannel>) =>
    Object.keys(c.options).length === 0;
  assert.ok(
    plain(
      controlChannel("127.0.0.1:8086", {
        name: NAME,
        trustAnchorsPem: anchors,
      }),
    ),
  );
  assert.ok(plain(controlChannel("10.1.2.3:8086", { name: NAME })));
  assert.ok(
    plain(controlChannel("10.1.2.3:8086", { trustAnchorsPem: anchors })),
  );
  const tls = controlChannel("10.1.2.3:8086", {
    name: NAME,
    trustAnchorsPem: anchors,
  });
  assert.equal(tls.options["grpc.ssl_target_name_override"], NAME);
  const forced = controlChannel("127.0.0.1:8086", {
    name: NAME,
    trustAnchorsPem: anchors,
    tlsOnLoopback: true,
  });
  assert.equal(forced.options["grpc.default_authority"], NAME);
});
