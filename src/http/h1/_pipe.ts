/**
 * Bidirectional byte pipe between two sockets after an HTTP/1 upgrade or
 * CONNECT (linkerd `duplex`, tokio `copy_bidirectional`): each direction
 * keeps its own backpressure, a FIN is forwarded as a half-close, and an
 * error on either side destroys both.
 *
 * @module
 */
import type { Socket } from "node:net";

/** Pipes `a` and `b` both ways until both directions end or one side fails. */
export function pipeSockets(a: Socket, b: Socket): void {
  a.allowHalfOpen = true;
  b.allowHalfOpen = true;
  const fail = () => {
    a.destroy();
    b.destroy();
  };
  a.on("error", fail);
  b.on("error", fail);
  // A side that closed (both directions done, or reset) leaves nothing to
  // carry: let the other flush what it was given, then close it.
  a.on("close", () => closeAfterFlush(b));
  b.on("close", () => closeAfterFlush(a));
  a.pipe(b);
  b.pipe(a);
  a.resume();
  b.resume();
}

function closeAfterFlush(s: Socket): void {
  if (s.destroyed) return;
  if (s.writableFinished) {
    s.destroy();
    return;
  }
  s.once("finish", () => s.destroy());
  if (!s.writableEnded) s.end();
}
