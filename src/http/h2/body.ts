/**
 * The incoming side of an HTTP/2 message: DATA queued until the consumer
 * takes it, the flow-control window reopened only then (h2
 * `RecvStream`, `release_capacity`).
 *
 * @module
 */
import { StreamResetError } from "../../errors.ts";
import type { Body, BodySink, HeaderMap } from "../message.ts";
import { ErrorCode } from "./frame.ts";

/** What an {@linkcode H2Body} needs from its connection (h2 `Recv`). */
export interface H2BodyConn<S> {
  /** The consumer took `n` bytes of `stream`'s DATA: reopen the windows. */
  consumed(stream: S, n: number, streamOpen: boolean): void;
  /** Resets `stream` with `code`. */
  reset(stream: S, code: number): void;
}

const EMPTY = new Uint8Array(0);

/**
 * The body of a message arriving on a stream (h2 `RecvStream`). Data is
 * queued until the consumer takes it; only then is the window reopened, so
 * a slow consumer bounds what the peer may send.
 */
export class H2Body<S = unknown> implements Body {
  readonly length: number | undefined;
  readonly #conn: H2BodyConn<S>;
  readonly #stream: S;
  #sink: BodySink | null = null;
  #q: Uint8Array[] = [];
  #qHead = 0;
  #paused = false;
  #flushing = false;
  /** 0 open, 1 ended, 2 failed, 3 delivered, 4 cancelled */
  #state = 0;
  #trailers: HeaderMap | undefined = undefined;
  #error: Error | undefined = undefined;

  constructor(conn: H2BodyConn<S>, stream: S, length: number | undefined) {
    this.#conn = conn;
    this.#stream = stream;
    this.length = length;
  }

  /** @internal DATA arrived. */
  push(chunk: Uint8Array): void {
    if (this.#state !== 0) {
      this.#conn.consumed(this.#stream, chunk.length, false);
      return;
    }
    if (
      this.#sink !== null && !this.#paused && this.#qHead === this.#q.length
    ) {
      this.#conn.consumed(this.#stream, chunk.length, true);
      this.#sink.data(chunk);
      return;
    }
    this.#q.push(chunk);
  }

  /** @internal END_STREAM arrived. */
  finish(trailers: HeaderMap | undefined): void {
    if (this.#state !== 0) return;
    this.#state = 1;
    this.#trailers = trailers;
    if (this.#sink !== null && !this.#paused) this.#flush();
  }

  /** @internal The stream was reset or the connection lost. */
  fail(err: Error): void {
    if (this.#state > 1) return;
    this.#state = 2;
    this.#error = err;
    this.#q = [];
    this.#qHead = 0;
    if (this.#sink !== null) this.#flush();
  }

  start(sink: BodySink): void {
    if (this.#sink !== null) return;
    this.#sink = sink;
    if (this.#state !== 0 || this.#q.length > this.#qHead) {
      queueMicrotask(() => this.#flush());
    }
  }

  pause(): void {
    this.#paused = true;
  }

  resume(): void {
    if (!this.#paused) return;
    this.#paused = false;
    this.#flush();
  }

  cancel(err?: Error): void {
    if (this.#state >= 3) return;
    const open = this.#state === 0;
    this.#state = 4;
    let n = 0;
    for (let i = this.#qHead; i < this.#q.length; i++) n += this.#q[i]!.length;
    this.#q = [];
    this.#qHead = 0;
    if (n > 0) this.#conn.consumed(this.#stream, n, false);
    if (open) this.#conn.reset(this.#stream, codeFor(err));
  }

  #flush(): void {
    const sink = this.#sink;
    if (sink === null || this.#flushing) return;
    this.#flushing = true;
    try {
      const q = this.#q;
      while (!this.#paused && this.#qHead < q.length && this.#state < 2) {
        const c = q[this.#qHead]!;
        q[this.#qHead++] = EMPTY;
        this.#conn.consumed(this.#stream, c.length, this.#state === 0);
        sink.data(c);
      }
      if (this.#qHead === q.length && q.length > 0) {
        this.#q = [];
        this.#qHead = 0;
      }
      if (this.#paused) return;
      if (this.#state === 1 && this.#qHead === this.#q.length) {
        this.#state = 3;
        sink.end(this.#trailers);
      } else if (this.#state === 2) {
        this.#state = 3;
        sink.error(this.#error!);
      }
    } finally {
      this.#flushing = false;
    }
  }
}

/** The reset code for an error travelling towards the peer. */
export function codeFor(err: Error | undefined): number {
  if (err instanceof StreamResetError) return err.code;
  return err === undefined ? ErrorCode.CANCEL : ErrorCode.INTERNAL_ERROR;
}
