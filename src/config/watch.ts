/**
 * Re-reads the YAML config file when it changes (Petrel's stand-in for
 * linkerd's control-plane watches: a new config is published, in-flight
 * requests are unaffected).
 *
 * Change detection: `Deno.watchFs` on the file's directory (so editors that
 * write a temporary file and rename it over the original, and Kubernetes
 * ConfigMap symlink swaps, are seen) plus a cheap mtime/size/inode poll as a
 * fallback. Events are debounced; `onConfig` only fires when the parsed
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
import { dirname, resolve } from "node:path";
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
  readonly #debounceMs: number;
  readonly #pollMs: number;
  readonly #maxBytes: number;
  readonly #abort = new AbortController();
  #lastJson: string | undefined;
  #lastText: string | undefined;
  #lastStamp: string | undefined;
  #fsWatcher: Deno.FsWatcher | undefined;
  #fsLoop: Promise<void> = Promise.resolve();
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #running: Promise<void> | undefined;
  #again = false;
  #closed = false;
  readonly ready: Promise<void>;

  constructor(path: string, options: WatchConfigOptions) {
    this.#source = path;
    this.#path = resolve(path);
    this.#options = options;
    this.#debounceMs = options.debounceMs ?? 100;
    this.#pollMs = options.pollMs ?? 1000;
    this.#maxBytes = options.maxBytes ?? DEFAULT_CONFIG_MAX_BYTES;
    if (options.initial !== undefined) {
      this.#lastJson = JSON.stringify(options.initial);
      this.#lastText = options.initialText;
    }
    try {
      if (options.fsEvents === false) throw new Error("disabled");
      this.#fsWatcher = Deno.watchFs(dirname(this.#path), { recursive: false });
      this.#fsLoop = this.#watchLoop(this.#fsWatcher);
    } catch {
      // Disabled, no such directory, or no inotify: the poll still works.
      this.#fsWatcher = undefined;
    }
    this.ready = this.#run();
    this.#schedulePoll();
  }

  async #watchLoop(watcher: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of watcher) {
        // Our own reads show up as "access"; anything else in the directory
        // (the file, a temp file renamed over it, a symlink swap) may matter.
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
      this.#run();
    }, this.#debounceMs);
  }

  #schedulePoll(): void {
    if (this.#closed) return;
    this.#pollTimer = setTimeout(() => {
      this.#pollTimer = undefined;
      this.#polling = this.#stamp().then((stamp) => {
        this.#polling = undefined;
        if (!this.#closed && stamp !== this.#lastStamp) this.#debounce();
        this.#schedulePoll();
      });
    }, this.#pollMs);
  }

  async #stamp(): Promise<string> {
    try {
      const info = await Deno.stat(this.#path);
      return `${info.mtime?.getTime()}:${info.size}:${info.ino}`;
    } catch {
      return MISSING;
    }
  }

  /** Runs one check at a time; a request during a check runs one more after it. */
  #run(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#check();
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #check(): Promise<void> {
    if (this.#closed) return;
    this.#lastStamp = await this.#stamp();
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
    clearTimeout(this.#debounceTimer);
    clearTimeout(this.#pollTimer);
    try {
      this.#fsWatcher?.close();
    } catch {
      // Already closed.
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await this.#fsLoop;
    await this.#running;
    await this.#polling;
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
