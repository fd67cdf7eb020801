/**
 * Per-endpoint HTTP/1.1 connection pool (hyper-util's pooled `Client` as
 * linkerd's `phttp/h1.rs` uses it: `pool_max_idle_per_host` 10 000, idle
 * timeout 3 s).
 *
 * Idle connections are reused last-in first-out; one coarse timer per pool
 * closes those idle for longer than `idleTimeoutMs`.
 *
 * A request is resent, once, on a fresh connection only when the reused
 * connection it was given turned out closed before any byte of it was
 * written (hyper-util's `retry_canceled_requests`, which linkerd leaves on:
 * the server closed the idle connection as we picked it). The connection
 * gets one I/O turn to report such a close before the request goes out (see
 * `H1ClientConn`). Never after an abort or a timeout, never once a byte was
 * written: a server that read the request and closed without an answer may
 * have acted on it, so the error goes back to the caller (and to the route's
 * retry policy, which knows whether the request is safe to repeat).
 *
 * @module
 */
import type { Socket } from "node:net";
import type { HttpRequest, HttpResponse } from "../message.ts";
import { H1ClientConn, type H1ConnOwner } from "./client.ts";

/** Options for {@link H1Pool}. */
export interface H1PoolOptions {
  /** Opens a connected socket to the endpoint; its errors are passed on as-is. */
  connect: () => Promise<Socket>;
  /**
   * Idle connections are closed after this long.
   * @default {3000}
   */
  idleTimeoutMs?: number;
  /**
   * Most idle connections kept; more are closed when released.
   * @default {10000}
   */
  maxIdle?: number;
}

/** An HTTP/1.1 client pool for one endpoint (hyper-util `Client` + `Pool`). */
export class H1Pool {
  #addr: string;
  #connect: () => Promise<Socket>;
  #idleMs: number;
  #maxIdle: number;
  #idle: H1ClientConn[] = [];
  #active = 0;
  #timer: ReturnType<typeof setTimeout> | undefined = undefined;
  #closed = false;
  #owner: H1ConnOwner;

  constructor(addr: string, opts: H1PoolOptions) {
    this.#addr = addr;
    this.#connect = opts.connect;
    this.#idleMs = opts.idleTimeoutMs ?? 3000;
    this.#maxIdle = opts.maxIdle ?? 10000;
    this.#owner = {
      connReleased: (conn, reusable) => this.#released(conn, reusable),
      connLost: (conn) => this.#lost(conn),
    };
  }

  /** Idle connections ready for reuse. */
  get idle(): number {
    return this.#idle.length;
  }

  /** Connections carrying a request (connecting ones not included). */
  get active(): number {
    return this.#active;
  }

  /**
   * Sends `req` on an idle connection or a new one. Resolves when the
   * response head arrives; the body streams.
   */
  request(req: HttpRequest): Promise<HttpResponse> {
    if (this.#closed) {
      return Promise.reject(new Error(`pool for ${this.#addr} is closed`));
    }
    const idle = this.#idle;
    while (idle.length > 0) {
      const conn = idle.pop()!;
      if (conn.alive) {
        conn.reused = true;
        this.#active++;
        return conn.dispatch(req).catch((err) => {
          if (!conn.retryable) throw err;
          if (!this.#closed && req.ext.signal?.aborted !== true) {
            return this.#fresh(req);
          }
          req.body?.cancel(err); // never started
          throw err;
        });
      }
      conn.destroy();
    }
    return this.#fresh(req);
  }

  /** Closes idle connections and stops the timer; in-flight exchanges finish. */
  close(): void {
    this.#closed = true;
    this.#stopTimer();
    const idle = this.#idle;
    this.#idle = [];
    for (const c of idle) c.destroy();
  }

  async #fresh(req: HttpRequest): Promise<HttpResponse> {
    const socket = await this.#connect();
    const conn = new H1ClientConn(socket, this.#addr, this.#owner);
    this.#active++;
    return conn.dispatch(req);
  }

  #released(conn: H1ClientConn, reusable: boolean): void {
    this.#active--;
    if (!reusable) return;
    if (this.#closed || this.#idle.length >= this.#maxIdle) {
      conn.destroy();
      return;
    }
    conn.idleSinceMs = performance.now();
    this.#idle.push(conn);
    if (this.#timer === undefined) this.#startTimer(this.#idleMs);
  }

  #lost(conn: H1ClientConn): void {
    const i = this.#idle.lastIndexOf(conn);
    if (i !== -1) this.#idle.splice(i, 1);
    if (this.#idle.length === 0) this.#stopTimer();
  }

  #startTimer(ms: number): void {
    const t = setTimeout(this.#sweep, ms);
    Deno.unrefTimer(t);
    this.#timer = t;
  }

  #stopTimer(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
  }

  /** Closes connections idle for `idleTimeoutMs`; the oldest are at the bottom. */
  #sweep = (): void => {
    this.#timer = undefined;
    const idle = this.#idle;
    const deadline = performance.now() - this.#idleMs;
    let n = 0;
    while (n < idle.length && idle[n]!.idleSinceMs <= deadline) n++;
    if (n > 0) {
      const expired = idle.splice(0, n);
      for (const c of expired) c.destroy();
    }
    if (idle.length > 0 && !this.#closed) {
      const next = idle[0]!.idleSinceMs + this.#idleMs - performance.now();
      this.#startTimer(Math.max(1, Math.ceil(next)));
    }
  };
}
