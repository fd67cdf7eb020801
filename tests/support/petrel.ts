/**
 * Runs Petrel for whole-proxy tests: in-process (`startPetrel`) or as a
 * real `deno run main.ts` child process (`spawnPetrel`), always on port 0.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
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

/** Options of {@linkcode startPetrel}. */
export interface StartPetrelOptions {
  /**
   * Receives every log line (without its newline) instead of stderr.
   * @default {stderr}
   */
  logWrite?: (line: string) => void;
  /**
   * The log filter.
   * @default {`PETREL_TEST_LOG`, else "error"}
   */
  logLevel?: string;
}

/** Starts Petrel in this process with `yaml` as its config file. */
export async function startPetrel(
  yaml: string,
  env: Record<string, string> = {},
  opts: StartPetrelOptions = {},
): Promise<TestPetrel> {
  const configPath = await writeConfig(yaml);
  // A short grace period: a failing test must not wait 120 s on shutdown.
  env = { LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "2s", ...env };
  const config = parseConfig(env, ["--config", configPath]);
  const logger = createLogger({
    level: opts.logLevel ?? Deno.env.get("PETREL_TEST_LOG") ?? "error",
    write: opts.logWrite,
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

/** A response read by {@linkcode httpRequest}. */
export interface RawResponse {
  status: number;
  /** Header fields, names lower-cased (duplicates joined with ", "). */
  headers: Record<string, string>;
  body: string;
}

/** Options of {@linkcode httpRequest}. */
export interface RawRequestOptions {
  method?: string;
  /** Extra header lines, e.g. `{ "x-a": "1" }`. */
  headers?: Record<string, string>;
  body?: string;
  /** Rejects (and closes the socket) after this long. @default {10000} */
  timeoutMs?: number;
}

/**
 * One HTTP/1.1 request on a fresh connection to `127.0.0.1:port`, sent with
 * `Connection: close`, read to EOF. Rejects on a connect error, a timeout
 * or a connection closed before a complete response.
 */
export function httpRequest(
  port: number,
  host: string,
  path: string,
  opts: RawRequestOptions = {},
): Promise<RawResponse> {
  const body = opts.body ?? "";
  let head = `${opts.method ?? "GET"} ${path} HTTP/1.1\r\nHost: ${host}\r\n` +
    "Connection: close\r\n";
  for (const [k, v] of Object.entries(opts.headers ?? {})) {
    head += `${k}: ${v}\r\n`;
  }
  if (body !== "" || opts.method === "POST" || opts.method === "PUT") {
    head += `Content-Length: ${new TextEncoder().encode(body).length}\r\n`;
  }
  const request = head + "\r\n" + body;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host: "127.0.0.1", port });
    const chunks: Buffer[] = [];
    let settled = false;
    const timer = setTimeout(() => {
      fail(new Error(`no response within ${opts.timeoutMs ?? 10_000} ms`));
    }, opts.timeoutMs ?? 10_000);
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      reject(err);
    };
    socket.on("connect", () => socket.write(request));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", fail);
    socket.on("close", () => {
      if (settled) return;
      let parsed: RawResponse;
      try {
        parsed = parseResponse(Buffer.concat(chunks).toString("latin1"));
      } catch (err) {
        fail(err as Error);
        return;
      }
      settled = true;
      clearTimeout(timer);
      resolve(parsed);
    });
  });
}

function parseResponse(text: string): RawResponse {
  // Skip interim (1xx) responses.
  for (;;) {
    const end = text.indexOf("\r\n\r\n");
    if (end < 0) {
      throw new Error(`incomplete response: ${JSON.stringify(text)}`);
    }
    const lines = text.slice(0, end).split("\r\n");
    const m = /^HTTP\/1\.[01] (\d{3})/.exec(lines[0] ?? "");
    if (!m) throw new Error(`bad status line: ${JSON.stringify(lines[0])}`);
    const status = Number(m[1]);
    let rest = text.slice(end + 4);
    if (status < 200) {
      text = rest;
      continue;
    }
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const i = line.indexOf(":");
      const k = line.slice(0, i).trim().toLowerCase();
      const v = line.slice(i + 1).trim();
      headers[k] = k in headers ? `${headers[k]}, ${v}` : v;
    }
    if (/chunked/i.test(headers["transfer-encoding"] ?? "")) {
      let out = "";
      for (;;) {
        const nl = rest.indexOf("\r\n");
        if (nl < 0) throw new Error("incomplete chunked body");
        const size = parseInt(rest.slice(0, nl).split(";")[0]!, 16);
        if (!Number.isFinite(size)) throw new Error("bad chunk size");
        if (size === 0) break;
        if (rest.length < nl + 2 + size) {
          throw new Error("incomplete chunked body");
        }
        out += rest.slice(nl + 2, nl + 2 + size);
        rest = rest.slice(nl + 2 + size + 2);
      }
      rest = out;
    } else if (headers["content-length"] !== undefined) {
      const len = Number(headers["content-length"]);
      if (rest.length < len) throw new Error("incomplete body");
      rest = rest.slice(0, len);
    }
    return {
      status,
      headers,
      body: new TextDecoder().decode(Buffer.from(rest, "latin1")),
    };
  }
}

/**
 * A TCP port that was free a moment ago (bound on port 0, then released),
 * for configs that need a fixed port, e.g. a forward's `listen`.
 */
export function freePort(): number {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close();
  return port;
}

/** Resolves once `cond()` is true, polling every `everyMs`; rejects after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string,
  timeoutMs = 5_000,
  everyMs = 20,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!(await cond())) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, everyMs));
  }
}
