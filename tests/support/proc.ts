/**
 * Child processes for whole-proxy tests: long-lived peers (servers that print
 * `LISTENING <port>` or a JSON line with a `port` once ready) and one-shot
 * clients (curl, nghttp, the python clients).
 *
 * No linkerd counterpart: linkerd2-proxy's integration tests run their peers
 * in-process (`linkerd/app/integration`); Petrel uses real foreign peers.
 *
 * @module
 */

/** Debian's interpreter: the one that has python3-h2 and python3-grpcio. */
export const PYTHON = "/usr/bin/python3";

/** The folder holding this file (the python peers and echo.proto live here). */
export const SUPPORT_DIR = decodeURIComponent(
  new URL(".", import.meta.url).pathname,
);

/** Options for {@linkcode startPeer}. */
export interface PeerOptions {
  /** How long the peer may take to print its ready line. Default 10 000. */
  startTimeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

/** A running peer process. */
export interface Peer {
  port: number;
  /** The ready line as printed (`LISTENING 1234` or the JSON text). */
  readyLine: string;
  /** The ready line parsed, when it was JSON. */
  info: Record<string, unknown> | undefined;
  proc: Deno.ChildProcess;
  /** Everything the peer wrote on stderr so far. */
  stderr(): string;
  /** Stdout lines printed after the ready line. */
  stdoutLines(): string[];
  /** Kills the peer (SIGTERM, then SIGKILL after 2 s) and awaits its exit. */
  stop(): Promise<void>;
}

function parseReady(
  line: string,
): { port: number; info: Record<string, unknown> | undefined } | undefined {
  const m = /^LISTENING\s+(\d+)\s*$/.exec(line);
  if (m) return { port: Number(m[1]), info: undefined };
  if (line.startsWith("{")) {
    try {
      const obj = JSON.parse(line) as Record<string, unknown>;
      if (typeof obj.port === "number") return { port: obj.port, info: obj };
    } catch {
      // not the ready line
    }
  }
  return undefined;
}

/** Reads a byte stream to the end, handing each decoded text piece on. */
async function drain(
  stream: ReadableStream<Uint8Array>,
  onText: (text: string) => void,
): Promise<void> {
  const decoder = new TextDecoder();
  try {
    for await (const chunk of stream) {
      onText(decoder.decode(chunk, { stream: true }));
    }
  } catch {
    // the pipe broke with the process: nothing more to read
  }
  onText(decoder.decode());
}

/**
 * Starts `cmd args` and resolves once it prints its ready line on stdout:
 * `LISTENING <port>` or a JSON object with a numeric `port`. Rejects (and
 * kills the child) if it exits first or the start timeout passes; the error
 * message carries the child's stderr.
 */
export async function startPeer(
  cmd: string,
  args: string[],
  opts: PeerOptions = {},
): Promise<Peer> {
  const startTimeoutMs = opts.startTimeoutMs ?? 10_000;
  const command = new Deno.Command(cmd, {
    args,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  });
  const proc = command.spawn();
  let err = "";
  let out = "";
  const lines: string[] = [];
  let ready:
    | ((
      v: {
        line: string;
        port: number;
        info: Record<string, unknown> | undefined;
      },
    ) => void)
    | undefined;
  const readyP = new Promise<
    { line: string; port: number; info: Record<string, unknown> | undefined }
  >((resolve) => {
    ready = resolve;
  });
  const errDone = drain(proc.stderr, (t) => {
    err += t;
  });
  const outDone = drain(proc.stdout, (t) => {
    out += t;
    let nl: number;
    while ((nl = out.indexOf("\n")) >= 0) {
      const line = out.slice(0, nl).replace(/\r$/, "");
      out = out.slice(nl + 1);
      if (ready) {
        const r = parseReady(line);
        if (r) {
          const f = ready;
          ready = undefined;
          f({ line, ...r });
          continue;
        }
      }
      lines.push(line);
    }
  });
  let exited = false;
  const status = proc.status.then((s) => {
    exited = true;
    return s;
  });

  let stopping: Promise<void> | undefined;
  function stop(): Promise<void> {
    stopping ??= (async () => {
      let killTimer: ReturnType<typeof setTimeout> | undefined;
      if (!exited) {
        try {
          proc.kill("SIGTERM");
        } catch {
          // already gone
        }
        killTimer = setTimeout(() => {
          try {
            proc.kill("SIGKILL");
          } catch {
            // already gone
          }
        }, 2_000);
      }
      await status;
      clearTimeout(killTimer);
      await Promise.all([errDone, outDone]);
    })();
    return stopping;
  }

  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<"timeout">((resolve) => {
    timer = setTimeout(() => resolve("timeout"), startTimeoutMs);
  });
  const result = await Promise.race([readyP, status, timeout]);
  clearTimeout(timer);
  if (result === "timeout" || !("line" in result)) {
    await stop();
    const why = result === "timeout"
      ? `did not print its ready line within ${startTimeoutMs} ms`
      : `exited with code ${result.code} before it was ready`;
    throw new Error(
      `${cmd} ${args.join(" ")}: ${why}\nstderr:\n${err}stdout:\n${
        lines.join("\n")
      }`,
    );
  }
  return {
    port: result.port,
    readyLine: result.line,
    info: result.info,
    proc,
    stderr: () => err,
    stdoutLines: () => [...lines],
    stop,
  };
}

/** Options for {@linkcode run}. */
export interface RunOptions {
  /** Written to the child's stdin, which is then closed. */
  stdin?: string | Uint8Array;
  /** The child is killed (SIGKILL) after this long. Default 20 000. */
  timeoutMs?: number;
  env?: Record<string, string>;
  cwd?: string;
}

/** What a one-shot child did. */
export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout as bytes, for binary output. */
  stdoutBytes: Uint8Array;
  /** True when the child was killed by the timeout. */
  timedOut: boolean;
}

/**
 * Runs `cmd args` to completion and returns its exit code and output. Never
 * throws for a non-zero exit: callers assert on `code`.
 */
export async function run(
  cmd: string,
  args: string[],
  opts: RunOptions = {},
): Promise<RunResult> {
  const timeoutMs = opts.timeoutMs ?? 20_000;
  const proc = new Deno.Command(cmd, {
    args,
    stdin: opts.stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
    ...(opts.env ? { env: opts.env } : {}),
    ...(opts.cwd ? { cwd: opts.cwd } : {}),
  }).spawn();
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    try {
      proc.kill("SIGKILL");
    } catch {
      // already gone
    }
  }, timeoutMs);
  let writing: Promise<void> = Promise.resolve();
  if (opts.stdin !== undefined) {
    const data = typeof opts.stdin === "string"
      ? new TextEncoder().encode(opts.stdin)
      : opts.stdin;
    writing = (async () => {
      const writer = proc.stdin.getWriter();
      try {
        await writer.write(data);
        await writer.close();
      } catch {
        // the child closed its stdin early; its exit code tells the story
        try {
          await writer.abort();
        } catch {
          // already closed
        }
      }
    })();
  }
  try {
    const [out] = await Promise.all([proc.output(), writing]);
    const dec = new TextDecoder();
    return {
      code: out.code,
      stdout: dec.decode(out.stdout),
      stderr: dec.decode(out.stderr),
      stdoutBytes: out.stdout,
      timedOut,
    };
  } finally {
    clearTimeout(timer);
  }
}

/** Runs a python peer script from this folder with Debian's interpreter. */
export function startPythonPeer(
  script: string,
  args: string[] = [],
  opts: PeerOptions = {},
): Promise<Peer> {
  return startPeer(PYTHON, ["-u", "-B", SUPPORT_DIR + script, ...args], opts);
}

/** Runs a python client script from this folder to completion. */
export function runPython(
  script: string,
  args: string[] = [],
  opts: RunOptions = {},
): Promise<RunResult> {
  return run(PYTHON, ["-B", SUPPORT_DIR + script, ...args], opts);
}

/** Parses output made of one JSON object per line (blank lines skipped). */
export function jsonLines<T = Record<string, unknown>>(text: string): T[] {
  return text.split("\n").filter((l) => l.trim() !== "").map((l) =>
    JSON.parse(l) as T
  );
}
