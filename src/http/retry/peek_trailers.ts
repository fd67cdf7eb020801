/**
 * Sees the trailers of a "unary-ish" response before passing it on
 * (linkerd `http/retry/src/peek_trailers.rs` `PeekTrailersBody`), so a gRPC
 * status sent in trailers can make the call retryable.
 *
 * The body's first frame is awaited; if the end of stream follows before
 * the event loop turns (one DATA frame then TRAILERS, as a unary gRPC answer
 * arrives), the trailers are known. Otherwise the response streams on,
 * unchanged, with what was read replayed first. Nothing more is buffered.
 *
 * @module
 */
import type { Clock } from "../../balance/clock.ts";
import type { Body, BodySink, HeaderMap, HttpResponse } from "../message.ts";

/** A response after {@linkcode peekTrailers}. */
export interface Peeked {
  /** The response to pass on (its body replays what was peeked). */
  readonly response: HttpResponse;
  /** The trailers, when the body ended while peeking (empty body end = `{}`). */
  readonly trailers: HeaderMap | undefined;
}

/**
 * Waits for the first frame of `rsp`'s body and peeks at the next without
 * waiting for it. Rejects with the signal's reason (canceling the body)
 * when `signal` aborts first.
 */
export function peekTrailers(
  rsp: HttpResponse,
  clock: Clock,
  signal?: AbortSignal,
): Promise<Peeked> {
  const body = rsp.body;
  if (body === null) {
    return Promise.resolve({ response: rsp, trailers: undefined });
  }
  return new Promise((resolve, reject) => {
    const peeked = new PeekedBody(body);
    let timer: unknown;
    let settled = false;
    const settle = () => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
      const s = peeked.state;
      resolve({
        response: { ...rsp, body: peeked },
        trailers: s.kind === "ended" ? (s.trailers ?? {}) : undefined,
      });
    };
    const onAbort = () => {
      if (settled) return;
      settled = true;
      clock.clearTimeout(timer);
      peeked.cancel(signal!.reason);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
    peeked.peek({
      first: () => {
        timer = clock.setTimeout(settle, 0);
      },
      done: settle,
    });
  });
}

type State =
  | { readonly kind: "open" }
  | { readonly kind: "ended"; readonly trailers: HeaderMap | undefined }
  | { readonly kind: "failed"; readonly error: Error };

/** A body read ahead by the peek, replayed to its real consumer. */
class PeekedBody implements Body {
  readonly #source: Body;
  #chunks: Uint8Array[] = [];
  state: State = { kind: "open" };
  #sink: BodySink | undefined;
  #paused = false;
  #canceled = false;

  constructor(source: Body) {
    this.#source = source;
  }

  get length(): number | undefined {
    return this.#source.length;
  }

  /** Starts the source; calls `first` at the first DATA, `done` at the end or an error. */
  peek(on: { first(): void; done(): void }): void {
    let first = true;
    this.#source.start({
      data: (chunk) => {
        const sink = this.#sink;
        if (sink !== undefined && this.#chunks.length === 0) {
          sink.data(chunk);
          return;
        }
        this.#chunks.push(chunk);
        if (first) {
          first = false;
          on.first();
        }
        if (sink !== undefined) this.#flush();
      },
      end: (trailers) => {
        this.state = { kind: "ended", trailers };
        on.done();
        this.#flush();
      },
      error: (error) => {
        this.state = { kind: "failed", error };
        on.done();
        this.#flush();
      },
    });
  }

  start(sink: BodySink): void {
    this.#sink = sink;
    this.#flush();
  }

  pause(): void {
    this.#paused = true;
    this.#source.pause();
  }

  resume(): void {
    this.#paused = false;
    this.#source.resume();
    queueMicrotask(() => this.#flush());
  }

  cancel(err?: Error): void {
    if (this.#canceled) return;
    this.#canceled = true;
    this.#chunks = [];
    if (this.state.kind === "open") this.#source.cancel(err);
  }

  #flush(): void {
    const sink = this.#sink;
    if (sink === undefined || this.#canceled) return;
    while (this.#chunks.length > 0 && !this.#paused) {
      sink.data(this.#chunks.shift()!);
    }
    if (this.#chunks.length > 0) return;
    const s = this.state;
    if (s.kind === "ended") {
      this.#canceled = true; // done: nothing more to deliver
      sink.end(s.trailers);
    } else if (s.kind === "failed") {
      this.#canceled = true;
      sink.error(s.error);
    }
  }
}
