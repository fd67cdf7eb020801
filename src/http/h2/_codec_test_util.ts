/**
 * Test helpers for the HTTP/2 codec: a server on port 0 serving an
 * HttpService with `serveH2()`, a scriptable raw-frame peer, polling with a
 * deadline, and running python-h2 scripts.
 *
 * @module
 */
import net from "node:net";
import { type H2ServerConn, serveH2 } from "./codec_server.ts";
import type { H2CodecServerOptions } from "./codec_server.ts";
import type { HttpService } from "../message.ts";
import {
  Flag,
  FrameReader,
  FrameType,
  FrameWriter,
  PREFACE,
  readU32,
} from "./frame.ts";
import { HpackDecoder, HpackEncoder, HpackWriter } from "./hpack.ts";

/** Polls `cond` until true or the deadline passes (then throws). */
export async function waitFor(
  cond: () => boolean,
  what: string,
  timeoutMs = 5000,
): Promise<void> {
  const end = performance.now() + timeoutMs;
  while (!cond()) {
    if (performance.now() > end) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 5));
  }
}

/** A listening codec server and the connections it served. */
export interface TestServer extends AsyncDisposable {
  port: number;
  conns: H2ServerConn[];
}

/** Starts a codec server on 127.0.0.1:0. */
export async function startServer(
  service: HttpService,
  opts: H2CodecServerOptions = {},
): Promise<TestServer> {
  const conns: H2ServerConn[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
    conns.push(serveH2(s, new Uint8Array(0), { ...opts, service }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    conns,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
      await Promise.all(conns.map((c) => c.closed));
    },
  };
}

/** A frame seen by a {@linkcode RawPeer}. */
export interface SeenFrame {
  type: number;
  flags: number;
  sid: number;
  payload: Uint8Array;
}

/** A raw HTTP/2 client that sends hand-made frames and records what comes back. */
export class RawPeer implements AsyncDisposable {
  readonly frames: SeenFrame[] = [];
  readonly w: FrameWriter;
  readonly enc = new HpackEncoder();
  readonly dec = new HpackDecoder(4096, 1 << 20);
  readonly #hw = new HpackWriter();
  readonly socket: net.Socket;
  ended = false;
  closed = false;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    this.w = new FrameWriter(socket);
    const r = new FrameReader(
      (type, flags, sid, payload) =>
        this.frames.push({ type, flags, sid, payload }),
      { maxFrameSize: 16777215 },
    );
    socket.on("data", (c: Uint8Array) => r.push(c));
    socket.on("end", () => (this.ended = true));
    socket.on("close", () => (this.closed = true));
    socket.on("error", () => {});
  }

  /** Connects, sends the preface and `settings`, and ACKs the server's SETTINGS. */
  static async connect(
    port: number,
    settings: Array<[number, number]> = [],
  ): Promise<RawPeer> {
    const socket = net.connect(port, "127.0.0.1");
    await new Promise((r) => socket.once("connect", r));
    const p = new RawPeer(socket);
    p.w.raw(PREFACE);
    p.w.settings(settings);
    p.w.flush();
    await p.until((f) => f.type === FrameType.SETTINGS && f.flags === 0);
    p.w.settingsAck();
    p.w.flush();
    return p;
  }

  /** A header block for `fields`. */
  block(fields: Array<[string, string]>): Uint8Array {
    this.#hw.reset();
    this.enc.encode(fields, this.#hw);
    return this.#hw.subarray().slice();
  }

  /** HEADERS for a GET (or `extra` fields) on `sid`. */
  request(
    sid: number,
    endStream = true,
    extra: Array<[string, string]> = [],
    path = "/",
  ): void {
    this.w.headers(
      sid,
      this.block([
        [":method", "GET"],
        [":scheme", "http"],
        [":path", path],
        [":authority", "test"],
        ...extra,
      ]),
      endStream,
      16384,
    );
  }

  /** Waits for a frame matching `pred` (searching all seen so far). */
  async until(
    pred: (f: SeenFrame) => boolean,
    what = "frame",
    timeoutMs = 5000,
  ): Promise<SeenFrame> {
    let found: SeenFrame | undefined;
    await waitFor(
      () => (found = this.frames.find(pred)) !== undefined,
      what,
      timeoutMs,
    );
    return found!;
  }

  /** Waits for GOAWAY and returns [lastStreamId, code]. */
  async goaway(): Promise<[number, number]> {
    const f = await this.until((f) => f.type === FrameType.GOAWAY, "GOAWAY");
    return [readU32(f.payload, 0), readU32(f.payload, 4)];
  }

  /** Waits for RST_STREAM on `sid` and returns its code. */
  async rst(sid: number): Promise<number> {
    const f = await this.until(
      (f) => f.type === FrameType.RST_STREAM && f.sid === sid,
      `RST_STREAM on ${sid}`,
    );
    return readU32(f.payload, 0);
  }

  /** Decodes the HEADERS frames of `sid` in arrival order. */
  heads(sid: number): Array<Record<string, string>> {
    const out: Array<Record<string, string>> = [];
    for (const f of this.frames) {
      if (f.type !== FrameType.HEADERS || (f.flags & Flag.END_HEADERS) === 0) {
        continue;
      }
      const h: Record<string, string> = {};
      this.dec.decode(f.payload, (n, v) => (h[n] = v));
      if (f.sid === sid) out.push(h);
    }
    return out;
  }

  /** Bytes of DATA received on `sid`, and whether END_STREAM was seen. */
  data(sid: number): { bytes: number; ended: boolean } {
    let bytes = 0;
    let ended = false;
    for (const f of this.frames) {
      if (f.sid !== sid) continue;
      if (f.type === FrameType.DATA) bytes += f.payload.length;
      if (
        (f.type === FrameType.DATA || f.type === FrameType.HEADERS) &&
        (f.flags & Flag.END_STREAM) !== 0
      ) ended = true;
    }
    return { bytes, ended };
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.socket.destroy();
    await waitFor(() => this.closed, "peer socket close");
  }
}

/** Runs a python-h2 script with `args`; resolves with its stdout (throws on failure). */
export async function python(
  script: string,
  args: string[],
): Promise<string> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: ["-c", script, ...args],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const stdout = new TextDecoder().decode(out.stdout);
  if (!out.success) {
    throw new Error(
      `python failed: ${new TextDecoder().decode(out.stderr)}\n${stdout}`,
    );
  }
  return stdout;
}
