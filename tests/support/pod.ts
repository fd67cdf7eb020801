/**
 * A Kubernetes-like pod for sidecar tests, built from Linux network
 * namespaces: an "app" namespace (the pod: `petrel init` installs its
 * redirect rules there, Petrel runs there under its own uid, real clients
 * run there) joined by a veth pair to a "remote" namespace holding the
 * servers the app talks to. Every address lives inside these namespaces
 * (10.79.0.0/24, fd00::/64); nothing leaves them.
 *
 * Needs root (CAP_NET_ADMIN, CAP_SYS_ADMIN), `ip` (iproute2), `nft`
 * (nftables) and `setpriv` (util-linux). `podSkipReason()` says why a test
 * cannot run here; CI runs as root, where it must run.
 *
 * No linkerd counterpart: linkerd2-proxy-init tests its rules in a kind
 * cluster; this is the same wiring without Kubernetes.
 *
 * @module
 */
import {
  type Peer,
  run,
  type RunOptions,
  type RunResult,
  startPeer,
} from "./proc.ts";

/** Prefix of every namespace this harness creates: `ptl-<pid>-<n>-{app,rmt}`. */
const NS_PREFIX = "ptl-";
const NS_REGEXP = /^ptl-(\d+)-\d+-(?:app|rmt)$/;

/** The repository root (main.ts lives there). */
export const REPO_DIR = decodeURIComponent(
  new URL("../../", import.meta.url).pathname,
);

/** The uid/gid Petrel runs as inside the pod (linkerd's proxy uid). */
export const PROXY_UID = 2102;

let podCounter = 0;
let skipReason: Promise<string | undefined> | undefined;

/**
 * Why pod tests cannot run on this machine (not root, no network
 * namespaces, a missing tool), or undefined when they can.
 */
export function podSkipReason(): Promise<string | undefined> {
  return skipReason ??= (async () => {
    if (Deno.build.os !== "linux") return "pod tests need Linux";
    if (Deno.uid() !== 0) return "pod tests need root (ip netns, nftables)";
    for (
      const [tool, args] of [["ip", ["-V"]], ["nft", ["--version"]], [
        "setpriv",
        ["--version"],
      ]] as const
    ) {
      try {
        const r = await run(tool, [...args], { timeoutMs: 5000 });
        if (r.code !== 0) return `${tool} does not run: ${r.stderr.trim()}`;
      } catch {
        return `${tool} is not installed (scripts/setup-test-deps.sh)`;
      }
    }
    const probe = `${NS_PREFIX}${Deno.pid}-probe-app`;
    const add = await ip(["netns", "add", probe]);
    if (add.code !== 0) {
      return `no network namespace support: ip netns add: ${add.stderr.trim()}`;
    }
    await ip(["netns", "del", probe]);
    return undefined;
  })();
}

function ip(args: string[]): Promise<RunResult> {
  return run("ip", args, { timeoutMs: 10_000 });
}

async function mustIp(args: string[]): Promise<void> {
  const r = await ip(args);
  if (r.code !== 0) {
    throw new Error(`ip ${args.join(" ")}: exit ${r.code}: ${r.stderr.trim()}`);
  }
}

/**
 * Removes namespaces left behind by test processes that died before their
 * `finally` ran (same prefix, process gone).
 */
export async function removeLeftoverNamespaces(): Promise<number> {
  const list = await ip(["netns", "list"]);
  let removed = 0;
  for (const line of list.stdout.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const m = NS_REGEXP.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === Deno.pid || isAlive(pid)) continue;
    if ((await ip(["netns", "del", name])).code === 0) removed++;
  }
  return removed;
}

function isAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/** Options for commands run inside a namespace. */
export interface NsRunOptions extends RunOptions {
  /** Run as this uid/gid (`setpriv --reuid --regid --clear-groups`). */
  uid?: number;
}

/** One server of {@linkcode Pod.startRemote} (see `pod_remote.ts`). */
export interface RemoteServer {
  /**
   * `http`: HTTP/1.1, answers JSON {servedBy, headers}; `https`: the same
   * over TLS; `echo`: TCP echo that keeps half-close; `banner`: speaks first
   * ("220 <addr>\r\n"), then echoes.
   */
  kind: "http" | "https" | "h2c" | "echo" | "banner";
  host: string;
  port: number;
}

/** Petrel running inside the pod. */
export interface PodPetrel {
  readonly peer: Peer;
  /** GET on Petrel's admin server (from inside the pod); the body. */
  admin(path: string): Promise<string>;
  stop(): Promise<void>;
}

/** A two-namespace pod; dispose it (`await using`) to remove everything. */
export class Pod implements AsyncDisposable {
  /** The app namespace (the pod). */
  readonly app: string;
  /** The remote namespace (servers). */
  readonly remote: string;
  /** The pod's own addresses. */
  readonly appIp = "10.79.0.1";
  readonly appIp6 = "fd00::1";
  /** Addresses of the remote namespace. */
  readonly remoteIps = ["10.79.0.2", "10.79.0.3", "10.79.0.4"] as const;
  readonly remoteIps6 = ["fd00::2", "fd00::3"] as const;
  readonly #peers = new Set<Peer>();
  readonly #tmpDirs: string[] = [];
  #certDir: string | undefined;
  #disposed = false;

  private constructor(app: string, remote: string) {
    this.app = app;
    this.remote = remote;
  }

  /**
   * Creates the namespaces, the veth pair and the addresses. Throws when the
   * machine cannot (call `podSkipReason()` first).
   */
  static async create(): Promise<Pod> {
    await removeLeftoverNamespaces();
    const n = podCounter++;
    const pod = new Pod(
      `${NS_PREFIX}${Deno.pid}-${n}-app`,
      `${NS_PREFIX}${Deno.pid}-${n}-rmt`,
    );
    try {
      await pod.#wire();
    } catch (err) {
      await pod[Symbol.asyncDispose]();
      throw err;
    }
    return pod;
  }

  async #wire(): Promise<void> {
    const { app, remote } = this;
    await mustIp(["netns", "add", app]);
    await mustIp(["netns", "add", remote]);
    await mustIp([
      "link",
      "add",
      "eth0",
      "netns",
      app,
      "type",
      "veth",
      "peer",
      "name",
      "eth0",
      "netns",
      remote,
    ]);
    for (const ns of [app, remote]) {
      await mustIp(["-n", ns, "link", "set", "lo", "up"]);
    }
    await mustIp(["-n", app, "addr", "add", `${this.appIp}/24`, "dev", "eth0"]);
    await mustIp([
      "-n",
      app,
      "addr",
      "add",
      `${this.appIp6}/64`,
      "dev",
      "eth0",
      "nodad",
    ]);
    for (const a of this.remoteIps) {
      await mustIp(["-n", remote, "addr", "add", `${a}/24`, "dev", "eth0"]);
    }
    for (const a of this.remoteIps6) {
      await mustIp([
        "-n",
        remote,
        "addr",
        "add",
        `${a}/64`,
        "dev",
        "eth0",
        "nodad",
      ]);
    }
    for (const ns of [app, remote]) {
      await mustIp(["-n", ns, "link", "set", "eth0", "up"]);
    }
  }

  /** The argv that runs `cmd args` inside `ns` (as `uid` when given). */
  argv(ns: string, cmd: string, args: string[], uid?: number): string[] {
    const priv = uid === undefined
      ? []
      : ["setpriv", `--reuid=${uid}`, `--regid=${uid}`, "--clear-groups"];
    return ["netns", "exec", ns, ...priv, cmd, ...args];
  }

  /** Runs a one-shot command inside `ns` (a client: curl, openssl, nft). */
  run(
    ns: string,
    cmd: string,
    args: string[],
    opts: NsRunOptions = {},
  ): Promise<RunResult> {
    return run("ip", this.argv(ns, cmd, args, opts.uid), opts);
  }

  /** Runs `petrel init ARGS` for the app namespace, as linkerd-init does. */
  async init(args: string[]): Promise<void> {
    const deno = Deno.execPath();
    const r = await run(deno, [
      "run",
      "-A",
      `${REPO_DIR}main.ts`,
      "init",
      "--netns",
      this.app,
      ...args,
    ], { cwd: REPO_DIR });
    if (r.code !== 0) {
      throw new Error(`petrel init failed (${r.code}): ${r.stderr}`);
    }
  }

  /** Starts a long-lived peer inside `ns`; stopped on dispose. */
  async startPeer(
    ns: string,
    cmd: string,
    args: string[],
    opts: { uid?: number; env?: Record<string, string>; cwd?: string } = {},
  ): Promise<Peer> {
    const peer = await startPeer("ip", this.argv(ns, cmd, args, opts.uid), {
      startTimeoutMs: 30_000,
      ...(opts.env ? { env: opts.env } : {}),
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
    });
    this.#peers.add(peer);
    return peer;
  }

  /** Starts `pod_remote.ts` in the remote namespace with these servers. */
  startRemote(servers: RemoteServer[]): Promise<Peer> {
    return this.startServers(this.remote, servers);
  }

  /**
   * Starts `pod_remote.ts` in `ns` with these servers (in the app
   * namespace: the application behind Petrel's inbound listener).
   */
  async startServers(ns: string, servers: RemoteServer[]): Promise<Peer> {
    const args = ["run", "-A", `${REPO_DIR}tests/support/pod_remote.ts`];
    if (servers.some((s) => s.kind === "https")) {
      args.push(`--cert-dir=${await this.#remoteCert()}`);
    }
    return this.startPeer(
      ns,
      Deno.execPath(),
      [...args, JSON.stringify(servers)],
      { cwd: REPO_DIR },
    );
  }

  /**
   * The self-signed certificate of the remote `https` servers (PEM file,
   * for `curl --cacert`); set once `startRemote()` started one.
   */
  get remoteCertFile(): string | undefined {
    return this.#certDir === undefined
      ? undefined
      : `${this.#certDir}/cert.pem`;
  }

  /** A self-signed certificate for every remote address. */
  async #remoteCert(): Promise<string> {
    if (this.#certDir !== undefined) return this.#certDir;
    const dir = await Deno.makeTempDir({ prefix: "ptl-pod-cert-" });
    this.#tmpDirs.push(dir);
    this.#certDir = dir;
    const san = [...this.remoteIps, ...this.remoteIps6].map((a) => `IP:${a}`)
      .join(",");
    const r = await run("openssl", [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:prime256v1",
      "-nodes",
      "-days",
      "1",
      "-subj",
      "/CN=remote.pod.test",
      "-addext",
      `subjectAltName=DNS:remote.pod.test,${san}`,
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
    ]);
    if (r.code !== 0) throw new Error(`openssl req: ${r.stderr}`);
    return dir;
  }

  /**
   * Starts Petrel in the app namespace as `PROXY_UID` (a copy of Deno and
   * of its cache owned by that uid: the originals live under root's home),
   * with `yaml` as its config and `env` on top of fixed in-pod listen
   * addresses (outbound 127.0.0.1:4140, admin 127.0.0.1:4191).
   */
  async startPetrel(
    yaml: string,
    env: Record<string, string> = {},
    opts: { uid?: number } = {},
  ): Promise<PodPetrel> {
    const uid = opts.uid ?? PROXY_UID;
    const { deno, denoDir } = await denoForUid(uid);
    const dir = await Deno.makeTempDir({ prefix: "ptl-pod-petrel-" });
    this.#tmpDirs.push(dir);
    await Deno.chmod(dir, 0o755);
    const configPath = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(configPath, yaml, { mode: 0o644 });
    const peer = await this.startPeer(this.app, deno, [
      "run",
      "-A",
      "--cached-only",
      `${REPO_DIR}main.ts`,
      "--config",
      configPath,
    ], {
      uid,
      cwd: REPO_DIR,
      env: {
        DENO_DIR: denoDir,
        HOME: denoDir,
        NO_COLOR: "1",
        LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:4140",
        LINKERD2_PROXY_ADMIN_LISTEN_ADDR: "127.0.0.1:4191",
        LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "1s",
        LINKERD2_PROXY_LOG: Deno.env.get("PETREL_TEST_LOG") ?? "warn",
        ...env,
      },
    });
    const admin = async (path: string) => {
      const r = await this.run(this.app, "curl", [
        "-sS",
        "--noproxy",
        "*",
        `http://127.0.0.1:4191${path}`,
      ]);
      if (r.code !== 0) throw new Error(`admin ${path}: ${r.stderr}`);
      return r.stdout;
    };
    return {
      peer,
      admin,
      stop: async () => {
        this.#peers.delete(peer);
        await peer.stop();
      },
    };
  }

  /** Stops every peer and removes the namespaces and temp files. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.#disposed) return;
    this.#disposed = true;
    await Promise.all([...this.#peers].map((p) => p.stop()));
    this.#peers.clear();
    for (const ns of [this.app, this.remote]) {
      await ip(["netns", "del", ns]);
    }
    for (const d of this.#tmpDirs) {
      await Deno.remove(d, { recursive: true }).catch(() => {});
    }
  }
}

let denoCopy: Promise<{ deno: string; denoDir: string }> | undefined;

/**
 * A Deno binary and a DENO_DIR that `uid` can use: copies of this
 * process's (under root's home, mode 700), keyed by Deno's version and
 * deno.lock so a dependency change makes a new copy. Deno refuses a cache
 * it cannot write, so the DENO_DIR copy belongs to `uid`.
 */
function denoForUid(uid: number): Promise<{ deno: string; denoDir: string }> {
  return denoCopy ??= (async () => {
    const lock = await Deno.readFile(`${REPO_DIR}deno.lock`).catch(() =>
      new Uint8Array()
    );
    const digest = new Uint8Array(
      await crypto.subtle.digest("SHA-256", lock),
    );
    const key = `${Deno.version.deno}-${
      [...digest.slice(0, 6)].map((b) => b.toString(16).padStart(2, "0"))
        .join("")
    }-${uid}`;
    const base = `/tmp/petrel-pod-deno-${key}`;
    const deno = `${base}/deno`;
    const denoDir = `${base}/deno_dir`;
    try {
      Deno.statSync(`${base}/.complete`);
      return { deno, denoDir };
    } catch {
      // not made yet
    }
    // Everything main.ts needs must be in the cache Petrel gets a copy of.
    const cached = await run(Deno.execPath(), ["cache", `${REPO_DIR}main.ts`], {
      cwd: REPO_DIR,
      timeoutMs: 120_000,
    });
    if (cached.code !== 0) {
      throw new Error(`deno cache main.ts: ${cached.stderr}`);
    }
    const info = await run(Deno.execPath(), ["info", "--json"]);
    const src = (JSON.parse(info.stdout) as { denoDir: string }).denoDir;
    // Build beside the final place, then rename: parallel test files race.
    const tmp = await Deno.makeTempDir({
      dir: "/tmp",
      prefix: "petrel-pod-deno-",
    });
    const steps: [string, string[]][] = [
      ["cp", [Deno.execPath(), `${tmp}/deno`]],
      ["cp", ["-a", src, `${tmp}/deno_dir`]],
      ["chown", ["-R", `${uid}:${uid}`, `${tmp}/deno_dir`]],
      ["chmod", ["755", tmp, `${tmp}/deno`]],
    ];
    for (const [cmd, args] of steps) {
      const r = await run(cmd, args, { timeoutMs: 60_000 });
      if (r.code !== 0) {
        throw new Error(`${cmd} ${args.join(" ")}: ${r.stderr}`);
      }
    }
    await Deno.writeTextFile(`${tmp}/.complete`, "");
    try {
      await Deno.rename(tmp, base);
    } catch {
      // Another test process won the race: use its copy.
      await Deno.remove(tmp, { recursive: true }).catch(() => {});
    }
    return { deno, denoDir };
  })();
}
