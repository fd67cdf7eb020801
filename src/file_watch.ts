/**
 * The one file watcher, shared by the config file (`config/watch.ts`) and
 * the local identity (`tls/identity.ts`): `Deno.watchFs` on the files'
 * folders (editors that rename a temporary file over the original, and
 * Kubernetes Secret/ConfigMap symlink swaps, are seen) plus a cheap
 * mtime/size/inode poll as a fallback for missed events, debounced, and one
 * check at a time (a change during a check runs one more after it).
 *
 * @module
 */
import { dirname, resolve } from "node:path";

/** Options of {@linkcode FileWatch}. */
export interface FileWatchOptions {
  /** The files whose changes matter; their folders are watched. */
  readonly files: readonly string[];
  /** Reads the files; true when it found a change (what {@linkcode FileWatch.run} returns). */
  readonly check: () => Promise<boolean | void>;
  /** Quiet period after an event before `check` runs. */
  readonly debounceMs: number;
  /** Interval of the stamp poll. */
  readonly pollMs: number;
  /** Use `Deno.watchFs`; false leaves the poll only. @default {true} */
  readonly fsEvents?: boolean | undefined;
}

/**
 * Runs `check` when any of `files` changes, once {@linkcode FileWatch.start}ed;
 * {@linkcode FileWatch.run} runs it now. Dispose it to stop (await the async
 * form to let its loops end).
 */
export class FileWatch implements Disposable, AsyncDisposable {
  readonly #opts: FileWatchOptions;
  #fsWatchers: Deno.FsWatcher[] = [];
  #fsLoops: Promise<void>[] = [];
  #debounceTimer: ReturnType<typeof setTimeout> | undefined;
  #pollTimer: ReturnType<typeof setTimeout> | undefined;
  #polling: Promise<void> | undefined;
  #running: Promise<boolean> | undefined;
  #again = false;
  /** The files' stamp when the last check started. */
  #stamp: string | undefined;
  #closed = false;

  constructor(opts: FileWatchOptions) {
    this.#opts = opts;
  }

  /** True once disposed. */
  get closed(): boolean {
    return this.#closed;
  }

  /** Starts the fs-event watches (unless `fsEvents` is false) and the poll. */
  start(): void {
    if (this.#closed) return;
    if (this.#opts.fsEvents !== false) {
      const folders = new Set(this.#opts.files.map((f) => dirname(resolve(f))));
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
    this.#schedulePoll();
  }

  /**
   * Runs `check` now, after stamping the files; one at a time: a call
   * during a check runs one more after it. True when a check saw a change.
   */
  run(): Promise<boolean> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      let changed = false;
      try {
        do {
          this.#again = false;
          if (this.#closed) break;
          this.#stamp = await this.#stampNow();
          changed = (await this.#opts.check()) === true || changed;
        } while (this.#again && !this.#closed);
      } finally {
        this.#running = undefined;
      }
      return changed;
    })();
    return this.#running;
  }

  async #watchLoop(w: Deno.FsWatcher): Promise<void> {
    try {
      for await (const event of w) {
        // Our own reads show up as "access"; anything else in the folder
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
      void this.run();
    }, this.#opts.debounceMs);
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
    }, this.#opts.pollMs);
  }

  async #stampNow(): Promise<string> {
    const parts = await Promise.all(
      this.#opts.files.map(async (f) => {
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
      } catch {
        // Already closed.
      }
    }
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await Promise.all(this.#fsLoops);
    await this.#running;
    await this.#polling;
  }
}
