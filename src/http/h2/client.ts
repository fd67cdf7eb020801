/**
 * The HTTP/2 client side: one multiplexed `node:http2` session per endpoint
 * (linkerd `phttp/h2.rs`).
 *
 * @module
 */
import http2 from "node:http2";
import type net from "node:net";
import { EndpointIoError, StreamResetError } from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../message.ts";
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

/** Options for {@linkcode H2Client}. */
export interface H2ClientOptions {
  /** Opens the transport (TCP or TLS) to the endpoint. */
  connect: () => Promise<net.Socket>;
  /** @default 65535 */
  initialStreamWindowSize?: number;
  /** @default 1048576 */
  initialConnectionWindowSize?: number;
}

/** A lazily connected, reconnecting HTTP/2 client for one endpoint (hyper h2 client). */
export class H2Client {
  readonly #addr: string;
  readonly #opts: H2ClientOptions;
  #session: http2.ClientHttp2Session | undefined;
  #connecting: Promise<http2.ClientHttp2Session> | undefined;
  #closed = false;
  #sessions = new Set<http2.ClientHttp2Session>();
  /** GOAWAY last-stream-id per session that received one. */
  #goaway = new WeakMap<http2.ClientHttp2Session, number>();
  /** Streams in flight per session. */
  #streams = new WeakMap<
    http2.ClientHttp2Session,
    Set<http2.ClientHttp2Stream>
  >();

  /** The server sent GOAWAY: retire the session (linkerd/h2 GOAWAY handling). */
  #onGoaway(session: http2.ClientHttp2Session, lastStreamId: number): void {
    this.#goaway.set(session, lastStreamId);
    if (this.#session === session) this.#session = undefined;
    // Streams the server will never process fail as refused (retryable).
    for (const stream of this.#streams.get(session) ?? []) {
      if (stream.id !== undefined && stream.id > lastStreamId) {
        resetStream(stream, H2Code.REFUSED_STREAM);
      }
    }
    // Close once the remaining streams finish (this sends our own GOAWAY).
    session.close();
  }

  constructor(addr: string, opts: H2ClientOptions) {
    this.#addr = addr;
    this.#opts = opts;
  }

  /** True while a usable session is open. */
  get connected(): boolean {
    return this.#session !== undefined;
  }

  /** Sends `req` on the shared session; resolves at the response headers. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const session = await this.#usableSession();
    try {
      return await this.#send(session, req);
    } catch (err) {
      // A stream the server refused with GOAWAY (never processed) is safe to
      // send again on a fresh session when its body was never started.
      if (err instanceof RefusedByGoaway && req.body === null) {
        return this.#send(await this.#usableSession(), req);
      }
      if (err instanceof RefusedByGoaway) {
        throw new StreamResetError(H2Code.REFUSED_STREAM);
      }
      throw err;
    }
  }

  /** Closes every session gracefully: in-flight streams finish, new ones fail. */
  close(): void {
    this.#closed = true;
    for (const s of this.#sessions) s.close();
    this.#session = undefined;
  }

  /** Destroys every session now, resetting in-flight streams. */
  destroy(): void {
    this.#closed = true;
    for (const s of this.#sessions) s.destroy();
    this.#session = undefined;
  }

  /** Open, and no GOAWAY received: a new stream may go on it. */
  #usable(session: http2.ClientHttp2Session): boolean {
    return !session.closed && !session.destroyed && !this.#goaway.has(session);
  }

  /**
   * The shared session, checked again after the await: socket reads resolve
   * as promises in Deno, so a GOAWAY or a close can land while the await
   * resumes. Nothing was sent on that session yet, so the next one is taken
   * (bounded, in case the server closes every session at once).
   */
  async #usableSession(): Promise<http2.ClientHttp2Session> {
    let session = await this.#getSession();
    for (let i = 0; i < 3 && !this.#usable(session); i++) {
      session = await this.#getSession();
    }
    return session;
  }

  #getSession(): Promise<http2.ClientHttp2Session> {
    if (this.#session && !this.#session.closed && !this.#session.destroyed) {
      return Promise.resolve(this.#session);
    }
    if (this.#closed) {
      return Promise.reject(
        new EndpointIoError(this.#addr, { cause: new Error("client closed") }),
      );
    }
    this.#connecting ??= this.#connect().finally(() => {
      this.#connecting = undefined;
    });
    return this.#connecting;
  }

  async #connect(): Promise<http2.ClientHttp2Session> {
    const socket = await this.#opts.connect();
    // The server's GOAWAY is handled here, never by Deno's nghttp2 (see
    // goaway_guard.ts): no new streams on this session, streams the server
    // will not process are refused, the rest finish.
    let session: http2.ClientHttp2Session | undefined;
    guardGoaway(socket, {
      preface: false,
      onGoaway: (lastStreamId) => {
        if (session) this.#onGoaway(session, lastStreamId);
      },
    });
    return await new Promise((resolve, reject) => {
      session = http2.connect(`http://${this.#addr}`, {
        createConnection: () => socket,
        settings: {
          initialWindowSize: this.#opts.initialStreamWindowSize ?? 65535,
          enablePush: false,
        },
      });
      const s = session;
      this.#sessions.add(s);
      this.#streams.set(s, new Set());
      const forget = () => {
        this.#sessions.delete(s);
        if (this.#session === s) this.#session = undefined;
      };
      s.on("close", forget);
      s.on("error", (err) => {
        forget();
        reject(new EndpointIoError(this.#addr, { cause: err }));
      });
      s.once("connect", () => {
        try {
          s.setLocalWindowSize(
            this.#opts.initialConnectionWindowSize ?? 1048576,
          );
        } catch { /* closed already */ }
        if (this.#closed) {
          s.destroy();
          reject(new EndpointIoError(this.#addr));
          return;
        }
        this.#session = s;
        resolve(s);
      });
    });
  }

  #send(
    session: http2.ClientHttp2Session,
    req: HttpRequest,
  ): Promise<HttpResponse> {
    const headers = toH2Headers(req.headers, {
      ":method": req.method,
      ":scheme": req.scheme,
      ":authority": req.authority,
      ":path": req.path,
    });
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request(headers, {
        endStream: req.body === null,
        waitForTrailers: req.body !== null,
      });
    } catch (err) {
      return Promise.reject(new EndpointIoError(this.#addr, { cause: err }));
    }
    const inflight = this.#streams.get(session);
    inflight?.add(stream);
    return new Promise((resolve, reject) => {
      let responded = false;
      stream.on("error", () => {});
      stream.once("close", () => inflight?.delete(stream));
      const signal = req.ext.signal;
      const onAbort = () => {
        if (!responded) resetStream(stream, resetCodeFor(signal!.reason));
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      stream.once("response", (h, flags: number) => {
        responded = true;
        signal?.removeEventListener("abort", onAbort);
        const cl = h["content-length"];
        const endStream = (flags & FLAG_END_STREAM) !== 0;
        resolve({
          status: Number(h[":status"]),
          headers: fromH2Headers(h),
          body: endStream
            ? null
            : streamBody(stream, cl ? Number(cl) : undefined),
        });
      });
      stream.once("close", () => {
        signal?.removeEventListener("abort", onAbort);
        if (responded) return;
        const code = stream.rstCode;
        const last = this.#goaway.get(session);
        if (
          last !== undefined && (stream.id === undefined || stream.id > last)
        ) {
          reject(new RefusedByGoaway());
        } else if (code !== undefined && code !== H2Code.NO_ERROR) {
          req.body?.cancel(new StreamResetError(code));
          reject(new StreamResetError(code));
        } else {
          reject(
            new EndpointIoError(this.#addr, {
              cause: new Error("stream closed before response headers"),
            }),
          );
        }
      });
      if (req.body !== null) pipeBodyToStream(req.body, stream);
    });
  }
}

/** A stream above the GOAWAY last-stream-id: the server never saw it. */
class RefusedByGoaway extends Error {}
