/**
 * Chunked transfer coding (RFC 9112 §7.1): an incremental decoder and the
 * encoding helpers (hyper `proto/h1/decode.rs` `ChunkedState`, `encode.rs`).
 *
 * Decoding rules: a chunk size is 1 to 16 hex digits (larger values are
 * rejected before they can lose precision), optionally followed by
 * whitespace and chunk extensions (skipped, at most 4 KiB per line, no CTLs);
 * each line ends with CRLF or a bare LF (see parse.ts on bare LF); chunk
 * data must be followed by a line end; the trailer section is parsed with
 * the same field rules as a head into a HeaderMap, up to `maxTrailerBytes`.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { HeaderMap } from "../message.ts";
import {
  asBuffer,
  DEFAULT_MAX_HEADER_BYTES,
  parseTrailerFields,
} from "./parse.ts";
import { writeLatin1 } from "./_bytes.ts";

/** Receives decoded chunk data (a view into the input buffer, not a copy). */
export interface ChunkTarget {
  push(chunk: Uint8Array): void;
}

const MAX_SIZE_DIGITS = 16;
const MAX_EXTENSION_BYTES = 4096;

// Decoder states.
const SIZE_START = 0; // first hex digit of a size line
const SIZE = 1; // more hex digits
const SIZE_WS = 2; // whitespace after the size
const EXT = 3; // chunk extensions, skipped
const SIZE_LF = 4; // CR seen, expecting LF
const DATA = 5;
const DATA_END = 6; // CR or LF after data
const DATA_LF = 7; // CR seen after data, expecting LF
const TRAILER_START = 8; // after the last-chunk line
const TRAILER_LF = 9; // CR seen on an empty trailer line
const TRAILER = 10; // collecting trailer field lines
const DONE = 11;
const FAILED = 12;

// Hex digit values, -1 for anything else.
const HEX = new Int8Array(256).fill(-1);
for (let i = 0; i < 10; i++) HEX[48 + i] = i;
for (let i = 0; i < 6; i++) {
  HEX[65 + i] = 10 + i;
  HEX[97 + i] = 10 + i;
}

/** Options for {@link ChunkedDecoder}. */
export interface ChunkedDecoderOptions {
  /**
   * Largest trailer section accepted, in bytes.
   * @default {65536}
   */
  maxTrailerBytes?: number;
}

/**
 * Incremental chunked-body decoder (hyper `ChunkedState`). Feed it bytes with
 * `decode()`; it pushes data views to the target and stops at the end of the
 * message, returning how far it read.
 */
export class ChunkedDecoder {
  #state = SIZE_START;
  #size = 0;
  #digits = 0;
  #ext = 0;
  #trailer: Uint8Array | null = null;
  #maxTrailerBytes: number;
  /** The trailer fields, once `done` (undefined when the trailer section was empty). */
  trailers: HeaderMap | undefined = undefined;
  /** Why decoding failed, once `failed`. */
  error = "";

  constructor(opts: ChunkedDecoderOptions = {}) {
    this.#maxTrailerBytes = opts.maxTrailerBytes ?? DEFAULT_MAX_HEADER_BYTES;
  }

  /** The last chunk and the trailer section have been read. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** The input was not valid chunked coding (see `error`). */
  get failed(): boolean {
    return this.#state === FAILED;
  }

  #fail(message: string): number {
    this.#state = FAILED;
    this.error = message;
    return -1;
  }

  /**
   * Decodes `buf[start, end)`, pushing data to `target`. Returns the offset
   * after the last byte consumed (less than `end` only once `done`: the rest
   * belongs to the next message), or -1 when the coding is invalid.
   */
  decode(
    buf: Uint8Array,
    start: number,
    end: number,
    target: ChunkTarget,
  ): number {
    let pos = start;
    let state = this.#state;
    while (pos < end) {
      switch (state) {
        case DATA: {
          const avail = end - pos;
          if (avail <= this.#size) {
            target.push(
              pos === 0 && end === buf.length ? buf : buf.subarray(pos, end),
            );
            this.#size -= avail;
            pos = end;
            if (this.#size === 0) state = DATA_END;
          } else {
            target.push(buf.subarray(pos, pos + this.#size));
            pos += this.#size;
            this.#size = 0;
            state = DATA_END;
          }
          // A sink may have paused or failed the body; keep decoding anyway:
          // the caller owns buffering of what we push.
          continue;
        }
        case SIZE_START:
        case SIZE: {
          const c = buf[pos]!;
          const h = HEX[c]!;
          if (h >= 0) {
            if (++this.#digits > MAX_SIZE_DIGITS) {
              return this.#fail("chunk size too large");
            }
            this.#size = this.#size * 16 + h;
            state = SIZE;
          } else if (state === SIZE_START) {
            return this.#fail("invalid chunk size");
          } else if (c === 13) state = SIZE_LF;
          else if (c === 10) state = this.#sizeLineDone();
          else if (c === 59 /* ; */) state = EXT;
          else if (c === 32 || c === 9) state = SIZE_WS;
          else return this.#fail("invalid chunk size");
          if (this.#size > Number.MAX_SAFE_INTEGER) {
            return this.#fail("chunk size too large");
          }
          pos++;
          break;
        }
        case SIZE_WS: {
          const c = buf[pos]!;
          if (c === 13) state = SIZE_LF;
          else if (c === 10) state = this.#sizeLineDone();
          else if (c === 59) state = EXT;
          else if (c !== 32 && c !== 9) {
            return this.#fail("invalid chunk size line");
          }
          pos++;
          break;
        }
        case EXT: {
          const c = buf[pos]!;
          if (c === 13) state = SIZE_LF;
          else if (c === 10) state = this.#sizeLineDone();
          else if ((c < 32 && c !== 9) || c === 127) {
            return this.#fail("invalid chunk extension");
          } else if (++this.#ext > MAX_EXTENSION_BYTES) {
            return this.#fail("chunk extension too long");
          }
          pos++;
          break;
        }
        case SIZE_LF:
          if (buf[pos] !== 10) return this.#fail("invalid chunk size line");
          state = this.#sizeLineDone();
          pos++;
          break;
        case DATA_END: {
          const c = buf[pos];
          if (c === 13) state = DATA_LF;
          else if (c === 10) state = this.#nextChunk();
          else return this.#fail("missing line end after chunk data");
          pos++;
          break;
        }
        case DATA_LF:
          if (buf[pos] !== 10) {
            return this.#fail("missing line end after chunk data");
          }
          state = this.#nextChunk();
          pos++;
          break;
        case TRAILER_START: {
          const c = buf[pos];
          if (c === 13) {
            state = TRAILER_LF;
            pos++;
          } else if (c === 10) {
            this.#state = DONE;
            return pos + 1;
          } else state = TRAILER;
          break;
        }
        case TRAILER_LF:
          if (buf[pos] !== 10) return this.#fail("invalid trailer section");
          this.#state = DONE;
          return pos + 1;
        case TRAILER: {
          this.#state = TRAILER;
          const r = this.#collectTrailer(buf, pos, end);
          if (r === -1) return -1;
          return r;
        }
        default:
          // DONE: the rest belongs to the next message. FAILED: stay failed.
          this.#state = state;
          return state === DONE ? pos : -1;
      }
    }
    this.#state = state;
    return pos;
  }

  #sizeLineDone(): number {
    this.#digits = 0;
    this.#ext = 0;
    return this.#size === 0 ? TRAILER_START : DATA;
  }

  #nextChunk(): number {
    this.#size = 0;
    return SIZE_START;
  }

  /** Accumulates trailer bytes until the empty line, then parses them. */
  #collectTrailer(buf: Uint8Array, pos: number, end: number): number {
    const prev = this.#trailer;
    const prevLen = prev === null ? 0 : prev.length;
    const add = buf.subarray(pos, end);
    let acc: Uint8Array;
    if (prev === null) acc = add;
    else {
      acc = new Uint8Array(prevLen + add.length);
      acc.set(prev);
      acc.set(add, prevLen);
    }
    // The section starts with a field line, so an empty line is "\n\n" or "\n\r\n".
    const b = asBuffer(acc);
    let hit = -1;
    let i = b.indexOf(10, prevLen > 2 ? prevLen - 2 : 0);
    while (i !== -1 && i + 1 < b.length) {
      const n = b[i + 1];
      if (n === 10) {
        hit = i + 2;
        break;
      }
      if (n === 13 && i + 2 < b.length) {
        if (b[i + 2] === 10) {
          hit = i + 3;
          break;
        }
      }
      i = b.indexOf(10, i + 1);
    }
    if (hit === -1) {
      if (acc.length > this.#maxTrailerBytes) {
        return this.#fail("trailer section too large");
      }
      // Keep our own copy: the input buffer may be reused by the caller.
      this.#trailer = prev === null ? Uint8Array.from(acc) : acc;
      return end;
    }
    if (hit > this.#maxTrailerBytes) {
      return this.#fail("trailer section too large");
    }
    // deno-lint-ignore no-explicit-any
    const text: string = (b as any).latin1Slice(0, hit);
    const fields = parseTrailerFields(text);
    if (typeof fields === "string") return this.#fail(fields);
    this.trailers = fields;
    this.#trailer = null;
    this.#state = DONE;
    return pos + (hit - prevLen);
  }
}

/** The line that starts a chunk of `size` bytes. */
export function chunkHead(size: number): string {
  return size.toString(16) + "\r\n";
}

/** The line end after chunk data. */
export const CHUNK_END = "\r\n";

/** The last chunk with an empty trailer section. */
export const LAST_CHUNK = "0\r\n\r\n";

/**
 * The last chunk followed by `trailers` and the final empty line (hyper
 * `encode_trailers`). Lines with a CR or LF in the value are dropped.
 */
export function lastChunk(trailers: HeaderMap | undefined): string {
  if (trailers === undefined) return LAST_CHUNK;
  let s = "0\r\n";
  for (const name in trailers) {
    const v = trailers[name]!;
    if (typeof v === "string") {
      if (safeValue(v)) s += name + ": " + v + "\r\n";
    } else {
      for (const one of v) if (safeValue(one)) s += name + ": " + one + "\r\n";
    }
  }
  return s + "\r\n";
}

function safeValue(v: string): boolean {
  return v.indexOf("\n") === -1 && v.indexOf("\r") === -1;
}

/** One chunk (size line, data, line end) in a single buffer. */
export function encodeChunk(data: Uint8Array): Uint8Array {
  const h = chunkHead(data.length);
  const out = Buffer.allocUnsafe(h.length + data.length + 2);
  writeLatin1(out, h, 0);
  out.set(data, h.length);
  out[out.length - 2] = 13;
  out[out.length - 1] = 10;
  return out;
}
