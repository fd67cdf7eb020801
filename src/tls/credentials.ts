/**
 * The proxy's own credentials: certificate chain, private key and trust
 * anchors, loaded from PEM files and checked (linkerd
 * `linkerd/app/src/env/identity.rs`, `meshtls` `creds::Store`). The reload
 * loop around them is `identity.ts`.
 *
 * Sources, in precedence order:
 * - explicit files (`certFile`, `keyFile`, `trustAnchorsFile`);
 * - the identity directory (`LINKERD2_PROXY_IDENTITY_DIR`): `tls.crt` (the
 *   leaf then its intermediates, PEM), `tls.key` (PEM) or linkerd's
 *   `key.p8` (PKCS#8, DER or PEM), and `ca.crt` (trust anchors, PEM) when the
 *   anchors are not given otherwise. A control-plane client that certifies
 *   the proxy writes the chain it receives to `tls.crt` there;
 * - the trust anchors as PEM text (`LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`).
 *
 * Each load is checked before it replaces the last good one: the key must
 * belong to the leaf, the leaf must chain to the anchors, and the leaf must
 * carry the local name (`LINKERD2_PROXY_IDENTITY_LOCAL_NAME`) when one is
 * set.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import {
  createPrivateKey,
  createPublicKey,
  type KeyObject,
  X509Certificate,
} from "node:crypto";
import { join, resolve } from "node:path";
import {
  certificateSans,
  describeSans,
  identityOfSans,
  type SanEntry,
  sansMatch,
} from "./names.ts";

/** File names looked up in the identity directory. */
export const IDENTITY_DIR_FILES = Object.freeze({
  /** The leaf certificate followed by its intermediates, PEM. */
  cert: "tls.crt",
  /** The private key: PEM (any of PKCS#8, SEC1, PKCS#1), first choice. */
  key: "tls.key",
  /** linkerd's `key.p8` (PKCS#8, DER or PEM), used when `tls.key` is absent. */
  keyP8: "key.p8",
  /** Trust anchors, PEM, used when no anchors are given otherwise. */
  anchors: "ca.crt",
});

/** Where the local identity comes from (linkerd identity env). */
export interface IdentitySource {
  /** A directory holding the files of {@linkcode IDENTITY_DIR_FILES} (`LINKERD2_PROXY_IDENTITY_DIR`). */
  readonly dir?: string | undefined;
  /** The certificate chain, PEM; overrides `<dir>/tls.crt`. */
  readonly certFile?: string | undefined;
  /** The private key; overrides `<dir>/tls.key`. */
  readonly keyFile?: string | undefined;
  /** Trust anchors, PEM; overrides `<dir>/ca.crt`. */
  readonly trustAnchorsFile?: string | undefined;
  /** Trust anchors as PEM text (`LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS`); used when no anchors file is given. */
  readonly trustAnchorsPem?: string | undefined;
  /** The identity the certificate must carry (`LINKERD2_PROXY_IDENTITY_LOCAL_NAME`); absent = its first DNS SAN. */
  readonly localName?: string | undefined;
}

/** One good set of credentials (linkerd `creds::Store` contents). */
export interface Credentials {
  /** The local identity (the leaf's SAN). */
  readonly name: string;
  /** The leaf then its intermediates, PEM. */
  readonly certPem: string;
  /** The private key, PKCS#8 PEM. */
  readonly keyPem: string;
  /** The trust anchors, PEM. */
  readonly anchorsPem: string;
  readonly notBeforeMs: number;
  readonly notAfterMs: number;
  /** The leaf's serial number (hex). */
  readonly serial: string;
  /** 1 for the first load, +1 for each change. */
  readonly generation: number;
  /** When these credentials were loaded (ms since the epoch). */
  readonly loadedAtMs: number;
}

const CERT_REGEXP =
  /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

/** Splits a PEM bundle into its certificates. */
export function splitPemCertificates(pem: string): string[] {
  return pem.match(CERT_REGEXP)?.map((c) => c + "\n") ?? [];
}

/** The files one load reads, resolved from a source. */
export interface Paths {
  cert: string;
  key: string[];
  anchors: string | undefined;
}

/** Resolves the files one load of `src` reads; a `TypeError` when the source is incomplete. */
export function pathsOf(src: IdentitySource): Paths {
  const dir = src.dir === undefined ? undefined : resolve(src.dir);
  const cert = src.certFile ?? (dir && join(dir, IDENTITY_DIR_FILES.cert));
  const key = src.keyFile !== undefined
    ? [src.keyFile]
    : dir
    ? [join(dir, IDENTITY_DIR_FILES.key), join(dir, IDENTITY_DIR_FILES.keyP8)]
    : [];
  if (cert === undefined || key.length === 0) {
    throw new TypeError(
      "Cannot load identity: give an identity directory, or both a certificate and a key file",
    );
  }
  const anchors = src.trustAnchorsFile ??
    (src.trustAnchorsPem === undefined && dir
      ? join(dir, IDENTITY_DIR_FILES.anchors)
      : undefined);
  if (anchors === undefined && src.trustAnchorsPem === undefined) {
    throw new TypeError(
      "Cannot load identity: no trust anchors (a file, PEM text, or ca.crt in the identity directory)",
    );
  }
  return { cert, key, anchors };
}

/** The files of `src` a change of which means a reload. */
export function filesOf(src: IdentitySource): string[] {
  const p = pathsOf(src);
  return [p.cert, ...p.key, ...(p.anchors === undefined ? [] : [p.anchors])];
}
async function readText(path: string, what: string): Promise<string> {
  try {
    return await Deno.readTextFile(path);
  } catch (err) {
    throw new TypeError(
      `Cannot read ${what} "${path}": ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
}

async function readKey(paths: string[]): Promise<KeyObject> {
  let lastErr: unknown;
  for (const path of paths) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (err) {
      lastErr = err;
      continue;
    }
    const text = new TextDecoder().decode(bytes);
    try {
      return text.includes("-----BEGIN")
        ? createPrivateKey(text)
        : createPrivateKey({
          key: Buffer.from(bytes),
          format: "der",
          type: "pkcs8",
        });
    } catch (err) {
      throw new TypeError(
        `Cannot parse private key "${path}": ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
  }
  throw new TypeError(
    `Cannot read private key (${paths.map((p) => `"${p}"`).join(" or ")}): ${
      lastErr instanceof Error ? lastErr.message : String(lastErr)
    }`,
    { cause: lastErr },
  );
}

function parseCerts(pem: string, what: string): X509Certificate[] {
  const parts = splitPemCertificates(pem);
  if (parts.length === 0) {
    throw new TypeError(`Cannot parse ${what}: no PEM certificate found`);
  }
  return parts.map((p, i) => {
    try {
      return new X509Certificate(p);
    } catch (err) {
      throw new TypeError(
        `Cannot parse ${what}: certificate ${i + 1}: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
  });
}

function spki(key: KeyObject): string {
  return Buffer.from(key.export({ type: "spki", format: "der" })).toString(
    "base64",
  );
}

function signedBy(cert: X509Certificate, issuer: X509Certificate): boolean {
  try {
    return cert.checkIssued(issuer) && cert.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

/** True when `leaf` chains to one of `anchors` through `intermediates`. */
function chainsTo(
  leaf: X509Certificate,
  intermediates: readonly X509Certificate[],
  anchors: readonly X509Certificate[],
): boolean {
  let current = leaf;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (anchors.some((a) => signedBy(current, a))) return true;
    const next = intermediates.find((i) =>
      i !== current && signedBy(current, i)
    );
    if (next === undefined) return false;
    current = next;
  }
  return false;
}

/**
 * Reads and checks one set of credentials from `src` (no watching). Throws
 * a `TypeError` saying what is missing or wrong.
 */
export async function loadCredentials(
  src: IdentitySource,
  opts: { generation?: number; nowMs?: number } = {},
): Promise<Credentials> {
  const paths = pathsOf(src);
  const [certText, key, anchorsText] = await Promise.all([
    readText(paths.cert, "certificate"),
    readKey(paths.key),
    paths.anchors === undefined
      ? Promise.resolve(src.trustAnchorsPem ?? "")
      : readText(paths.anchors, "trust anchors"),
  ]);
  const chain = parseCerts(certText, `certificate "${paths.cert}"`);
  const anchors = parseCerts(
    anchorsText,
    paths.anchors === undefined ? "trust anchors" : `"${paths.anchors}"`,
  );
  const leaf = chain[0]!;
  if (spki(createPublicKey(key)) !== spki(leaf.publicKey)) {
    throw new TypeError(
      `Cannot use certificate "${paths.cert}": it does not match the private key`,
    );
  }
  if (!chainsTo(leaf, chain.slice(1), anchors)) {
    throw new TypeError(
      `Cannot use certificate "${paths.cert}": it is not signed by the trust anchors`,
    );
  }
  let sans: SanEntry[];
  try {
    sans = certificateSans(leaf.raw);
  } catch (err) {
    throw new TypeError(
      `Cannot use certificate "${paths.cert}": unreadable subjectAltName: ${
        err instanceof Error ? err.message : String(err)
      }`,
      { cause: err },
    );
  }
  let name: string | undefined;
  if (src.localName !== undefined) {
    if (!sansMatch(sans, src.localName)) {
      throw new TypeError(
        `Cannot use certificate "${paths.cert}": its SANs (${
          describeSans(sans)
        }) do not contain the local identity "${src.localName}"`,
      );
    }
    name = src.localName.toLowerCase();
  } else {
    name = identityOfSans(sans);
  }
  if (name === undefined) {
    throw new TypeError(
      `Cannot use certificate "${paths.cert}": no SAN is a valid identity (${
        describeSans(sans)
      })`,
    );
  }
  return {
    name,
    certPem: chain.map((c) => c.toString()).join(""),
    keyPem: key.export({ type: "pkcs8", format: "pem" }).toString(),
    anchorsPem: anchors.map((c) => c.toString()).join(""),
    notBeforeMs: Date.parse(leaf.validFrom),
    notAfterMs: Date.parse(leaf.validTo),
    serial: leaf.serialNumber,
    generation: opts.generation ?? 1,
    loadedAtMs: opts.nowMs ?? Date.now(),
  };
}
