/**
 * Certificates for the mTLS tests, made with openssl at test time in a
 * temporary folder: a trust anchor, a second (untrusted) CA, and leaf
 * certificates whose SAN is a workload identity, including expired ones
 * (linkerd's identity model: ECDSA P-256 keys, one DNS SAN per proxy).
 *
 * No linkerd counterpart (linkerd's tests embed fixed certificates from
 * `linkerd/tls/test-util`).
 *
 * @module
 */
import { join } from "node:path";

/** The openssl binary. */
export const OPENSSL = "openssl";

/** A linkerd-style identity for service account `sa` in namespace `ns`. */
export function meshIdentity(sa: string, ns = "test"): string {
  return `${sa}.${ns}.serviceaccount.identity.linkerd.cluster.local`;
}

/** One issued leaf certificate. */
export interface Leaf {
  /** The SAN (DNS) of the certificate. */
  readonly identity: string;
  /** PEM certificate file (the leaf only). */
  readonly certFile: string;
  /** PEM PKCS#8 private key file. */
  readonly keyFile: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** Serial number, hex, upper case (as node:crypto prints it). */
  readonly serial: string;
}

/** Options of {@linkcode TestPki.issue}. */
export interface IssueOptions {
  /** Which CA signs: the trust anchor, or the other (untrusted) one. @default {"anchor"} */
  ca?: "anchor" | "other";
  /** notBefore, openssl `YYYYMMDDHHMMSSZ`. @default {one day ago} */
  notBefore?: string;
  /** notAfter, openssl `YYYYMMDDHHMMSSZ`. @default {in a year} */
  notAfter?: string;
  /**
   * The subjectAltName entries, each `DNS:value` or `URI:value` and each
   * written as ONE GeneralName with its value verbatim (commas and spaces
   * included), from an openssl config section rather than the
   * comma-separated `-addext` form. @default {[`DNS:${identity}`]}
   */
  sans?: readonly string[];
}

/** A throwaway PKI in a temp folder. */
export interface TestPki extends AsyncDisposable {
  /** The folder holding every file. */
  readonly dir: string;
  /** The trust anchor (PEM file). */
  readonly anchorFile: string;
  readonly anchorPem: string;
  /** Another CA that nobody trusts (PEM file). */
  readonly otherCaFile: string;
  /** Issues a leaf for `identity`. */
  issue(identity: string, opts?: IssueOptions): Promise<Leaf>;
  /**
   * Writes `leaf` into an identity folder (`tls.crt`, `tls.key`, `ca.crt`,
   * the layout `src/tls/credentials.ts` reads), creating it; returns its path.
   */
  identityDir(leaf: Leaf, name?: string): Promise<string>;
  /** Removes the folder. */
  close(): Promise<void>;
}

/** openssl's time format for `date`. */
export function opensslTime(date: Date): string {
  return date.toISOString().replace(/[-:T]/g, "").replace(/\.\d+/, "");
}

async function openssl(args: string[], cwd: string): Promise<string> {
  const out = await new Deno.Command(OPENSSL, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (out.code !== 0) {
    throw new Error(
      `openssl ${args.join(" ")} failed (${out.code}):\n${
        new TextDecoder().decode(out.stderr)
      }`,
    );
  }
  return new TextDecoder().decode(out.stdout);
}

const CA_CONF = `[ ca ]
default_ca = petrel_ca
[ petrel_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
default_md = sha256
policy = any_cn
copy_extensions = copy
unique_subject = no
[ any_cn ]
commonName = supplied
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
`;

async function makeCa(cwd: string, name: string): Promise<void> {
  await openssl([
    "ecparam",
    "-name",
    "prime256v1",
    "-genkey",
    "-noout",
    "-out",
    `${name}.key`,
  ], cwd);
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    `${name}.key`,
    "-subj",
    `/CN=${name}.petrel.test`,
    "-days",
    "3650",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    `${name}.crt`,
  ], cwd);
}

/**
 * Writes an openssl request config whose `[alt]` section holds `sans`, one
 * GeneralName per entry, and returns the `openssl req` arguments using it.
 */
async function sanConfig(
  dir: string,
  base: string,
  sans: readonly string[],
): Promise<string[]> {
  const lines = sans.map((entry, i) => {
    const m = /^(DNS|URI):(.*)$/s.exec(entry);
    if (!m || /[\r\n#$]/.test(m[2]!)) {
      throw new TypeError(`Cannot write SAN: current value is "${entry}"`);
    }
    return `${m[1]}.${i + 1} = ${m[2]}`;
  });
  const file = `${base}.req.cnf`;
  await Deno.writeTextFile(
    join(dir, file),
    `[ req ]\ndistinguished_name = dn\n[ dn ]\n[ ext ]\nsubjectAltName = @alt\n[ alt ]\n${
      lines.join("\n")
    }\n`,
  );
  return ["-config", file, "-reqexts", "ext"];
}

/**
 * Makes a PKI in a new temp folder: `anchor` (trusted) and `other` CAs,
 * both ECDSA P-256. Dispose it (or `close()`) to remove the folder.
 */
export async function makePki(): Promise<TestPki> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-pki-" });
  await Deno.mkdir(join(dir, "issued"));
  await Deno.writeTextFile(join(dir, "ca.cnf"), CA_CONF);
  await Deno.writeTextFile(join(dir, "index.txt"), "");
  await Deno.writeTextFile(join(dir, "serial"), "1000\n");
  await Promise.all([makeCa(dir, "anchor"), makeCa(dir, "other")]);
  const anchorPem = await Deno.readTextFile(join(dir, "anchor.crt"));
  let n = 0;
  // `openssl ca` keeps a serial file and an index: one issue at a time.
  let queue: Promise<unknown> = Promise.resolve();

  const issueNow = async (
    identity: string,
    opts: IssueOptions,
  ): Promise<Leaf> => {
    const base = `leaf-${++n}`;
    const now = Date.now();
    const notBefore = opts.notBefore ?? opensslTime(new Date(now - 86_400_000));
    const notAfter = opts.notAfter ??
      opensslTime(new Date(now + 365 * 86_400_000));
    const ca = opts.ca === "other" ? "other" : "anchor";
    const san = opts.sans === undefined
      ? ["-addext", `subjectAltName=DNS:${identity}`]
      : await sanConfig(dir, base, opts.sans);
    await openssl([
      "genpkey",
      "-algorithm",
      "EC",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-out",
      `${base}.key`,
    ], dir);
    await openssl([
      "req",
      "-new",
      "-key",
      `${base}.key`,
      "-subj",
      // A commonName has at most 64 characters.
      `/CN=${identity.length <= 64 ? identity : base}`,
      ...san,
      "-out",
      `${base}.csr`,
    ], dir);
    await openssl([
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      `${ca}.crt`,
      "-keyfile",
      `${ca}.key`,
      "-in",
      `${base}.csr`,
      "-out",
      `${base}.crt`,
      "-extensions",
      "leaf",
      "-startdate",
      notBefore,
      "-enddate",
      notAfter,
      "-notext",
    ], dir);
    const certFile = join(dir, `${base}.crt`);
    const keyFile = join(dir, `${base}.key`);
    const serialText = await openssl([
      "x509",
      "-in",
      certFile,
      "-noout",
      "-serial",
    ], dir);
    return {
      identity,
      certFile,
      keyFile,
      certPem: await Deno.readTextFile(certFile),
      keyPem: await Deno.readTextFile(keyFile),
      serial: serialText.trim().replace(/^serial=/, "").toUpperCase(),
    };
  };

  const close = async () => {
    await queue.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    dir,
    anchorFile: join(dir, "anchor.crt"),
    anchorPem,
    otherCaFile: join(dir, "other.crt"),
    issue(identity, opts = {}) {
      const p = queue.then(() => issueNow(identity, opts));
      queue = p.catch(() => {});
      return p;
    },
    async identityDir(leaf, name) {
      const d = join(dir, name ?? `id-${leaf.identity.split(".")[0]}-${++n}`);
      await Deno.mkdir(d, { recursive: true });
      await writeIdentityFiles(d, leaf, anchorPem);
      return d;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/**
 * Writes `leaf` as `tls.key` then `tls.crt` (and `ca.crt`) into `dir`, in
 * place and in that order, the way a careless rotation would.
 */
export async function writeIdentityFiles(
  dir: string,
  leaf: Leaf,
  anchorPem?: string,
): Promise<void> {
  await Deno.writeTextFile(join(dir, "tls.key"), leaf.keyPem);
  await Deno.writeTextFile(join(dir, "tls.crt"), leaf.certPem);
  if (anchorPem !== undefined) {
    await Deno.writeTextFile(join(dir, "ca.crt"), anchorPem);
  }
}
