/**
 * The Body of a message read from an HTTP/1 connection (hyper `Incoming`):
 * the connection pushes decoded data; the consumer starts, pauses, resumes or
 * cancels. Data pushed before `start()` or while paused is queued, and the
 * connection is asked to stop reading, so at most the chunk in flight is
 * buffered.
 *
 * @module
 */
import type { Body, BodySink, HeaderMap } from "../message.ts";

/** What an IncomingBody asks of the connection that feeds it. */
export interface BodySource {
  /** Stop (true) or restart (false) reading from the socket for this body. */
  bodyFlow(paused: boolean): void;
  /** The consumer called `start()` (the server answers `100-continue` then). */
  bodyStarted(): void;
  /** The consumer called `cancel()` before the end of the body. */
  bodyCancelled(err: Error | undefined): void;
}

/** Queued bytes before `start()` above which the source is paused. */
const PRESTART_HIGH_WATER = 65536;

const OPEN = 0;
const ENDED = 1; // end seen on the wire, maybe not yet delivered
const FAILED = 2; // failed, maybe not yet delivered
const DELIVERED = 3; // end or error delivered to the sink
const CANCELLED = 4;

function flushLater(body: IncomingBody): void {
  body.flush();
}

/** A body fed by an HTTP/1 connection (hyper `Incoming` for h1). */
export class IncomingBody implements Body {
  readonly length: number | undefined;
  #src: BodySource;
  #sink: BodySink | null = null;
  #q: Uint8Array[] = [];
  #qHead = 0;
  #qBytes = 0;
  #paused = false;
  #srcPaused = false;
  #flushing = false;
  #state = OPEN;
  #trailers: HeaderMap | undefined = undefined;
  #error: Error | undefined = undefined;

  constructor(src: BodySource, length: number | undefined) {
    this.#src = src;
    this.length = length;
  }

  /** Nothing more will be pushed (ended, failed or cancelled). */
  get closed(): boolean {
    return this.#state !== OPEN;
  }

  /** Called by the connection with decoded data (ChunkTarget). */
  push(chunk: Uint8Array): void {
    if (this.#state !== OPEN || chunk.length === 0) return;
    const sink = this.#sink;
    if (sink !== null && !this.#paused && this.#qHead === this.#q.length) {
      sink.data(chunk);
      return;
    }
    this.#q.push(chunk);
    this.#qBytes += chunk.length;
    if (
      !this.#srcPaused && (this.#paused || this.#qBytes > PRESTART_HIGH_WATER)
    ) {
      this.#setSrcPaused(true);
    }
  }

  /** Called by the connection at the end of the body on the wire. */
  finish(trailers?: HeaderMap): void {
    if (this.#state !== OPEN) return;
    this.#state = ENDED;
    this.#trailers = trailers;
    if (this.#srcPaused) this.#setSrcPaused(false);
    if (this.#sink !== null && !this.#paused && !this.#flushing) this.flush();
  }

  /** Called by the connection when the body cannot complete. */
  fail(err: Error): void {
    if (this.#state !== OPEN && this.#state !== ENDED) return;
    this.#state = FAILED;
    this.#error = err;
    // An error is delivered ahead of queued data: the data is incomplete anyway.
    this.#q = [];
    this.#qHead = 0;
    this.#qBytes = 0;
    if (this.#srcPaused) this.#setSrcPaused(false);
    if (this.#sink !== null && !this.#flushing) this.flush();
  }

  start(sink: BodySink): void {
    if (this.#sink !== null) return;
    this.#sink = sink;
    this.#src.bodyStarted();
    if (this.#state !== OPEN || this.#qBytes > 0) {
      Promise.resolve(this).then(flushLater);
    }
  }

  pause(): void {
    if (this.#paused) return;
    this.#paused = true;
    if (this.#state === OPEN && !this.#srcPaused) this.#setSrcPaused(true);
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    if (!this.#flushing) this.flush();
  }

  cancel(err?: Error): void {
    if (this.#state === DELIVERED || this.#state === CANCELLED) return;
    const wasOpen = this.#state === OPEN;
    this.#state = CANCELLED;
    this.#q = [];
    this.#qHead = 0;
    this.#qBytes = 0;
    if (this.#srcPaused) this.#setSrcPaused(false);
    if (wasOpen) this.#src.bodyCancelled(err);
  }

  #setSrcPaused(paused: boolean): void {
    this.#srcPaused = paused;
    this.#src.bodyFlow(paused);
  }

  /** Delivers queued data and the end or error while not paused. */
  flush(): void {
    const sink = this.#sink;
    if (sink === null || this.#flushing) return;
    this.#flushing = true;
    try {
      const q = this.#q;
      while (!this.#paused && this.#qHead < q.length) {
        if (this.#state === CANCELLED || this.#state === FAILED) break;
        const c = q[this.#qHead]!;
        q[this.#qHead++] = EMPTY;
        this.#qBytes -= c.length;
        sink.data(c);
      }
      if (this.#qHead === q.length && q.length > 0) {
        this.#q = [];
        this.#qHead = 0;
      }
      if (this.#paused) return;
      if (this.#state === ENDED && this.#qBytes === 0) {
        this.#state = DELIVERED;
        sink.end(this.#trailers);
      } else if (this.#state === FAILED) {
        this.#state = DELIVERED;
        sink.error(this.#error!);
      } else if (this.#state === OPEN && this.#srcPaused) {
        this.#setSrcPaused(false);
      }
    } finally {
      this.#flushing = false;
    }
  }
}

const EMPTY = new Uint8Array(0);
