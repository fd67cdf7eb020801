/**
 * Follows one server-streaming control-plane RPC and reopens it with
 * exponential backoff when it breaks (linkerd `proxy/resolve` `recover.rs`,
 * `app/src/dst.rs` `BackoffUnlessInvalidArgument`, `policy` `Recover`).
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { backoffDelayMs, type BackoffSpec } from "../balance/backoff.ts";
import type { Logger } from "../log.ts";

/**
 * linkerd's control-plane client backoff (`DEFAULT_CONTROL_EXP_BACKOFF`):
 * 100 ms doubling to 10 s, jitter 0.1.
 */
export const DEFAULT_CONTROL_BACKOFF: BackoffSpec = Object.freeze({
  minMs: 100,
  maxMs: 10_000,
  jitter: 0.1,
});

/** gRPC status codes by name (the few the control-plane clients test). */
export const Status = Object.freeze({
  OK: 0,
  CANCELLED: 1,
  INVALID_ARGUMENT: 3,
  NOT_FOUND: 5,
  FAILED_PRECONDITION: 9,
  UNIMPLEMENTED: 12,
  UNAVAILABLE: 14,
});

/** How a stream ended for good. */
export interface StreamFailure {
  readonly code: number;
  readonly details: string;
}

/** Options of {@linkcode ControlStream}. */
export interface ControlStreamOptions<T> {
  /** Opens the call (again after each break). */
  open(): grpc.ClientReadableStream<T>;
  /**
   * Handles one message; `first` is true for the first message of each
   * (re)connection. A throw is logged and the message ignored.
   */
  onMessage(msg: T, first: boolean): void;
  /** The stream ended with one of `fatalCodes`: it is not reopened. */
  onFatal(failure: StreamFailure): void;
  /** Status codes that end the stream for good. */
  fatalCodes: ReadonlySet<number>;
  /** @default {DEFAULT_CONTROL_BACKOFF} */
  backoff?: BackoffSpec;
  /** @default {Math.random} */
  random?: () => number;
  log?: Logger | undefined;
  /** Names the stream in logs, e.g. "Destination.Get web:80". */
  name: string;
}

/**
 * One followed server-streaming RPC: every other status (and a clean end)
 * reopens it after the next backoff delay; a message resets the backoff.
 */
export class ControlStream<T> implements Disposable {
  readonly #opts: ControlStreamOptions<T>;
  readonly #backoff: BackoffSpec;
  readonly #random: () => number;
  #call: grpc.ClientReadableStream<T> | undefined;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #attempt = 0;
  #disposed = false;

  constructor(opts: ControlStreamOptions<T>) {
    this.#opts = opts;
    this.#backoff = opts.backoff ?? DEFAULT_CONTROL_BACKOFF;
    this.#random = opts.random ?? Math.random;
    this.#connect();
  }

  #connect(): void {
    this.#timer = undefined;
    if (this.#disposed) return;
    let call: grpc.ClientReadableStream<T>;
    try {
      call = this.#opts.open();
    } catch (err) {
      this.#opts.log?.warn("control stream failed to open", {
        stream: this.#opts.name,
        error: err instanceof Error ? err.message : String(err),
      });
      this.#retry();
      return;
    }
    this.#call = call;
    let first = true;
    let ended = false;
    call.on("data", (msg: T) => {
      // Data of a finished call may still trail its status; a newer call wins.
      if (this.#disposed || (this.#call !== call && this.#call !== undefined)) {
        return;
      }
      const isFirst = first;
      first = false;
      this.#attempt = 0;
      try {
        this.#opts.onMessage(msg, isFirst);
      } catch (err) {
        this.#opts.log?.warn("control-plane update rejected", {
          stream: this.#opts.name,
          error: err instanceof Error ? err.message : String(err),
        });
      }
    });
    call.on("error", () => {}); // reported through "status"
    call.on("status", (s: grpc.StatusObject) => {
      if (ended) return;
      ended = true;
      if (this.#disposed || this.#call !== call) return;
      this.#call = undefined;
      if (this.#opts.fatalCodes.has(s.code)) {
        this.#opts.log?.debug("control stream ended", {
          stream: this.#opts.name,
          code: s.code,
          details: s.details,
        });
        this.#opts.onFatal({ code: s.code, details: s.details });
        return;
      }
      this.#opts.log?.debug("control stream broke; reconnecting", {
        stream: this.#opts.name,
        code: s.code,
        details: s.details,
      });
      this.#retry();
    });
  }

  #retry(): void {
    if (this.#disposed) return;
    const delay = backoffDelayMs(this.#backoff, this.#attempt++, this.#random);
    this.#timer = setTimeout(() => this.#connect(), delay);
  }

  /** True while a call is open (not waiting to reconnect, not ended). */
  get connected(): boolean {
    return this.#call !== undefined;
  }

  /** Cancels the call and any pending reconnect. */
  [Symbol.dispose](): void {
    if (this.#disposed) return;
    this.#disposed = true;
    clearTimeout(this.#timer);
    const call = this.#call;
    this.#call = undefined;
    call?.cancel();
  }
}
