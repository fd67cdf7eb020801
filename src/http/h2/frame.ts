/**
 * HTTP/2 framing (RFC 9113 §4, §6): frame constants, a reader that cuts
 * socket chunks into frames with the SETTINGS_MAX_FRAME_SIZE check, and a
 * writer that coalesces every frame produced in one event-loop turn into a
 * single socket write, reusing its buffers (h2 crate `codec::{FramedRead,
 * FramedWrite}`).
 *
 * @module
 */
import { setImmediate } from "node:timers";

/** Frame types (RFC 9113 §6). */
export const FrameType = {
  DATA: 0x0,
  HEADERS: 0x1,
  PRIORITY: 0x2,
  RST_STREAM: 0x3,
  SETTINGS: 0x4,
  PUSH_PROMISE: 0x5,
  PING: 0x6,
  GOAWAY: 0x7,
  WINDOW_UPDATE: 0x8,
  CONTINUATION: 0x9,
} as const;

/** Frame flags (RFC 9113 §6). */
export const Flag = {
  END_STREAM: 0x1,
  ACK: 0x1,
  END_HEADERS: 0x4,
  PADDED: 0x8,
  PRIORITY: 0x20,
} as const;

/** Error codes (RFC 9113 §7). */
export const ErrorCode = {
  NO_ERROR: 0x0,
  PROTOCOL_ERROR: 0x1,
  INTERNAL_ERROR: 0x2,
  FLOW_CONTROL_ERROR: 0x3,
  SETTINGS_TIMEOUT: 0x4,
  STREAM_CLOSED: 0x5,
  FRAME_SIZE_ERROR: 0x6,
  REFUSED_STREAM: 0x7,
  CANCEL: 0x8,
  COMPRESSION_ERROR: 0x9,
  CONNECT_ERROR: 0xa,
  ENHANCE_YOUR_CALM: 0xb,
  INADEQUATE_SECURITY: 0xc,
  HTTP_1_1_REQUIRED: 0xd,
} as const;

/** SETTINGS identifiers (RFC 9113 §6.5.2). */
export const SettingId = {
  HEADER_TABLE_SIZE: 0x1,
  ENABLE_PUSH: 0x2,
  MAX_CONCURRENT_STREAMS: 0x3,
  INITIAL_WINDOW_SIZE: 0x4,
  MAX_FRAME_SIZE: 0x5,
  MAX_HEADER_LIST_SIZE: 0x6,
} as const;

/** Length of a frame header. */
export const FRAME_HEADER_LEN = 9;
/** SETTINGS_MAX_FRAME_SIZE default and minimum (RFC 9113 §6.5.2). */
export const DEFAULT_MAX_FRAME_SIZE = 16384;
/** Largest SETTINGS_MAX_FRAME_SIZE allowed. */
export const MAX_MAX_FRAME_SIZE = 16777215;
/** Largest flow-control window (2^31-1, RFC 9113 §6.9.1). */
export const MAX_WINDOW = 0x7fffffff;
/** Initial flow-control window of every stream and the connection. */
export const DEFAULT_WINDOW = 65535;

/** The client connection preface (RFC 9113 §3.4). */
export const PREFACE: Uint8Array = new TextEncoder().encode(
  "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
);

/**
 * A protocol violation. `streamId` 0 is a connection error (GOAWAY);
 * otherwise a stream error (RST_STREAM) on that stream (RFC 9113 §5.4).
 */
export class H2ProtocolError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly streamId = 0,
  ) {
    super(message);
    this.name = "H2ProtocolError";
  }
}

/** Receives one whole frame; `payload` stays valid after the call. */
export type FrameHandler = (
  type: number,
  flags: number,
  streamId: number,
  payload: Uint8Array,
) => void;

/** Options for {@linkcode FrameReader}. */
export interface FrameReaderOptions {
  /** Expect the client preface before the first frame (server role). @default false */
  preface?: boolean;
  /** Largest payload accepted. @default 16384 */
  maxFrameSize?: number;
}

/**
 * Cuts socket chunks into frames (h2 `FramedRead`). Payloads are subarrays
 * of the chunk when a frame lies inside one, else of a buffer allocated for
 * that frame alone, so they can be handed on without copying.
 */
export class FrameReader {
  /** Largest payload accepted (our advertised SETTINGS_MAX_FRAME_SIZE). */
  maxFrameSize: number;
  readonly #onFrame: FrameHandler;
  #prefaceLeft: number;
  /** A frame split across chunks: its header bytes, then its whole frame. */
  #partial: Uint8Array | null = null;
  #partialLen = 0;
  #stopped = false;

  constructor(onFrame: FrameHandler, opts: FrameReaderOptions = {}) {
    this.#onFrame = onFrame;
    this.maxFrameSize = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    this.#prefaceLeft = opts.preface ? PREFACE.length : 0;
  }

  /** Stops delivering frames (after a connection error). */
  stop(): void {
    this.#stopped = true;
    this.#partial = null;
  }

  /** Bytes of an incomplete frame held back. */
  get pending(): number {
    return this.#partialLen;
  }

  /** Feeds a chunk; throws `H2ProtocolError` (connection errors only). */
  push(chunk: Uint8Array): void {
    let off = 0;
    const n = chunk.length;
    if (this.#prefaceLeft > 0) {
      const start = PREFACE.length - this.#prefaceLeft;
      while (this.#prefaceLeft > 0 && off < n) {
        if (chunk[off] !== PREFACE[start + off]) {
          this.stop();
          throw new H2ProtocolError(
            ErrorCode.PROTOCOL_ERROR,
            "invalid connection preface",
          );
        }
        off++;
        this.#prefaceLeft--;
      }
    }
    if (this.#partial !== null) {
      off = this.#fillPartial(chunk, off);
      if (off < 0) return;
    }
    while (!this.#stopped) {
      const left = n - off;
      if (left < FRAME_HEADER_LEN) {
        if (left > 0) {
          const p = new Uint8Array(FRAME_HEADER_LEN);
          p.set(chunk.subarray(off));
          this.#partial = p;
          this.#partialLen = left;
        }
        return;
      }
      const len = (chunk[off]! << 16) | (chunk[off + 1]! << 8) |
        chunk[off + 2]!;
      this.#checkLength(len);
      if (left < FRAME_HEADER_LEN + len) {
        const p = new Uint8Array(FRAME_HEADER_LEN + len);
        p.set(chunk.subarray(off));
        this.#partial = p;
        this.#partialLen = left;
        return;
      }
      const type = chunk[off + 3]!;
      const flags = chunk[off + 4]!;
      const sid = ((chunk[off + 5]! & 0x7f) << 24) |
        (chunk[off + 6]! << 16) | (chunk[off + 7]! << 8) | chunk[off + 8]!;
      const start = off + FRAME_HEADER_LEN;
      off = start + len;
      this.#onFrame(type, flags, sid, chunk.subarray(start, off));
    }
  }

  #checkLength(len: number): void {
    if (len > this.maxFrameSize) {
      this.stop();
      throw new H2ProtocolError(
        ErrorCode.FRAME_SIZE_ERROR,
        `frame of ${len} bytes exceeds SETTINGS_MAX_FRAME_SIZE ${this.maxFrameSize}`,
      );
    }
  }

  /** Completes the held-back frame; returns the offset after it, or -1. */
  #fillPartial(chunk: Uint8Array, off: number): number {
    let p = this.#partial!;
    let have = this.#partialLen;
    if (have < FRAME_HEADER_LEN) {
      const take = Math.min(FRAME_HEADER_LEN - have, chunk.length - off);
      p.set(chunk.subarray(off, off + take), have);
      have += take;
      off += take;
      this.#partialLen = have;
      if (have < FRAME_HEADER_LEN) return -1;
      const len = (p[0]! << 16) | (p[1]! << 8) | p[2]!;
      this.#checkLength(len);
      if (len > 0) {
        const whole = new Uint8Array(FRAME_HEADER_LEN + len);
        whole.set(p);
        this.#partial = p = whole;
      }
    }
    const take = Math.min(p.length - have, chunk.length - off);
    if (take > 0) p.set(chunk.subarray(off, off + take), have);
    have += take;
    off += take;
    if (have < p.length) {
      this.#partialLen = have;
      return -1;
    }
    this.#partial = null;
    this.#partialLen = 0;
    const sid = ((p[5]! & 0x7f) << 24) | (p[6]! << 16) | (p[7]! << 8) | p[8]!;
    this.#onFrame(p[3]!, p[4]!, sid, p.subarray(FRAME_HEADER_LEN));
    return this.#stopped ? -1 : off;
  }
}

/** What a {@linkcode FrameWriter} writes to: a `node:net` socket or a test double. */
export interface ByteSink {
  write(chunk: Uint8Array, cb: (err?: Error | null) => void): boolean;
  readonly writableLength: number;
}

const INITIAL_BUFFER = 16384;
const KEEP_BUFFER_MAX = 262144;
const NO_BUFFER = new Uint8Array(0);
/**
 * Written buffers, shared by every connection's writer: an idle connection
 * holds none (issue 19: each kept two or three 16 KiB buffers, 35 KB of an
 * idle session's 55 KB).
 */
const FREE_BUFFERS: Uint8Array[] = [];
const FREE_BUFFERS_MAX = 64;

/**
 * Encodes frames into a buffer and writes everything produced in one
 * event-loop turn in one `write()` from `setImmediate`, after the turn's
 * promise jobs ran (h2 `FramedWrite` with its `Buffer`). A written buffer is
 * reused once the socket is done with it. `beforeFlush` lets the
 * connection add the DATA it held back during the turn.
 */
export class FrameWriter {
  /** Called right before each write, to add frames held back during the turn. */
  beforeFlush: (() => void) | null = null;
  /** Called right after each write (the socket took the bytes). */
  afterFlush: (() => void) | null = null;
  readonly #sink: ByteSink;
  #buf: Uint8Array;
  #len = 0;
  #scheduled = false;
  #closed = false;
  #flushLater = () => {
    this.#scheduled = false;
    this.flush();
  };

  constructor(sink: ByteSink) {
    this.#sink = sink;
    this.#buf = NO_BUFFER;
  }

  /** Bytes not yet taken by the kernel: queued here plus the socket's buffer. */
  get buffered(): number {
    return this.#len + this.#sink.writableLength;
  }

  /** Drops everything and refuses further frames. */
  close(): void {
    this.#closed = true;
    this.#len = 0;
  }

  /** Makes sure a flush runs at the end of this turn. */
  schedule(): void {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushLater);
    }
  }

  /** Writes what is queued now. */
  flush(): void {
    if (this.#closed) return;
    this.beforeFlush?.();
    if (this.#len === 0) return;
    const buf = this.#buf;
    const out = buf.subarray(0, this.#len);
    this.#len = 0;
    this.#buf = NO_BUFFER;
    this.#sink.write(out, () => {
      if (
        buf.length <= KEEP_BUFFER_MAX && FREE_BUFFERS.length < FREE_BUFFERS_MAX
      ) FREE_BUFFERS.push(buf);
    });
    this.afterFlush?.();
  }

  /** Reserves `n` bytes and returns the offset to write them at. */
  #reserve(n: number): number {
    if (!this.#scheduled) {
      this.#scheduled = true;
      setImmediate(this.#flushLater);
    }
    const off = this.#len;
    const need = off + n;
    if (need > this.#buf.length) {
      if (off === 0) {
        const free = FREE_BUFFERS.pop();
        if (free !== undefined && free.length >= need) {
          this.#buf = free;
          this.#len = need;
          return 0;
        }
        if (free !== undefined) FREE_BUFFERS.push(free);
      }
      let size = Math.max(this.#buf.length * 2, INITIAL_BUFFER);
      while (size < need) size *= 2;
      const next = new Uint8Array(size);
      next.set(this.#buf.subarray(0, off));
      this.#buf = next;
    }
    this.#len = need;
    return off;
  }

  #header(
    off: number,
    len: number,
    type: number,
    flags: number,
    sid: number,
  ): void {
    const b = this.#buf;
    b[off] = len >>> 16;
    b[off + 1] = (len >>> 8) & 0xff;
    b[off + 2] = len & 0xff;
    b[off + 3] = type;
    b[off + 4] = flags;
    b[off + 5] = (sid >>> 24) & 0x7f;
    b[off + 6] = (sid >>> 16) & 0xff;
    b[off + 7] = (sid >>> 8) & 0xff;
    b[off + 8] = sid & 0xff;
  }

  #u32(off: number, v: number): void {
    const b = this.#buf;
    b[off] = v >>> 24;
    b[off + 1] = (v >>> 16) & 0xff;
    b[off + 2] = (v >>> 8) & 0xff;
    b[off + 3] = v & 0xff;
  }

  /** Raw bytes (the client preface). */
  raw(bytes: Uint8Array): void {
    if (this.#closed) return;
    const off = this.#reserve(bytes.length);
    this.#buf.set(bytes, off);
  }

  /** Any frame with a ready payload (also unknown types, for tests). */
  frame(type: number, flags: number, sid: number, payload: Uint8Array): void {
    if (this.#closed) return;
    const off = this.#reserve(FRAME_HEADER_LEN + payload.length);
    this.#header(off, payload.length, type, flags, sid);
    this.#buf.set(payload, off + FRAME_HEADER_LEN);
  }

  /** One DATA frame; `data` must fit the peer's max frame size. */
  data(sid: number, data: Uint8Array, endStream: boolean): void {
    this.frame(FrameType.DATA, endStream ? Flag.END_STREAM : 0, sid, data);
  }

  /**
   * A field block as HEADERS plus as many CONTINUATION frames as
   * `maxFrameSize` needs.
   */
  headers(
    sid: number,
    block: Uint8Array,
    endStream: boolean,
    maxFrameSize: number,
  ): void {
    if (this.#closed) return;
    const es = endStream ? Flag.END_STREAM : 0;
    if (block.length <= maxFrameSize) {
      this.frame(FrameType.HEADERS, es | Flag.END_HEADERS, sid, block);
      return;
    }
    let pos = 0;
    let type: number = FrameType.HEADERS;
    let flags: number = es;
    while (pos < block.length) {
      const end = Math.min(block.length, pos + maxFrameSize);
      this.frame(
        type,
        flags | (end === block.length ? Flag.END_HEADERS : 0),
        sid,
        block.subarray(pos, end),
      );
      pos = end;
      type = FrameType.CONTINUATION;
      flags = 0;
    }
  }

  /** SETTINGS with `[id, value]` pairs. */
  settings(pairs: ReadonlyArray<readonly [number, number]>): void {
    if (this.#closed) return;
    const len = pairs.length * 6;
    const off = this.#reserve(FRAME_HEADER_LEN + len);
    this.#header(off, len, FrameType.SETTINGS, 0, 0);
    let p = off + FRAME_HEADER_LEN;
    for (const [id, v] of pairs) {
      this.#buf[p] = id >>> 8;
      this.#buf[p + 1] = id & 0xff;
      this.#u32(p + 2, v);
      p += 6;
    }
  }

  /** SETTINGS with ACK. */
  settingsAck(): void {
    if (this.#closed) return;
    const off = this.#reserve(FRAME_HEADER_LEN);
    this.#header(off, 0, FrameType.SETTINGS, Flag.ACK, 0);
  }

  /** PING (8 opaque bytes), or its ACK. */
  ping(opaque: Uint8Array, ack: boolean): void {
    this.frame(FrameType.PING, ack ? Flag.ACK : 0, 0, opaque.subarray(0, 8));
  }

  /** GOAWAY with the last processed stream and an error code. */
  goaway(lastStreamId: number, code: number, debug?: Uint8Array): void {
    if (this.#closed) return;
    const dl = debug?.length ?? 0;
    const off = this.#reserve(FRAME_HEADER_LEN + 8 + dl);
    this.#header(off, 8 + dl, FrameType.GOAWAY, 0, 0);
    this.#u32(off + 9, lastStreamId & MAX_WINDOW);
    this.#u32(off + 13, code);
    if (debug) this.#buf.set(debug, off + 17);
  }

  /** RST_STREAM with a code. */
  rstStream(sid: number, code: number): void {
    if (this.#closed) return;
    const off = this.#reserve(FRAME_HEADER_LEN + 4);
    this.#header(off, 4, FrameType.RST_STREAM, 0, sid);
    this.#u32(off + 9, code);
  }

  /** WINDOW_UPDATE on a stream, or on the connection (`sid` 0). */
  windowUpdate(sid: number, increment: number): void {
    if (this.#closed) return;
    const off = this.#reserve(FRAME_HEADER_LEN + 4);
    this.#header(off, 4, FrameType.WINDOW_UPDATE, 0, sid);
    this.#u32(off + 9, increment & MAX_WINDOW);
  }
}

/** Reads a 31-bit stream id or window increment at `off`. */
export function readU31(b: Uint8Array, off: number): number {
  return ((b[off]! & 0x7f) << 24 | b[off + 1]! << 16 | b[off + 2]! << 8 |
    b[off + 3]!) >>> 0;
}

/** Reads a 32-bit unsigned integer at `off`. */
export function readU32(b: Uint8Array, off: number): number {
  return (b[off]! << 24 | b[off + 1]! << 16 | b[off + 2]! << 8 |
    b[off + 3]!) >>>
    0;
}

/**
 * Strips padding from a DATA or HEADERS payload with PADDED set (RFC 9113
 * §6.1); throws a connection PROTOCOL_ERROR when the padding is too long.
 */
export function unpad(payload: Uint8Array, flags: number): Uint8Array {
  if ((flags & Flag.PADDED) === 0) return payload;
  if (payload.length < 1) {
    throw new H2ProtocolError(
      ErrorCode.FRAME_SIZE_ERROR,
      "padded frame too short",
    );
  }
  const pad = payload[0]!;
  if (pad >= payload.length) {
    throw new H2ProtocolError(
      ErrorCode.PROTOCOL_ERROR,
      "padding longer than the frame",
    );
  }
  return payload.subarray(1, payload.length - pad);
}
