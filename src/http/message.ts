/**
 * Petrel's HTTP message envelope, shared by the HTTP/1 and HTTP/2 codecs
 * and every layer of the stack (linkerd's `http::Request` plus
 * `http::Extensions`).
 *
 * Headers are a plain object of lower-case names (no pseudo-headers), which
 * the HTTP/2 codec decodes into and encodes from directly.
 * Bodies are push streams with explicit flow control: `pause()`/`resume()`
 * map directly onto socket and HTTP/2 stream backpressure, so a slow reader
 * slows the writer and nothing is buffered without bound.
 *
 * @module
 */
import type { Service } from "../svc/service.ts";
import type { ClassifyPolicy } from "./classify.ts";

/** One header value, or several for a repeated header. */
export type HeaderValue = string | string[];

/** Lower-case header names to values; never contains pseudo-headers. */
export type HeaderMap = Record<string, HeaderValue>;

/** The HTTP version a message was received with. */
export type HttpVersion = "HTTP/1.0" | "HTTP/1.1" | "HTTP/2";

/** Receives a body's frames (hyper `Body::poll_frame` results, pushed). */
export interface BodySink {
  /** A DATA chunk. The sink calls `body.pause()` when it cannot keep up. */
  data(chunk: Uint8Array): void;
  /** End of stream, with trailers if any. */
  end(trailers?: HeaderMap): void;
  /** The body failed (a reset, a truncated message, a timeout). */
  error(err: Error): void;
}

/** A streaming message body with backpressure (hyper `http_body::Body`). */
export interface Body {
  /** The exact length in bytes when known up front (content-length). */
  readonly length: number | undefined;
  /** Starts delivery to `sink`. Called at most once. */
  start(sink: BodySink): void;
  /** Stops delivery until `resume()`; the source applies backpressure. */
  pause(): void;
  /** Resumes delivery after `pause()`. */
  resume(): void;
  /**
   * The consumer is gone: release the source. For an HTTP/2 stream this
   * resets it (CANCEL unless the error carries another code).
   */
  cancel(err?: Error): void;
}

/** The app-facing connection a request arrived on (linkerd `ClientHandle`). */
export interface ClientHandle {
  /** Remote address of the application, "ip:port". */
  readonly addr: string;
  /** Closes the connection gracefully after the current response. */
  close(): void;
}

/** A raw connection handed over after `101 Switching Protocols`. */
export interface Upgraded {
  /** The upstream socket, now a byte pipe. */
  readonly socket: import("node:net").Socket;
  /** Bytes already read past the 101 response head. */
  readonly head: Uint8Array;
}

/** Per-request data that flows down the stack (linkerd `http::Extensions`). */
export interface RequestExt {
  /** The request arrived in HTTP/1 absolute-form (`GET http://a/b`). */
  absoluteForm?: boolean;
  /** The HTTP/1 request asks for a protocol upgrade (WebSocket, CONNECT). */
  upgrade?: boolean;
  /** The downstream connection. */
  client?: ClientHandle;
  /** Monotonic start time in ms (performance.now()). */
  startMs?: number;
  /**
   * Aborted when the downstream gives up on the request before its response
   * is done (an HTTP/2 RST_STREAM, a client disconnect); the reason is a
   * `StreamResetError` carrying the code to pass upstream.
   */
  signal?: AbortSignal;
  /**
   * The logical target chosen by the connection, "host:port": in sidecar
   * mode the original destination the app dialed (linkerd `OrigDstAddr`).
   * Set, it wins over `l5d-dst-override` and the authority.
   */
  logical?: string;
  /**
   * How the endpoint classifies the response, for its metrics and failure
   * accrual (linkerd's `classify::Response` extension, set by a profile
   * route); absent = the default classification.
   */
  classify?: ClassifyPolicy;
}

/** An HTTP request as it travels through Petrel. */
export interface HttpRequest {
  method: string;
  /** "http" or "https". */
  scheme: string;
  /** The authority as the client sent it (`:authority`, absolute-form or Host). */
  authority: string;
  /** Origin-form path and query ("/a?b"), or "*" for `OPTIONS *`. */
  path: string;
  version: HttpVersion;
  headers: HeaderMap;
  body: Body | null;
  ext: RequestExt;
}

/** An HTTP response as it travels through Petrel. */
export interface HttpResponse {
  status: number;
  headers: HeaderMap;
  body: Body | null;
  /** Set on a 101 response from an HTTP/1 upstream: the raw upstream. */
  upgraded?: Upgraded;
  /** Close the downstream connection after this response (linkerd `close_connection`). */
  closeConnection?: boolean;
}

/** A service over Petrel's HTTP envelope. */
export type HttpService = Service<HttpRequest, HttpResponse>;

const EMPTY = new Uint8Array(0);

/** A body of fixed bytes (synthetic responses, tests). */
export function bytesBody(
  bytes: Uint8Array | string,
  trailers?: HeaderMap,
): Body {
  const data = typeof bytes === "string"
    ? new TextEncoder().encode(bytes)
    : bytes;
  let sink: BodySink | undefined;
  let paused = false;
  let done = false;
  const flush = () => {
    if (!sink || paused || done) return;
    done = true;
    if (data.length > 0) sink.data(data);
    sink.end(trailers);
  };
  return {
    length: data.length,
    start(s) {
      sink = s;
      queueMicrotask(flush);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      queueMicrotask(flush);
    },
    cancel() {
      done = true;
    },
  };
}

/** An empty body that ends with `trailers` (gRPC-style trailers after no data). */
export function trailersBody(trailers: HeaderMap): Body {
  return bytesBody(EMPTY, trailers);
}

/**
 * Reads a whole body into memory. For tests and small control messages only:
 * the data plane streams.
 */
export function readBody(
  body: Body | null,
): Promise<{ bytes: Uint8Array; trailers: HeaderMap | undefined }> {
  if (!body) return Promise.resolve({ bytes: EMPTY, trailers: undefined });
  return new Promise((resolve, reject) => {
    const chunks: Uint8Array[] = [];
    let size = 0;
    body.start({
      data(c) {
        chunks.push(c);
        size += c.length;
      },
      end(trailers) {
        const out = new Uint8Array(size);
        let off = 0;
        for (const c of chunks) {
          out.set(c, off);
          off += c.length;
        }
        resolve({ bytes: out, trailers });
      },
      error: reject,
    });
  });
}

/** Returns the first value of a header, or undefined. */
export function headerValue(
  headers: HeaderMap,
  name: string,
): string | undefined {
  const v = headers[name];
  return typeof v === "string" ? v : v?.[0];
}
