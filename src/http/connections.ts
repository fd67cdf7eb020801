/**
 * The HTTP connections a listener serves: accepted sockets, HTTP/1
 * connections and the HTTP/2 server, drained or closed together (linkerd
 * `drain` on the server side). Shared by the inbound and outbound listeners.
 *
 * @module
 */
import type net from "node:net";
import {
  type H1ServerConn,
  type H1ServerOptions,
  serveH1,
} from "./h1/server.ts";
import type { H2CodecServer } from "./h2/codec_server.ts";
import {
  applyTcpSocketConfig,
  type TcpSocketConfig,
} from "../transport/sockopt.ts";

/** Tracks a listener's connections for drain and close. */
export class HttpConnections {
  readonly #h2: H2CodecServer;
  readonly #acceptSocket: TcpSocketConfig | undefined;
  readonly #sockets = new Set<net.Socket>();
  readonly #h1 = new Set<H1ServerConn>();
  #draining = false;

  /** `acceptSocket`: keepalive and user timeout of accepted TCP sockets (`*_ACCEPT_*`). */
  constructor(h2: H2CodecServer, acceptSocket?: TcpSocketConfig) {
    this.#h2 = h2;
    this.#acceptSocket = acceptSocket;
  }

  /** Open accepted sockets. */
  get size(): number {
    return this.#sockets.size;
  }

  /** Tracks an accepted socket until it closes; a TCP one gets the accept socket options. */
  track(socket: net.Socket): void {
    if (!(socket as { encrypted?: boolean }).encrypted) {
      applyTcpSocketConfig(socket, this.#acceptSocket);
    }
    this.#sockets.add(socket);
    socket.once("close", () => this.#sockets.delete(socket));
  }

  /** Serves a detected HTTP/1 connection; `initial` are the bytes already read. */
  serveH1(
    socket: net.Socket,
    initial: Uint8Array,
    opts: H1ServerOptions,
  ): void {
    const conn = serveH1(socket, initial, opts);
    this.#h1.add(conn);
    conn.closed.finally(() => this.#h1.delete(conn));
    if (this.#draining) conn.drain();
  }

  /** Hands a detected HTTP/2 connection to the HTTP/2 server. */
  acceptH2(socket: net.Socket, initial: Uint8Array): void {
    this.#h2.accept(socket, initial);
    if (this.#draining) this.#h2.drain();
  }

  /**
   * Stops `server` accepting and asks every connection to finish its
   * in-flight requests; resolves once the server has closed.
   */
  drain(server: net.Server): Promise<void> {
    this.#draining = true;
    const closed = new Promise<void>((resolve) =>
      server.close(() => resolve())
    );
    this.#h2.drain();
    for (const c of this.#h1) c.drain();
    return closed;
  }

  /** Stops `server` and destroys every connection now. */
  close(server: net.Server): void {
    this.#draining = true;
    server.close();
    this.#h2.close();
    for (const s of this.#sockets) s.destroy();
  }
}
