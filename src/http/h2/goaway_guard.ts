/**
 * Keeps GOAWAY frames a peer sends away from Deno's nghttp2.
 *
 * Deno 2.9.6's `node:http2` aborts the whole process inside nghttp2
 * (`find_stream_on_goaway_func: Assertion stream->closed_next == NULL`, or a
 * silent SIGSEGV) when a GOAWAY arrives on a session that has carried
 * flow-controlled streams (denoland/deno#36788; reproduced here with a
 * client that closes its session after a large download). No JavaScript
 * runs before the crash, so it cannot be caught.
 *
 * Petrel reads every connection's bytes in JavaScript before the http2
 * session does, so it removes GOAWAY frames there and reports them to its
 * own code instead: a downstream client's GOAWAY only says it will open no
 * more streams (the connection ends when it closes the socket); an
 * upstream server's GOAWAY is handled by the client (no new streams on that
 * session, streams above last-stream-id treated as refused).
 *
 * @module
 */
import type net from "node:net";

/** The HTTP/2 client connection preface length (RFC 9113 §3.4). */
const PREFACE_LENGTH = 24;
const FRAME_HEADER = 9;
const GOAWAY = 0x7;

/** Called for each GOAWAY frame removed. */
export type OnGoaway = (lastStreamId: number, errorCode: number) => void;

/**
 * A streaming filter over the bytes of an HTTP/2 connection that removes
 * GOAWAY frames and passes everything else through unchanged (the same
 * chunk object when it held no GOAWAY).
 */
export class GoawayFilter {
  #skip: number;
  /** Bytes of the current frame's payload still to pass through. */
  #passing = 0;
  /** A frame header (or GOAWAY payload) split across chunks. */
  #partial: Uint8Array | null = null;
  readonly #onGoaway: OnGoaway;

  /** `preface`: the stream starts with the client preface (server side). */
  constructor(preface: boolean, onGoaway: OnGoaway) {
    this.#skip = preface ? PREFACE_LENGTH : 0;
    this.#onGoaway = onGoaway;
  }

  /** Filters one chunk; returns what the http2 session should see. */
  filter(chunk: Uint8Array): Uint8Array {
    if (this.#partial !== null) {
      const merged = new Uint8Array(this.#partial.length + chunk.length);
      merged.set(this.#partial);
      merged.set(chunk, this.#partial.length);
      this.#partial = null;
      // The partial bytes were held back: everything goes through the scan.
      return this.#scan(merged);
    }
    return this.#scan(chunk);
  }

  #scan(chunk: Uint8Array): Uint8Array {
    const n = chunk.length;
    let i = 0;
    if (this.#skip > 0) {
      const k = Math.min(this.#skip, n);
      this.#skip -= k;
      i = k;
    }
    // Fast path: walk frame headers; stop at the first GOAWAY or a split header.
    for (;;) {
      if (this.#passing > 0) {
        const k = Math.min(this.#passing, n - i);
        this.#passing -= k;
        i += k;
      }
      if (i >= n) return chunk;
      if (n - i < FRAME_HEADER) break;
      if (chunk[i + 3] === GOAWAY) break;
      this.#passing = frameLength(chunk, i);
      i += FRAME_HEADER;
    }
    // Slow path: copy out what precedes, then handle the rest frame by frame.
    const out: Uint8Array[] = [chunk.subarray(0, i)];
    while (i < n) {
      if (this.#passing > 0) {
        const k = Math.min(this.#passing, n - i);
        out.push(chunk.subarray(i, i + k));
        this.#passing -= k;
        i += k;
        continue;
      }
      if (n - i < FRAME_HEADER) {
        this.#partial = chunk.slice(i);
        break;
      }
      const len = frameLength(chunk, i);
      if (chunk[i + 3] === GOAWAY) {
        if (n - i < FRAME_HEADER + len) {
          this.#partial = chunk.slice(i); // wait for the whole GOAWAY
          break;
        }
        const p = i + FRAME_HEADER;
        const last = ((chunk[p]! & 0x7f) << 24 | chunk[p + 1]! << 16 |
          chunk[p + 2]! << 8 | chunk[p + 3]!) >>> 0;
        const code = (chunk[p + 4]! << 24 | chunk[p + 5]! << 16 |
          chunk[p + 6]! << 8 | chunk[p + 7]!) >>> 0;
        i += FRAME_HEADER + len;
        this.#onGoaway(last, code);
        continue;
      }
      out.push(chunk.subarray(i, i + FRAME_HEADER));
      this.#passing = len;
      i += FRAME_HEADER;
    }
    return concat(out);
  }
}

function frameLength(b: Uint8Array, i: number): number {
  return (b[i]! << 16) | (b[i + 1]! << 8) | b[i + 2]!;
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0]!;
  let total = 0;
  for (const p of parts) total += p.length;
  const out = new Uint8Array(total);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/**
 * Installs a {@linkcode GoawayFilter} on `socket` before an http2 session
 * reads it: the session only ever sees the filtered bytes.
 */
export function guardGoaway(
  socket: net.Socket,
  opts: { preface: boolean; onGoaway: OnGoaway },
): void {
  const filter = new GoawayFilter(opts.preface, opts.onGoaway);
  const emit = socket.emit as (
    event: string | symbol,
    ...args: unknown[]
  ) => boolean;
  socket.emit = function guardedEmit(
    this: net.Socket,
    event: string | symbol,
    ...args: unknown[]
  ): boolean {
    if (event === "data") {
      const data = filter.filter(args[0] as Uint8Array);
      if (data.length === 0) return true;
      args[0] = data;
    }
    return emit.apply(this, [event, ...args]);
  } as typeof socket.emit;
}
