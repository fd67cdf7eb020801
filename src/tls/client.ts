/**
 * The mTLS client: connect to a meshed endpoint, present the local
 * certificate, and accept the server only if its chain reaches the trust
 * anchors and its SAN is the expected identity (linkerd
 * `linkerd/meshtls/src/client.rs`, `meshtls/verifier`, the connect
 * timeout of `out/tcp/endpoint.rs`).
 *
 * TLS 1.3 only. The dialed address is never compared with the certificate:
 * only the identity is. There is no plaintext fallback: any failure rejects.
 *
 * @module
 */
import type net from "node:net";
import tls from "node:tls";
import { ConnectTimeoutError, EndpointIoError } from "../errors.ts";
import { connectTcp } from "../transport/connect.ts";
import { TlsError, type TlsObserver } from "./errors.ts";
import type { Credentials } from "./credentials.ts";
import type { LocalIdentity } from "./identity.ts";
import { verifyPeer } from "./verify.ts";

/** One client context per set of credentials (parsed once, not per connection). */
const CONTEXTS = new WeakMap<Credentials, tls.SecureContext>();

function contextOf(creds: Credentials): tls.SecureContext {
  let ctx = CONTEXTS.get(creds);
  if (ctx === undefined) {
    ctx = tls.createSecureContext({
      cert: creds.certPem,
      key: creds.keyPem,
      ca: creds.anchorsPem,
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
    });
    CONTEXTS.set(creds, ctx);
  }
  return ctx;
}

/** ALPN protocols offered by default (HTTP/2, then HTTP/1.1). */
export const DEFAULT_CLIENT_ALPN: readonly string[] = Object.freeze([
  "h2",
  "http/1.1",
]);

/** Options of {@linkcode connectTls}. */
export interface ConnectTlsOptions {
  /** The identity the server must prove (linkerd `ServerId`, from discovery). */
  serverId: string;
  /**
   * The local credentials presented to the server, and the trust anchors.
   * Absent (no identity configured) or not loaded yet: the connect fails
   * with reason `no_local_identity`, never in plaintext.
   */
  identity: LocalIdentity | undefined;
  /** SNI sent to the server (linkerd `ServerName`). @default {serverId} */
  serverName?: string;
  /** TCP connect plus handshake must finish within this. @default {1000} */
  timeoutMs?: number;
  /** ALPN protocols offered. @default {DEFAULT_CLIENT_ALPN} */
  alpn?: readonly string[];
  /** Told about each handshake's outcome. */
  observer?: TlsObserver | undefined;
  /** Keepalive and user timeout of the TCP socket. @default {none} */
  socket?: import("../transport/sockopt.ts").TcpSocketConfig | undefined;
}

/**
 * Opens a TCP connection to `host:port` and runs a TLS 1.3 handshake on
 * it, verifying the server's identity (linkerd `meshtls::client`).
 *
 * Resolves with the verified socket. Rejects with `ConnectTimeoutError`
 * when the connect and handshake together exceed `timeoutMs`, with the TCP
 * connect's `EndpointIoError` (e.g. ECONNREFUSED), or with an
 * `EndpointIoError` whose cause is a {@linkcode TlsError} naming the reason
 * (wrong identity, expired, untrusted, handshake failure).
 */
export async function connectTls(
  host: string,
  port: number,
  opts: ConnectTlsOptions,
): Promise<tls.TLSSocket> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  const observer = opts.observer;
  const fail = (err: TlsError): EndpointIoError => {
    observer?.failure("outbound", err.reason);
    return new EndpointIoError(addr, { cause: err });
  };
  const creds = opts.identity?.current;
  if (creds === undefined) {
    throw fail(
      new TlsError("no_local_identity", {
        direction: "outbound",
        detail: `cannot prove this proxy's identity to ${opts.serverId}`,
      }),
    );
  }
  const start = performance.now();
  let raw: net.Socket;
  try {
    raw = await connectTcp(host, port, { timeoutMs, socket: opts.socket });
  } catch (err) {
    if (err instanceof ConnectTimeoutError) {
      observer?.failure("outbound", "timeout");
    }
    throw err;
  }
  // Errors surface on the TLS socket; the raw one must not throw unheard.
  raw.on("error", () => {});
  const leftMs = Math.max(1, timeoutMs - (performance.now() - start));
  return await new Promise<tls.TLSSocket>((resolve, reject) => {
    const socket = tls.connect({
      socket: raw,
      servername: opts.serverName ?? opts.serverId,
      secureContext: contextOf(creds),
      minVersion: "TLSv1.3",
      maxVersion: "TLSv1.3",
      ALPNProtocols: [...(opts.alpn ?? DEFAULT_CLIENT_ALPN)],
      // Verified below, after the handshake, to tell the reason apart.
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
    });
    const done = (err?: Error) => {
      clearTimeout(timer);
      socket.off("error", onError);
      socket.off("close", onClose);
      if (err) {
        socket.destroy();
        raw.destroy();
        reject(err);
      } else {
        resolve(socket);
      }
    };
    const onError = (err: Error) =>
      done(
        fail(
          new TlsError("handshake", {
            direction: "outbound",
            detail: err.message,
            cause: err,
          }),
        ),
      );
    const onClose = () =>
      done(
        fail(
          new TlsError("handshake", {
            direction: "outbound",
            detail: "connection closed during the handshake",
          }),
        ),
      );
    const timer = setTimeout(() => {
      observer?.failure("outbound", "timeout");
      done(new ConnectTimeoutError(addr, timeoutMs));
    }, leftMs);
    socket.once("error", onError);
    socket.once("close", onClose);
    socket.once("secureConnect", () => {
      const v = verifyPeer(socket, { expected: opts.serverId });
      if (v.kind === "verified") {
        observer?.handshake("outbound");
        done();
      } else if (v.kind === "none") {
        done(fail(
          new TlsError("untrusted", {
            direction: "outbound",
            detail: "the server presented no certificate",
          }),
        ));
      } else {
        done(fail(
          new TlsError(v.reason, {
            direction: "outbound",
            detail: v.detail,
          }),
        ));
      }
    });
  });
}
