/**
 * The proxy's own identity: certificate chain, private key and trust
 * anchors, loaded from PEM files and reloaded when they change (linkerd
 * `linkerd/app/src/env/identity.rs`, `meshtls` `creds::Store`,
 * `identity-client` certify loop).
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
 * set. A half-written rotation (a new key next to the old certificate) is
 * therefore refused and retried at the next change: connections keep using
 * the last good credentials. New connections take the credentials current
 * when they start; established ones are never touched.
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
import { dirname, join, resolve } from "node:path";
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
interface Paths {
  cert: string;
  key: string[];
  anchors: string | undefined;
}

function pathsOf(src: IdentitySource): Paths {
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

/** Options of {@linkcode LocalIdentity.watch}. */
export interface WatchIdentityOptions {
  /** Quiet period after a change before the files are read. @default {50} */
  debounceMs?: number;
  /** Interval of the mtime/size poll (a fallback for missed events). @default {1000} */
  pollMs?: number;
  /** Use `Deno.watchFs` on the folders; false leaves the poll only. @default {true} */
  fsEvents?: boolean;
  /** Called after a load is refused (the last good credentials stay). */
  onError?: (err: Error) => void;
}

/**
 * The local identity: the current credentials, replaced when the files
 * change (linkerd `creds::Store` + `Receiver`, watched instead of certified).
 */
export class LocalIdentity implements Disposable, AsyncDisposable {
  #current: Credentials | undefined;
  readonly #src: IdentitySource | undefined;
  readonly #listeners = new Set<(c: Credentials) => void>();
  readonly #onError: ((err: Error) => void) | undefined;
  readonly #debounceMs: number;
  readonly #pollMs: number;
  #fsWatchers: Deno.FsWatcher[] = [];
  #fsLoops: Promise<void>[] = [];
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #running: Promise<boolean> | undefined;
  #again = false;
  #stamp: string | undefined;
  #lastError: string | undefined;
  #closed = false;
  #resolveReady!: (c: Credentials) => void;
  /** Resolves with the first good credentials. */
  readonly ready: Promise<Credentials>;

  /** Use {@linkcode LocalIdentity.watch} or {@linkcode LocalIdentity.fixed}. */
  constructor(
    src: IdentitySource | undefined,
    initial: Credentials | undefined,
    opts: WatchIdentityOptions,
  ) {
    this.#src = src;
    this.#current = initial;
    this.#onError = opts.onError;
    this.#debounceMs = opts.debounceMs ?? 50;
    this.#pollMs = opts.pollMs ?? 1000;
    this.ready = new Promise((r) => this.#resolveReady = r);
    if (initial) this.#resolveReady(initial);
  }

  /**
   * Loads `src` and keeps it current: a change of any of its files (an fs
   * event or the poll) reloads it after `debounceMs`. The first load may
   * fail (files not written yet): `current` stays undefined until a load
   * succeeds, and `ready` resolves then.
   */
  static async watch(
    src: IdentitySource,
    opts: WatchIdentityOptions = {},
  ): Promise<LocalIdentity> {
    pathsOf(src); // configuration errors throw now
    const id = new LocalIdentity(src, undefined, opts);
    await id.reload();
    if (opts.fsEvents !== false) id.#watchFolders();
    id.#schedulePoll();
    return id;
  }

  /** Fixed credentials that never change (tests, benches). */
  static fixed(creds: Credentials): LocalIdentity {
    return new LocalIdentity(undefined, creds, {});
  }

  /** The current credentials; undefined until the first good load. */
  get current(): Credentials | undefined {
    return this.#current;
  }

  /** The local identity name, once loaded. */
  get name(): string | undefined {
    return this.#current?.name;
  }

  /**
   * Calls `fn` with every new set of credentials (not the current one).
   * Dispose the returned handle to stop.
   */
  onChange(fn: (c: Credentials) => void): Disposable {
    this.#listeners.add(fn);
    return { [Symbol.dispose]: () => this.#listeners.delete(fn) };
  }

  /**
   * Reads the files now; true when the credentials changed. A refused load
   * goes to `onError` and keeps the last good credentials.
   */
  reload(): Promise<boolean> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      let changed = false;
      try {
        do {
          this.#again = false;
          changed = (await this.#load()) || changed;
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = undefined;
      }
      return changed;
    })();
    return this.#running;
  }

  async #load(): Promise<boolean> {
    const src = this.#src;
    if (src === undefined || this.#closed) return false;
    this.#stamp = await this.#stampNow();
    let next: Credentials;
    try {
      next = await loadCredentials(src, {
        generation: (this.#current?.generation ?? 0) + 1,
      });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Report each distinct problem once, not at every poll.
      if (e.message !== this.#lastError) {
        this.#lastError = e.message;
        this.#onError?.(e);
      }
      return false;
    }
    this.#lastError = undefined;
    const cur = this.#current;
    if (
      this.#closed || (cur && cur.certPem === next.certPem &&
        cur.keyPem === next.keyPem && cur.anchorsPem === next.anchorsPem)
    ) {
      return false;
    }
    this.#current = next;
    if (cur === undefined) this.#resolveReady(next);
    for (const fn of this.#listeners) {
      try {
        fn(next);
      } catch { /* a listener's failure is its own */ }
    }
    return true;
  }

  #files(): string[] {
    const src = this.#src;
    if (src === undefined) return [];
    const p = pathsOf(src);
    return [p.cert, ...p.key, ...(p.anchors === undefined ? [] : [p.anchors])];
  }

  #watchFolders(): void {
    const folders = new Set(this.#files().map((f) => dirname(resolve(f))));
    for (const folder of folders) {
      try {
        const w = Deno.watchFs(folder, { recursive: false });
        this.#fsWatchers.push(w);
        this.#fsLoops.push(this.#watchLoop(w));
      } catch {
        // No such folder yet, or no inotify: the poll still works.
      }
    }
  }

  async #watchLoop(w: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of w) {
        if (event.kind !== "access") this.#debounce();
      }
    } catch {
      // The watcher failed; the poll carries on.
    }
  }

  #debounce(): void {
    if (this.#closed) return;
    clearTimeout(this.#debounceTimer);
    this.#debounceTimer = setTimeout(() => {
      this.#debounceTimer = undefined;
      void this.reload();
    }, this.#debounceMs);
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#polling = this.#stampNow().then((stamp) => {
        this.#polling = undefined;
        if (!this.#closed && stamp !== this.#stamp) this.#debounce();
        this.#schedulePoll();
      });
    }, this.#pollMs);
  }

  async #stampNow(): Promise<string> {
    const parts = await Promise.all(
      this.#files().map(async (f) => {
        try {
          const s = await Deno.stat(f);
          return `${s.mtime?.getTime()}:${s.size}:${s.ino}`;
        } catch {
          return "-";
        }
      }),
    );
    return parts.join("|");
  }

  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#pollTimer);
    for (const w of this.#fsWatchers) {
      try {
        w.close();
      } catch { /* already closed */ }
    }
    this.#listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await Promise.all(this.#fsLoops);
    await this.#running;
    await this.#polling;
  }
}
