/**
 * Protocol detection on an accepted connection (linkerd
 * `linkerd/http/detect`): HTTP/2 preface, an HTTP/1 request line, a TLS
 * ClientHello, or opaque bytes.
 *
 * @module
 */
import type net from "node:net";

/** What the first bytes of a connection look like. */
export type Detected = "h2" | "http1" | "tls" | "opaque";

/** The HTTP/2 connection preface (RFC 9113 §3.4). */
export const H2_PREFACE = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const PREFACE_BYTES = new TextEncoder().encode(H2_PREFACE);

/** linkerd reads at most this much before deciding. */
export const DETECT_BUFFER_BYTES = 1024;

/**
 * Classifies a buffer, or returns `undefined` if more bytes could change
 * the answer (a prefix of the preface, or a request line without its end).
 */
export function classify(buf: Uint8Array): Detected | undefined {
  if (buf.length === 0) return undefined;
  // HTTP/2 preface (or a prefix of it).
  let i = 0;
  const n = Math.min(buf.length, PREFACE_BYTES.length);
  while (i < n && buf[i] === PREFACE_BYTES[i]) i++;
  if (i === PREFACE_BYTES.length) return "h2";
  if (i === buf.length) return undefined;
  // TLS handshake record: content type 22, version 3.x.
  if (buf[0] === 0x16) {
    if (buf.length < 3) return undefined;
    return buf[1] === 0x03 ? "tls" : "opaque";
  }
  return classifyHttp1(buf);
}

function isTchar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) ||
    (c >= 0x30 && c <= 0x39) ||
    "!#$%&'*+-.^_`|~".includes(String.fromCharCode(c));
}

/** `METHOD SP target SP HTTP/1.x CRLF` (the part httparse checks). */
function classifyHttp1(buf: Uint8Array): Detected | undefined {
  let i = 0;
  while (i < buf.length && isTchar(buf[i]!)) i++;
  if (i === buf.length) return i < 32 ? undefined : "opaque";
  if (i === 0 || buf[i] !== 0x20) return "opaque";
  i++;
  const targetStart = i;
  while (i < buf.length && buf[i]! > 0x20 && buf[i]! !== 0x7f) i++;
  if (i === buf.length) {
    return buf.length < DETECT_BUFFER_BYTES ? undefined : "opaque";
  }
  if (i === targetStart || buf[i] !== 0x20) return "opaque";
  i++;
  const version = "HTTP/1.";
  for (let k = 0; k < version.length + 1; k++, i++) {
    if (i >= buf.length) return undefined;
    if (k < version.length) {
      if (buf[i] !== version.charCodeAt(k)) return "opaque";
    } else if (buf[i] !== 0x30 && buf[i] !== 0x31) return "opaque";
  }
  if (i >= buf.length) return undefined;
  if (buf[i] === 0x0d || buf[i] === 0x0a) return "http1";
  return "opaque";
}

/** The result of {@linkcode detect}. */
export interface Detection {
  readonly protocol: Detected | "timeout" | "eof";
  /** Bytes read while detecting; the protocol handler must see them first. */
  readonly initial: Uint8Array;
}

/**
 * Reads from `socket` until the protocol is known, at most
 * `DETECT_BUFFER_BYTES`, or `timeoutMs` passes (then "timeout": linkerd
 * treats it as opaque). The socket is left paused with no listeners.
 */
export function detect(
  socket: net.Socket,
  timeoutMs: number,
): Promise<Detection> {
  return new Promise((resolve) => {
    let buf: Uint8Array = new Uint8Array(0);
    const finish = (protocol: Detection["protocol"]) => {
      clearTimeout(timer);
      socket.off("data", onData);
      socket.off("end", onEnd);
      socket.off("error", onEnd);
      socket.pause();
      resolve({ protocol, initial: buf });
    };
    const onData = (chunk: Uint8Array) => {
      if (buf.length === 0) buf = chunk;
      else {
        const next = new Uint8Array(buf.length + chunk.length);
        next.set(buf);
        next.set(chunk, buf.length);
        buf = next;
      }
      const c = classify(buf);
      if (c !== undefined) finish(c);
      else if (buf.length >= DETECT_BUFFER_BYTES) finish("opaque");
    };
    const onEnd = () =>
      finish(buf.length === 0 ? "eof" : classify(buf) ?? "opaque");
    const timer = setTimeout(() => finish("timeout"), timeoutMs);
    socket.on("data", onData);
    socket.once("end", onEnd);
    socket.once("error", onEnd);
    socket.resume();
  });
}
