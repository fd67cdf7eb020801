/**
 * HTTP/1.1 server connection on a raw `node:net` socket (hyper
 * `server::conn::http1` as linkerd's `NewServeHttp` drives it).
 *
 * Requests on a connection are served one at a time, in order: bytes of the
 * next (pipelined) request are kept while the current one is in flight and
 * parsed once its response has been written. Keep-alive is HTTP/1.1's default
 * and HTTP/1.0's with `Connection: keep-alive`. Bodies stream both ways with
 * backpressure; `Upgrade`/CONNECT hand the socket over to a byte pipe.
 *
 * @module
 */
import type { Socket } from "node:net";
import { stripHopByHop } from "../headers.ts";
import { StreamResetError } from "../../errors.ts";
import type {
  ClientHandle,
  HeaderMap,
  HttpRequest,
  HttpResponse,
  HttpService,
  RequestExt,
} from "../message.ts";
import { ChunkedDecoder } from "./chunked.ts";
import {
  connectionListsFields,
  DEFAULT_MAX_HEADER_BYTES,
  DEFAULT_MAX_HEADERS,
  findHeadEnd,
  type HeadError,
  type HeadOptions,
  parseRequestHead,
  type RequestHead,
} from "./parse.ts";
import { type BodySource, IncomingBody } from "./_incoming.ts";
import { Framing, Outgoing, type OutgoingOwner } from "./_outgoing.ts";
import { latin1Bytes } from "./_bytes.ts";
import { pipeSockets } from "./_pipe.ts";
import {
  type DeadlineQueue,
  type DeadlineTarget,
  sharedDeadlines,
} from "./_deadlines.ts";

/** Default {@link H1Limits.headerReadTimeoutMs}. */
export const DEFAULT_HEADER_READ_TIMEOUT_MS = 10_000;

/** The request head limits a listener gives every HTTP/1 connection (hyper `http1::Builder`). */
export interface H1Limits {
  /**
   * Most header fields in a request head; more get 431 (hyper `max_headers`).
   * @default {100}
   */
  maxHeaders?: number;
  /**
   * Once the first byte of a request head arrived, the whole head must
   * arrive within this long, else 408 and close (hyper
   * `header_read_timeout`, which linkerd turns off). A connection idle
   * between requests is not timed. 0 disables it.
   * @default {10000}
   */
  headerReadTimeoutMs?: number;
}

/** Options for {@link serveH1}. */
export interface H1ServerOptions extends H1Limits {
  /** Serves each request. It should not reject: a rescue layer sits above. */
  service: HttpService;
  /** The application's address, "ip:port" (`ext.client.addr`). */
  clientAddr: string;
  /**
   * Largest request head accepted; larger ones get 431.
   * @default {65536}
   */
  maxHeaderBytes?: number;
  /**
   * Put `l5d-proxy-error` (and `l5d-proxy-connection: close`) on the
   * connection's own error responses (400, 408, 431...).
   * @default {true}
   */
  informationalHeaders?: boolean;
}

/** A served HTTP/1 connection (hyper `server::conn::http1::Connection`). */
export interface H1ServerConn {
  /** Graceful shutdown: close now if idle, else after the in-flight response. */
  drain(): void;
  /** Resolves when the socket is fully closed. */
  readonly closed: Promise<void>;
}

/**
 * Serves HTTP/1.x on `socket` (hyper `http1::Builder::serve_connection`).
 * `initial` holds bytes already read by protocol detection; they are
 * processed first.
 */
export function serveH1(
  socket: Socket,
  initial: Uint8Array,
  opts: H1ServerOptions,
): H1ServerConn {
  const conn = new ServerConn(socket, opts);
  if (initial.length > 0) conn.onData(initial);
  return conn;
}

/** Reason phrases for the status line (RFC 9110 §15). */
const REASONS: Record<number, string> = {
  100: "Continue",
  101: "Switching Protocols",
  103: "Early Hints",
  200: "OK",
  201: "Created",
  202: "Accepted",
  203: "Non-Authoritative Information",
  204: "No Content",
  205: "Reset Content",
  206: "Partial Content",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Found",
  303: "See Other",
  304: "Not Modified",
  307: "Temporary Redirect",
  308: "Permanent Redirect",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  408: "Request Timeout",
  409: "Conflict",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Content Too Large",
  414: "URI Too Long",
  415: "Unsupported Media Type",
  416: "Range Not Satisfiable",
  417: "Expectation Failed",
  421: "Misdirected Request",
  422: "Unprocessable Content",
  426: "Upgrade Required",
  428: "Precondition Required",
  429: "Too Many Requests",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/** The status line text after the code ("200 OK"). */
function statusText(status: number): string {
  return `${status} ${REASONS[status] ?? ""}`;
}

const CONTINUE = latin1Bytes("HTTP/1.1 100 Continue\r\n\r\n");

// Reading states.
const HEAD = 0; // waiting for a request head
const BODY = 1; // reading the request body
const IDLE = 2; // request read; its response is in flight
const DISCARD = 3; // closing: input is ignored
const UPGRADED = 4; // the socket is a byte pipe now

/** Bytes kept for the next pipelined request before reading is paused. */
const PIPELINE_HIGH_WATER = 65536;
/** After a graceful `end()`, how long the peer gets to close its side. */
const LINGER_MS = 2000;

/** Appends the header lines of `headers`, skipping the framing fields. */
function writeFields(
  h: string,
  headers: HeaderMap,
  keepLength: boolean,
): string {
  for (const name in headers) {
    switch (name.length) {
      case 14:
        if (name === "content-length" && !keepLength) continue;
        break;
      case 17:
        if (name === "transfer-encoding") continue;
        break;
      case 10:
        if (name === "connection" || name === "keep-alive") continue;
        break;
    }
    const v = headers[name]!;
    if (typeof v === "string") {
      if (safe(v)) h += name + ": " + v + "\r\n";
    } else {
      for (let i = 0; i < v.length; i++) {
        if (safe(v[i]!)) h += name + ": " + v[i] + "\r\n";
      }
    }
  }
  return h;
}

/** A value with CR or LF would split the head: such fields are dropped. */
function safe(v: string): boolean {
  return v.indexOf("\n") === -1 && v.indexOf("\r") === -1;
}

function errorResponse(
  status: number,
  message: string,
  info: boolean,
): Uint8Array {
  const l5d = info
    ? `l5d-proxy-error: ${message}\r\nl5d-proxy-connection: close\r\n`
    : "";
  return latin1Bytes(
    `HTTP/1.1 ${statusText(status)}\r\nconnection: close\r\n${l5d}` +
      `content-type: text/plain\r\ncontent-length: ${
        message.length + 1
      }\r\n\r\n${message}\n`,
  );
}

/** The connection a socket serves, read by ServerConn's shared socket listeners. */
const CONN = Symbol("petrel.h1.serverConn");
type ConnSocket = Socket & { [CONN]?: ServerConn };

/** The socket's `error` listener: `close` follows and does the work. */
function ignoreError(): void {}

/** One accepted HTTP/1 connection (hyper's h1 `Dispatcher` + `Conn`). */
class ServerConn
  implements H1ServerConn, BodySource, OutgoingOwner, DeadlineTarget {
  readonly closed: Promise<void>;
  #socket: Socket;
  #service: HttpService;
  #headOpts: HeadOptions;
  /** Head read deadlines (shared by all connections); null = no timeout. */
  #headDeadlines: DeadlineQueue | null;
  #info: boolean;
  #handle: ClientHandle;
  #abort: AbortController | undefined = undefined;
  #resolveClosed!: () => void;

  #reading = HEAD;
  #buf: Uint8Array | null = null;
  #scan = 0;
  #isClosed = false;
  #peerEnded = false;
  #draining = false;
  #closeAfter = false;

  // The request in flight.
  #inFlight = false;
  #reqBody: IncomingBody | null = null;
  #remaining = 0;
  #decoder: ChunkedDecoder | null = null;
  #keepAlive = true;
  #version: "HTTP/1.0" | "HTTP/1.1" = "HTTP/1.1";
  #isHead = false;
  #isConnect = false;
  #upgradeReq = false;
  #upgradeValue = "";
  #expectContinue = false;
  #out: Outgoing | null = null;

  #bodyPaused = false;
  #pipelinePaused = false;
  #socketPaused = false;
  /** The head read deadline runs (a head started but is not complete). */
  #headTimed = false;
  #lingerTimer: ReturnType<typeof setTimeout> | undefined = undefined;

  #onResponse = (res: HttpResponse) => {
    try {
      this.#respond(res);
    } catch (e) {
      this.#destroy(e);
    }
  };
  #onServiceError = (_e: unknown) => {
    if (this.#isClosed || !this.#inFlight) return;
    if (this.#out !== null) {
      this.#destroy(undefined);
      return;
    }
    this.#sendError(500, "internal server error");
  };

  constructor(socket: Socket, opts: H1ServerOptions) {
    this.#socket = socket;
    this.#service = opts.service;
    this.#headOpts = {
      maxHeaderBytes: opts.maxHeaderBytes ?? DEFAULT_MAX_HEADER_BYTES,
      maxHeaders: opts.maxHeaders ?? DEFAULT_MAX_HEADERS,
      omitHopByHop: true,
    };
    const headMs = Math.min(
      opts.headerReadTimeoutMs ?? DEFAULT_HEADER_READ_TIMEOUT_MS,
      2 ** 31 - 1,
    );
    this.#headDeadlines = headMs > 0 ? sharedDeadlines(headMs) : null;
    this.#info = opts.informationalHeaders ?? true;
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    const addr = opts.clientAddr;
    this.#handle = { addr, close: () => this.drain() };
    // Half-close aware: a client may send FIN after its request and still
    // read the response (Node's http server does the same).
    socket.allowHalfOpen = true;
    try {
      socket.setNoDelay(true);
    } catch { /* not a TCP socket */ }
    // Shared listeners that find this connection on the socket: no closures
    // per connection (issue 19).
    (socket as ConnSocket)[CONN] = this;
    socket.on("data", ServerConn.#socketData);
    socket.on("end", ServerConn.#socketEnd);
    socket.on("drain", ServerConn.#socketDrain);
    socket.on("error", ignoreError);
    socket.on("close", ServerConn.#socketClose);
    if (socket.destroyed) queueMicrotask(() => this.#onClose());
    else socket.resume();
  }

  static #socketData(this: ConnSocket, d: Uint8Array): void {
    this[CONN]!.onData(d);
  }
  static #socketEnd(this: ConnSocket): void {
    this[CONN]!.#onEnd();
  }
  static #socketDrain(this: ConnSocket): void {
    this[CONN]!.#onDrain();
  }
  static #socketClose(this: ConnSocket): void {
    this[CONN]!.#onClose();
  }

  /** The head read deadline passed (DeadlineTarget). */
  deadlinePassed(): void {
    this.#headTimed = false;
    if (this.#reading !== HEAD || this.#inFlight || this.#isClosed) return;
    this.#sendError(408, "request header read timed out");
  }

  drain(): void {
    if (this.#isClosed) return;
    this.#draining = true;
    if (this.#reading === UPGRADED) return;
    if (!this.#inFlight) this.#endGracefully();
    else this.#closeAfter = true;
  }

  /** Socket data (also the detected initial bytes). */
  onData(chunk: Uint8Array): void {
    if (this.#isClosed) return;
    try {
      const r = this.#reading;
      if (r === DISCARD || r === UPGRADED) return;
      if (r === BODY && this.#buf === null) {
        const pos = this.#feedBody(chunk, 0);
        if (pos < 0 || pos === chunk.length) return;
        this.#buf = chunk.subarray(pos);
      } else if (this.#buf === null) this.#buf = chunk;
      else {
        const prev = this.#buf;
        const merged = new Uint8Array(prev.length + chunk.length);
        merged.set(prev);
        merged.set(chunk, prev.length);
        this.#buf = merged;
      }
      this.#process();
    } catch (e) {
      this.#destroy(e);
    }
  }

  /** Parses and dispatches what is buffered, as far as the state allows. */
  #process(): void {
    while (this.#buf !== null && !this.#isClosed) {
      const r = this.#reading;
      if (r === HEAD && !this.#inFlight) {
        const buf = this.#buf;
        if (this.#scan > 0 && findHeadEnd(buf, 0, this.#scan) === -1) {
          if (buf.length > this.#headOpts.maxHeaderBytes!) {
            this.#sendError(431, "request header fields too large");
          } else this.#scan = Math.max(0, buf.length - 3);
          return;
        }
        const head = parseRequestHead(buf, 0, this.#headOpts);
        if (head === null) {
          this.#scan = Math.max(1, buf.length - 3);
          // Incomplete after a read: only now does the head read clock run.
          if (!this.#headTimed && this.#headDeadlines !== null) {
            this.#headTimed = true;
            this.#headDeadlines.add(this);
          }
          return;
        }
        if (head.kind === "error") {
          this.#badRequest(head);
          return;
        }
        this.#scan = 0;
        this.#buf = head.end < buf.length ? buf.subarray(head.end) : null;
        this.#dispatch(head);
      } else if (r === BODY) {
        const buf = this.#buf;
        this.#buf = null;
        const pos = this.#feedBody(buf, 0);
        if (pos < 0) return;
        if (pos < buf.length) this.#buf = buf.subarray(pos);
      } else {
        // A request is in flight: keep the next one's bytes, up to a limit.
        if (
          r === IDLE && !this.#pipelinePaused &&
          this.#buf.length > PIPELINE_HIGH_WATER
        ) {
          this.#pipelinePaused = true;
          this.#updateFlow();
        }
        return;
      }
    }
  }

  /** Feeds request body bytes; returns the offset after the body's bytes, or -1. */
  #feedBody(buf: Uint8Array, pos: number): number {
    const body = this.#reqBody!;
    const dec = this.#decoder;
    if (dec === null) {
      const avail = buf.length - pos;
      const n = avail < this.#remaining ? avail : this.#remaining;
      body.push(
        pos === 0 && n === buf.length ? buf : buf.subarray(pos, pos + n),
      );
      this.#remaining -= n;
      if (this.#remaining === 0) {
        this.#bodyRead();
        body.finish();
      }
      return pos + n;
    }
    const end = dec.decode(buf, pos, buf.length, body);
    if (end < 0) {
      this.#reading = DISCARD;
      this.#closeAfter = true;
      this.#reqBody = null;
      this.#buf = null;
      const message = `invalid chunked request body: ${dec.error}`;
      body.fail(new Error(message));
      // Malformed input: answer 400 ourselves unless a response has begun.
      if (this.#out === null && !this.#isClosed) this.#sendError(400, message);
      return -1;
    }
    if (dec.done) {
      this.#bodyRead();
      body.finish(dec.trailers);
    }
    return end;
  }

  #bodyRead(): void {
    this.#reading = IDLE;
    this.#reqBody = null;
    this.#decoder = null;
    if (this.#bodyPaused) {
      this.#bodyPaused = false;
      this.#updateFlow();
    }
  }

  #dispatch(head: RequestHead): void {
    if (this.#headTimed) this.#clearHeadTimer();
    const isConnect = head.form === "authority";
    const hasBody = !isConnect && (head.chunked || head.contentLength > 0);
    const body = hasBody
      ? new IncomingBody(this, head.chunked ? undefined : head.contentLength)
      : null;
    const headers = head.headers;
    if (head.connection !== "" && connectionListsFields(head.connection)) {
      // Connection names more hop-by-hop fields: let the shared helper remove them.
      headers["connection"] = head.connection;
      stripHopByHop(headers);
    }
    if (head.upgrade && !isConnect) headers["upgrade"] = head.upgradeValue;
    // One request at a time per connection: one AbortController serves all.
    this.#abort ??= new AbortController();
    const ext: RequestExt = {
      client: this.#handle,
      startMs: performance.now(),
      signal: this.#abort.signal,
    };
    if (head.form === "absolute") ext.absoluteForm = true;
    if (head.upgrade) ext.upgrade = true;
    const req: HttpRequest = {
      method: head.method,
      scheme: head.scheme,
      authority: head.authority,
      path: head.path,
      version: head.version,
      headers,
      body,
      ext,
    };
    this.#inFlight = true;
    this.#keepAlive = head.keepAlive;
    this.#version = head.version;
    this.#isHead = head.method === "HEAD";
    this.#isConnect = isConnect;
    this.#upgradeReq = head.upgrade;
    this.#upgradeValue = head.upgradeValue;
    this.#expectContinue = head.expectContinue && body !== null &&
      head.version === "HTTP/1.1";
    if (body !== null) {
      this.#reqBody = body;
      this.#reading = BODY;
      if (head.chunked) this.#decoder = new ChunkedDecoder();
      else this.#remaining = head.contentLength;
    } else this.#reading = IDLE;
    let p: Promise<HttpResponse>;
    try {
      p = this.#service(req);
    } catch (e) {
      p = Promise.reject(e);
    }
    p.then(this.#onResponse, this.#onServiceError);
  }

  #respond(res: HttpResponse): void {
    if (this.#isClosed || !this.#inFlight || this.#out !== null) {
      res.body?.cancel();
      res.upgraded?.socket.destroy();
      return;
    }
    const status = res.status;
    const upgraded = res.upgraded;
    if (
      upgraded !== undefined && this.#upgradeReq &&
      (status === 101 ||
        (this.#isConnect && status >= 200 && status < 300))
    ) {
      this.#upgrade(res, upgraded);
      return;
    }
    if (
      status === 101 || upgraded !== undefined || status < 100 || status > 999
    ) {
      // Nothing to switch to: a service bug, answered like a rejection.
      upgraded?.socket.destroy();
      res.body?.cancel();
      this.#sendError(500, "internal server error");
      return;
    }
    const version = this.#version;
    let body = res.body;
    let framing: Framing;
    let h = (version === "HTTP/1.1" ? "HTTP/1.1 " : "HTTP/1.0 ") +
      statusText(status) + "\r\n";
    // A request body not fully received yet cannot be skipped reliably:
    // say so now, and close after the response (RFC 9110 §10.1.1).
    let closing = this.#closeAfter || !this.#keepAlive ||
      this.#reading !== IDLE || res.closeConnection === true ||
      this.#peerEnded ||
      (this.#isConnect && (status < 200 || status >= 300));
    if (this.#isHead || status === 304) {
      framing = Framing.None;
      if (body !== null && body.length !== undefined) {
        h = writeFields(h, res.headers, false);
        h += "content-length: " + body.length + "\r\n";
      } else h = writeFields(h, res.headers, true);
    } else if (status < 200 || status === 204) {
      framing = Framing.None;
      h = writeFields(h, res.headers, false);
    } else if (body === null) {
      framing = Framing.None;
      h = writeFields(h, res.headers, false) + "content-length: 0\r\n";
    } else if (body.length !== undefined) {
      h = writeFields(h, res.headers, false);
      h += "content-length: " + body.length + "\r\n";
      framing = body.length === 0 ? Framing.None : Framing.Length;
      if (framing === Framing.None) {
        body.cancel();
        body = null;
      }
    } else if (version === "HTTP/1.1") {
      framing = Framing.Chunked;
      h = writeFields(h, res.headers, false) + "transfer-encoding: chunked\r\n";
    } else {
      framing = Framing.Close;
      closing = true;
      h = writeFields(h, res.headers, false);
    }
    if (closing) {
      this.#closeAfter = true;
      if (version === "HTTP/1.1") h += "connection: close\r\n";
    } else if (version === "HTTP/1.0") h += "connection: keep-alive\r\n";
    h += "\r\n";
    this.#expectContinue = false;
    const out = new Outgoing(this, this.#socket, h, body, framing);
    this.#out = out;
    out.begin();
  }

  /** Message written (or failed): next request, or close. */
  outgoingDone(out: Outgoing, err: Error | undefined): void {
    if (out !== this.#out) return;
    this.#out = null;
    this.#inFlight = false;
    if (this.#isClosed) return;
    if (err !== undefined) {
      this.#destroy(err);
      return;
    }
    if (this.#closeAfter || this.#reading !== IDLE || this.#peerEnded) {
      // Also when the request body was not fully read: its end is unknown.
      if (this.#reqBody !== null) {
        const b = this.#reqBody;
        this.#reqBody = null;
        b.fail(new Error("connection closing before the request body ended"));
      }
      this.#endGracefully();
      return;
    }
    this.#reading = HEAD;
    if (this.#pipelinePaused) {
      this.#pipelinePaused = false;
      this.#updateFlow();
    }
    if (this.#buf !== null) this.#process();
  }

  #upgrade(res: HttpResponse, up: { socket: Socket; head: Uint8Array }): void {
    let h = "HTTP/1.1 " + statusText(res.status) + "\r\n";
    h = writeFields(h, res.headers, false);
    if (res.status === 101) {
      if (res.headers["upgrade"] === undefined && this.#upgradeValue !== "") {
        h += "upgrade: " + this.#upgradeValue + "\r\n";
      }
      h += "connection: upgrade\r\n";
    }
    h += "\r\n";
    res.body?.cancel();
    const socket = this.#socket;
    this.#reading = UPGRADED;
    this.#inFlight = false;
    this.#clearHeadTimer();
    if (!socket.writable) {
      up.socket.destroy();
      socket.destroy();
      return;
    }
    socket.write(latin1Bytes(h));
    if (up.head.length > 0) socket.write(up.head);
    const rest = this.#buf;
    this.#buf = null;
    socket.removeAllListeners("data");
    socket.removeAllListeners("end");
    socket.removeAllListeners("drain");
    // The request body, if any, can no longer be told apart from tunnel bytes.
    if (this.#reqBody !== null) {
      const b = this.#reqBody;
      this.#reqBody = null;
      b.fail(new Error("connection upgraded"));
    }
    if (this.#socketPaused) {
      this.#socketPaused = false;
      this.#bodyPaused = false;
      this.#pipelinePaused = false;
    }
    up.socket.allowHalfOpen = true;
    if (rest !== null && rest.length > 0) up.socket.write(rest);
    pipeSockets(socket, up.socket);
  }

  // BodySource (the request body).
  bodyFlow(paused: boolean): void {
    if (this.#bodyPaused === paused) return;
    this.#bodyPaused = paused;
    this.#updateFlow();
  }

  bodyStarted(): void {
    if (this.#expectContinue && this.#out === null && !this.#isClosed) {
      this.#expectContinue = false;
      if (this.#socket.writable) this.#socket.write(CONTINUE);
    }
  }

  bodyCancelled(_err: Error | undefined): void {
    // Nobody reads the rest of the body: drop it and close after the response.
    if (this.#reading === BODY) {
      this.#reqBody = null;
      this.#reading = DISCARD;
      this.#buf = null;
      this.#closeAfter = true;
      this.#bodyPaused = false;
      this.#updateFlow();
    }
  }

  #updateFlow(): void {
    if (this.#reading === UPGRADED) return;
    const pause = this.#bodyPaused || this.#pipelinePaused;
    if (pause === this.#socketPaused || this.#isClosed) return;
    this.#socketPaused = pause;
    if (pause) this.#socket.pause();
    else this.#socket.resume();
  }

  #onDrain(): void {
    try {
      this.#out?.onDrain();
    } catch (e) {
      this.#destroy(e);
    }
  }

  #onEnd(): void {
    this.#peerEnded = true;
    if (this.#isClosed) return;
    if (this.#reading === BODY && this.#reqBody !== null) {
      const b = this.#reqBody;
      this.#reqBody = null;
      this.#reading = DISCARD;
      this.#closeAfter = true;
      b.fail(new Error("client closed the connection mid-request"));
    }
    if (!this.#inFlight) this.#endGracefully();
    else if (this.#out === null) {
      // EOF while the answer is still awaited: the client gave up (hyper's
      // default `h1_half_close(false)`, as linkerd runs it). Close, which
      // cancels the upstream exchange, rather than keep it running.
      this.#socket.destroy();
    }
  }

  #onClose(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#clearHeadTimer();
    if (this.#lingerTimer !== undefined) {
      clearTimeout(this.#lingerTimer);
      this.#lingerTimer = undefined;
    }
    const err = new Error("client disconnected");
    // Cancel the upstream exchange of a request still waiting for its answer.
    if (this.#inFlight) {
      this.#abort?.abort(new StreamResetError(8, err.message));
    }
    if (this.#reqBody !== null) {
      const b = this.#reqBody;
      this.#reqBody = null;
      b.fail(err);
    }
    const out = this.#out;
    this.#out = null;
    out?.abort(err);
    this.#buf = null;
    this.#resolveClosed();
  }

  #badRequest(e: HeadError): void {
    this.#sendError(e.status, e.message);
  }

  /** Answers with an error and closes (malformed input, timeouts, failures). */
  #sendError(status: number, message: string): void {
    this.#reading = DISCARD;
    this.#buf = null;
    this.#inFlight = false;
    this.#closeAfter = true;
    const s = this.#socket;
    if (!s.destroyed && s.writable) {
      s.write(errorResponse(status, message, this.#info));
    }
    this.#endGracefully();
  }

  #endGracefully(): void {
    if (this.#isClosed) return;
    this.#reading = DISCARD;
    this.#buf = null;
    this.#clearHeadTimer();
    const s = this.#socket;
    // Keep reading (and dropping) so the peer's FIN is seen and 'close' fires.
    if (this.#socketPaused) {
      this.#socketPaused = false;
      s.resume();
    }
    if (!s.writableEnded) s.end();
    if (this.#lingerTimer === undefined) {
      this.#lingerTimer = setTimeout(() => {
        this.#lingerTimer = undefined;
        s.destroy();
      }, LINGER_MS);
    }
  }

  #destroy(_err: unknown): void {
    this.#reading = DISCARD;
    this.#socket.destroy();
  }

  #clearHeadTimer(): void {
    if (this.#headTimed) {
      this.#headTimed = false;
      this.#headDeadlines!.delete(this);
    }
  }
}
