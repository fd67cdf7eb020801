/**
 * The proxy's own identity: the current credentials (`credentials.ts`),
 * reloaded when their files change (linkerd `meshtls` `creds::Store` +
 * `Receiver`, watched instead of certified; the watcher is
 * `src/file_watch.ts`, shared with the config file). A half-written
 * rotation (a new key next to the old certificate) is refused and retried
 * at the next change: connections keep using the last good credentials.
 * New connections take the credentials current when they start;
 * established ones are never touched.
 *
 * @module
 */
import { FileWatch } from "../file_watch.ts";
import {
  type Credentials,
  filesOf,
  type IdentitySource,
  loadCredentials,
  pathsOf,
} from "./credentials.ts";

/** Options of {@linkcode LocalIdentity.watch}. */
export interface WatchIdentityOptions {
  /** Quiet period after a change before the files are read. @default {50} */
  debounceMs?: number;
  /** Interval of the mtime/size poll (a fallback for missed events). @default {1000} */
  pollMs?: number;
  /** Use `Deno.watchFs` on the folders; false leaves the poll only. @default {true} */
  fsEvents?: boolean;
  /** Called after a load is refused (the last good credentials stay). */
  onError?: (err: Error) => void;
}

/**
 * The local identity: the current credentials, replaced when the files
 * change (linkerd `creds::Store` + `Receiver`, watched instead of certified).
 */
export class LocalIdentity implements Disposable, AsyncDisposable {
  #current: Credentials | undefined;
  readonly #src: IdentitySource | undefined;
  readonly #listeners = new Set<(c: Credentials) => void>();
  readonly #onError: ((err: Error) => void) | undefined;
  /** Watches the files of `src` (`src/file_watch.ts`, shared with the config file). */
  readonly #watch: FileWatch | undefined;
  #lastError: string | undefined;
  #closed = false;
  #resolveReady!: (c: Credentials) => void;
  /** Resolves with the first good credentials. */
  readonly ready: Promise<Credentials>;

  /** Use {@linkcode LocalIdentity.watch} or {@linkcode LocalIdentity.fixed}. */
  constructor(
    src: IdentitySource | undefined,
    initial: Credentials | undefined,
    opts: WatchIdentityOptions,
  ) {
    this.#src = src;
    this.#current = initial;
    this.#onError = opts.onError;
    this.#watch = src === undefined ? undefined : new FileWatch({
      files: filesOf(src),
      check: () => this.#load(),
      debounceMs: opts.debounceMs ?? 50,
      pollMs: opts.pollMs ?? 1000,
      fsEvents: opts.fsEvents,
    });
    this.ready = new Promise((r) => this.#resolveReady = r);
    if (initial) this.#resolveReady(initial);
  }

  /**
   * Loads `src` and keeps it current: a change of any of its files (an fs
   * event or the poll) reloads it after `debounceMs`. The first load may
   * fail (files not written yet): `current` stays undefined until a load
   * succeeds, and `ready` resolves then.
   */
  static async watch(
    src: IdentitySource,
    opts: WatchIdentityOptions = {},
  ): Promise<LocalIdentity> {
    pathsOf(src); // configuration errors throw now
    const id = new LocalIdentity(src, undefined, opts);
    await id.reload();
    id.#watch?.start();
    return id;
  }

  /** Fixed credentials that never change (tests, benches). */
  static fixed(creds: Credentials): LocalIdentity {
    return new LocalIdentity(undefined, creds, {});
  }

  /** The current credentials; undefined until the first good load. */
  get current(): Credentials | undefined {
    return this.#current;
  }

  /** The local identity name, once loaded. */
  get name(): string | undefined {
    return this.#current?.name;
  }

  /**
   * Calls `fn` with every new set of credentials (not the current one).
   * Dispose the returned handle to stop.
   */
  onChange(fn: (c: Credentials) => void): Disposable {
    this.#listeners.add(fn);
    return { [Symbol.dispose]: () => this.#listeners.delete(fn) };
  }

  /**
   * Reads the files now; true when the credentials changed. A refused load
   * goes to `onError` and keeps the last good credentials.
   */
  reload(): Promise<boolean> {
    return this.#watch?.run() ?? Promise.resolve(false);
  }

  async #load(): Promise<boolean> {
    const src = this.#src;
    if (src === undefined || this.#closed) return false;
    let next: Credentials;
    try {
      next = await loadCredentials(src, {
        generation: (this.#current?.generation ?? 0) + 1,
      });
    } catch (err) {
      const e = err instanceof Error ? err : new Error(String(err));
      // Report each distinct problem once, not at every poll.
      if (e.message !== this.#lastError) {
        this.#lastError = e.message;
        this.#onError?.(e);
      }
      return false;
    }
    this.#lastError = undefined;
    const cur = this.#current;
    if (
      this.#closed || (cur && cur.certPem === next.certPem &&
        cur.keyPem === next.keyPem && cur.anchorsPem === next.anchorsPem)
    ) {
      return false;
    }
    this.#current = next;
    if (cur === undefined) this.#resolveReady(next);
    for (const fn of this.#listeners) {
      try {
        fn(next);
      } catch { /* a listener's failure is its own */ }
    }
    return true;
  }

  [Symbol.dispose](): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#watch?.[Symbol.dispose]();
    this.#listeners.clear();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this[Symbol.dispose]();
    await this.#watch?.[Symbol.asyncDispose]();
  }
}
