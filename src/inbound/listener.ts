/**
 * The inbound listener: accept, tell TLS from plaintext by the first bytes,
 * terminate TLS, apply the inbound policy, then detect HTTP inside and
 * forward HTTP/1.1, HTTP/2 and gRPC (or opaque bytes) to the local
 * application (linkerd `linkerd/app/inbound`: `DetectTls`, `direct`,
 * `http/server.rs`, the policy's authorization).
 *
 * Default address 0.0.0.0:4143 (`LINKERD2_PROXY_INBOUND_LISTEN_ADDR`).
 *
 * @module
 */
import net from "node:net";
import type tls from "node:tls";
import { HttpConnections } from "../http/connections.ts";
import type { H1Limits } from "../http/h1/server.ts";
import { H2CodecServer } from "../http/h2/codec_server.ts";
import type { HttpRequest, HttpService } from "../http/message.ts";
import type { TlsObserver } from "../tls/errors.ts";
import type { LocalIdentity } from "../tls/identity.ts";
import { DEFAULT_SERVER_ALPN, TlsTerminator } from "../tls/server.ts";
import {
  readTransportHeader,
  TRANSPORT_ALPN,
} from "../transport/transport_header.ts";
import { forwardTcp, listen } from "../transport/opaque.ts";
import { detect, type Detection } from "../transport/detect.ts";
import { InboundHttp } from "./http.ts";
import {
  authorize,
  type ConnectionAuth,
  type Decision,
  type DenyReason,
  type InboundPolicy,
} from "./policy.ts";
import type { Log } from "../log.ts";

/** linkerd's default inbound listen address. */
export const DEFAULT_INBOUND_LISTEN_ADDR = "0.0.0.0:4143";

/** What the inbound reports besides handshakes: refused connections. */
export interface InboundObserver extends TlsObserver {
  /** The policy refused a connection. */
  denied(reason: DenyReason): void;
}

/** Options of {@linkcode startInboundListener}. */
export interface InboundListenerOptions {
  /** "ip:port"; port 0 picks a free port. @default {DEFAULT_INBOUND_LISTEN_ADDR} */
  listenAddr?: string;
  /** The local application's host. @default {"127.0.0.1"} */
  appHost?: string;
  /** The local application's port. */
  appPort: number;
  /** The default policy. @default {"all-unauthenticated"} */
  policy?: InboundPolicy;
  /** The local identity; without it TLS connections are refused. */
  identity?: LocalIdentity | undefined;
  /** Protocol detection (TLS, then HTTP inside) gives up after this long. @default {10000} */
  detectTimeoutMs?: number;
  /** Connecting to the application gives up after this long. @default {300} */
  connectTimeoutMs?: number;
  /** @default {true} */
  informationalHeaders?: boolean;
  /** HTTP/1 request head limits. @default {hyper's 100 fields, 10 s head read} */
  h1?: H1Limits;
  /** INBOUND_{ACCEPT,CONNECT}_{KEEPALIVE,USER_TIMEOUT}. @default {none} */
  sockets?: {
    accept?: import("../transport/sockopt.ts").TcpSocketConfig;
    connect?: import("../transport/sockopt.ts").TcpSocketConfig;
  };
  log: Log;
  observer?: InboundObserver | undefined;
  /** One access-log line per HTTP request (`LINKERD2_PROXY_ACCESS_LOG`); absent = off. */
  accessLog?: import("../access_log.ts").AccessLog | undefined;
}

/** A running inbound listener (same shape as the outbound one). */
export interface InboundListener {
  readonly port: number;
  readonly host: string;
  /** Open downstream connections. */
  readonly connections: number;
  /** Stops accepting and asks every connection to finish gracefully. */
  drain(): Promise<void>;
  /** Destroys every connection now and closes the application clients. */
  close(): void;
}

/** Starts the inbound proxy's listener (linkerd `Inbound::serve`). */
export async function startInboundListener(
  opts: InboundListenerOptions,
): Promise<InboundListener> {
  const detectTimeoutMs = Math.min(opts.detectTimeoutMs ?? 10_000, 2 ** 31 - 1);
  const policy = opts.policy ?? "all-unauthenticated";
  const appHost = opts.appHost ?? "127.0.0.1";
  const log = opts.log;
  const observer = opts.observer;
  const http = new InboundHttp({
    appHost,
    appPort: opts.appPort,
    connectTimeoutMs: opts.connectTimeoutMs ?? 300,
    connectSocket: opts.sockets?.connect,
    informationalHeaders: opts.informationalHeaders ?? true,
    accessLog: opts.accessLog,
    log,
  });
  const terminator = opts.identity === undefined
    ? undefined
    : new TlsTerminator({
      identity: opts.identity,
      handshakeTimeoutMs: detectTimeoutMs,
      observer,
      // Meshed peers may tag opaque connections with the transport header.
      alpn: [...DEFAULT_SERVER_ALPN, TRANSPORT_ALPN],
    });
  /** HTTP/2 connections' services, by the client's "ip:port". */
  const h2Services = new Map<string, HttpService>();
  const h2 = new H2CodecServer(
    function inboundH2(req: HttpRequest) {
      const svc = h2Services.get(req.ext.client?.addr ?? "");
      if (svc !== undefined) return svc(req);
      // The connection is gone already (its socket closed).
      return http.denied("connection closed")(req);
    },
    { informationalHeaders: opts.informationalHeaders ?? true },
  );
  const conns = new HttpConnections(h2, opts.sockets?.accept);

  const track = (s: net.Socket) => {
    conns.track(s);
    s.on("error", () => {});
  };

  const serve = (
    socket: net.Socket,
    det: Detection,
    decision: Decision,
  ): void => {
    // A connection closed before its first byte (a readiness probe) is
    // neither served nor refused.
    if (det.protocol === "eof") {
      socket.destroy();
      return;
    }
    if (!decision.allow) {
      observer?.denied(decision.reason);
      log.info("inbound connection refused", {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
        reason: decision.reason,
        error: decision.message,
      });
    }
    const service = decision.allow
      ? decision.clientId === undefined
        ? http.anonymous
        : http.forClient(decision.clientId)
      : http.denied(decision.message);
    const clientAddr = `${socket.remoteAddress}:${socket.remotePort}`;
    switch (det.protocol) {
      case "http1":
        conns.serveH1(socket, det.initial, {
          ...opts.h1,
          informationalHeaders: opts.informationalHeaders ?? true,
          service,
          clientAddr,
        });
        return;
      case "h2":
        h2Services.set(clientAddr, service);
        socket.once("close", () => {
          if (h2Services.get(clientAddr) === service) {
            h2Services.delete(clientAddr);
          }
        });
        conns.acceptH2(socket, det.initial);
        return;
      default:
        if (!decision.allow) {
          socket.destroy();
          return;
        }
        forwardOpaque(socket, det.initial, appHost, opts, log);
    }
  };

  /**
   * A connection that negotiated `transport.l5d.io/v1`: read the transport
   * header, then forward the bytes to the application port it names
   * (linkerd inbound `direct`, reference §9.4).
   */
  const serveTagged = (socket: tls.TLSSocket, decision: Decision): void => {
    if (!decision.allow) {
      observer?.denied(decision.reason);
      socket.destroy();
      return;
    }
    readTransportHeader(socket, detectTimeoutMs).then(
      ({ header, rest }) => {
        if (socket.destroyed) return;
        forwardTcp(socket, rest, {
          host: appHost,
          port: header.port === 0 ? opts.appPort : header.port,
          timeoutMs: opts.connectTimeoutMs ?? 300,
          onConnectError: (err) =>
            log.info("inbound tagged connect failed", { error: String(err) }),
        });
      },
      (err) => {
        log.info("inbound transport header failed", {
          client: `${socket.remoteAddress}:${socket.remotePort}`,
          error: err instanceof Error ? err.message : String(err),
        });
        socket.destroy();
      },
    );
  };

  const onConnection = async (socket: net.Socket) => {
    track(socket);
    socket.setNoDelay(true);
    const det = await detect(socket, detectTimeoutMs);
    if (socket.destroyed) return;
    if (det.protocol !== "tls") {
      serve(socket, det, authorize(policy, { tls: false }));
      return;
    }
    if (terminator === undefined) {
      observer?.failure("inbound", "no_local_identity");
      log.info("inbound TLS connection refused: no local identity", {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      socket.destroy();
      return;
    }
    let tlsSocket: tls.TLSSocket;
    let auth: ConnectionAuth;
    let alpn: string | false;
    try {
      const accepted = await terminator.accept(socket, det.initial);
      tlsSocket = accepted.socket;
      auth = { tls: true, peer: accepted.peer };
      alpn = accepted.alpn;
    } catch (err) {
      log.info("inbound TLS handshake failed", {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    track(tlsSocket);
    // The raw socket carries the TLS one: either closing ends both.
    socket.once("close", () => tlsSocket.destroy());
    tlsSocket.once("close", () => socket.destroy());
    if (alpn === TRANSPORT_ALPN) {
      serveTagged(tlsSocket, authorize(policy, auth));
      return;
    }
    const inner = await detect(tlsSocket, detectTimeoutMs);
    if (tlsSocket.destroyed) return;
    serve(tlsSocket, inner, authorize(policy, auth));
  };

  const server = net.createServer(
    { noDelay: true },
    (s) => void onConnection(s),
  );
  const bound = await listen(
    server,
    opts.listenAddr ?? DEFAULT_INBOUND_LISTEN_ADDR,
  );
  log.info("inbound listener started", {
    addr: `${bound.address}:${bound.port}`,
    app: `${appHost}:${opts.appPort}`,
    policy,
    tls: terminator !== undefined,
  });

  return {
    port: bound.port,
    host: bound.address,
    get connections() {
      return conns.size;
    },
    drain: () => conns.drain(server),
    close() {
      conns.close(server);
      http[Symbol.dispose]();
    },
  };
}

/** Pipes a non-HTTP connection to the application, byte for byte (linkerd inbound opaque forward). */
function forwardOpaque(
  socket: net.Socket,
  initial: Uint8Array,
  appHost: string,
  opts: InboundListenerOptions,
  log: Log,
): void {
  forwardTcp(socket, initial, {
    host: appHost,
    port: opts.appPort,
    timeoutMs: opts.connectTimeoutMs ?? 300,
    onConnectError: (err) =>
      log.info("inbound opaque connect failed", { error: String(err) }),
  });
}
