/**
 * The HTTP/2 server side: accepted sockets become `node:http2` sessions and
 * every stream becomes one `HttpRequest` (linkerd `phttp/server.rs`, h2).
 *
 * @module
 */
import http2 from "node:http2";
import type net from "node:net";
import { StreamResetError } from "../../errors.ts";
import type { HttpRequest, HttpResponse, HttpService } from "../message.ts";
import { errorResponse, grpcErrorTrailers, isGrpc } from "../respond.ts";
import { guardGoaway } from "./goaway_guard.ts";
import {
  FLAG_END_STREAM,
  fromH2Headers,
  H2Code,
  pipeBodyToStream,
  resetCodeFor,
  resetStream,
  streamBody,
  toH2Headers,
} from "./stream.ts";

/** Options for {@linkcode H2Server}. */
export interface H2ServerOptions {
  /** Initial stream window. @default 65535 */
  initialStreamWindowSize?: number;
  /** Connection window. @default 1048576 */
  initialConnectionWindowSize?: number;
  /** Header list limit. @default 16384 */
  maxHeaderListSize?: number;
  /** Add `l5d-proxy-error` etc. to synthetic responses. @default true */
  informationalHeaders?: boolean;
}

/** Serves HTTP/2 connections handed over after protocol detection (hyper h2 server). */
export class H2Server {
  readonly #server: http2.Http2Server;
  readonly #service: HttpService;
  readonly #sessions = new Set<http2.ServerHttp2Session>();
  readonly #info: boolean;
  readonly #connWindow: number;
  #draining = false;
  #inflight = 0;

  constructor(service: HttpService, opts: H2ServerOptions = {}) {
    this.#service = service;
    this.#info = opts.informationalHeaders ?? true;
    this.#connWindow = opts.initialConnectionWindowSize ?? 1048576;
    this.#server = http2.createServer({
      settings: {
        initialWindowSize: opts.initialStreamWindowSize ?? 65535,
        maxHeaderListSize: opts.maxHeaderListSize ?? 16384,
        // linkerd sets max_concurrent_streams to None (unlimited).
        maxConcurrentStreams: 0xffffffff,
      },
    });
    this.#server.on("session", (session: http2.ServerHttp2Session) => {
      this.#sessions.add(session);
      session.on("close", () => this.#sessions.delete(session));
      session.on("error", () => {});
      session.once("connect", () => {
        try {
          session.setLocalWindowSize(this.#connWindow);
        } catch { /* session already gone */ }
      });
      if (this.#draining) session.close();
    });
    this.#server.on(
      "stream",
      (stream: http2.ServerHttp2Stream, headers, flags: number) =>
        this.#onStream(stream, headers, flags),
    );
    this.#server.on("sessionError", () => {});
  }

  /** Takes over a detected HTTP/2 connection; `initial` are the bytes already read. */
  accept(socket: net.Socket, initial: Uint8Array): void {
    // The client's GOAWAY only means it opens no more streams; it closes the
    // socket when it is done. Keep it from Deno's nghttp2 (see goaway_guard.ts).
    guardGoaway(socket, { preface: true, onGoaway: ignoreGoaway });
    if (initial.length > 0) socket.unshift(initial);
    this.#server.emit("connection", socket);
  }

  /** Number of streams being served. */
  get inflight(): number {
    return this.#inflight;
  }

  /** Sends GOAWAY on every session and closes each once its streams finish. */
  drain(): void {
    this.#draining = true;
    for (const s of this.#sessions) s.close();
  }

  /** Destroys every session now. */
  close(): void {
    this.#draining = true;
    for (const s of this.#sessions) s.destroy();
  }

  #onStream(
    stream: http2.ServerHttp2Stream,
    h: http2.IncomingHttpHeaders,
    flags: number,
  ): void {
    stream.on("error", () => {});
    const endStream = (flags & FLAG_END_STREAM) !== 0;
    const cl = h["content-length"];
    const headers = fromH2Headers(h);
    const session = stream.session;
    const socket = session?.socket;
    const req: HttpRequest = {
      method: (h[":method"] as string) ?? "GET",
      scheme: (h[":scheme"] as string) ?? "http",
      authority: (h[":authority"] as string) ?? (h["host"] as string) ?? "",
      path: (h[":path"] as string) ?? "/",
      version: "HTTP/2",
      headers,
      body: endStream ? null : streamBody(stream, cl ? Number(cl) : undefined),
      ext: {
        startMs: performance.now(),
        client: {
          addr: `${socket?.remoteAddress}:${socket?.remotePort}`,
          close: () => session?.close(),
        },
      },
    };
    const abort = new AbortController();
    req.ext.signal = abort.signal;
    this.#inflight++;
    stream.once("close", () => {
      this.#inflight--;
      // A downstream reset cancels whatever is still in flight upstream.
      if (stream.rstCode) abort.abort(new StreamResetError(stream.rstCode));
    });
    this.#service(req).then(
      (rsp) => this.#respond(stream, req, rsp),
      (err) => this.#fail(stream, req, err),
    );
  }

  #respond(
    stream: http2.ServerHttp2Stream,
    req: HttpRequest,
    rsp: HttpResponse,
  ): void {
    if (stream.destroyed || stream.closed) {
      rsp.body?.cancel(new StreamResetError(stream.rstCode || H2Code.CANCEL));
      return;
    }
    const out = toH2Headers(rsp.headers, { ":status": rsp.status });
    try {
      if (rsp.body === null) {
        stream.respond(out, { endStream: true });
        return;
      }
      stream.respond(out, { waitForTrailers: true });
    } catch (_err) {
      rsp.body?.cancel();
      resetStream(stream, H2Code.INTERNAL_ERROR);
      return;
    }
    const grpc = isGrpc(req);
    pipeBodyToStream(
      rsp.body,
      stream,
      grpc
        ? (err) => grpcErrorTrailers(err, { informationalHeaders: this.#info })
        : undefined,
    );
    if (rsp.closeConnection) stream.session?.close();
  }

  #fail(stream: http2.ServerHttp2Stream, req: HttpRequest, err: unknown): void {
    if (err instanceof StreamResetError) {
      resetStream(stream, resetCodeFor(err));
      return;
    }
    const { response } = errorResponse(req, err, {
      informationalHeaders: this.#info,
    });
    this.#respond(stream, req, response);
  }
}

function ignoreGoaway(): void {}
