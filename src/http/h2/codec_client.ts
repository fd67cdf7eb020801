/**
 * The HTTP/2 client side on Petrel's own codec (conn.ts): one multiplexed
 * connection per endpoint (linkerd `phttp/h2.rs`, hyper's h2 client).
 *
 * @module
 */
import type net from "node:net";
import { EndpointIoError, StreamResetError } from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { H2Conn, type H2ConnOptions, type H2Head } from "./conn.ts";
import { ErrorCode } from "./frame.ts";

/** A stream above the GOAWAY last-stream-id: the server never saw it. */
export class RefusedByGoaway extends Error {
  constructor() {
    super("stream refused by GOAWAY");
    this.name = "RefusedByGoaway";
  }
}

/**
 * One client connection (hyper `client::conn::http2::SendRequest`).
 * `request()` waits while the server's MAX_CONCURRENT_STREAMS is reached.
 */
export class H2Connection {
  readonly #conn: H2Conn;
  readonly #addr: string;
  #waiters: Array<() => void> = [];

  constructor(
    socket: net.Socket,
    addr: string,
    opts: H2ConnOptions = {},
  ) {
    try {
      socket.setNoDelay(true);
    } catch { /* not a TCP socket */ }
    socket.on("error", () => {});
    this.#addr = addr;
    this.#conn = new H2Conn(socket, "client", opts);
    this.#conn.onClose = () => this.#wake();
    this.#conn.onGoaway = () => this.#wake();
    socket.resume();
  }

  /** The connection; for its state and callbacks. */
  get conn(): H2Conn {
    return this.#conn;
  }

  /** True while new requests may be sent. */
  get usable(): boolean {
    return this.#conn.usable;
  }

  /** Resolves when the socket has closed. */
  get closed(): Promise<void> {
    return this.#conn.closed;
  }

  /** Graceful close: in-flight streams finish, then the socket closes. */
  close(): void {
    this.#conn.drain();
  }

  /** Closes at once, resetting in-flight streams. */
  destroy(): void {
    this.#conn.close(ErrorCode.CANCEL);
    this.#conn.destroy();
  }

  /**
   * Sends `req`; resolves at the final response head. Rejects with
   * RefusedByGoaway when the server's GOAWAY says it never saw the stream,
   * StreamResetError with the server's code, or EndpointIoError.
   */
  async request(req: HttpRequest): Promise<HttpResponse> {
    while (this.#conn.usable && !this.#conn.canOpenStream) {
      await new Promise<void>((r) => this.#waiters.push(r));
    }
    if (!this.#conn.usable) throw new RefusedByGoaway();
    return this.#send(req);
  }

  #wake(): void {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #send(req: HttpRequest): Promise<HttpResponse> {
    const head: H2Head = {
      method: req.method,
      scheme: req.scheme,
      authority: req.authority,
      path: req.path,
      status: 0,
      headers: req.headers,
    };
    const conn = this.#conn;
    const stream = conn.openStream(head, req.body === null);
    return new Promise((resolve, reject) => {
      let responded = false;
      const signal = req.ext.signal;
      const onAbort = () => {
        if (!responded) conn.reset(stream, resetCode(signal!.reason));
      };
      if (signal?.aborted) queueMicrotask(onAbort);
      else signal?.addEventListener("abort", onAbort, { once: true });
      stream.onHead = (h, endStream) => {
        responded = true;
        signal?.removeEventListener("abort", onAbort);
        resolve({
          status: h.status,
          headers: h.headers,
          body: endStream ? null : stream.body,
        });
      };
      stream.onClose = (code, refused) => {
        if (this.#waiters.length > 0) this.#wake();
        signal?.removeEventListener("abort", onAbort);
        if (responded) return;
        if (refused) reject(new RefusedByGoaway());
        else if (code !== undefined && code !== ErrorCode.NO_ERROR) {
          req.body?.cancel(new StreamResetError(code));
          reject(new StreamResetError(code));
        } else {
          reject(
            new EndpointIoError(this.#addr, {
              cause: new Error("stream closed before response headers"),
            }),
          );
        }
      };
      if (req.body !== null) conn.sendBody(stream, req.body);
    });
  }
}

function resetCode(err: unknown): number {
  if (err instanceof StreamResetError) return err.code;
  return err === undefined ? ErrorCode.CANCEL : ErrorCode.INTERNAL_ERROR;
}

/** Options for {@linkcode H2CodecClient}. */
export interface H2CodecClientOptions extends H2ConnOptions {
  /** Opens the transport (TCP or TLS) to the endpoint. */
  connect: () => Promise<net.Socket>;
}

/**
 * A lazily connected, reconnecting HTTP/2 client for one endpoint (hyper
 * h2 client).
 */
export class H2CodecClient {
  readonly #addr: string;
  readonly #opts: H2CodecClientOptions;
  #current: H2Connection | undefined;
  #connecting: Promise<H2Connection> | undefined;
  #all = new Set<H2Connection>();
  #closed = false;

  constructor(addr: string, opts: H2CodecClientOptions) {
    this.#addr = addr;
    this.#opts = opts;
  }

  /** True while a usable connection is open. */
  get connected(): boolean {
    return this.#current?.usable === true;
  }

  /** Sends `req` on the shared connection; resolves at the response head. */
  async request(req: HttpRequest): Promise<HttpResponse> {
    const c = await this.#connection();
    try {
      return await c.request(req);
    } catch (err) {
      // Never processed by the server: safe to send again on a fresh
      // connection when the body was never started.
      if (err instanceof RefusedByGoaway && req.body === null) {
        return (await this.#connection()).request(req);
      }
      if (err instanceof RefusedByGoaway) {
        throw new StreamResetError(ErrorCode.REFUSED_STREAM);
      }
      throw err;
    }
  }

  /** Closes every connection gracefully: in-flight streams finish, new ones fail. */
  close(): void {
    this.#closed = true;
    for (const c of this.#all) c.close();
    this.#current = undefined;
  }

  /** Destroys every connection now, resetting in-flight streams. */
  destroy(): void {
    this.#closed = true;
    for (const c of this.#all) c.destroy();
    this.#current = undefined;
  }

  #connection(): Promise<H2Connection> {
    const c = this.#current;
    if (c !== undefined && c.usable) return Promise.resolve(c);
    this.#current = undefined;
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

  async #connect(): Promise<H2Connection> {
    let socket: net.Socket;
    try {
      socket = await this.#opts.connect();
    } catch (err) {
      throw err instanceof EndpointIoError
        ? err
        : new EndpointIoError(this.#addr, { cause: err });
    }
    if (this.#closed) {
      socket.destroy();
      throw new EndpointIoError(this.#addr, {
        cause: new Error("client closed"),
      });
    }
    const { connect: _, ...connOpts } = this.#opts;
    const c = new H2Connection(socket, this.#addr, connOpts);
    this.#all.add(c);
    c.closed.then(() => {
      this.#all.delete(c);
      if (this.#current === c) this.#current = undefined;
    });
    this.#current = c;
    return c;
  }
}
