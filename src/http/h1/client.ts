/**
 * One HTTP/1.1 client connection to an endpoint (hyper
 * `client::conn::http1::SendRequest` + its `Connection` task): writes a
 * request, reads its response, and tells its owner (the pool) when the
 * connection can carry the next request.
 *
 * @module
 */
import type { Socket } from "node:net";
import { clearImmediate, setImmediate } from "node:timers";
import { EndpointIoError } from "../../errors.ts";
import { HOP_BY_HOP_HEADERS, stripHopByHop } from "../headers.ts";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { ChunkedDecoder } from "./chunked.ts";
import {
  connectionListsFields,
  findHeadEnd,
  type HeadOptions,
  parseResponseHead,
  type ResponseHead,
} from "./parse.ts";
import { type BodySource, IncomingBody } from "./_incoming.ts";
import { Framing, Outgoing, type OutgoingOwner } from "./_outgoing.ts";

/** What a connection reports to the pool that owns it. */
export interface H1ConnOwner {
  /**
   * The exchange started by `dispatch()` is over (once per dispatch).
   * `reusable`: the connection may carry another request; otherwise it has
   * been destroyed or handed over (upgrade).
   */
  connReleased(conn: H1ClientConn, reusable: boolean): void;
  /** An idle connection was closed by the server or failed. */
  connLost(conn: H1ClientConn): void;
}

// Connection states.
const IDLE = 0;
const HEAD = 1; // waiting for the response head
const BODY = 2; // reading the response body
const READ = 3; // response read, request still being written
const DEAD = 4;
const CHECK = 5; // reused: one I/O turn to see a close before writing

const HEAD_OPTS: HeadOptions = { omitHopByHop: true };

/** One connection to an endpoint, one request at a time (hyper h1 client `Conn`). */
export class H1ClientConn implements OutgoingOwner, BodySource {
  /** The connection came from the idle pool (set by the pool). */
  reused = false;
  /** performance.now() when the connection became idle (set by the pool). */
  idleSinceMs = 0;

  #socket: Socket;
  #addr: string;
  #owner: H1ConnOwner;
  #state = IDLE;
  #buf: Uint8Array | null = null;
  #scan = 0;
  #cause: unknown = undefined;

  // The exchange in progress.
  #dispatched = false;
  #req: HttpRequest | null = null;
  #resolve: ((res: HttpResponse) => void) | null = null;
  /** The downstream's cancellation, watched until the response head. */
  #signal: AbortSignal | undefined = undefined;
  #reject: ((err: unknown) => void) | null = null;
  #out: Outgoing | null = null;
  #resBody: IncomingBody | null = null;
  #remaining = 0;
  #decoder: ChunkedDecoder | null = null;
  #untilClose = false;
  #keepAlive = true;
  #gotBytes = false;
  /** Some of the request was handed to the socket (or is about to be). */
  #wrote = false;
  /** The exchange was given up by its caller (a timeout, the client gone). */
  #aborted = false;
  #retryable = false;
  /** The head to write, kept while the connection is checked. */
  #head = "";
  #framing: Framing = Framing.None;
  #check: ReturnType<typeof setImmediate> | undefined = undefined;

  constructor(socket: Socket, addr: string, owner: H1ConnOwner) {
    this.#socket = socket;
    this.#addr = addr;
    this.#owner = owner;
    try {
      socket.setNoDelay(true);
    } catch { /* not TCP */ }
    socket.on("data", this.#onData);
    socket.on("end", this.#onEnd);
    socket.on("error", this.#onError);
    socket.on("close", this.#onClose);
    socket.on("drain", this.#onDrain);
    if (socket.destroyed) this.#state = DEAD;
    else socket.resume();
  }

  /** The connection can take a request. */
  get alive(): boolean {
    const s = this.#socket;
    return this.#state === IDLE && !s.destroyed && s.writable;
  }

  /**
   * The last exchange failed in a way that can be resent on another
   * connection (hyper's canceled request): the connection was reused and was
   * found closed before any byte of the request was written, so the server
   * cannot have seen it and its body was never started. Never after an
   * abort, a timeout or any write.
   */
  get retryable(): boolean {
    return this.#retryable;
  }

  /** Closes the connection now. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** Sends `req`; resolves when the response head has arrived. */
  dispatch(req: HttpRequest): Promise<HttpResponse> {
    this.#req = req;
    this.#gotBytes = false;
    this.#wrote = false;
    this.#aborted = false;
    this.#retryable = false;
    this.#dispatched = true;
    this.#keepAlive = true;
    const p = new Promise<HttpResponse>((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    const s = this.#socket;
    if (this.#state !== IDLE || s.destroyed || !s.writable) {
      this.#state = DEAD;
      this.#fail(new Error("connection closed"));
      return p;
    }
    const signal = req.ext.signal;
    if (signal?.aborted) {
      // Given up while waiting for this connection: write nothing.
      this.#state = CHECK;
      this.#cancelUnsent(signal.reason);
      return p;
    }
    if (signal !== undefined) {
      this.#signal = signal;
      signal.addEventListener("abort", this.#onAbort);
    }
    const isConnect = req.method === "CONNECT";
    const upgrade = req.ext.upgrade === true;
    let h = req.method + " " +
      (isConnect ? req.authority : (req.path === "" ? "/" : req.path)) +
      " HTTP/1.1\r\nhost: " + req.authority + "\r\n";
    const headers = req.headers;
    for (const name in headers) {
      const v = headers[name]!;
      if (name.length <= 17) {
        if (HOP_BY_HOP_HEADERS.has(name)) {
          if (name !== "te" || v !== "trailers") continue;
        } else if (name === "content-length") continue;
      }
      if (typeof v === "string") {
        if (safe(v)) h += name + ": " + v + "\r\n";
      } else {
        for (let i = 0; i < v.length; i++) {
          if (safe(v[i]!)) h += name + ": " + v[i] + "\r\n";
        }
      }
    }
    if (upgrade && !isConnect) {
      const up = headers["upgrade"];
      h += "connection: upgrade\r\n";
      if (up !== undefined) {
        h += "upgrade: " + (typeof up === "string" ? up : up.join(", ")) +
          "\r\n";
      }
    }
    const body = req.body;
    let framing: Framing;
    if (body === null) {
      framing = Framing.None;
      if (req.method !== "GET" && req.method !== "HEAD" && !isConnect) {
        h += "content-length: 0\r\n";
      }
    } else if (body.length !== undefined) {
      h += "content-length: " + body.length + "\r\n";
      framing = body.length === 0 ? Framing.None : Framing.Length;
    } else {
      h += "transfer-encoding: chunked\r\n";
      framing = Framing.Chunked;
    }
    h += "\r\n";
    this.#head = h;
    this.#framing = framing;
    if (this.reused) {
      // hyper's dispatcher reads before it writes, so a server that closed
      // the idle connection is seen before the request goes out. Node only
      // reports a FIN already in the kernel after an I/O turn: give it one.
      this.#state = CHECK;
      this.#check = setImmediate(this.#checked);
    } else this.#write();
    return p;
  }

  /** The reused connection had its I/O turn; still open: write. */
  #checked = (): void => {
    this.#check = undefined;
    if (this.#state !== CHECK) return;
    const s = this.#socket;
    if (s.destroyed || !s.writable) {
      // Closed under us: 'close' fails the exchange as unsent.
      s.destroy();
      return;
    }
    this.#write();
  };

  #write(): void {
    this.#state = HEAD;
    // From here on the server may see the request: never resent.
    this.#wrote = true;
    const out = new Outgoing(
      this,
      this.#socket,
      this.#head,
      this.#req!.body,
      this.#framing,
    );
    this.#head = "";
    this.#out = out;
    try {
      out.begin();
    } catch (e) {
      this.#fail(e);
      this.#socket.destroy();
    }
  }

  /**
   * The caller gave up before anything was written: reject, and keep the
   * connection, which carries nothing of this request.
   */
  #cancelUnsent(reason: unknown): void {
    if (this.#check !== undefined) {
      clearImmediate(this.#check);
      this.#check = undefined;
    }
    this.#unwatch();
    const reject = this.#reject;
    this.#resolve = null;
    this.#reject = null;
    this.#req = null;
    this.#head = "";
    this.#dispatched = false;
    const s = this.#socket;
    const ok = !s.destroyed && s.writable && this.#buf === null;
    if (ok) this.#state = IDLE;
    else {
      this.#state = DEAD;
      s.destroy();
    }
    reject?.(
      new EndpointIoError(this.#addr, {
        cause: reason ?? new Error("request canceled"),
      }),
    );
    this.#owner.connReleased(this, ok);
  }

  // --- socket events (bound once per connection) ---

  #onData = (chunk: Uint8Array): void => {
    try {
      this.#input(chunk);
    } catch (e) {
      this.#cause = e;
      this.#socket.destroy();
    }
  };

  #input(chunk: Uint8Array): void {
    const st = this.#state;
    if (st === IDLE || st === DEAD || st === CHECK) {
      // Bytes nobody asked for (before our request, too): the connection
      // cannot be trusted any more.
      this.#cause ??= new Error("unexpected bytes on an idle connection");
      this.#state = DEAD;
      this.#socket.destroy();
      return;
    }
    this.#gotBytes = true;
    if (st === BODY && this.#buf === null) {
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
  }

  #process(): void {
    while (this.#buf !== null) {
      const st = this.#state;
      if (st === HEAD) {
        const buf = this.#buf;
        if (this.#scan > 0 && findHeadEnd(buf, 0, this.#scan) === -1) {
          if (buf.length > 65536) {
            this.#protocolError("response head too large");
          } else this.#scan = Math.max(1, buf.length - 3);
          return;
        }
        const head = parseResponseHead(buf, 0, HEAD_OPTS);
        if (head === null) {
          this.#scan = Math.max(1, buf.length - 3);
          return;
        }
        if (head.kind === "error") {
          this.#protocolError(`invalid response: ${head.message}`);
          return;
        }
        this.#scan = 0;
        this.#buf = head.end < buf.length ? buf.subarray(head.end) : null;
        this.#onHead(head);
      } else if (st === BODY) {
        const buf = this.#buf;
        this.#buf = null;
        const pos = this.#feedBody(buf, 0);
        if (pos < 0) return;
        if (pos < buf.length) this.#buf = buf.subarray(pos);
      } else {
        // Bytes after the response: no pipelining here, so this is a fault.
        this.#buf = null;
        this.#keepAlive = false;
        return;
      }
    }
  }

  #onHead(head: ResponseHead): void {
    const status = head.status;
    const req = this.#req!;
    if (status < 200 && status !== 101) return; // 100 Continue, 103 Early Hints...
    const headers = head.headers;
    if (head.connection !== "" && connectionListsFields(head.connection)) {
      headers["connection"] = head.connection;
      stripHopByHop(headers);
    }
    const isConnect = req.method === "CONNECT";
    if (status === 101 || (isConnect && status < 300)) {
      if (req.ext.upgrade !== true && !isConnect) {
        this.#protocolError("unexpected 101 response");
        return;
      }
      if (status === 101 && head.upgradeValue !== "") {
        headers["upgrade"] = head.upgradeValue;
      }
      this.#handOver(status, headers);
      return;
    }
    this.#keepAlive = head.keepAlive;
    let body: IncomingBody | null = null;
    if (
      req.method === "HEAD" || status === 204 || status === 304 ||
      (!head.chunked && head.contentLength === 0)
    ) {
      body = null;
    } else if (head.chunked) {
      body = new IncomingBody(this, undefined);
      this.#decoder = new ChunkedDecoder();
    } else if (head.contentLength > 0) {
      body = new IncomingBody(this, head.contentLength);
      this.#remaining = head.contentLength;
    } else {
      body = new IncomingBody(this, undefined);
      this.#untilClose = true;
      this.#keepAlive = false;
    }
    this.#unwatch();
    const resolve = this.#resolve!;
    this.#resolve = null;
    this.#reject = null;
    if (body === null) {
      this.#state = READ;
      resolve({ status, headers, body: null });
      this.#responseRead();
    } else {
      this.#resBody = body;
      this.#state = BODY;
      resolve({ status, headers, body });
    }
  }

  /** 101 / CONNECT 2xx: the socket leaves the pool as a byte pipe. */
  #handOver(status: number, headers: Record<string, string | string[]>): void {
    const s = this.#socket;
    const rest = this.#buf ?? new Uint8Array(0);
    this.#buf = null;
    s.pause();
    s.removeListener("data", this.#onData);
    s.removeListener("end", this.#onEnd);
    s.removeListener("close", this.#onClose);
    s.removeListener("drain", this.#onDrain);
    // #onError stays: an error before the new owner listens must not throw.
    this.#state = DEAD;
    this.#unwatch();
    const resolve = this.#resolve!;
    this.#resolve = null;
    this.#reject = null;
    const out = this.#out;
    this.#out = null;
    // The request of an upgrade has no body worth waiting for.
    out?.abort();
    this.#release(false);
    resolve({
      status,
      headers,
      body: null,
      upgraded: { socket: s, head: rest },
    });
  }

  #feedBody(buf: Uint8Array, pos: number): number {
    const body = this.#resBody!;
    if (this.#untilClose) {
      body.push(pos === 0 ? buf : buf.subarray(pos));
      return buf.length;
    }
    const dec = this.#decoder;
    if (dec === null) {
      const avail = buf.length - pos;
      const n = avail < this.#remaining ? avail : this.#remaining;
      body.push(
        pos === 0 && n === buf.length ? buf : buf.subarray(pos, pos + n),
      );
      this.#remaining -= n;
      if (this.#remaining === 0) {
        this.#resBody = null;
        this.#state = READ;
        body.finish();
        this.#responseRead();
      }
      return pos + n;
    }
    const end = dec.decode(buf, pos, buf.length, body);
    if (end < 0) {
      this.#protocolError(`invalid chunked response body: ${dec.error}`);
      return -1;
    }
    if (dec.done) {
      this.#resBody = null;
      this.#decoder = null;
      this.#state = READ;
      body.finish(dec.trailers);
      this.#responseRead();
    }
    return end;
  }

  /** The response has been read; release once the request is written too. */
  #responseRead(): void {
    if (this.#state !== READ) return;
    const out = this.#out;
    if (out === null || out.done) {
      this.#out = null;
      this.#release(this.#keepAlive);
    } else if (!out.allBytesWritten) {
      // The server answered before taking the whole request body.
      this.#keepAlive = false;
      this.#out = null;
      out.abort();
      this.#release(false);
    }
  }

  outgoingDone(out: Outgoing, err: Error | undefined): void {
    if (out !== this.#out) return;
    if (err !== undefined) {
      // The request body failed (or broke its length): the message is cut.
      this.#cause = err;
      this.#out = null;
      this.#socket.destroy();
      return;
    }
    if (this.#state === READ) {
      this.#out = null;
      this.#release(this.#keepAlive);
    }
  }

  #release(reusable: boolean): void {
    if (!this.#dispatched) return;
    this.#dispatched = false;
    this.#req = null;
    this.#resBody = null;
    this.#decoder = null;
    this.#untilClose = false;
    this.#remaining = 0;
    const s = this.#socket;
    const ok = reusable && this.#state === READ && !s.destroyed && s.writable &&
      this.#buf === null;
    if (ok) this.#state = IDLE;
    else if (this.#state !== DEAD) {
      this.#state = DEAD;
      s.destroy();
    }
    this.#owner.connReleased(this, ok);
  }

  // BodySource (the response body).
  bodyFlow(paused: boolean): void {
    if (this.#state === DEAD) return;
    if (paused) this.#socket.pause();
    else this.#socket.resume();
  }

  bodyStarted(): void {}

  bodyCancelled(err: Error | undefined): void {
    // The reader is gone before the end: the connection cannot be reused.
    this.#resBody = null;
    this.#cause = err;
    this.#socket.destroy();
  }

  #onDrain = (): void => {
    try {
      this.#out?.onDrain();
    } catch (e) {
      this.#cause = e;
      this.#socket.destroy();
    }
  };

  #onEnd = (): void => {
    if (this.#untilClose && this.#resBody !== null) {
      const body = this.#resBody;
      this.#resBody = null;
      this.#untilClose = false;
      this.#state = READ;
      this.#keepAlive = false;
      body.finish();
      this.#responseRead();
    }
    this.#socket.destroy();
  };

  #onError = (err: Error): void => {
    this.#cause ??= err;
  };

  #onClose = (): void => {
    const st = this.#state;
    this.#state = DEAD;
    this.#buf = null;
    if (st === IDLE && !this.#dispatched) {
      this.#owner.connLost(this);
      return;
    }
    this.#fail(
      this.#cause ?? new Error("connection closed before message completed"),
    );
  };

  #protocolError(message: string): void {
    this.#cause = new Error(message);
    this.#state = DEAD;
    this.#buf = null;
    this.#socket.destroy();
  }

  /** The downstream gave up before the response head: drop the exchange. */
  #onAbort = (): void => {
    if (this.#resolve === null) return;
    const reason = this.#signal?.reason;
    if (this.#state === CHECK) {
      this.#cancelUnsent(reason);
      return;
    }
    this.#aborted = true;
    this.#cause = reason ?? new Error("request canceled");
    this.#state = DEAD;
    this.#socket.destroy();
  };

  #unwatch(): void {
    this.#signal?.removeEventListener("abort", this.#onAbort);
    this.#signal = undefined;
  }

  /** Fails whatever the exchange still waits for, and releases it. */
  #fail(cause: unknown): void {
    this.#unwatch();
    if (this.#check !== undefined) {
      clearImmediate(this.#check);
      this.#check = undefined;
    }
    const err = cause instanceof EndpointIoError
      ? cause
      : new EndpointIoError(this.#addr, { cause });
    const reject = this.#reject;
    // Decided before anything is cleared, from what happened, not from
    // what is left: nothing written (hence no body started), no abort.
    this.#retryable = reject !== null && this.reused && !this.#wrote &&
      !this.#aborted && !this.#gotBytes;
    this.#head = "";
    this.#resolve = null;
    this.#reject = null;
    if (reject !== null) reject(err);
    const body = this.#resBody;
    this.#resBody = null;
    if (body !== null) {
      body.fail(err);
    }
    const out = this.#out;
    this.#out = null;
    out?.abort(err);
    this.#release(false);
  }
}

function safe(v: string): boolean {
  return v.indexOf("\n") === -1 && v.indexOf("\r") === -1;
}
