/**
 * Parses the YAML config file in a Worker, off the thread that serves
 * requests: a 1 MiB file takes over a second to parse and validate, which on
 * the main thread stalls every connection (linkerd parses control-plane
 * updates on its own tasks, never on a request's).
 *
 * One Worker per parse, terminated once it answered, so its heap is given
 * back at once instead of lingering after a big file.
 *
 * @module
 */
import type { FileConfig } from "./config.ts";

/** What `_yaml_worker_main.ts` is sent. */
export interface YamlWorkerRequest {
  readonly text: string;
  readonly source: string;
}

/** What `_yaml_worker_main.ts` answers. */
export type YamlWorkerReply =
  | { readonly ok: true; readonly config: FileConfig; readonly json: string }
  | { readonly ok: false; readonly name: string; readonly message: string };

/** A config parsed off-thread, with its JSON (for change detection). */
export interface ParsedConfig {
  readonly config: FileConfig;
  readonly json: string;
}

const WORKER_URL = new URL("./_yaml_worker_main.ts", import.meta.url).href;

/** Rebuilds the worker's error with its class, so messages and `name` match `parseConfigYaml()`'s. */
function errorOf(name: string, message: string): Error {
  switch (name) {
    case "SyntaxError":
      return new SyntaxError(message);
    case "TypeError":
      return new TypeError(message);
    case "RangeError":
      return new RangeError(message);
    default:
      return new Error(message);
  }
}

/**
 * Parses `text` like `parseConfigYaml(text, source)` (same errors, each
 * `source:line:col: path: …`), in a Worker. Rejects with `signal`'s reason
 * when aborted (the Worker is terminated).
 */
export function parseConfigYamlOffThread(
  text: string,
  source: string,
  opts: {
    /** Stops the parse. @default {undefined} */
    signal?: AbortSignal;
  } = {},
): Promise<ParsedConfig> {
  const { signal } = opts;
  if (signal?.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const worker = new Worker(WORKER_URL, { type: "module" });
    const finish = () => {
      signal?.removeEventListener("abort", onAbort);
      worker.terminate();
    };
    const onAbort = () => {
      finish();
      reject(signal?.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    worker.onmessage = (event: MessageEvent<YamlWorkerReply>) => {
      finish();
      const reply = event.data;
      if (reply.ok) resolve({ config: reply.config, json: reply.json });
      else reject(errorOf(reply.name, reply.message));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      finish();
      reject(
        new Error(`Cannot parse config file "${source}": ${event.message}`),
      );
    };
    const request: YamlWorkerRequest = { text, source };
    worker.postMessage(request);
  });
}
