/**
 * The transport header between meshed proxies (linkerd
 * `linkerd/transport-header`, `out/tcp/tagged_transport.rs`, reference
 * §9.4): when TLS negotiated ALPN `transport.l5d.io/v1`, the client first
 * writes `"transport.l5d.io/v1\r\n\r\n"`, a 4-byte big-endian length and a
 * protobuf `transport.l5d.io.Header { int32 port = 1; string name = 2;
 * SessionProtocol session_protocol = 3 }` with `SessionProtocol oneof {
 * Http1 http1 = 1; Http2 http2 = 2; }`, then the connection's bytes.
 *
 * @module
 */
import type net from "node:net";

/** The ALPN protocol of the tagged transport (linkerd `TRANSPORT_HEADER_ALPN`). */
export const TRANSPORT_ALPN = "transport.l5d.io/v1";

/** The bytes every header starts with. */
const PREFACE = new TextEncoder().encode("transport.l5d.io/v1\r\n\r\n");

/** Largest header message accepted, in bytes (linkerd reads a bounded frame). */
const MAX_HEADER_BYTES = 65536;

/** A decoded `transport.l5d.io.Header`. */
export interface TransportHeader {
  /** The original target port. */
  readonly port: number;
  /** The original target name (gateway case); absent when empty. */
  readonly name?: string;
  /** The session protocol; absent for opaque TCP. */
  readonly sessionProtocol?: "http1" | "http2";
}

function varint(n: number, out: number[]): void {
  // int32 negative values take 10 bytes in protobuf; ports are never negative.
  let v = n >>> 0;
  while (v > 0x7f) {
    out.push((v & 0x7f) | 0x80);
    v >>>= 7;
  }
  out.push(v);
}

/** Encodes the preface, the length and the protobuf message. */
export function encodeTransportHeader(h: TransportHeader): Uint8Array {
  const msg: number[] = [];
  if (h.port !== 0) {
    msg.push(0x08); // field 1, varint
    varint(h.port, msg);
  }
  if (h.name !== undefined && h.name !== "") {
    const name = new TextEncoder().encode(h.name);
    msg.push(0x12); // field 2, length-delimited
    varint(name.length, msg);
    for (const b of name) msg.push(b);
  }
  if (h.sessionProtocol !== undefined) {
    // SessionProtocol { oneof { Http1 http1 = 1; Http2 http2 = 2 } }, empty messages.
    msg.push(0x1a, 2, h.sessionProtocol === "http1" ? 0x0a : 0x12, 0);
  }
  const out = new Uint8Array(PREFACE.length + 4 + msg.length);
  out.set(PREFACE);
  new DataView(out.buffer).setUint32(PREFACE.length, msg.length);
  out.set(msg, PREFACE.length + 4);
  return out;
}

/** A malformed transport header. */
export class TransportHeaderError extends Error {
  override name = "TransportHeaderError";
}

function readVarint(b: Uint8Array, pos: number): [number, number] {
  let v = 0;
  let shift = 0;
  for (;;) {
    if (pos >= b.length) throw new TransportHeaderError("truncated varint");
    const byte = b[pos++]!;
    if (shift < 32) v += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [v, pos];
    shift += 7;
    if (shift > 63) throw new TransportHeaderError("varint too long");
  }
}

/** Decodes the protobuf `Header` message. */
function decodeMessage(b: Uint8Array): TransportHeader {
  let port = 0;
  let name: string | undefined;
  let sessionProtocol: "http1" | "http2" | undefined;
  let pos = 0;
  while (pos < b.length) {
    let key: number;
    [key, pos] = readVarint(b, pos);
    const field = Math.floor(key / 8);
    const wire = key & 7;
    if (wire === 0) {
      let v: number;
      [v, pos] = readVarint(b, pos);
      if (field === 1) port = v % 2 ** 32 | 0;
    } else if (wire === 2) {
      let len: number;
      [len, pos] = readVarint(b, pos);
      if (pos + len > b.length) {
        throw new TransportHeaderError("truncated field");
      }
      const v = b.subarray(pos, pos + len);
      pos += len;
      if (field === 2) name = new TextDecoder().decode(v);
      else if (field === 3) {
        // The oneof's first field tells which: 1 = http1, 2 = http2.
        if (v.length > 0) {
          const f = v[0]! >> 3;
          sessionProtocol = f === 1 ? "http1" : f === 2 ? "http2" : undefined;
        }
      }
    } else if (wire === 5) pos += 4;
    else if (wire === 1) pos += 8;
    else throw new TransportHeaderError(`unsupported wire type ${wire}`);
  }
  if (pos > b.length) throw new TransportHeaderError("truncated field");
  if (port < 0 || port > 65535) {
    throw new TransportHeaderError(`invalid port ${port}`);
  }
  return {
    port,
    ...(name === undefined || name === "" ? {} : { name }),
    ...(sessionProtocol === undefined ? {} : { sessionProtocol }),
  };
}

/**
 * Decodes a header at the start of `buf`: the header and the bytes used, or
 * undefined when more bytes are needed. Throws `TransportHeaderError` when
 * the bytes are no transport header.
 */
export function decodeTransportHeader(
  buf: Uint8Array,
): { header: TransportHeader; consumed: number } | undefined {
  const n = Math.min(buf.length, PREFACE.length);
  for (let i = 0; i < n; i++) {
    if (buf[i] !== PREFACE[i]) {
      throw new TransportHeaderError("missing transport header preface");
    }
  }
  if (buf.length < PREFACE.length + 4) return undefined;
  const len = new DataView(buf.buffer, buf.byteOffset, buf.byteLength)
    .getUint32(PREFACE.length);
  if (len > MAX_HEADER_BYTES) {
    throw new TransportHeaderError(`header too large: ${len} bytes`);
  }
  const start = PREFACE.length + 4;
  if (buf.length < start + len) return undefined;
  return {
    header: decodeMessage(buf.subarray(start, start + len)),
    consumed: start + len,
  };
}

/**
 * Reads the transport header from `socket` (linkerd inbound
 * `TransportHeader` detection): resolves with the header and the bytes read
 * past it, rejects on a malformed header, EOF or after `timeoutMs`. The
 * socket is left paused with no data listener.
 */
export function readTransportHeader(
  socket: net.Socket,
  timeoutMs: number,
): Promise<{ header: TransportHeader; rest: Uint8Array }> {
  return new Promise((resolve, reject) => {
    let buf = new Uint8Array(0);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.removeListener("data", onData);
      socket.removeListener("end", onEnd);
      socket.removeListener("close", onEnd);
      socket.pause();
      if (err) reject(err);
    };
    const onData = (chunk: Uint8Array) => {
      const merged = new Uint8Array(buf.length + chunk.length);
      merged.set(buf);
      merged.set(chunk, buf.length);
      buf = merged;
      let got;
      try {
        got = decodeTransportHeader(buf);
      } catch (err) {
        finish(err as Error);
        return;
      }
      if (got === undefined) return;
      finish();
      resolve({ header: got.header, rest: buf.subarray(got.consumed) });
    };
    const onEnd = () =>
      finish(new TransportHeaderError("connection closed before the header"));
    const timer = setTimeout(
      () => finish(new TransportHeaderError("transport header timed out")),
      timeoutMs,
    );
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("close", onEnd);
    socket.resume();
  });
}
