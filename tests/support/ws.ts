/**
 * WebSocket peers for whole-proxy tests: an echo backend (`Deno.serve` +
 * `Deno.upgradeWebSocket`) and a minimal RFC 6455 client on `node:net`, which
 * — unlike the WebSocket API — can dial Petrel's listener while naming the
 * logical service in the `Host` header.
 *
 * No linkerd counterpart (linkerd passes Upgrade/CONNECT through; its tests
 * use raw TCP peers).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import { createHash, randomBytes } from "node:crypto";
import * as net from "node:net";

const WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/** A running WebSocket echo backend. */
export interface WsBackend {
  port: number;
  /** `ws-backend-<port>`: the body of a plain (non-upgrade) GET. */
  name: string;
  /** The Host header of every upgrade request, in order. */
  readonly upgradeHosts: string[];
  close(): Promise<void>;
}

/**
 * Starts a WebSocket echo backend on 127.0.0.1, port 0: every text or binary
 * message is sent back as is. A non-upgrade request gets 200 with `name`.
 */
export function startWsEchoBackend(): Promise<WsBackend> {
  const upgradeHosts: string[] = [];
  const sockets = new Set<WebSocket>();
  return new Promise((resolve) => {
    let name = "";
    const server = Deno.serve(
      {
        hostname: "127.0.0.1",
        port: 0,
        onListen: ({ port }) => {
          name = `ws-backend-${port}`;
          resolve({
            port,
            name,
            upgradeHosts,
            close: async () => {
              const closing = [...sockets].map((s) =>
                new Promise<void>((r) => {
                  if (s.readyState === WebSocket.CLOSED) return r();
                  s.addEventListener("close", () => r());
                  s.close(1001, "backend closing");
                })
              );
              // a peer that is not reading cannot answer the close frame:
              // wait a little, then shut down anyway
              let timer: ReturnType<typeof setTimeout> | undefined;
              await Promise.race([
                Promise.all(closing),
                new Promise((r) => (timer = setTimeout(r, 200))),
              ]);
              clearTimeout(timer);
              await server.shutdown();
            },
          });
        },
      },
      (req) => {
        if ((req.headers.get("upgrade") ?? "").toLowerCase() !== "websocket") {
          return new Response(name, { headers: { "x-backend": name } });
        }
        upgradeHosts.push(req.headers.get("host") ?? "");
        const { socket, response } = Deno.upgradeWebSocket(req);
        sockets.add(socket);
        socket.onmessage = (e) => socket.send(e.data);
        socket.onclose = () => sockets.delete(socket);
        socket.onerror = () => {};
        response.headers.set("x-backend", name);
        return response;
      },
    );
  });
}

/** One message received by {@linkcode WsClient}. */
export interface WsMessage {
  opcode: number;
  data: Uint8Array;
  text(): string;
}

/**
 * A minimal RFC 6455 client connection on `node:net`: masked frames out,
 * fragmented messages reassembled, pings answered.
 */
export class WsClient {
  #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;
  #closed: Promise<void>;
  /** Response header block of the handshake (status line first). */
  handshake = "";

  private constructor(socket: net.Socket) {
    this.#socket = socket;
    this.#closed = new Promise((r) => socket.once("close", () => r()));
    socket.on("data", (c: Buffer) => {
      this.#buf = this.#buf.length ? Buffer.concat([this.#buf, c]) : c;
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

  async #need(n: number): Promise<void> {
    while (this.#buf.length < n) {
      if (this.#ended) throw new Error("websocket: connection closed");
      await new Promise<void>((r) => (this.#wake = r));
    }
  }

  #take(n: number): Buffer {
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  /**
   * Connects to `hostPort` ("127.0.0.1:4140"), sends the upgrade request for
   * `path` with `Host: hostHeader`, and checks the 101 answer and its
   * Sec-WebSocket-Accept.
   */
  static async connect(
    hostPort: string,
    hostHeader: string,
    opts: {
      path?: string;
      headers?: Record<string, string>;
      timeoutMs?: number;
    } = {},
  ): Promise<WsClient> {
    const i = hostPort.lastIndexOf(":");
    const host = hostPort.slice(0, i).replace(/^\[|\]$/g, "");
    const port = Number(hostPort.slice(i + 1));
    const socket = net.connect({ host, port });
    socket.setNoDelay(true);
    const ws = new WsClient(socket);
    const timer = setTimeout(
      () => socket.destroy(new Error("websocket handshake timed out")),
      opts.timeoutMs ?? 10_000,
    );
    try {
      await new Promise<void>((resolve, reject) => {
        socket.once("connect", resolve);
        socket.once("error", reject);
      });
      const key = randomBytes(16).toString("base64");
      let req = `GET ${opts.path ?? "/"} HTTP/1.1\r\nHost: ${hostHeader}\r\n` +
        `Upgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13\r\n`;
      for (const [k, v] of Object.entries(opts.headers ?? {})) {
        req += `${k}: ${v}\r\n`;
      }
      socket.write(req + "\r\n");
      let end: number;
      for (;;) {
        end = ws.#buf.indexOf("\r\n\r\n");
        if (end >= 0) break;
        if (ws.#buf.length > 64 * 1024) {
          throw new Error("websocket: handshake too long");
        }
        await ws.#need(ws.#buf.length + 1);
      }
      ws.handshake = ws.#take(end + 4).toString("latin1");
      const status = /^HTTP\/1\.1 (\d{3})/.exec(ws.handshake)?.[1];
      if (status !== "101") {
        throw new Error(
          `websocket: expected 101, got: ${ws.handshake.split("\r\n")[0]}`,
        );
      }
      const accept = /\r\nsec-websocket-accept:\s*(\S+)/i.exec(ws.handshake)
        ?.[1];
      const want = createHash("sha1").update(key + WS_GUID).digest("base64");
      if (accept !== want) {
        throw new Error("websocket: bad Sec-WebSocket-Accept");
      }
      return ws;
    } catch (e) {
      socket.destroy();
      await ws.#closed;
      throw e;
    } finally {
      clearTimeout(timer);
    }
  }

  /** Sends one masked frame. */
  sendFrame(opcode: number, payload: Uint8Array, fin = true): void {
    const n = payload.length;
    const head: number[] = [(fin ? 0x80 : 0) | opcode];
    if (n < 126) head.push(0x80 | n);
    else if (n < 65536) head.push(0x80 | 126, n >> 8, n & 255);
    else {
      head.push(0x80 | 127, 0, 0, 0, 0);
      head.push((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255);
    }
    const mask = randomBytes(4);
    const body = Buffer.alloc(n);
    for (let i = 0; i < n; i++) body[i] = payload[i]! ^ mask[i & 3]!;
    this.#socket.write(Buffer.concat([Buffer.from(head), mask, body]));
  }

  /** Sends a text message. */
  sendText(text: string): void {
    this.sendFrame(0x1, new TextEncoder().encode(text));
  }

  /** Sends a binary message. */
  sendBinary(data: Uint8Array): void {
    this.sendFrame(0x2, data);
  }

  /**
   * The next data message (text or binary, reassembled), or the close frame
   * (opcode 8) if the peer closes. Pings are answered on the way.
   */
  async receive(): Promise<WsMessage> {
    const parts: Buffer[] = [];
    let opcode = -1;
    for (;;) {
      await this.#need(2);
      const b0 = this.#buf[0]!;
      const b1 = this.#buf[1]!;
      let len = b1 & 0x7f;
      let off = 2;
      if (len === 126) {
        await this.#need(4);
        len = this.#buf.readUInt16BE(2);
        off = 4;
      } else if (len === 127) {
        await this.#need(10);
        len = Number(this.#buf.readBigUInt64BE(2));
        off = 10;
      }
      const masked = (b1 & 0x80) !== 0;
      await this.#need(off + (masked ? 4 : 0) + len);
      this.#take(off);
      const mask = masked ? Buffer.from(this.#take(4)) : undefined;
      const payload = Buffer.from(this.#take(len));
      if (mask) { for (let i = 0; i < len; i++) payload[i]! ^= mask[i & 3]!; }
      const op = b0 & 0x0f;
      const fin = (b0 & 0x80) !== 0;
      if (op === 0x9) {
        this.sendFrame(0xa, payload);
        continue;
      }
      if (op === 0xa) continue;
      if (op === 0x8) return message(0x8, payload);
      if (op !== 0) opcode = op;
      parts.push(payload);
      if (fin) return message(opcode, Buffer.concat(parts));
    }
  }

  /**
   * Sends a close frame (1000), waits for the peer's close frame (up to
   * 2 s), then ends the socket and waits until it is closed.
   */
  async close(): Promise<void> {
    if (!this.#ended) {
      try {
        this.sendFrame(0x8, new Uint8Array([0x03, 0xe8]));
        let timer: ReturnType<typeof setTimeout> | undefined;
        const peerClose = (async () => {
          for (;;) if ((await this.receive()).opcode === 0x8) return;
        })().catch(() => {});
        await Promise.race([
          peerClose,
          new Promise((r) => (timer = setTimeout(r, 2_000))),
        ]);
        clearTimeout(timer);
      } catch {
        // the peer is gone already
      }
    }
    this.#socket.end();
    const t = setTimeout(() => this.#socket.destroy(), 1_000);
    await this.#closed;
    clearTimeout(t);
  }
}

function message(opcode: number, bytes: Uint8Array): WsMessage {
  const data = new Uint8Array(bytes); // a plain copy, not a Buffer view
  return { opcode, data, text: () => new TextDecoder().decode(data) };
}

/**
 * Opens a WebSocket to `hostPort` with `Host: hostHeader`, sends `message` as
 * a text frame, returns the text of the message that comes back, and closes.
 */
export async function wsEcho(
  hostPort: string,
  hostHeader: string,
  message: string,
): Promise<string> {
  const ws = await WsClient.connect(hostPort, hostHeader);
  try {
    ws.sendText(message);
    const reply = await ws.receive();
    if (reply.opcode === 0x8) {
      throw new Error("websocket: closed before a reply");
    }
    return reply.text();
  } finally {
    await ws.close();
  }
}
