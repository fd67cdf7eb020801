/**
 * Test doubles for the HTTP/1 codec: a serveH1 listener, a raw `node:net`
 * client that reads responses off the wire, and a generated streaming body.
 *
 * @module
 */
import net from "node:net";
import { Buffer } from "node:buffer";
import {
  type Body,
  type BodySink,
  bytesBody,
  type HeaderMap,
  type HttpRequest,
  type HttpResponse,
  type HttpService,
  readBody,
} from "../message.ts";
import { type H1ServerConn, type H1ServerOptions, serveH1 } from "./server.ts";
import { parseResponseHead } from "./parse.ts";
import { ChunkedDecoder } from "./chunked.ts";

/** A listening serveH1 server on 127.0.0.1:0. */
export interface TestServer {
  port: number;
  conns: H1ServerConn[];
  /** The accepted sockets, in order. */
  sockets: net.Socket[];
  close(): Promise<void>;
}

/** Starts serveH1 behind a `node:net` listener on an ephemeral port. */
export async function startServer(
  service: HttpService,
  opts: Partial<H1ServerOptions> = {},
): Promise<TestServer> {
  const conns: H1ServerConn[] = [];
  const accepted: net.Socket[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    accepted.push(s);
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    conns.push(
      serveH1(s, new Uint8Array(0), {
        clientAddr: `${s.remoteAddress}:${s.remotePort}`,
        ...opts,
        service,
      }),
    );
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    conns,
    sockets: accepted,
    async close() {
      for (const s of sockets) s.destroy();
      await Promise.all(conns.map((c) => c.closed));
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}

/** A response read off the wire by {@link RawClient}. */
export interface RawResponse {
  status: number;
  version: string;
  headers: HeaderMap;
  body: string;
  trailers: HeaderMap | undefined;
}

/** A raw TCP client that writes bytes and parses responses as they come. */
export class RawClient {
  socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #waiters: (() => void)[] = [];
  ended = false;
  closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#wake();
    });
    socket.on("end", () => {
      this.ended = true;
      this.#wake();
    });
    socket.on("error", () => {});
    this.closed = new Promise((r) => socket.on("close", () => r()));
  }

  static async connect(port: number): Promise<RawClient> {
    const s = net.connect(port, "127.0.0.1");
    await new Promise<void>((resolve, reject) => {
      s.once("connect", resolve);
      s.once("error", reject);
    });
    return new RawClient(s);
  }

  #wake() {
    const w = this.#waiters;
    this.#waiters = [];
    for (const f of w) f();
  }

  #wait(): Promise<void> {
    return new Promise((r) => this.#waiters.push(r));
  }

  write(data: string | Uint8Array): void {
    this.socket.write(
      typeof data === "string" ? Buffer.from(data, "latin1") : data,
    );
  }

  /** Bytes received and not consumed yet. */
  get pending(): string {
    return this.#buf.toString("latin1");
  }

  /** Waits until `n` bytes are buffered (or the peer ended). */
  async readBytes(n: number): Promise<string> {
    while (this.#buf.length < n && !this.ended) await this.#wait();
    const out = this.#buf.subarray(0, n).toString("latin1");
    this.#buf = this.#buf.subarray(Math.min(n, this.#buf.length));
    return out;
  }

  /** Reads everything until the server closes. */
  async readToEnd(): Promise<string> {
    while (!this.ended) await this.#wait();
    const s = this.#buf.toString("latin1");
    this.#buf = Buffer.alloc(0);
    return s;
  }

  /** Reads one response; `head` for a response to HEAD (no body). */
  async readResponse(opts: { head?: boolean } = {}): Promise<RawResponse> {
    for (;;) {
      const h = parseResponseHead(this.#buf);
      if (h !== null) {
        if (h.kind === "error") throw new Error(`bad response: ${h.message}`);
        const base = {
          status: h.status,
          version: h.version,
          headers: h.headers,
          trailers: undefined as HeaderMap | undefined,
        };
        if (
          opts.head || h.status === 204 || h.status === 304 ||
          (h.status >= 100 && h.status < 200)
        ) {
          this.#buf = this.#buf.subarray(h.end);
          return { ...base, body: "" };
        }
        if (h.chunked) {
          const dec = new ChunkedDecoder();
          const parts: Uint8Array[] = [];
          const sink = {
            push: (c: Uint8Array) => parts.push(Uint8Array.from(c)),
          };
          let pos = h.end;
          let consumed = h.end;
          for (;;) {
            const end = dec.decode(this.#buf, pos, this.#buf.length, sink);
            if (end < 0) throw new Error(dec.error);
            consumed = end;
            if (dec.done) break;
            this.#buf = this.#buf.subarray(end);
            pos = 0;
            if (this.ended) throw new Error("eof in chunked body");
            await this.#wait();
          }
          this.#buf = this.#buf.subarray(consumed);
          return {
            ...base,
            body: Buffer.concat(parts).toString("latin1"),
            trailers: dec.trailers,
          };
        }
        if (h.contentLength >= 0) {
          while (this.#buf.length < h.end + h.contentLength) {
            if (this.ended) throw new Error("eof in body");
            await this.#wait();
          }
          const body = this.#buf.subarray(h.end, h.end + h.contentLength)
            .toString("latin1");
          this.#buf = this.#buf.subarray(h.end + h.contentLength);
          return { ...base, body };
        }
        // Close-delimited.
        while (!this.ended) await this.#wait();
        const body = this.#buf.subarray(h.end).toString("latin1");
        this.#buf = Buffer.alloc(0);
        return { ...base, body };
      }
      if (this.ended) throw new Error("eof before response head");
      await this.#wait();
    }
  }

  close(): Promise<void> {
    this.socket.destroy();
    return this.closed;
  }
}

/** Counters shared with a {@link streamBody}. */
export interface StreamStats {
  /** Bytes produced so far. */
  produced: number;
  /** Times the consumer paused. */
  pauses: number;
  cancelled: boolean;
}

/**
 * A body that generates `total` bytes in `chunkBytes` chunks, one chunk per
 * macrotask, honouring pause/resume. `length` is known unless `chunked`.
 */
export function streamBody(
  total: number,
  opts: { chunkBytes?: number; chunked?: boolean; trailers?: HeaderMap } = {},
): { body: Body; stats: StreamStats } {
  const chunkBytes = opts.chunkBytes ?? 65536;
  const stats: StreamStats = { produced: 0, pauses: 0, cancelled: false };
  let sink: BodySink | undefined;
  let paused = false;
  let scheduled = false;
  let done = false;
  const chunk = new Uint8Array(chunkBytes).fill(120);
  const step = () => {
    scheduled = false;
    if (!sink || paused || done) return;
    const n = Math.min(chunkBytes, total - stats.produced);
    if (n > 0) {
      stats.produced += n;
      // A fresh view each time: consumers may keep it.
      sink.data(n === chunkBytes ? chunk.slice() : chunk.slice(0, n));
    }
    if (stats.produced >= total) {
      done = true;
      sink.end(opts.trailers);
      return;
    }
    schedule();
  };
  const schedule = () => {
    if (!scheduled && !paused && !done) {
      scheduled = true;
      setTimeout(step, 0);
    }
  };
  const body: Body = {
    length: opts.chunked ? undefined : total,
    start(s) {
      sink = s;
      schedule();
    },
    pause() {
      if (!paused) stats.pauses++;
      paused = true;
    },
    resume() {
      paused = false;
      schedule();
    },
    cancel() {
      stats.cancelled = true;
      done = true;
    },
  };
  return { body, stats };
}

/** A sink that counts bytes and can be paused from the test. */
export class CountingSink implements BodySink {
  bytes = 0;
  chunks = 0;
  trailers: HeaderMap | undefined;
  failure: Error | undefined;
  ended: Promise<void>;
  #resolve!: () => void;
  #reject!: (e: Error) => void;
  constructor() {
    this.ended = new Promise((res, rej) => {
      this.#resolve = res;
      this.#reject = rej;
    });
    this.ended.catch(() => {});
  }
  data(c: Uint8Array): void {
    this.bytes += c.length;
    this.chunks++;
  }
  end(trailers?: HeaderMap): void {
    this.trailers = trailers;
    this.#resolve();
  }
  error(err: Error): void {
    this.failure = err;
    this.#reject(err);
  }
}

/** Resolves after `ms`. */
export function delay(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Resolves once `cond()` holds, polling every `everyMs`; rejects after `timeoutMs`. */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 10_000,
  everyMs = 5,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await delay(everyMs);
  }
}

/**
 * Resolves with `read()` once it has not changed for `quietMs` (a flow that
 * stopped); rejects if it still moves after `timeoutMs`.
 */
export async function settled(
  read: () => number,
  what: string,
  quietMs = 100,
  timeoutMs = 10_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = read();
  let since = performance.now();
  for (;;) {
    await delay(5);
    const now = read();
    if (now !== last) {
      last = now;
      since = performance.now();
    } else if (performance.now() - since >= quietMs) return now;
    if (performance.now() > deadline) {
      throw new Error(`${what} still moving after ${timeoutMs} ms (${now})`);
    }
  }
}

/** A request as a {@link RawServer} read it. */
export interface RawRequest {
  /** The head as received. */
  head: string;
  method: string;
  target: string;
  headers: HeaderMap;
  body: string;
  trailers: HeaderMap | undefined;
}

/** One connection accepted by a {@link RawServer}. */
export interface RawConn {
  socket: net.Socket;
  /** 0-based connection number. */
  index: number;
  /** Requests read so far on this connection. */
  requests: number;
  write(s: string | Uint8Array): boolean;
}

/**
 * A `node:net` server that reads requests off the wire and lets the test
 * write raw responses: `handler` is called once per request.
 */
export class RawServer {
  port = 0;
  connections = 0;
  sockets = new Set<net.Socket>();
  #server: net.Server;
  #closed: Promise<void>[] = [];

  private constructor(
    handler: (req: RawRequest, conn: RawConn) => void | Promise<void>,
  ) {
    this.#server = net.createServer((socket) => {
      const conn: RawConn = {
        socket,
        index: this.connections++,
        requests: 0,
        write: (s) =>
          socket.destroyed ? false : socket.write(
            typeof s === "string" ? Buffer.from(s, "latin1") : s,
          ),
      };
      this.sockets.add(socket);
      this.#closed.push(
        new Promise((r) =>
          socket.on("close", () => {
            this.sockets.delete(socket);
            r();
          })
        ),
      );
      socket.on("error", () => {});
      let buf: Buffer = Buffer.alloc(0);
      let busy = false;
      const pump = async () => {
        if (busy) return;
        busy = true;
        try {
          for (;;) {
            const req = takeRequest();
            if (req === null) break;
            conn.requests++;
            await handler(req, conn);
          }
        } finally {
          busy = false;
        }
      };
      const takeRequest = (): RawRequest | null => {
        const end = buf.indexOf("\r\n\r\n");
        if (end === -1) return null;
        const head = buf.subarray(0, end + 4).toString("latin1");
        const lines = head.split("\r\n");
        const [method, target] = lines[0]!.split(" ");
        const headers: HeaderMap = {};
        for (const l of lines.slice(1)) {
          if (l === "") continue;
          const i = l.indexOf(":");
          const name = l.slice(0, i).toLowerCase();
          const v = l.slice(i + 1).trim();
          const prev = headers[name];
          headers[name] = prev === undefined
            ? v
            : Array.isArray(prev)
            ? [...prev, v]
            : [prev, v];
        }
        let pos = end + 4;
        let body = "";
        let trailers: HeaderMap | undefined;
        if (headers["transfer-encoding"] === "chunked") {
          const dec = new ChunkedDecoder();
          const parts: Uint8Array[] = [];
          const r = dec.decode(buf, pos, buf.length, {
            push: (c) => parts.push(c),
          });
          if (r < 0) throw new Error(dec.error);
          if (!dec.done) return null;
          body = Buffer.concat(parts).toString("latin1");
          trailers = dec.trailers;
          pos = r;
        } else if (headers["content-length"] !== undefined) {
          const n = Number(headers["content-length"]);
          if (buf.length < pos + n) return null;
          body = buf.subarray(pos, pos + n).toString("latin1");
          pos += n;
        }
        buf = buf.subarray(pos);
        return {
          head,
          method: method!,
          target: target!,
          headers,
          body,
          trailers,
        };
      };
      socket.on("data", (d: Buffer) => {
        buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
        pump();
      });
    });
  }

  static async start(
    handler: (req: RawRequest, conn: RawConn) => void | Promise<void>,
  ): Promise<RawServer> {
    const s = new RawServer(handler);
    await new Promise<void>((r) => s.#server.listen(0, "127.0.0.1", r));
    s.port = (s.#server.address() as net.AddressInfo).port;
    return s;
  }

  /** A `connect` function for H1Pool that records the sockets it opens. */
  connector(opened: net.Socket[] = []): () => Promise<net.Socket> {
    return () =>
      new Promise((resolve, reject) => {
        const s = net.connect(this.port, "127.0.0.1");
        s.once("connect", () => {
          s.removeListener("error", reject);
          opened.push(s);
          resolve(s);
        });
        s.once("error", reject);
      });
  }

  async close(): Promise<void> {
    for (const s of this.sockets) s.destroy();
    await Promise.all(this.#closed);
    await new Promise<void>((r) => this.#server.close(() => r()));
  }
}

/** A bare HTTP request for the pool. */
export function request(
  path: string,
  init: {
    method?: string;
    authority?: string;
    headers?: HeaderMap;
    body?: Body | null;
    upgrade?: boolean;
  } = {},
): import("../message.ts").HttpRequest {
  const ext: import("../message.ts").RequestExt = {};
  if (init.upgrade) ext.upgrade = true;
  return {
    method: init.method ?? "GET",
    scheme: "http",
    authority: init.authority ?? "svc.test:80",
    path,
    version: "HTTP/1.1",
    headers: init.headers ?? {},
    body: init.body ?? null,
    ext,
  };
}

/** A 200 text/plain response. */
export function text(
  s: string,
  headers: Record<string, string> = {},
): HttpResponse {
  return {
    status: 200,
    headers: { "content-type": "text/plain", ...headers },
    body: bytesBody(s),
  };
}

/** Echoes method, authority, path and body; records requests in `seen`. */
export function echoService(seen: HttpRequest[] = []): HttpService {
  return async (req) => {
    seen.push(req);
    const { bytes } = await readBody(req.body);
    return text(
      `${req.method} ${req.authority} ${req.path} ${
        new TextDecoder().decode(bytes)
      }`,
    );
  };
}
