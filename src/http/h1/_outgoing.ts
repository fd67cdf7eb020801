/**
 * Writes one HTTP/1 message (head and body) to a socket (hyper
 * `proto/h1/encode.rs` plus the dispatcher's write half): framing by
 * content-length, chunked (with trailers) or connection close; the head is
 * held back for a microtask so a small body goes out in the same write;
 * `socket.write()` returning false pauses the body until 'drain'.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { Socket } from "node:net";
import type { Body, BodySink, HeaderMap } from "../message.ts";
import { chunkHead, lastChunk } from "./chunked.ts";
import { latin1Bytes, writeLatin1 } from "./_bytes.ts";

/** Body framing of an outgoing message. */
export const Framing = {
  /** No body is written (HEAD, 1xx, 204, 304, or a null body). */
  None: 0,
  /** `content-length` framing. */
  Length: 1,
  /** `transfer-encoding: chunked`. */
  Chunked: 2,
  /** Delimited by closing the connection (HTTP/1.0 responses). */
  Close: 3,
} as const;
/** One of the {@link Framing} values. */
export type Framing = typeof Framing[keyof typeof Framing];

/** Told when an outgoing message has been handed to the socket, or failed. */
export interface OutgoingOwner {
  outgoingDone(out: Outgoing, err: Error | undefined): void;
}

/** A head together with a first chunk up to this size is written as one buffer. */
const COALESCE_BYTES = 65536;
/** Chunked frames up to this size are copied into one buffer, larger ones corked. */
const SMALL_CHUNK_BYTES = 16384;

const ACTIVE = 0;
const DONE = 1;
const ABORTED = 2;

function flushHeadLater(out: Outgoing): void {
  out.flushHead();
}

/** One message being written (the write half of hyper's h1 `Conn`). */
export class Outgoing implements BodySink {
  #owner: OutgoingOwner;
  #socket: Socket;
  #head: string | null;
  #body: Body | null;
  #framing: Framing;
  #remaining: number;
  #state = ACTIVE;
  #paused = false;
  #started = false;

  constructor(
    owner: OutgoingOwner,
    socket: Socket,
    head: string,
    body: Body | null,
    framing: Framing,
  ) {
    this.#owner = owner;
    this.#socket = socket;
    this.#head = head;
    this.#body = body;
    this.#framing = framing;
    this.#remaining = framing === Framing.Length ? body!.length! : 0;
  }

  /** The body's `start()` has been called. */
  get started(): boolean {
    return this.#started;
  }

  /** Content-length framed and every byte already written (only `end` missing). */
  get allBytesWritten(): boolean {
    return this.#framing === Framing.Length && this.#remaining === 0;
  }

  /** The whole message has been handed to the socket. */
  get done(): boolean {
    return this.#state === DONE;
  }

  /** Writes the head and starts the body. */
  begin(): void {
    const body = this.#body;
    if (body === null || this.#framing === Framing.None) {
      const head = this.#head!;
      this.#head = null;
      this.#write(head);
      if (body !== null) body.cancel();
      this.#finish(undefined);
      return;
    }
    this.#started = true;
    body.start(this);
    if (this.#head !== null && this.#state === ACTIVE) {
      Promise.resolve(this).then(flushHeadLater);
    }
  }

  /** Writes the head now if no body data came with it. */
  flushHead(): void {
    const head = this.#head;
    if (head === null || this.#state !== ACTIVE) return;
    this.#head = null;
    this.#write(head);
  }

  /** The connection is gone: release the body without writing more. */
  abort(err?: Error): void {
    if (this.#state !== ACTIVE) return;
    this.#state = ABORTED;
    this.#head = null;
    this.#body?.cancel(err);
  }

  /** The socket drained: resume a paused body. */
  onDrain(): void {
    if (this.#paused && this.#state === ACTIVE) {
      this.#paused = false;
      this.#body!.resume();
    }
  }

  data(chunk: Uint8Array): void {
    if (this.#state !== ACTIVE) return;
    const n = chunk.length;
    if (n === 0) return;
    let ok: boolean;
    const head = this.#head;
    this.#head = null;
    if (this.#framing === Framing.Chunked) {
      const ch = chunkHead(n);
      if (n <= SMALL_CHUNK_BYTES || (head !== null && n <= COALESCE_BYTES)) {
        const hl = head === null ? 0 : head.length;
        const buf = Buffer.allocUnsafe(hl + ch.length + n + 2);
        if (head !== null) writeLatin1(buf, head, 0);
        writeLatin1(buf, ch, hl);
        buf.set(chunk, hl + ch.length);
        buf[buf.length - 2] = 13;
        buf[buf.length - 1] = 10;
        ok = this.#write(buf);
      } else {
        const s = this.#socket;
        s.cork();
        this.#write(head === null ? ch : head + ch);
        this.#write(chunk);
        ok = this.#write("\r\n");
        s.uncork();
      }
    } else {
      if (this.#framing === Framing.Length) {
        if (n > this.#remaining) {
          this.#fail(new Error("body is longer than its content-length"));
          return;
        }
        this.#remaining -= n;
      }
      if (head === null) ok = this.#write(chunk);
      else if (n <= COALESCE_BYTES) {
        const buf = Buffer.allocUnsafe(head.length + n);
        writeLatin1(buf, head, 0);
        buf.set(chunk, head.length);
        ok = this.#write(buf);
      } else {
        const s = this.#socket;
        s.cork();
        this.#write(head);
        ok = this.#write(chunk);
        s.uncork();
      }
    }
    if (!ok && this.#state === ACTIVE && !this.#paused) {
      this.#paused = true;
      this.#body!.pause();
    }
  }

  end(trailers?: HeaderMap): void {
    if (this.#state !== ACTIVE) return;
    const head = this.#head ?? "";
    this.#head = null;
    if (this.#framing === Framing.Chunked) {
      this.#write(head + lastChunk(trailers));
    } else {
      if (this.#framing === Framing.Length && this.#remaining !== 0) {
        this.#fail(new Error("body is shorter than its content-length"));
        return;
      }
      if (head !== "") this.#write(head);
    }
    this.#finish(undefined);
  }

  error(err: Error): void {
    if (this.#state !== ACTIVE) return;
    this.#head = null;
    this.#state = ABORTED;
    this.#owner.outgoingDone(this, err);
  }

  #fail(err: Error): void {
    this.#state = ABORTED;
    this.#head = null;
    this.#body?.cancel(err);
    this.#owner.outgoingDone(this, err);
  }

  #finish(err: Error | undefined): void {
    this.#state = DONE;
    this.#owner.outgoingDone(this, err);
  }

  #write(data: Uint8Array | string): boolean {
    const s = this.#socket;
    if (s.destroyed || !s.writable) return true;
    return s.write(typeof data === "string" ? latin1Bytes(data) : data);
  }
}
