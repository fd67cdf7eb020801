/**
 * A raw `node:net` HTTP/1.1 backend that counts the copies it receives of
 * each request (by its `x-req-id` header) and the sockets open to it, for
 * the tests that check a request is never sent upstream twice (issue 13).
 *
 * What it does with a request is chosen by the query string:
 *   ?ms=N     answer 200 after N ms (keep-alive)
 *   ?do=hold  never answer, ignore the rest of the connection
 *   ?do=drop  on a connection that already served a request: close it
 *             without an answer (the request was read: a resend is a copy)
 *   ?do=close answer 200, then close the connection without announcing it
 *   otherwise answer 200 `ok <id>` at once
 * Content-length and chunked request bodies are read before answering.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as net from "node:net";
import { ChunkedDecoder } from "../../src/http/h1/chunked.ts";

/** A running {@linkcode startCopyBackend}. */
export interface CopyBackend {
  readonly port: number;
  /** Copies received of the request with `x-req-id: id` (counted at its head). */
  copies(id: string): number;
  /** Every request head received, in order, as `METHOD target id`. */
  readonly log: string[];
  /** Connections accepted so far (a bare TCP probe included). */
  readonly accepted: number;
  /** Connections that carried at least one request. */
  readonly carrying: number;
  /** Sockets open now. */
  readonly open: number;
  /** Whether the connection that carried the first copy of `id` is closed. */
  closedAfter(id: string): boolean;
  close(): Promise<void>;
}

/** Starts a {@linkcode CopyBackend} on 127.0.0.1, port 0. */
export async function startCopyBackend(): Promise<CopyBackend> {
  const counts = new Map<string, number>();
  const carriers = new Map<string, net.Socket>();
  const log: string[] = [];
  const sockets = new Set<net.Socket>();
  const timers = new Set<ReturnType<typeof setTimeout>>();
  let accepted = 0;
  let carrying = 0;
  const server = net.createServer((socket) => {
    accepted++;
    sockets.add(socket);
    socket.setNoDelay(true);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    serve(socket);
  });

  function serve(socket: net.Socket): void {
    let buf: Buffer = Buffer.alloc(0);
    let served = 0;
    let held = false;
    // The request whose body is being read, or that waits for its answer.
    let cur:
      | {
        id: string;
        q: URLSearchParams;
        remaining: number;
        dec: ChunkedDecoder | null;
        waiting: boolean;
      }
      | null = null;
    const answer = (id: string, close: boolean) => {
      if (socket.destroyed) return;
      const body = `ok ${id}`;
      socket.write(
        `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
      );
      if (close) socket.destroy();
    };
    const pump = (): void => {
      while (!held && !socket.destroyed) {
        if (cur === null) {
          const end = buf.indexOf("\r\n\r\n");
          if (end === -1) return;
          const lines = buf.subarray(0, end).toString("latin1").split("\r\n");
          buf = buf.subarray(end + 4);
          const [method, target] = (lines[0] ?? "").split(" ");
          const headers = new Map<string, string>();
          for (const l of lines.slice(1)) {
            const i = l.indexOf(":");
            headers.set(
              l.slice(0, i).trim().toLowerCase(),
              l.slice(i + 1).trim(),
            );
          }
          const id = headers.get("x-req-id") ?? "";
          if (id !== "") {
            counts.set(id, (counts.get(id) ?? 0) + 1);
            if (!carriers.has(id)) carriers.set(id, socket);
          }
          log.push(`${method} ${target} ${id}`);
          if (served++ === 0) carrying++;
          const q = new URL(target ?? "/", "http://x").searchParams;
          const action = q.get("do");
          if (action === "hold") {
            held = true;
            return;
          }
          if (action === "drop" && served > 1) {
            socket.destroy();
            return;
          }
          const chunked = headers.get("transfer-encoding") === "chunked";
          cur = {
            id,
            q,
            remaining: chunked ? 0 : Number(headers.get("content-length") ?? 0),
            dec: chunked ? new ChunkedDecoder() : null,
            waiting: false,
          };
        }
        const r = cur;
        if (r.waiting) return;
        // The body, read before answering.
        if (r.dec !== null) {
          const pos = r.dec.decode(buf, 0, buf.length, { push: () => {} });
          if (pos < 0) {
            socket.destroy();
            return;
          }
          buf = buf.subarray(pos);
          if (!r.dec.done) return;
        } else if (r.remaining > 0) {
          const n = Math.min(r.remaining, buf.length);
          r.remaining -= n;
          buf = buf.subarray(n);
          if (r.remaining > 0) return;
        }
        const ms = Number(r.q.get("ms") ?? "0");
        if (ms > 0) {
          r.waiting = true;
          const t = setTimeout(() => {
            timers.delete(t);
            cur = null;
            answer(r.id, false);
            pump();
          }, ms);
          timers.add(t);
          return;
        }
        cur = null;
        answer(r.id, r.q.get("do") === "close");
      }
    };
    socket.on("data", (d: Buffer) => {
      if (held) return;
      buf = buf.length === 0 ? d : Buffer.concat([buf, d]);
      pump();
    });
  }

  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    copies: (id) => counts.get(id) ?? 0,
    log,
    get accepted() {
      return accepted;
    },
    get carrying() {
      return carrying;
    },
    get open() {
      return sockets.size;
    },
    closedAfter: (id) => {
      const s = carriers.get(id);
      return s !== undefined && s.destroyed && !sockets.has(s);
    },
    async close() {
      for (const t of timers) clearTimeout(t);
      timers.clear();
      const closed = new Promise<void>((r) => server.close(() => r()));
      await Promise.all([...sockets].map((s) =>
        new Promise<void>((r) => {
          s.once("close", () => r());
          s.destroy();
        })
      ));
      await closed;
    },
  };
}

/** Resolves once `cond()` holds, polling every 10 ms; rejects after `timeoutMs`. */
export async function waitUntil(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > deadline) {
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
}
