/**
 * The Identity client: certifies the proxy's key with the Linkerd identity
 * service and keeps the certificate fresh (linkerd
 * `proxy/identity-client/src/certify.rs`).
 *
 * The key and CSR are made once, in memory, and reused for every refresh,
 * as linkerd does. Each certificate is written as PEM into the identity
 * directory, where the TLS layer (`src/tls/credentials.ts`) picks it up:
 * `tls.key` (PKCS#8, once), `ca.crt` (the trust anchors, once, when
 * known), then `tls.crt` (the leaf and its intermediates), each replaced
 * atomically by a rename.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { X509Certificate } from "node:crypto";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { timestampMs } from "../api/duration.ts";
import type { CertifyRequest, CertifyResponse } from "../api/identity.ts";
import { controlPlaneServices } from "../api/proto.ts";
import type { Logger } from "../log.ts";
import {
  certificateSans,
  describeSans,
  type SanEntry,
  sansMatch,
} from "../tls/names.ts";
import {
  createCsr,
  derToPem,
  generateLocalKey,
  type LocalKey,
  privateKeyPem,
} from "./csr.ts";

/** The files written into the identity directory (the names `src/tls/credentials.ts` reads). */
export const CERTIFIED_FILES = Object.freeze({
  cert: "tls.crt",
  key: "tls.key",
  anchors: "ca.crt",
});

/** linkerd `DEFAULT_IDENTITY_MIN_REFRESH`. */
export const DEFAULT_MIN_REFRESH_MS = 10_000;
/** linkerd `DEFAULT_IDENTITY_MAX_REFRESH`. */
export const DEFAULT_MAX_REFRESH_MS = 24 * 60 * 60 * 1000;
/** Refresh once this share of the remaining validity has passed (linkerd `REFRESH_FACTOR`… 70 %). */
export const REFRESH_RATIO = 0.7;

/**
 * When to certify again (linkerd `refresh_in`): 70 % of the time left
 * before `expiryMs`, clamped to [`minMs`, `maxMs`].
 */
export function refreshInMs(
  expiryMs: number,
  nowMs: number,
  minMs: number,
  maxMs: number,
): number {
  const ms = Math.max(0, expiryMs - nowMs) * REFRESH_RATIO;
  return Math.min(Math.max(ms, minMs), maxMs);
}

/** One certificate as obtained. */
export interface CertifiedIdentity {
  readonly name: string;
  /** The leaf then its intermediates, PEM. */
  readonly certPem: string;
  /** When the certificate expires (`valid_until`, else the leaf's notAfter), ms since the epoch. */
  readonly validUntilMs: number;
  /** The leaf's serial number (hex). */
  readonly serial: string;
  /** 1 for the first certificate, +1 for each refresh. */
  readonly generation: number;
}

/** The Identity client method used here. */
interface IdentityClient {
  Certify(
    req: CertifyRequest,
    options: grpc.CallOptions,
    cb: (err: grpc.ServiceError | null, rsp?: CertifyResponse) => void,
  ): grpc.ClientUnaryCall;
}

/** Options of {@linkcode IdentityCertifier}. */
export interface IdentityCertifierOptions {
  /** The identity service "host:port" (`LINKERD2_PROXY_IDENTITY_SVC_ADDR`). */
  addr: string;
  /** The local identity (`LINKERD2_PROXY_IDENTITY_LOCAL_NAME`). */
  localName: string;
  /** The service-account token file (`LINKERD2_PROXY_IDENTITY_TOKEN_FILE`), read for each request. */
  tokenFile: string;
  /** Where the PEM files go (`LINKERD2_PROXY_IDENTITY_DIR`). */
  dir: string;
  /** Trust anchors (PEM), written to `ca.crt`. @default {undefined} */
  trustAnchorsPem?: string | undefined;
  /** @default {DEFAULT_MIN_REFRESH_MS} */
  minRefreshMs?: number | undefined;
  /** @default {DEFAULT_MAX_REFRESH_MS} */
  maxRefreshMs?: number | undefined;
  /** Deadline of each Certify call. @default {10000} */
  callTimeoutMs?: number | undefined;
  /** TLS to the identity service; absent = plaintext. @default {insecure} */
  credentials?: grpc.ChannelCredentials | undefined;
  /** Channel options (e.g. `grpc.ssl_target_name_override`). @default {{}} */
  channelOptions?: grpc.ChannelOptions | undefined;
  /** Wall clock, ms since the epoch. @default {Date.now} */
  now?: (() => number) | undefined;
  log?: Logger | undefined;
}

/**
 * Certifies the local identity and refreshes it at 70 % of each
 * certificate's remaining lifetime (linkerd `Certify` task); a failed
 * attempt is retried after `minRefreshMs`. `ready` resolves with the first
 * certificate written (linkerd's `/ready` and listeners wait for it).
 */
export class IdentityCertifier implements Disposable, AsyncDisposable {
  readonly #opts: IdentityCertifierOptions;
  readonly #key: LocalKey;
  readonly #csr: Uint8Array;
  readonly #now: () => number;
  readonly #minMs: number;
  readonly #maxMs: number;
  readonly #listeners = new Set<(c: CertifiedIdentity) => void>();
  #current: CertifiedIdentity | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #waitTimer: ReturnType<typeof setInterval> | undefined;
  #inflight: Promise<void> | undefined;
  #call: grpc.ClientUnaryCall | undefined;
  #wroteStatic = false;
  #disposed = false;
  #resolveReady!: (c: CertifiedIdentity) => void;
  /** Resolves with the first certificate, once its files are written. */
  readonly ready: Promise<CertifiedIdentity>;

  /** Makes the key and CSR and starts certifying at once. */
  constructor(opts: IdentityCertifierOptions) {
    this.#opts = opts;
    this.#now = opts.now ?? Date.now;
    this.#minMs = opts.minRefreshMs ?? DEFAULT_MIN_REFRESH_MS;
    this.#maxMs = opts.maxRefreshMs ?? DEFAULT_MAX_REFRESH_MS;
    this.#key = generateLocalKey();
    this.#csr = createCsr(opts.localName, this.#key);
    this.ready = new Promise((r) => this.#resolveReady = r);
    this.#waitTimer = setInterval(() => {
      opts.log?.info("Waiting for identity to be initialized...", {
        identity: opts.localName,
      });
    }, 15_000);
    this.#run();
  }

  /** True once the first certificate is written. */
  get isReady(): boolean {
    return this.#current !== undefined;
  }

  /** The latest certificate. */
  get current(): CertifiedIdentity | undefined {
    return this.#current;
  }

  /** The DER CSR sent with every request. */
  get csr(): Uint8Array {
    return this.#csr;
  }

  /** Calls `fn` after each certificate is written. */
  onCertified(fn: (c: CertifiedIdentity) => void): Disposable {
    this.#listeners.add(fn);
    return { [Symbol.dispose]: () => this.#listeners.delete(fn) };
  }

  #run(): void {
    this.#timer = undefined;
    if (this.#disposed) return;
    this.#inflight = this.#certify().then(
      (cert) =>
        this.#schedule(
          refreshInMs(cert.validUntilMs, this.#now(), this.#minMs, this.#maxMs),
        ),
      (err) => {
        if (this.#disposed) return;
        this.#opts.log?.warn("failed to certify identity", {
          identity: this.#opts.localName,
          error: err instanceof Error ? err.message : String(err),
        });
        this.#schedule(this.#minMs);
      },
    );
  }

  #schedule(ms: number): void {
    if (this.#disposed) return;
    this.#timer = setTimeout(() => this.#run(), ms);
  }

  async #certify(): Promise<CertifiedIdentity> {
    const o = this.#opts;
    const token = await Deno.readFile(o.tokenFile);
    if (token.length === 0) {
      throw new TypeError(
        `Cannot read token file "${o.tokenFile}": it is empty`,
      );
    }
    const rsp = await this.#requestCertificate({
      identity: o.localName,
      token,
      certificate_signing_request: this.#csr,
    });
    if (this.#disposed) throw new Error("disposed");
    const cert = this.#check(rsp);
    await this.#write(cert);
    this.#current = cert;
    clearInterval(this.#waitTimer);
    this.#waitTimer = undefined;
    o.log?.info("certified identity", {
      identity: cert.name,
      validUntil: new Date(cert.validUntilMs).toISOString(),
    });
    this.#resolveReady(cert);
    for (const fn of [...this.#listeners]) fn(cert);
    return cert;
  }

  /** One Certify call on a fresh channel (linkerd builds the client per call). */
  #requestCertificate(req: CertifyRequest): Promise<CertifyResponse> {
    const o = this.#opts;
    const Identity = controlPlaneServices().Identity;
    const client = new Identity(
      o.addr,
      o.credentials ?? grpc.credentials.createInsecure(),
      o.channelOptions ?? {},
    ) as unknown as grpc.Client & IdentityClient;
    return new Promise<CertifyResponse>((resolve, reject) => {
      this.#call = client.Certify(
        req,
        { deadline: new Date(Date.now() + (o.callTimeoutMs ?? 10_000)) },
        (err, rsp) => {
          this.#call = undefined;
          if (err || rsp === undefined) {
            reject(err ?? new Error("Certify returned no response"));
          } else {
            resolve(rsp);
          }
        },
      );
    }).finally(() => client.close());
  }

  /** Checks the response: a leaf for our key carrying the local identity. */
  #check(rsp: CertifyResponse): CertifiedIdentity {
    const name = this.#opts.localName.toLowerCase();
    if (rsp.leaf_certificate.length === 0) {
      throw new TypeError("Cannot use Certify response: no leaf certificate");
    }
    const leaf = new X509Certificate(Buffer.from(rsp.leaf_certificate));
    const ours = this.#key.publicKey.export({ type: "spki", format: "der" });
    const theirs = leaf.publicKey.export({ type: "spki", format: "der" });
    if (!Buffer.from(ours).equals(Buffer.from(theirs))) {
      throw new TypeError(
        "Cannot use Certify response: the certificate is not for our key",
      );
    }
    // From the DER, not the subjectAltName text (Deno leaves commas unquoted).
    let sans: SanEntry[];
    try {
      sans = certificateSans(leaf.raw);
    } catch (err) {
      throw new TypeError(
        `Cannot use Certify response: unreadable subjectAltName: ${
          err instanceof Error ? err.message : String(err)
        }`,
        { cause: err },
      );
    }
    if (!sansMatch(sans, name)) {
      throw new TypeError(
        `Cannot use Certify response: its SANs (${
          describeSans(sans)
        }) do not contain "${name}"`,
      );
    }
    const chain = [
      rsp.leaf_certificate,
      ...rsp.intermediate_certificates,
    ].map((der) => derToPem(der, "CERTIFICATE"));
    return {
      name,
      certPem: chain.join(""),
      validUntilMs: timestampMs(rsp.valid_until) ?? Date.parse(leaf.validTo),
      serial: leaf.serialNumber,
      generation: (this.#current?.generation ?? 0) + 1,
    };
  }

  async #write(cert: CertifiedIdentity): Promise<void> {
    const dir = this.#opts.dir;
    await Deno.mkdir(dir, { recursive: true });
    if (!this.#wroteStatic) {
      await writeAtomic(
        join(dir, CERTIFIED_FILES.key),
        privateKeyPem(this.#key),
        0o600,
      );
      const anchors = this.#opts.trustAnchorsPem;
      if (anchors !== undefined && anchors.trim() !== "") {
        await writeAtomic(join(dir, CERTIFIED_FILES.anchors), anchors, 0o644);
      }
      this.#wroteStatic = true;
    }
    await writeAtomic(join(dir, CERTIFIED_FILES.cert), cert.certPem, 0o644);
  }

  /** Stops refreshing and cancels a call in flight. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#timer);
    clearInterval(this.#waitTimer);
    this.#call?.cancel();
  }

  /** Disposes, then waits for an attempt in flight to settle. */
  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await this.#inflight;
  }
}

/** Writes `text` to a temp file beside `path`, then renames it over `path`. */
async function writeAtomic(
  path: string,
  text: string,
  mode: number,
): Promise<void> {
  const tmp = `${path}.tmp-${crypto.randomUUID()}`;
  await Deno.writeTextFile(tmp, text, { mode });
  try {
    await Deno.rename(tmp, path);
  } catch (err) {
    await Deno.remove(tmp).catch(() => {});
    throw err;
  }
}
