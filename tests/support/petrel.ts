/**
 * Runs Petrel for whole-proxy tests: in-process (`startPetrel`) or as a
 * real `deno run main.ts` child process (`spawnPetrel`), always on port 0.
 *
 * @module
 */
import { type App, buildApp } from "../../src/app.ts";
import { parseConfig } from "../../src/config/env.ts";
import { createLogger } from "../../src/log.ts";
import { type Peer, startPeer } from "./proc.ts";

/** A running in-process Petrel. */
export interface TestPetrel extends AsyncDisposable {
  readonly app: App;
  /** "127.0.0.1:<port>" of the outbound listener. */
  readonly addr: string;
  readonly port: number;
  readonly adminPort: number;
  /** The YAML file it was started with (tests may rewrite it). */
  readonly configPath: string;
  close(): Promise<void>;
}

/** Writes `yaml` to a temp file and returns its path. */
export async function writeConfig(yaml: string): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-test-" });
  const path = `${dir}/petrel.yaml`;
  await Deno.writeTextFile(path, yaml);
  return path;
}

/** YAML for services given as name → endpoints (protocol http1 unless set). */
export function servicesYaml(
  services: Record<string, { endpoints: string[]; protocol?: string }>,
  extra = "",
): string {
  let y = "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n";
  y += extra;
  y += "services:\n";
  for (const [name, s] of Object.entries(services)) {
    y += `  - name: ${name}\n    protocol: ${s.protocol ?? "http1"}\n`;
    y += `    endpoints: [${s.endpoints.join(", ")}]\n`;
  }
  return y;
}

/** Starts Petrel in this process with `yaml` as its config file. */
export async function startPetrel(
  yaml: string,
  env: Record<string, string> = {},
): Promise<TestPetrel> {
  const configPath = await writeConfig(yaml);
  // A short grace period: a failing test must not wait 120 s on shutdown.
  env = { LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "2s", ...env };
  const config = parseConfig(env, ["--config", configPath]);
  const logger = createLogger({
    level: Deno.env.get("PETREL_TEST_LOG") ?? "error",
  });
  const app = await buildApp(config, { env, logger });
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    await app.shutdown();
    await Deno.remove(configPath.replace(/\/petrel\.yaml$/, ""), {
      recursive: true,
    });
  };
  return {
    app,
    addr: `127.0.0.1:${app.outbound.port}`,
    port: app.outbound.port,
    adminPort: app.admin.port,
    configPath,
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A Petrel child process (`deno run -A main.ts --config FILE`). */
export interface SpawnedPetrel {
  readonly peer: Peer;
  readonly port: number;
  readonly adminPort: number;
  readonly pid: number;
  readonly configPath: string;
  /** Resident set size of the process in bytes (from /proc). */
  rss(): Promise<number>;
  /** Sends `signal` and waits for the exit code. */
  signal(signal: Deno.Signal): Promise<number>;
  stop(): Promise<void>;
}

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Starts Petrel as a separate process. */
export async function spawnPetrel(
  yaml: string,
  env: Record<string, string> = {},
): Promise<SpawnedPetrel> {
  const configPath = await writeConfig(yaml);
  const peer = await startPeer(
    Deno.execPath(),
    ["run", "-A", MAIN, "--config", configPath],
    { env: { LINKERD2_PROXY_LOG: "warn", ...env }, startTimeoutMs: 30_000 },
  );
  const info = peer.info as { adminPort: number; pid: number };
  return {
    peer,
    port: peer.port,
    adminPort: info.adminPort,
    pid: info.pid,
    configPath,
    async rss() {
      const status = await Deno.readTextFile(`/proc/${info.pid}/status`);
      const m = /VmRSS:\s+(\d+) kB/.exec(status);
      return m ? Number(m[1]) * 1024 : 0;
    },
    async signal(signal) {
      peer.proc.kill(signal);
      const s = await peer.proc.status;
      await peer.stop();
      return s.code;
    },
    async stop() {
      await peer.stop();
      await Deno.remove(configPath.replace(/\/petrel\.yaml$/, ""), {
        recursive: true,
      }).catch(() => {});
    },
  };
}
