/**
 * Re-reads the YAML config file when it changes (Petrel's stand-in for
 * linkerd's control-plane watches: a new config is published, in-flight
 * requests are unaffected).
 *
 * Change detection is `src/file_watch.ts` (shared with the local identity):
 * `Deno.watchFs` on the file's directory (so editors that write a temporary
 * file and rename it over the original, and Kubernetes ConfigMap symlink
 * swaps, are seen) plus a cheap mtime/size/inode poll as a fallback.
 * Events are debounced; `onConfig` only fires when the parsed
 * content differs from the last good config. Once a good config is known, an
 * empty file (a writer caught between truncating and writing) is reported
 * with `onError` rather than applied.
 *
 * A file over `maxBytes` is refused without being read, and the rest are
 * parsed in a Worker (`yaml_worker.ts`): requests keep being answered
 * while a big file is parsed.
 *
 * @module
 */
import { resolve } from "node:path";
import { FileWatch } from "../file_watch.ts";
import { DEFAULT_CONFIG_MAX_BYTES, type FileConfig } from "./config.ts";
import { configTooLargeError } from "./env.ts";
import { parseConfigYamlOffThread } from "./yaml_worker.ts";

/** Options of `watchConfigFile()`. */
export interface WatchConfigOptions {
  /** Called with each new, valid config whose content changed. */
  onConfig(config: FileConfig): void;
  /**
   * Called when the file cannot be read or parsed (the message names the
   * file, line, column and field); the caller keeps its last good config.
   */
  onError(err: Error): void;
  /** Quiet period after a change before the file is read. @default {100} */
  debounceMs?: number;
  /** Interval of the mtime/size poll. @default {1000} */
  pollMs?: number;
  /**
   * Use `Deno.watchFs` on the directory; `false` leaves only the poll (for
   * filesystems without change events).
   * @default {true}
   */
  fsEvents?: boolean;
  /**
   * The config the caller already has (from start-up). The first read only
   * calls `onConfig` when the file differs from it; without it, the first
   * good read is always reported.
   * @default {undefined}
   */
  initial?: FileConfig;
  /**
   * The file's text that `initial` was parsed from: a first read finding
   * the same text is not parsed again (a start-up parse Worker would keep
   * ~20 MB of RSS for the life of the process; issue 19).
   * @default {undefined}
   */
  initialText?: string;
  /**
   * Larger files are reported with `onError` and not read
   * (`PETREL_CONFIG_MAX_BYTES`).
   * @default {1048576}
   */
  maxBytes?: number;
}

/** A running config file watcher; dispose it to stop (await the async form in tests). */
export interface ConfigFileWatcher extends Disposable, AsyncDisposable {
  /** Settles once the first read of the file has been handled. */
  readonly ready: Promise<void>;
}

const MISSING = "\0missing";

class FileWatcher implements ConfigFileWatcher {
  readonly #path: string;
  readonly #source: string;
  readonly #options: WatchConfigOptions;
  readonly #maxBytes: number;
  readonly #watch: FileWatch;
  readonly #abort = new AbortController();
  #lastJson: string | undefined;
  #lastText: string | undefined;
  #closed = false;
  readonly ready: Promise<void>;

  constructor(path: string, options: WatchConfigOptions) {
    this.#source = path;
    this.#path = resolve(path);
    this.#options = options;
    this.#maxBytes = options.maxBytes ?? DEFAULT_CONFIG_MAX_BYTES;
    if (options.initial !== undefined) {
      this.#lastJson = JSON.stringify(options.initial);
      this.#lastText = options.initialText;
    }
    this.#watch = new FileWatch({
      files: [this.#path],
      check: () => this.#check(),
      debounceMs: options.debounceMs ?? 100,
      pollMs: options.pollMs ?? 1000,
      fsEvents: options.fsEvents,
    });
    this.#watch.start();
    this.ready = this.#watch.run().then(() => {});
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    let bytes: Uint8Array;
    try {
      const size = (await Deno.stat(this.#path)).size;
      bytes = size > this.#maxBytes
        ? new Uint8Array(0)
        : await Deno.readFile(this.#path);
      if (size > this.#maxBytes || bytes.byteLength > this.#maxBytes) {
        const actual = Math.max(size, bytes.byteLength);
        const marker = `\0large:${actual}`;
        if (this.#closed || this.#lastText === marker) return;
        this.#lastText = marker;
        this.#report(configTooLargeError(this.#source, actual, this.#maxBytes));
        return;
      }
    } catch (err) {
      if (this.#closed || this.#lastText === MISSING) return;
      this.#lastText = MISSING;
      this.#report(
        new TypeError(
          `Cannot read config file "${this.#source}": ${
            err instanceof Error ? err.message : String(err)
          }`,
          { cause: err },
        ),
      );
      return;
    }
    const text = new TextDecoder().decode(bytes);
    if (this.#closed || text === this.#lastText) return;
    this.#lastText = text;
    if (text.trim() === "" && this.#lastJson !== undefined) {
      // Most likely a writer that truncated the file and has not written it
      // yet; dropping every service would be worse than waiting.
      this.#report(
        new TypeError(
          `Cannot use config file "${this.#source}": it is empty, keeping the last good config`,
        ),
      );
      return;
    }
    let parsed: { config: FileConfig; json: string };
    try {
      parsed = await parseConfigYamlOffThread(text, this.#source, {
        signal: this.#abort.signal,
      });
    } catch (err) {
      if (this.#closed) return;
      this.#report(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.#closed || parsed.json === this.#lastJson) return;
    this.#lastJson = parsed.json;
    try {
      this.#options.onConfig(parsed.config);
    } catch (err) {
      this.#report(err instanceof Error ? err : new Error(String(err)));
    }
  }

  #report(err: Error): void {
    try {
      this.#options.onError(err);
    } catch {
      // A failing error handler must not stop the watcher.
    }
  }

  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#abort.abort(new Error("config watcher closed"));
    this.#watch[Symbol.dispose]();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await this.#watch[Symbol.asyncDispose]();
  }
}

/**
 * Watches the YAML config file at `path` and reports each new valid config,
 * or each error (linkerd's control-plane watch, for a file).
 *
 * @example Reload on change
 * ```ts
 * await using _w = watchConfigFile("petrel.yaml", {
 *   initial: config.file,
 *   onConfig: (file) => discovery.update(file),
 *   onError: (err) => log.warn(err.message),
 * });
 * ```
 */
export function watchConfigFile(
  path: string,
  options: WatchConfigOptions,
): ConfigFileWatcher {
  return new FileWatcher(path, options);
}
