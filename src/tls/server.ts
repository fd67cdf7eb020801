/**
 * TLS termination for accepted connections whose first bytes were a TLS
 * ClientHello (linkerd `linkerd/meshtls/src/server.rs`,
 * `linkerd/tls/src/server.rs` `DetectTls`).
 *
 * The server presents the local certificate, speaks TLS 1.3 only, and
 * requests (does not require) a client certificate; the inbound policy
 * decides what an absent one means. A client certificate that is present
 * but does not verify against the trust anchors is always a refusal.
 *
 * @module
 */
import type net from "node:net";
import tls from "node:tls";
import { TlsError, type TlsObserver } from "./errors.ts";
import type { Credentials } from "./credentials.ts";
import type { LocalIdentity } from "./identity.ts";
import { type PeerVerdict, verifyPeer } from "./verify.ts";

/** ALPN protocols the server accepts (the inbound detects the protocol from the bytes anyway). */
export const DEFAULT_SERVER_ALPN: readonly string[] = Object.freeze([
  "h2",
  "http/1.1",
]);

/** Options of {@linkcode TlsTerminator}. */
export interface TlsTerminatorOptions {
  /** The local credentials and trust anchors; each handshake takes the current ones. */
  identity: LocalIdentity;
  /** @default {DEFAULT_SERVER_ALPN} */
  alpn?: readonly string[];
  /** The handshake must finish within this. @default {10000} */
  handshakeTimeoutMs?: number;
  /** Told about each handshake's outcome. */
  observer?: TlsObserver | undefined;
}

/** A terminated TLS connection. */
export interface TlsAccepted {
  readonly socket: tls.TLSSocket;
  /**
   * The client's certificate: "verified" (with its identity), "none", or
   * "rejected" (with the reason) — the caller applies its policy.
   */
  readonly peer: PeerVerdict;
  /** The negotiated ALPN protocol, or false. */
  readonly alpn: string | false;
}

interface Pending {
  resolve(s: tls.TLSSocket): void;
  reject(err: TlsError): void;
}

/** Terminates TLS on detected connections (linkerd meshtls server). */
export class TlsTerminator {
  readonly #opts: TlsTerminatorOptions;
  #server: tls.Server | undefined;
  #generation = 0;
  /** Handshakes in progress, by the client's "ip:port". */
  readonly #pending = new Map<string, Pending>();

  constructor(opts: TlsTerminatorOptions) {
    this.#opts = opts;
  }

  /**
   * Runs the server handshake on `socket`, whose already-read `initial`
   * bytes (the ClientHello) are replayed first. Resolves once the handshake
   * is done; rejects with a {@linkcode TlsError} (and destroys the socket)
   * when it fails, times out, or there is no local identity.
   */
  accept(socket: net.Socket, initial: Uint8Array): Promise<TlsAccepted> {
    const observer = this.#opts.observer;
    const creds = this.#opts.identity.current;
    if (creds === undefined) {
      socket.destroy();
      observer?.failure("inbound", "no_local_identity");
      return Promise.reject(
        new TlsError("no_local_identity", { direction: "inbound" }),
      );
    }
    const key = `${socket.remoteAddress}:${socket.remotePort}`;
    if (
      socket.destroyed || socket.remoteAddress === undefined ||
      this.#pending.has(key)
    ) {
      socket.destroy();
      observer?.failure("inbound", "handshake");
      return Promise.reject(
        new TlsError("handshake", {
          direction: "inbound",
          detail: "connection closed before the handshake",
        }),
      );
    }
    const server = this.#serverFor(creds);
    const timeoutMs = this.#opts.handshakeTimeoutMs ?? 10_000;
    return new Promise<TlsAccepted>((resolve, reject) => {
      const finish = (err: TlsError | undefined, s?: tls.TLSSocket) => {
        if (this.#pending.get(key) !== pending) return;
        this.#pending.delete(key);
        clearTimeout(timer);
        socket.off("close", onRawClose);
        if (err || s === undefined) {
          observer?.failure("inbound", err?.reason ?? "handshake");
          s?.destroy();
          socket.destroy();
          reject(err);
          return;
        }
        const peer = verifyPeer(s);
        if (peer.kind === "rejected") {
          observer?.failure("inbound", peer.reason);
        } else {
          observer?.handshake("inbound");
        }
        resolve({ socket: s, peer, alpn: s.alpnProtocol ?? false });
      };
      const pending: Pending = {
        resolve: (s) => finish(undefined, s),
        reject: (err) => finish(err),
      };
      const onRawClose = () =>
        finish(
          new TlsError("handshake", {
            direction: "inbound",
            detail: "connection closed during the handshake",
          }),
        );
      const timer = setTimeout(
        () =>
          finish(
            new TlsError("timeout", {
              direction: "inbound",
              detail: `after ${timeoutMs}ms`,
            }),
          ),
        timeoutMs,
      );
      this.#pending.set(key, pending);
      socket.once("close", onRawClose);
      if (initial.length > 0) socket.unshift(initial);
      server.emit("connection", socket);
    });
  }

  /** The tls.Server for `creds`, rebuilt when the credentials change. */
  #serverFor(creds: Credentials): tls.Server {
    if (this.#server !== undefined && this.#generation === creds.generation) {
      return this.#server;
    }
    const server = tls.createServer({
      cert: creds.certPem,
      key: creds.keyPem,
      ca: creds.anchorsPem,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      requestCert: true,
      rejectUnauthorized: false,
      ALPNProtocols: [...(this.#opts.alpn ?? DEFAULT_SERVER_ALPN)],
      handshakeTimeout: this.#opts.handshakeTimeoutMs ?? 10_000,
    });
    server.on("secureConnection", (s: tls.TLSSocket) => {
      const p = this.#pending.get(`${s.remoteAddress}:${s.remotePort}`);
      if (p === undefined) {
        s.destroy();
        return;
      }
      p.resolve(s);
    });
    server.on("tlsClientError", (err: Error, s: tls.TLSSocket) => {
      const p = this.#pending.get(`${s?.remoteAddress}:${s?.remotePort}`);
      p?.reject(
        new TlsError("handshake", {
          direction: "inbound",
          detail: err.message,
          cause: err,
        }),
      );
    });
    this.#server = server;
    this.#generation = creds.generation;
    return server;
  }
}
