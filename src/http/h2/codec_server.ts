/**
 * The HTTP/2 server side on Petrel's own codec (conn.ts): every stream of
 * an accepted connection becomes one `HttpRequest` for the `HttpService`
 * (linkerd `phttp/server.rs`, h2).
 *
 * @module
 */
import type net from "node:net";
import { StreamResetError } from "../../errors.ts";
import type { HttpRequest, HttpResponse, HttpService } from "../message.ts";
import { errorResponse, grpcErrorTrailers, isGrpc } from "../respond.ts";
import {
  H2Conn,
  type H2ConnOptions,
  type H2Head,
  type H2Stream,
} from "./conn.ts";
import { ErrorCode } from "./frame.ts";

/** Options for {@linkcode serveH2} and {@linkcode H2CodecServer}. */
export interface H2CodecServerOptions extends H2ConnOptions {
  /** Add `l5d-proxy-error` etc. to synthetic responses. @default true */
  informationalHeaders?: boolean;
}

/** A served HTTP/2 connection (hyper `server::conn::http2::Connection`). */
export interface H2ServerConn {
  /** Graceful shutdown: GOAWAY, in-flight streams finish, then close. */
  drain(): void;
  /** Closes now (GOAWAY, streams reset). */
  close(): void;
  /** Streams being served. */
  readonly inflight: number;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
}

/**
 * Serves HTTP/2 on `socket` with `service` (hyper
 * `http2::Builder::serve_connection`). `initial` holds bytes already read
 * by protocol detection (the preface included).
 */
export function serveH2(
  socket: net.Socket,
  initial: Uint8Array,
  opts: H2CodecServerOptions & { service: HttpService },
): H2ServerConn {
  try {
    socket.setNoDelay(true);
  } catch { /* not a TCP socket */ }
  const conn = new H2Conn(socket, "server", opts);
  const info = opts.informationalHeaders ?? true;
  const service = opts.service;
  const addr = `${socket.remoteAddress}:${socket.remotePort}`;
  const client = { addr, close: () => conn.drain() };
  let inflight = 0;
  conn.onStream = (stream, head, endStream) => {
    const cl = head.headers["content-length"];
    const req: HttpRequest = {
      method: head.method,
      scheme: head.scheme || "http",
      authority: head.authority ||
        (typeof head.headers["host"] === "string" ? head.headers["host"] : ""),
      path: head.path || "/",
      version: "HTTP/2",
      headers: head.headers,
      body: endStream ? null : stream.body,
      ext: { startMs: performance.now(), client },
    };
    void cl;
    const abort = new AbortController();
    req.ext.signal = abort.signal;
    inflight++;
    stream.onClose = (code) => {
      inflight--;
      // A downstream reset cancels whatever is still in flight upstream.
      if (code !== undefined && code !== ErrorCode.NO_ERROR) {
        abort.abort(new StreamResetError(code));
      }
    };
    service(req).then(
      (rsp) => respond(conn, stream, req, rsp, info),
      (err) => fail(conn, stream, req, err, info),
    );
  };
  socket.on("error", () => {});
  if (initial.length > 0) conn.push(initial);
  socket.resume();
  return {
    drain: () => conn.drain(),
    close: () => conn.close(),
    get inflight() {
      return inflight;
    },
    closed: conn.closed,
  };
}

function respond(
  conn: H2Conn,
  stream: H2Stream,
  req: HttpRequest,
  rsp: HttpResponse,
  info: boolean,
): void {
  if (stream.closed) {
    rsp.body?.cancel(new StreamResetError(ErrorCode.CANCEL));
    return;
  }
  const head: H2Head = {
    method: "",
    scheme: "",
    authority: "",
    path: "",
    status: rsp.status,
    headers: rsp.headers,
  };
  if (rsp.body === null) {
    conn.sendHeaders(stream, head, true);
  } else {
    conn.sendHeaders(stream, head, false);
    conn.sendBody(
      stream,
      rsp.body,
      isGrpc(req)
        ? (err) => grpcErrorTrailers(err, { informationalHeaders: info })
        : undefined,
    );
  }
  if (rsp.closeConnection) conn.drain();
}

function fail(
  conn: H2Conn,
  stream: H2Stream,
  req: HttpRequest,
  err: unknown,
  info: boolean,
): void {
  if (err instanceof StreamResetError) {
    conn.reset(stream, err.code);
    return;
  }
  const { response } = errorResponse(req, err, { informationalHeaders: info });
  respond(conn, stream, req, response, info);
}

/**
 * Serves HTTP/2 connections handed over after protocol detection, drained
 * or closed together (hyper h2 server).
 */
export class H2CodecServer {
  readonly #service: HttpService;
  readonly #opts: H2CodecServerOptions;
  readonly #conns = new Set<H2ServerConn>();
  #draining = false;

  constructor(service: HttpService, opts: H2CodecServerOptions = {}) {
    this.#service = service;
    // linkerd leaves max_concurrent_streams unlimited; keep a high bound.
    this.#opts = { maxConcurrentStreams: 10000, ...opts };
  }

  /** Takes over a detected HTTP/2 connection; `initial` are the bytes already read. */
  accept(socket: net.Socket, initial: Uint8Array): void {
    const conn = serveH2(socket, initial, {
      ...this.#opts,
      service: this.#service,
    });
    this.#conns.add(conn);
    conn.closed.then(() => this.#conns.delete(conn));
    if (this.#draining) conn.drain();
  }

  /** Number of streams being served. */
  get inflight(): number {
    let n = 0;
    for (const c of this.#conns) n += c.inflight;
    return n;
  }

  /** Sends GOAWAY on every connection and closes each once its streams finish. */
  drain(): void {
    this.#draining = true;
    for (const c of this.#conns) c.drain();
  }

  /** Closes every connection now. */
  close(): void {
    this.#draining = true;
    for (const c of this.#conns) c.close();
  }
}
