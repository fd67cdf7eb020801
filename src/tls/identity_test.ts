import assert from "node:assert/strict";
import { join } from "node:path";
import {
  makePki,
  meshIdentity,
  writeIdentityFiles,
} from "../../tests/support/certs.ts";
import { loadCredentials } from "./credentials.ts";
import { LocalIdentity } from "./identity.ts";

const NAME = meshIdentity("web");

function until(cond: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const start = Date.now();
    const tick = () => {
      if (cond()) resolve();
      else if (Date.now() - start > 5000) {
        reject(new Error(`timed out: ${what}`));
      } else setTimeout(tick, 10);
    };
    tick();
  });
}

Deno.test("loadCredentials() reads an identity directory", async () => {
  await using pki = await makePki();
  const leaf = await pki.issue(NAME);
  const dir = await pki.identityDir(leaf);
  const c = await loadCredentials({ dir, localName: NAME.toUpperCase() });
  assert.equal(c.name, NAME);
  assert.equal(c.serial, leaf.serial);
  assert.equal(c.generation, 1);
  assert.ok(c.notAfterMs > Date.now());
  assert.match(c.keyPem, /BEGIN PRIVATE KEY/);
  assert.match(c.anchorsPem, /BEGIN CERTIFICATE/);
});

Deno.test("loadCredentials() takes linkerd's key.p8 (PKCS#8 DER) and PEM trust anchors", async () => {
  await using pki = await makePki();
  const leaf = await pki.issue(NAME);
  const dir = join(pki.dir, "p8");
  await Deno.mkdir(dir);
  const der = await new Deno.Command("openssl", {
    args: [
      "pkcs8",
      "-topk8",
      "-nocrypt",
      "-in",
      leaf.keyFile,
      "-outform",
      "DER",
    ],
    stdout: "piped",
    stderr: "null",
  }).output();
  await Deno.writeFile(join(dir, "key.p8"), der.stdout);
  await Deno.writeTextFile(join(dir, "tls.crt"), leaf.certPem);
  const c = await loadCredentials({ dir, trustAnchorsPem: pki.anchorPem });
  assert.equal(c.name, NAME);
});

Deno.test("loadCredentials() says what is wrong", async () => {
  await using pki = await makePki();
  const a = await pki.issue(NAME);
  const b = await pki.issue(NAME);
  const rogue = await pki.issue(NAME, { ca: "other" });
  const files = (cert: string, key: string) => ({
    certFile: cert,
    keyFile: key,
    trustAnchorsFile: pki.anchorFile,
  });
  await assert.rejects(
    loadCredentials(files(a.certFile, b.keyFile)),
    /does not match the private key/,
  );
  await assert.rejects(
    loadCredentials(files(rogue.certFile, rogue.keyFile)),
    /not signed by the trust anchors/,
  );
  await assert.rejects(
    loadCredentials({ ...files(a.certFile, a.keyFile), localName: "x.y" }),
    /do not contain the local identity "x.y"/,
  );
  await assert.rejects(
    loadCredentials(files(join(pki.dir, "nope.crt"), a.keyFile)),
    /Cannot read certificate ".*nope.crt"/,
  );
  await assert.rejects(
    loadCredentials({ certFile: a.certFile, keyFile: a.keyFile }),
    /no trust anchors/,
  );
});

Deno.test("LocalIdentity.watch() reloads on change and keeps the last good credentials through a half-written rotation", async () => {
  await using pki = await makePki();
  const first = await pki.issue(NAME);
  const dir = await pki.identityDir(first);
  const errors: string[] = [];
  await using id = await LocalIdentity.watch({ dir, localName: NAME }, {
    debounceMs: 20,
    pollMs: 50,
    onError: (e) => errors.push(e.message),
  });
  assert.equal(id.current?.serial, first.serial);
  const seen: string[] = [];
  using _sub = id.onChange((c) => seen.push(c.serial));

  const second = await pki.issue(NAME);
  // Only the key so far: the pair does not match, nothing changes.
  await Deno.writeTextFile(join(dir, "tls.key"), second.keyPem);
  assert.equal(await id.reload(), false);
  assert.equal(id.current?.serial, first.serial);
  assert.match(errors.at(-1) ?? "", /does not match the private key/);
  // The certificate follows: the watcher picks the pair up by itself.
  await Deno.writeTextFile(join(dir, "tls.crt"), second.certPem);
  await until(() => id.current?.serial === second.serial, "rotation");
  assert.equal(id.current?.generation, 2);
  assert.deepEqual(seen, [second.serial]);
});

Deno.test("LocalIdentity.watch() starts without files and becomes ready when they appear", async () => {
  await using pki = await makePki();
  const dir = join(pki.dir, "later");
  await Deno.mkdir(dir);
  const errors: string[] = [];
  await using id = await LocalIdentity.watch({ dir }, {
    debounceMs: 10,
    pollMs: 30,
    onError: (e) => errors.push(e.message),
  });
  assert.equal(id.current, undefined);
  assert.equal(errors.length, 1, "one report, not one per poll");
  const leaf = await pki.issue(NAME);
  await writeIdentityFiles(dir, leaf, pki.anchorPem);
  const creds = await id.ready;
  assert.equal(creds.serial, leaf.serial);
  assert.equal(id.name, NAME);
});
