/**
 * In-process backends for whole-proxy tests: an HTTP/1.1 server written on
 * raw `node:net` (so chunked bodies, trailers, keep-alive and `100-continue`
 * are exactly what goes on the wire) and an h2c server on `node:http2`.
 *
 * Routes shared by both (every response carries `x-backend: backend-<port>`):
 *   /echo          HTTP/1.1: JSON of method, target, path, headers and body;
 *                  h2: the request body streamed back, request trailers
 *                  echoed as response trailers
 *   /headers       JSON of the request headers
 *   POST /upload   streamed body → JSON {bytes, sha256}
 *   /big?bytes=N   N bytes of {@linkcode patternBytes}, streamed (chunked)
 *   /trailers      body "hello trailers\n", then trailer `x-trailer: yes`
 *   /status?code=N that status, body `backend-<port> N`
 *   /slow?ms=N     200 after N ms
 *   /reset?code=N  (h2 only) RST_STREAM with code N, no response
 *   anything else  200, body `backend-<port>`
 *
 * No linkerd counterpart beyond the spirit of linkerd's `app/integration`
 * test servers.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash } from "node:crypto";
import * as http2 from "node:http2";
import * as net from "node:net";

// ---------------------------------------------------------------- pattern

/** Byte `i` of the deterministic body pattern: `i % 251`. */
export function patternByte(i: number): number {
  return i % 251;
}

/** `length` bytes of the pattern, starting at absolute offset `offset`. */
export function patternBytes(length: number, offset = 0): Uint8Array {
  const out = new Uint8Array(length);
  for (let i = 0; i < length; i++) out[i] = (offset + i) % 251;
  return out;
}

/** Hex sha256 of the first `length` bytes of the pattern. */
export function patternSha256(length: number): string {
  const h = createHash("sha256");
  const step = 1 << 16;
  for (let off = 0; off < length; off += step) {
    h.update(patternBytes(Math.min(step, length - off), off));
  }
  return h.digest("hex");
}

/** Hex sha256 of some bytes. */
export function sha256Hex(data: Uint8Array): string {
  return createHash("sha256").update(data).digest("hex");
}

async function* patternStream(
  total: number,
): AsyncGenerator<Uint8Array> {
  const step = 1 << 16;
  for (let off = 0; off < total; off += step) {
    yield patternBytes(Math.min(step, total - off), off);
  }
}

function intParam(q: URLSearchParams, name: string, dflt: number): number {
  const n = Number(q.get(name) ?? dflt);
  return Number.isFinite(n) && n >= 0 ? Math.floor(n) : dflt;
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

// ------------------------------------------------------ HTTP/1.1 backend

/** A request as the HTTP/1.1 backend parsed it. */
export interface BackendRequest {
  method: string;
  /** The request-target as sent (origin-form, or absolute-form). */
  target: string;
  /** The path of the target, without query. */
  path: string;
  query: URLSearchParams;
  version: string;
  /** Header fields in order, names lowercased. */
  headers: [string, string][];
  /** The value of a header (duplicates joined with ", "), or undefined. */
  header(name: string): string | undefined;
  /** The body, read once (chunked or Content-Length). */
  body(): AsyncIterable<Uint8Array>;
  /** The whole body, buffered. */
  readBody(): Promise<Uint8Array>;
  /** Chunked-body trailers; filled once the body was read. */
  trailers: [string, string][];
}

/** What a handler answers. */
export interface BackendResponse {
  status: number;
  headers?: Record<string, string> | [string, string][];
  /** A streamed body goes out chunked. */
  body?: string | Uint8Array | AsyncIterable<Uint8Array>;
  /** Sent as chunked trailers (forces chunked encoding). */
  trailers?: Record<string, string>;
  /** Forces chunked encoding for a fixed body. */
  chunked?: boolean;
  /** Closes the connection after this response. */
  close?: boolean;
}

/**
 * A custom handler for {@linkcode startHttpBackend}. Returning undefined
 * falls through to the default routes.
 */
export type BackendHandler = (
  req: BackendRequest,
  ctx: { name: string; port: number },
) => BackendResponse | undefined | Promise<BackendResponse | undefined>;

/** A running in-process backend. */
export interface Backend {
  port: number;
  /** `backend-<port>`: the body of the default route. */
  name: string;
  /** Requests answered so far. */
  readonly requests: number;
  /** Connections accepted so far. */
  readonly connections: number;
  close(): Promise<void>;
}

const CRLF = new Uint8Array([13, 10]);
const MAX_BUFFERED = 1 << 20;

/** Buffered reads over a node:net socket, with backpressure. */
class SocketReader {
  #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;

  constructor(socket: net.Socket) {
    this.#socket = socket;
    socket.on("data", (chunk: Buffer) => {
      this.#buf = this.#buf.length === 0
        ? chunk
        : Buffer.concat([this.#buf, chunk]);
      if (this.#buf.length > MAX_BUFFERED) socket.pause();
      this.#notify();
    });
    const end = () => {
      this.#ended = true;
      this.#notify();
    };
    socket.on("end", end);
    socket.on("close", end);
    socket.on("error", end);
  }

  #notify(): void {
    const w = this.#wake;
    this.#wake = undefined;
    w?.();
  }

  async #more(): Promise<boolean> {
    if (this.#ended) return false;
    if (this.#socket.isPaused()) this.#socket.resume();
    await new Promise<void>((r) => (this.#wake = r));
    return true;
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /** A line without its CRLF; null at a clean EOF before any byte. */
  async readLine(limit = 64 * 1024): Promise<string | null> {
    for (;;) {
      const i = this.#buf.indexOf(CRLF);
      if (i >= 0) {
        const line = this.#take(i).toString("latin1");
        this.#take(2);
        return line;
      }
      if (this.#buf.length > limit) throw new Error("line too long");
      if (!(await this.#more())) {
        if (this.#buf.length === 0) return null;
        throw new Error("connection closed mid-line");
      }
    }
  }

  /** Up to `max` bytes (at least one); throws at EOF. */
  async readSome(max: number): Promise<Uint8Array> {
    while (this.#buf.length === 0) {
      if (!(await this.#more())) throw new Error("connection closed mid-body");
    }
    return new Uint8Array(this.#take(Math.min(max, this.#buf.length)));
  }
}

function headerGetter(headers: [string, string][]) {
  return (name: string): string | undefined => {
    const n = name.toLowerCase();
    const vals = headers.filter(([k]) => k === n).map(([, v]) => v);
    return vals.length ? vals.join(", ") : undefined;
  };
}

function parseFields(lines: string[]): [string, string][] {
  const out: [string, string][] = [];
  for (const line of lines) {
    const i = line.indexOf(":");
    if (i <= 0 || /^\s/.test(line)) throw new Error(`bad header line: ${line}`);
    out.push([line.slice(0, i).trim().toLowerCase(), line.slice(i + 1).trim()]);
  }
  return out;
}

async function readFieldLines(r: SocketReader): Promise<string[]> {
  const lines: string[] = [];
  for (;;) {
    const line = await r.readLine();
    if (line === null) throw new Error("connection closed in headers");
    if (line === "") return lines;
    lines.push(line);
    if (lines.length > 200) throw new Error("too many header lines");
  }
}

async function* readBodyFrom(
  r: SocketReader,
  req: { header(n: string): string | undefined; trailers: [string, string][] },
): AsyncGenerator<Uint8Array> {
  const te = req.header("transfer-encoding");
  if (te !== undefined && /chunked\s*$/i.test(te)) {
    for (;;) {
      const line = await r.readLine();
      if (line === null) throw new Error("connection closed in chunked body");
      const size = parseInt(line.split(";")[0]!.trim(), 16);
      if (!Number.isFinite(size) || size < 0) {
        throw new Error(`bad chunk size: ${line}`);
      }
      if (size === 0) {
        req.trailers.push(...parseFields(await readFieldLines(r)));
        return;
      }
      let left = size;
      while (left > 0) {
        const c = await r.readSome(left);
        left -= c.length;
        yield c;
      }
      if ((await r.readLine()) !== "") {
        throw new Error("missing CRLF after chunk");
      }
    }
  }
  let left = Number(req.header("content-length") ?? "0");
  if (!Number.isSafeInteger(left) || left < 0) {
    throw new Error("bad content-length");
  }
  while (left > 0) {
    const c = await r.readSome(Math.min(left, 1 << 16));
    left -= c.length;
    yield c;
  }
}

async function collect(body: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of body) {
    parts.push(c);
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function write(socket: net.Socket, data: string | Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(new Error("socket closed"));
      return;
    }
    const ok = socket.write(data);
    if (ok) {
      resolve();
      return;
    }
    const onDrain = () => {
      socket.off("close", onClose);
      resolve();
    };
    const onClose = () => {
      socket.off("drain", onDrain);
      reject(new Error("socket closed"));
    };
    socket.once("drain", onDrain);
    socket.once("close", onClose);
  });
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  204: "No Content",
  400: "Bad Request",
  404: "Not Found",
  500: "Internal Server Error",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Timeout",
};

async function writeResponse(
  socket: net.Socket,
  res: BackendResponse,
  head: boolean,
  closeAfter: boolean,
): Promise<void> {
  const fields: [string, string][] = Array.isArray(res.headers)
    ? [...res.headers]
    : Object.entries(res.headers ?? {});
  const has = (n: string) => fields.some(([k]) => k.toLowerCase() === n);
  const body = typeof res.body === "string"
    ? new TextEncoder().encode(res.body)
    : res.body;
  const fixed = body === undefined || body instanceof Uint8Array;
  const noBody = head || res.status === 204 || res.status === 304 ||
    res.status < 200;
  const chunked = !noBody &&
    (!fixed || res.chunked === true || res.trailers !== undefined);
  if (chunked) {
    fields.push(["transfer-encoding", "chunked"]);
    if (res.trailers && !has("trailer")) {
      fields.push(["trailer", Object.keys(res.trailers).join(", ")]);
    }
  } else if (
    !has("content-length") && res.status !== 204 && res.status >= 200
  ) {
    fields.push([
      "content-length",
      String(body instanceof Uint8Array ? body.length : 0),
    ]);
  }
  if (closeAfter) fields.push(["connection", "close"]);
  let headText = `HTTP/1.1 ${res.status} ${
    REASONS[res.status] ?? "Status"
  }\r\n`;
  for (const [k, v] of fields) headText += `${k}: ${v}\r\n`;
  headText += "\r\n";
  if (noBody) {
    await write(socket, headText);
    return;
  }
  if (!chunked) {
    await write(socket, headText);
    if (body instanceof Uint8Array && body.length) await write(socket, body);
    return;
  }
  await write(socket, headText);
  const sendChunk = async (c: Uint8Array) => {
    if (c.length === 0) return;
    await write(socket, `${c.length.toString(16)}\r\n`);
    await write(socket, c);
    await write(socket, "\r\n");
  };
  if (body instanceof Uint8Array) await sendChunk(body);
  else if (body) { for await (const c of body) await sendChunk(c); }
  let tail = "0\r\n";
  for (const [k, v] of Object.entries(res.trailers ?? {})) {
    tail += `${k}: ${v}\r\n`;
  }
  await write(socket, tail + "\r\n");
}

function headersObject(headers: [string, string][]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of headers) {
    out[k] = out[k] === undefined ? v : `${out[k]}, ${v}`;
  }
  return out;
}

async function defaultRoute(
  req: BackendRequest,
  name: string,
): Promise<BackendResponse> {
  const json = (v: unknown): BackendResponse => ({
    status: 200,
    headers: { "content-type": "application/json" },
    body: JSON.stringify(v),
  });
  switch (req.path) {
    case "/echo": {
      const body = await req.readBody();
      return json({
        backend: name,
        method: req.method,
        target: req.target,
        path: req.path,
        version: req.version,
        headers: headersObject(req.headers),
        body: new TextDecoder().decode(body),
        bodyBytes: body.length,
        trailers: headersObject(req.trailers),
      });
    }
    case "/headers":
      return json(headersObject(req.headers));
    case "/upload": {
      const h = createHash("sha256");
      let bytes = 0;
      for await (const c of req.body()) {
        h.update(c);
        bytes += c.length;
      }
      return json({
        bytes,
        sha256: h.digest("hex"),
        trailers: headersObject(req.trailers),
      });
    }
    case "/big":
      return {
        status: 200,
        headers: { "content-type": "application/octet-stream" },
        body: patternStream(intParam(req.query, "bytes", 0)),
      };
    case "/trailers":
      return {
        status: 200,
        headers: { "content-type": "text/plain" },
        body: "hello trailers\n",
        trailers: { "x-trailer": "yes" },
      };
    case "/status": {
      const code = intParam(req.query, "code", 200);
      return { status: code, body: `${name} ${code}` };
    }
    case "/slow":
      await sleep(intParam(req.query, "ms", 0));
      return { status: 200, body: `${name} slow` };
    default:
      return {
        status: 200,
        headers: { "content-type": "text/plain" },
        body: name,
      };
  }
}

async function serveConnection(
  socket: net.Socket,
  ctx: { name: string; port: number },
  handler: BackendHandler | undefined,
  onRequest: () => void,
): Promise<void> {
  const r = new SocketReader(socket);
  for (;;) {
    const line = await r.readLine();
    if (line === null) return;
    if (line === "") continue; // tolerated empty line between requests
    const m = /^([A-Z]+) (\S+) (HTTP\/1\.[01])$/.exec(line);
    if (!m) throw new Error(`bad request line: ${line}`);
    const [, method, target, version] = m as unknown as [
      string,
      string,
      string,
      string,
    ];
    const headers = parseFields(await readFieldLines(r));
    const header = headerGetter(headers);
    const url = new URL(target, "http://backend.invalid");
    let consumed = false;
    const trailers: [string, string][] = [];
    const hasBody = header("transfer-encoding") !== undefined ||
      Number(header("content-length") ?? "0") > 0;
    let continued = false;
    const body = (): AsyncIterable<Uint8Array> => {
      if (consumed) throw new Error("body already read");
      consumed = true;
      const inner = readBodyFrom(r, { header, trailers });
      return (async function* () {
        if (
          hasBody && !continued && /100-continue/i.test(header("expect") ?? "")
        ) {
          continued = true;
          await write(socket, "HTTP/1.1 100 Continue\r\n\r\n");
        }
        yield* inner;
      })();
    };
    const req: BackendRequest = {
      method,
      target,
      path: url.pathname,
      query: url.searchParams,
      version,
      headers,
      header,
      body,
      readBody: () => collect(body()),
      trailers,
    };
    const connHeader = (header("connection") ?? "").toLowerCase();
    let close = version === "HTTP/1.0"
      ? !connHeader.includes("keep-alive")
      : connHeader.includes("close");
    let res: BackendResponse;
    try {
      res = (handler ? await handler(req, ctx) : undefined) ??
        await defaultRoute(req, ctx.name);
    } catch (e) {
      res = { status: 500, body: `handler error: ${e}`, close: true };
    }
    if (!consumed) {
      if (hasBody && /100-continue/i.test(header("expect") ?? "")) {
        close = true; // never asked for the body: do not read it
      } else {
        for await (const _ of body()) { /* drain */ }
      }
    }
    close ||= res.close === true;
    const fields: [string, string][] = Array.isArray(res.headers)
      ? [...res.headers]
      : Object.entries(res.headers ?? {});
    fields.push(["x-backend", ctx.name]);
    onRequest();
    await writeResponse(
      socket,
      { ...res, headers: fields },
      method === "HEAD",
      close,
    );
    if (close) return;
  }
}

function listen(server: net.Server | http2.Http2Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve((server.address() as net.AddressInfo).port);
    });
  });
}

/**
 * Starts an HTTP/1.1 backend on 127.0.0.1, port 0 (raw `node:net`:
 * keep-alive, chunked bodies both ways, trailers, `Expect: 100-continue`).
 * `handler` may answer any request; undefined falls through to the default
 * routes listed in this module's doc.
 */
export async function startHttpBackend(
  handler?: BackendHandler,
): Promise<Backend> {
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let connections = 0;
  const ctx = { name: "", port: 0 };
  const server = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    serveConnection(socket, ctx, handler, () => requests++)
      .catch(async (e) => {
        if (!socket.destroyed) {
          await write(
            socket,
            `HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\nx-error: ${
              String(e).replace(/[\r\n]/g, " ").slice(0, 200)
            }\r\n\r\n`,
          ).catch(() => {});
        }
      })
      .finally(() => socket.end());
  });
  ctx.port = await listen(server);
  ctx.name = `backend-${ctx.port}`;
  return {
    port: ctx.port,
    name: ctx.name,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    close: () => closeServer(server, sockets),
  };
}

async function closeServer(
  server: net.Server | http2.Http2Server,
  sockets: Set<net.Socket>,
): Promise<void> {
  const closed = new Promise<void>((r) => server.close(() => r()));
  await Promise.all([...sockets].map((s) =>
    new Promise<void>((r) => {
      if (s.destroyed && s.closed) {
        r();
        return;
      }
      s.once("close", () => r());
      s.destroy();
    })
  ));
  await closed;
}

// ----------------------------------------------------------- h2c backend

/**
 * Starts an h2c (prior knowledge) backend on `node:http2` at 127.0.0.1,
 * port 0, with the routes listed in this module's doc.
 */
export async function startH2Backend(): Promise<Backend> {
  const server = http2.createServer();
  const sessions = new Set<http2.ServerHttp2Session>();
  const sockets = new Set<net.Socket>();
  let requests = 0;
  let connections = 0;
  let name = "";
  server.on("connection", (socket: net.Socket) => {
    connections++;
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
  });
  server.on("session", (s: http2.ServerHttp2Session) => {
    sessions.add(s);
    s.on("close", () => sessions.delete(s));
    s.on("error", () => {});
  });
  server.on("stream", (
    stream: http2.ServerHttp2Stream,
    headers: http2.IncomingHttpHeaders,
  ) => {
    requests++;
    stream.on("error", () => {});
    handleH2(stream, headers, name).catch(() => {
      if (!stream.destroyed) {
        stream.close(http2.constants.NGHTTP2_INTERNAL_ERROR);
      }
    });
  });
  const port = await listen(server);
  name = `backend-${port}`;
  return {
    port,
    name,
    get requests() {
      return requests;
    },
    get connections() {
      return connections;
    },
    close: async () => {
      for (const s of sessions) s.destroy();
      await closeServer(server, sockets);
    },
  };
}

function h2Write(
  stream: http2.ServerHttp2Stream,
  data: Uint8Array,
): Promise<void> {
  // Resolves when the write completed (which also paces the writer). A
  // caller's later end() then never races a write still in progress: Deno's
  // Http2Stream.end() takes a shortcut in that case that can drop the tail
  // of the body.
  return new Promise((resolve, reject) => {
    if (stream.destroyed) {
      reject(new Error("stream closed"));
      return;
    }
    stream.write(data, (err) => err ? reject(err) : resolve());
  });
}

async function handleH2(
  stream: http2.ServerHttp2Stream,
  headers: http2.IncomingHttpHeaders,
  name: string,
): Promise<void> {
  const url = new URL(
    String(headers[":path"] ?? "/"),
    "http://backend.invalid",
  );
  const base = { "x-backend": name };
  const json = (v: unknown) => {
    stream.respond({
      ":status": 200,
      "content-type": "application/json",
      ...base,
    });
    stream.end(JSON.stringify(v));
  };
  const reqHeaders = (): Record<string, string> => {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(headers)) {
      if (v !== undefined) out[k] = Array.isArray(v) ? v.join(", ") : String(v);
    }
    return out;
  };
  switch (url.pathname) {
    case "/echo": {
      let trailers: Record<string, string> = {};
      stream.on("trailers", (t: http2.IncomingHttpHeaders) => {
        for (const [k, v] of Object.entries(t)) {
          if (v !== undefined) {
            trailers[k] = Array.isArray(v) ? v.join(", ") : String(v);
          }
        }
      });
      stream.respond(
        { ":status": 200, "content-type": "application/octet-stream", ...base },
        { waitForTrailers: true },
      );
      stream.on("wantTrailers", () => {
        const t = trailers;
        trailers = {};
        stream.sendTrailers({
          "x-echo-trailers": String(Object.keys(t).length),
          ...t,
        });
      });
      for await (const c of stream) await h2Write(stream, c as Uint8Array);
      stream.end();
      return;
    }
    case "/headers":
      for await (const _ of stream) { /* drain */ }
      json(reqHeaders());
      return;
    case "/upload": {
      const h = createHash("sha256");
      let bytes = 0;
      for await (const c of stream) {
        h.update(c as Uint8Array);
        bytes += (c as Uint8Array).length;
      }
      json({ bytes, sha256: h.digest("hex") });
      return;
    }
    case "/big": {
      for await (const _ of stream) { /* drain */ }
      stream.respond({
        ":status": 200,
        "content-type": "application/octet-stream",
        ...base,
      });
      for await (
        const c of patternStream(intParam(url.searchParams, "bytes", 0))
      ) {
        await h2Write(stream, c);
      }
      stream.end();
      return;
    }
    case "/trailers":
      for await (const _ of stream) { /* drain */ }
      stream.respond(
        { ":status": 200, "content-type": "text/plain", ...base },
        { waitForTrailers: true },
      );
      stream.on(
        "wantTrailers",
        () => stream.sendTrailers({ "x-trailer": "yes" }),
      );
      stream.end("hello trailers\n");
      return;
    case "/status": {
      for await (const _ of stream) { /* drain */ }
      const code = intParam(url.searchParams, "code", 200);
      stream.respond({ ":status": code, ...base });
      stream.end(`${name} ${code}`);
      return;
    }
    case "/slow":
      for await (const _ of stream) { /* drain */ }
      await sleep(intParam(url.searchParams, "ms", 0));
      if (stream.destroyed) return;
      stream.respond({ ":status": 200, ...base });
      stream.end(`${name} slow`);
      return;
    case "/reset":
      stream.close(
        intParam(url.searchParams, "code", http2.constants.NGHTTP2_CANCEL),
      );
      return;
    default:
      for await (const _ of stream) { /* drain */ }
      stream.respond({ ":status": 200, "content-type": "text/plain", ...base });
      stream.end(name);
  }
}

// ------------------------------------------- a backend that never answers

/** An h2c backend that accepts streams, never answers, and records how they end. */
export interface HangingH2Backend {
  port: number;
  /** Streams opened so far. */
  readonly opened: number;
  /** The RST_STREAM code of each stream when it closed. */
  readonly closedCodes: number[];
  close(): Promise<void>;
}

/** Starts a {@linkcode HangingH2Backend} on 127.0.0.1:0. */
export async function startHangingH2Backend(): Promise<HangingH2Backend> {
  const closedCodes: number[] = [];
  let opened = 0;
  const server = http2.createServer();
  server.on("stream", (stream) => {
    opened++;
    stream.on("error", () => {});
    stream.on("close", () => closedCodes.push(stream.rstCode));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get opened() {
      return opened;
    },
    closedCodes,
    close: () => new Promise<void>((r) => server.close(() => r())),
  };
}

/** Polls `cond` every 20 ms until it holds or `timeoutMs` passes. */
export async function until(
  cond: () => boolean,
  timeoutMs = 3000,
): Promise<void> {
  for (let waited = 0; waited < timeoutMs && !cond(); waited += 20) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resolves with `read()` once it has not changed for `quietMs` (a flow that
 * has stopped); rejects if it is still moving after `timeoutMs`.
 */
export async function settled(
  read: () => number,
  what: string,
  quietMs = 500,
  timeoutMs = 15_000,
): Promise<number> {
  const deadline = performance.now() + timeoutMs;
  let last = read();
  let since = performance.now();
  for (;;) {
    await new Promise((r) => setTimeout(r, 20));
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
