/**
 * A request body that can be sent again (linkerd `http/retry/src/replay.rs`
 * `ReplayBody`).
 *
 * The original body is read lazily, only as fast as the attempt that owns it
 * reads, and what is read is kept while it totals at most `maxBytes`, so a
 * retry replays it byte for byte and then goes on reading the original where
 * the previous attempt stopped. A body longer than that (known up front from
 * its length, or found out while streaming) is never held back: it streams
 * through once, the buffer is dropped, and no later attempt may be made
 * (`replayable` turns false), as linkerd's "capped" state. A body whose
 * original was never started can always be sent again, whatever its size.
 *
 * Only one attempt owns the body at a time: a new clone takes it over, and
 * the previous one stops receiving frames (linkerd2#15649, the duplicated
 * body of a retry made before the first attempt read anything, cannot
 * happen: every clone reads the one shared, ordered buffer from its start).
 *
 * @module
 */
import type { Body, BodySink, HeaderMap } from "../message.ts";

type SourceState =
  | { readonly kind: "idle" }
  | { readonly kind: "streaming" }
  | { readonly kind: "ended"; readonly trailers: HeaderMap | undefined }
  | { readonly kind: "failed"; readonly error: Error };

const IDLE: SourceState = Object.freeze({ kind: "idle" });
const STREAMING: SourceState = Object.freeze({ kind: "streaming" });

/** Shares one original body between attempts (linkerd `ReplayBody`). */
export class ReplayBody {
  readonly #source: Body;
  readonly #maxBytes: number;
  #state: SourceState = IDLE;
  /** Chunks read from the source; `#chunks[0]` is chunk number `#base`. */
  #chunks: Uint8Array[] = [];
  #base = 0;
  #bytes = 0;
  #capped: boolean;
  #released = false;
  #owner: Replay | undefined;
  #sourcePaused = false;

  /**
   * Wraps `source`. A `source.length` above `maxBytes` is capped at once:
   * it passes through without being kept.
   */
  constructor(source: Body, maxBytes: number) {
    this.#source = source;
    this.#maxBytes = maxBytes;
    this.#capped = source.length !== undefined && source.length > maxBytes;
  }

  /**
   * True when a new clone would carry the whole body: the original was never
   * started, or it was not capped and did not fail.
   */
  get replayable(): boolean {
    const s = this.#state;
    if (s.kind === "idle") return true;
    return !this.#capped && s.kind !== "failed";
  }

  /** The body outgrew `maxBytes` (or was announced longer): no more replays. */
  get capped(): boolean {
    return this.#capped;
  }

  /** The original's length, when known up front. */
  get length(): number | undefined {
    return this.#source.length;
  }

  /** The original was read to its end. */
  get complete(): boolean {
    return this.#state.kind === "ended";
  }

  /**
   * True while the current clone still reads the original (started, not
   * done, not canceled): handing the body to another attempt would cut it.
   */
  get inUse(): boolean {
    const o = this.#owner;
    return o !== undefined && o.reading;
  }

  /**
   * A body for the next attempt. It becomes the owner: the previous clone
   * gets no more frames (it is failed if it was still reading).
   */
  clone(): Body {
    const prev = this.#owner;
    const next = new Replay(this);
    this.#owner = next;
    if (prev !== undefined) prev.detach();
    return next;
  }

  /**
   * No more clones will be made (the retry layer has its final answer):
   * buffered bytes are dropped once delivered; an original that was started
   * but that no clone reads any more is canceled (a canceled owner's error
   * goes with it), and from now on a canceled owner cancels the original.
   */
  release(): void {
    if (this.#released) return;
    this.#released = true;
    const o = this.#owner;
    if (o === undefined || !o.reading) {
      this.#cancelSource(o?.cancelError);
      return;
    }
    this.#trim();
  }

  // --- for Replay ---

  /** @internal A clone started reading. */
  _start(clone: Replay): void {
    if (clone !== this.#owner) return;
    if (this.#state.kind === "idle") {
      this.#state = STREAMING;
      this.#source.start(this.#sourceSink);
    }
    clone.pump();
  }

  /** @internal The number of chunks read so far (absolute). */
  get _end(): number {
    return this.#base + this.#chunks.length;
  }

  /** @internal Chunk number `i` (absolute), if still kept. */
  _chunk(i: number): Uint8Array | undefined {
    return this.#chunks[i - this.#base];
  }

  /** @internal */
  get _state(): SourceState {
    return this.#state;
  }

  /** @internal The owner delivered up to chunk `cursor`; drop what nobody needs. */
  _delivered(): void {
    if (this.#capped || this.#released) this.#trim();
  }

  /** @internal The owner wants more (it caught up, or resumed). */
  _want(clone: Replay): void {
    if (clone !== this.#owner) return;
    if (this.#sourcePaused && this.#state.kind === "streaming") {
      this.#sourcePaused = false;
      this.#source.resume();
    }
  }

  /** @internal The owner paused. */
  _pause(clone: Replay): void {
    if (clone !== this.#owner) return;
    if (!this.#sourcePaused && this.#state.kind === "streaming") {
      this.#sourcePaused = true;
      this.#source.pause();
    }
  }

  /** @internal The owner was canceled by its consumer. */
  _cancel(clone: Replay, err: Error | undefined): void {
    if (clone !== this.#owner) return;
    if (this.#released) {
      this.#cancelSource(err);
      return;
    }
    // The next clone resumes the source where this one stopped.
    this.#pauseSource();
  }

  #sourceSink: BodySink = {
    data: (chunk) => {
      this.#chunks.push(chunk);
      if (!this.#capped) {
        this.#bytes += chunk.length;
        if (this.#bytes > this.#maxBytes) this.#capped = true;
      }
      const o = this.#owner;
      if (o !== undefined && o.reading && !o.paused) o.pump();
      else this.#pauseSource(); // read no further than the owner does
      if (this.#capped || this.#released) this.#trim();
    },
    end: (trailers) => {
      if (this.#state.kind !== "streaming") return;
      this.#state = { kind: "ended", trailers };
      this.#owner?.pump();
    },
    error: (error) => {
      if (this.#state.kind !== "streaming") return;
      this.#state = { kind: "failed", error };
      this.#owner?.pump();
    },
  };

  #pauseSource(): void {
    if (!this.#sourcePaused && this.#state.kind === "streaming") {
      this.#sourcePaused = true;
      this.#source.pause();
    }
  }

  #cancelSource(err: Error | undefined): void {
    this.#chunks = [];
    if (this.#state.kind === "streaming") {
      this.#state = { kind: "failed", error: err ?? new Error("canceled") };
      this.#source.cancel(err);
    }
  }

  /** Drops chunks the owner has delivered (nobody can replay them). */
  #trim(): void {
    const o = this.#owner;
    const keepFrom = o === undefined || o.canceled ? this._end : o.cursor;
    const drop = keepFrom - this.#base;
    if (drop <= 0) return;
    this.#chunks.splice(0, drop);
    this.#base = keepFrom;
  }
}

/** One attempt's view of a {@linkcode ReplayBody}. */
class Replay implements Body {
  readonly #shared: ReplayBody;
  #sink: BodySink | undefined;
  /** The next chunk number to deliver. */
  cursor = 0;
  #paused = false;
  #pumping = false;
  #done = false;
  #detached = false;
  /** The consumer canceled (with `cancelError`, if it gave one). */
  canceled = false;
  cancelError: Error | undefined;

  constructor(shared: ReplayBody) {
    this.#shared = shared;
  }

  /** The original's length: every replay carries the same bytes. */
  get length(): number | undefined {
    return this.#shared.length;
  }

  /** The consumer asked for a pause. */
  get paused(): boolean {
    return this.#paused;
  }

  /** Started, not finished, not canceled, still the owner. */
  get reading(): boolean {
    return this.#sink !== undefined && !this.#done && !this.#detached;
  }

  start(sink: BodySink): void {
    if (this.#sink !== undefined) throw new Error("body already started");
    this.#sink = sink;
    if (this.#detached) {
      this.#finish(() =>
        sink.error(new Error("request body taken over by a retry"))
      );
      return;
    }
    this.#shared._start(this);
  }

  pause(): void {
    this.#paused = true;
    if (this.reading) this.#shared._pause(this);
  }

  resume(): void {
    this.#paused = false;
    if (this.reading) queueMicrotask(() => this.pump());
  }

  cancel(err?: Error): void {
    if (this.#done) return;
    this.#done = true;
    this.canceled = true;
    this.cancelError = err;
    if (!this.#detached) this.#shared._cancel(this, err);
  }

  /** Another clone owns the body now. */
  detach(): void {
    if (this.#detached) return;
    this.#detached = true;
    const sink = this.#sink;
    if (sink !== undefined && !this.#done) {
      this.#finish(() =>
        sink.error(new Error("request body taken over by a retry"))
      );
    }
  }

  /** Delivers what is buffered past the cursor, then the end if known. */
  pump(): void {
    if (this.#pumping || !this.reading) return;
    this.#pumping = true;
    try {
      const shared = this.#shared;
      const sink = this.#sink!;
      while (!this.#paused && this.reading && this.cursor < shared._end) {
        const chunk = shared._chunk(this.cursor);
        this.cursor++;
        if (chunk !== undefined) sink.data(chunk);
      }
      shared._delivered();
      if (!this.reading || this.#paused) return;
      const s = shared._state;
      if (s.kind === "ended") this.#finish(() => sink.end(s.trailers));
      else if (s.kind === "failed") this.#finish(() => sink.error(s.error));
      else shared._want(this);
    } finally {
      this.#pumping = false;
    }
  }

  #finish(f: () => void): void {
    if (this.#done) return;
    this.#done = true;
    f();
  }
}
