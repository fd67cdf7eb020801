/**
 * Byte helpers for the HTTP/1 codec. Deno's `node:buffer` latin1 encoders
 * are JS loops that cost ~5 ns per character, so heads are encoded here:
 * short strings with a plain loop, longer ASCII strings with the native
 * `TextEncoder.encodeInto` (ASCII is the same in UTF-8 and latin1).
 *
 * @module
 */
import { Buffer } from "node:buffer";

const ENCODER = new TextEncoder();
const LOOP_MAX = 96;

/** Writes `s` as latin1 (one byte per char) into `buf` at `off`; returns the end offset. */
export function writeLatin1(buf: Uint8Array, s: string, off: number): number {
  const n = s.length;
  if (n > LOOP_MAX) {
    const r = ENCODER.encodeInto(s, off === 0 ? buf : buf.subarray(off));
    if (r.read === n && r.written === n) return off + n;
  }
  for (let i = 0; i < n; i++) buf[off + i] = s.charCodeAt(i);
  return off + n;
}

/** `s` as latin1 bytes. */
export function latin1Bytes(s: string): Buffer {
  const b = Buffer.allocUnsafe(s.length);
  writeLatin1(b, s, 0);
  return b;
}

/** Decodes `buf[start, end)` as latin1 (native for Buffers). */
export function latin1Slice(
  buf: Uint8Array,
  start: number,
  end: number,
): string {
  // deno-lint-ignore no-explicit-any
  const b: any = buf instanceof Buffer
    ? buf
    : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  return b.latin1Slice(start, end);
}
