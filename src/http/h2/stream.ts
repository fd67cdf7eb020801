/**
 * Adapters between `node:http2` streams and Petrel's `Body`: the readable
 * side of a stream as a Body, a Body written into a stream with flow
 * control and trailers, and resets with an exact code.
 *
 * @module
 */
import http2 from "node:http2";
import { StreamResetError } from "../../errors.ts";
import type { Body, BodySink, HeaderMap } from "../message.ts";

/** HTTP/2 error codes (RFC 9113 §7). */
export const H2Code = {
  NO_ERROR: 0,
  PROTOCOL_ERROR: 1,
  INTERNAL_ERROR: 2,
  REFUSED_STREAM: 7,
  CANCEL: 8,
  ENHANCE_YOUR_CALM: 11,
} as const;

function noop() {}

/** The END_STREAM flag on a HEADERS frame. */
export const FLAG_END_STREAM = 0x1;

/** Headers a `node:http2` message may not carry (connection-specific). */
const CONNECTION_SPECIFIC = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "transfer-encoding",
  "upgrade",
  "host",
  "http2-settings",
]);

/** Copies regular headers out of a `node:http2` header object (drops pseudo-headers). */
export function fromH2Headers(h: http2.IncomingHttpHeaders): HeaderMap {
  const out: HeaderMap = {};
  for (const k in h) {
    if (k.charCodeAt(0) === 58 /* : */) continue;
    const v = h[k];
    if (v !== undefined) out[k] = v;
  }
  return out;
}

/**
 * Copies a HeaderMap into `target` for sending over HTTP/2, dropping
 * connection-specific headers and any `te` other than `trailers`.
 */
export function toH2Headers(
  headers: HeaderMap,
  target: http2.OutgoingHttpHeaders,
): http2.OutgoingHttpHeaders {
  for (const k in headers) {
    if (CONNECTION_SPECIFIC.has(k)) continue;
    const v = headers[k]!;
    if (k === "te") {
      if (String(v).toLowerCase().includes("trailers")) {
        target["te"] = "trailers";
      }
      continue;
    }
    target[k] = v;
  }
  return target;
}

/**
 * Resets `stream` with `code`. Works around `close(code)` ending the stream
 * cleanly (END_STREAM) after `respond()` in Deno's and Node's http2: marking
 * the writable side as ending first makes the RST_STREAM with the code go
 * out (pinned by a wire test).
 */
export function resetStream(stream: http2.Http2Stream, code: number): void {
  if (stream.destroyed || stream.closed) return;
  // Closing with an error code emits 'error' on our own stream.
  if (stream.listenerCount("error") === 0) stream.on("error", noop);
  // deno-lint-ignore no-explicit-any
  const ws = (stream as any)._writableState;
  if (ws && code !== H2Code.NO_ERROR) ws.ending = true;
  stream.close(code);
}

/** The reset code to use for an error travelling towards an HTTP/2 peer. */
export function resetCodeFor(err: Error | undefined): number {
  if (err instanceof StreamResetError) return err.code;
  return err === undefined ? H2Code.CANCEL : H2Code.INTERNAL_ERROR;
}

/**
 * The readable side of an HTTP/2 stream as a Body. A peer reset surfaces as
 * `StreamResetError` with the peer's code; `cancel()` resets the stream.
 */
export function streamBody(
  stream: http2.Http2Stream,
  length: number | undefined,
): Body {
  let sink: BodySink | undefined;
  let trailers: HeaderMap | undefined;
  let done = false;
  const onData = (chunk: Uint8Array) => sink!.data(chunk);
  const onTrailers = (h: http2.IncomingHttpHeaders) => {
    trailers = fromH2Headers(h);
  };
  const onEnd = () => {
    if (done) return;
    // A reset also ends the readable side: tell the two apart by the code.
    if (stream.rstCode) return onClose();
    done = true;
    sink!.end(trailers);
  };
  const onClose = () => {
    if (done) return;
    done = true;
    const code = stream.rstCode ?? H2Code.INTERNAL_ERROR;
    sink!.error(new StreamResetError(code === 0 ? H2Code.CANCEL : code));
  };
  // Trailers and a reset may arrive before the consumer starts reading.
  stream.on("trailers", onTrailers);
  stream.on("error", noop);
  return {
    length,
    start(s) {
      sink = s;
      if (stream.destroyed) {
        // Closed before we read: deliver what is buffered, then the outcome.
        let c: Uint8Array | null;
        while ((c = stream.read()) !== null) sink.data(c);
        queueMicrotask(stream.rstCode ? onClose : onEnd);
        return;
      }
      stream.on("end", onEnd);
      stream.on("close", onClose);
      stream.on("data", onData);
      if (stream.readableEnded) queueMicrotask(onEnd);
    },
    pause() {
      stream.pause();
    },
    resume() {
      stream.resume();
    },
    cancel(err) {
      if (done) return;
      done = true;
      resetStream(stream, resetCodeFor(err));
    },
  };
}

/**
 * Writes `body` into the writable side of `stream`, honouring flow control
 * (pauses the body while the stream is not draining) and sending trailers.
 * The stream must have been opened with `waitForTrailers: true`. A body
 * error resets the stream (with the reset code it carries) unless
 * `errorTrailers` turns it into trailers (gRPC status after headers).
 */
export function pipeBodyToStream(
  body: Body,
  stream: http2.Http2Stream,
  errorTrailers?: (err: Error) => HeaderMap | undefined,
): void {
  let trailers: HeaderMap | undefined;
  let finished = false;
  // Deno's Http2Stream.end() takes a shortcut while a write is still in
  // progress ("markEnding"), and the stream can then end before the last
  // queued DATA goes out: under load the tail of a body was lost. So the
  // end is only issued once every write has completed.
  let writes = 0;
  let endRequested = false;
  const written = () => {
    if (--writes === 0 && endRequested) stream.end();
  };
  stream.on("wantTrailers", () => {
    const t: http2.OutgoingHttpHeaders = {};
    if (trailers) toH2Headers(trailers, t);
    stream.sendTrailers(t);
  });
  stream.on("drain", () => body.resume());
  stream.on("close", () => {
    if (!finished) {
      finished = true;
      const code = stream.rstCode;
      body.cancel(new StreamResetError(code ? code : H2Code.CANCEL));
    }
  });
  body.start({
    data(chunk) {
      if (finished) return;
      writes++;
      if (!stream.write(chunk, written)) body.pause();
    },
    end(t) {
      if (finished) return;
      finished = true;
      trailers = t;
      if (writes === 0) stream.end();
      else endRequested = true;
    },
    error(err) {
      if (finished) return;
      finished = true;
      const t = err instanceof StreamResetError
        ? undefined
        : errorTrailers?.(err);
      if (t) {
        trailers = t;
        if (writes === 0) stream.end();
        else endRequested = true;
        return;
      }
      resetStream(stream, resetCodeFor(err));
    },
  });
}
