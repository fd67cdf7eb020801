/**
 * The inbound listener: accept, tell TLS from plaintext by the first bytes,
 * terminate TLS, apply the inbound policy, then detect HTTP inside and
 * forward HTTP/1.1, HTTP/2 and gRPC (or opaque bytes) to the local
 * application (linkerd `linkerd/app/inbound`: `DetectTls`, `direct`,
 * `http/server.rs`, the policy's authorization).
 *
 * Each connection's target is its original destination port (the app is
 * reached on `127.0.0.1:<port>`, as linkerd connects), or one fixed
 * application port outside Kubernetes (`PETREL_INBOUND_APP_PORT`). The
 * port's policy (`policy_watch.ts`) says whether to detect the protocol
 * (opaque ports are forwarded at once: a server-first protocol works) and
 * who may connect; HTTP requests are authorized one by one (`authz.ts`).
 * Connections made to the inbound port itself (not redirected) must carry
 * linkerd's transport header over mTLS (linkerd inbound `direct`).
 *
 * Default address 0.0.0.0:4143 (`LINKERD2_PROXY_INBOUND_LISTEN_ADDR`).
 *
 * @module
 */
import type { InboundHttpMetrics } from "../metrics/inbound.ts";
import type {
  TransportLabels,
  TransportMetrics,
} from "../metrics/transport.ts";
import net from "node:net";
import type tls from "node:tls";
import { HttpConnections } from "../http/connections.ts";
import type { H1Limits } from "../http/h1/server.ts";
import {
  H2CodecServer,
  type H2CodecServerOptions,
} from "../http/h2/codec_server.ts";
import type { HttpRequest, HttpService } from "../http/message.ts";
import type { TlsObserver } from "../tls/errors.ts";
import type { LocalIdentity } from "../tls/identity.ts";
import { DEFAULT_SERVER_ALPN, TlsTerminator } from "../tls/server.ts";
import {
  readTransportHeader,
  TRANSPORT_ALPN,
} from "../transport/transport_header.ts";
import type { ProxyListener } from "../transport/listener.ts";
import { forwardTcp, listen } from "../transport/opaque.ts";
import { detect, type Detection } from "../transport/detect.ts";
import { type OrigDst, origDstSupport } from "../transport/orig_dst.ts";
import type { TransportHeader } from "../transport/transport_header.ts";
import type { Log } from "../log.ts";
import type { Watch } from "../svc/watch.ts";
import { newHttpPolicy } from "./authz.ts";
import { InboundHttp } from "./http.ts";
import type { InboundAuthzMetrics } from "./metrics.ts";
import {
  authorize,
  type ConnectionAuth,
  type DenyReason,
  type InboundPolicy,
} from "./policy.ts";
import { InboundPolicyStore } from "./policy_watch.ts";
import {
  type ConnTls,
  defaultPolicy,
  isAuthorized,
  type PolicyMeta,
  type ServerPolicy,
} from "./server_policy.ts";

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
  /**
   * One application port for every connection (outside Kubernetes);
   * absent = each connection's original destination port.
   */
  appPort?: number | undefined;
  /** The default policy, when no `store` is given. @default {"all-unauthenticated"} */
  policy?: InboundPolicy;
  /** The per-port policies; default: `policy` on every port. */
  store?: InboundPolicyStore | undefined;
  /**
   * The original destination of an accepted socket (`originalDst` from
   * `transport/orig_dst.ts`); absent = none known.
   */
  origDst?: ((socket: net.Socket) => OrigDst | undefined) | undefined;
  /** Connections wait for this before they are served (the first certificate). */
  ready?: Promise<unknown> | undefined;
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
  /** HTTP/2 server settings (keep-alive, windows). @default {the codec's} */
  h2?: H2CodecServerOptions;
  /** INBOUND_{ACCEPT,CONNECT}_{KEEPALIVE,USER_TIMEOUT}. @default {none} */
  sockets?: {
    accept?: import("../transport/sockopt.ts").TcpSocketConfig;
    connect?: import("../transport/sockopt.ts").TcpSocketConfig;
  };
  log: Log;
  observer?: InboundObserver | undefined;
  /** The authorization counters; absent = not counted. */
  metrics?: InboundAuthzMetrics | undefined;
  /** The `direction="inbound"` HTTP endpoint series; absent = none. */
  httpMetrics?: InboundHttpMetrics | undefined;
  /**
   * The server-side transport series of an accepted connection
   * (`direction="inbound"`, `peer="src"`, its TLS and server); absent = none.
   */
  transportFor?: ((labels: TransportLabels) => TransportMetrics) | undefined;
  /** One access-log line per HTTP request (`LINKERD2_PROXY_ACCESS_LOG`); absent = off. */
  accessLog?: import("../access_log.ts").AccessLog | undefined;
  /** The tap registry when the tap server runs; absent = no tap layer. */
  taps?: import("../tap/tap.ts").Taps | undefined;
}

/** Where one accepted connection goes and what the policy knows of it. */
interface Target {
  /** The application port. */
  readonly port: number;
  /** The original destination "ip:port" (metrics' `target_addr`). */
  readonly targetAddr: string;
  readonly policy: Watch<ServerPolicy>;
  readonly clientIp: string;
  readonly clientAddr: string;
}

/** Starts the inbound proxy's listener (linkerd `Inbound::serve`). */
export async function startInboundListener(
  opts: InboundListenerOptions,
): Promise<ProxyListener> {
  const detectTimeoutMs = Math.min(opts.detectTimeoutMs ?? 10_000, 2 ** 31 - 1);
  const policyName = opts.policy ?? "all-unauthenticated";
  const appHost = opts.appHost ?? "127.0.0.1";
  const log = opts.log;
  const observer = opts.observer;
  const info = opts.informationalHeaders ?? true;
  const ownStore = opts.store === undefined;
  const store = opts.store ?? new InboundPolicyStore({
    defaultFor: () => defaultPolicy(policyName, { detectTimeoutMs }),
  });
  /** One application client set per port. */
  const apps = new Map<number, InboundHttp>();
  const appFor = (port: number): InboundHttp => {
    let h = apps.get(port);
    if (h === undefined) {
      h = new InboundHttp({
        appHost,
        appPort: port,
        connectTimeoutMs: opts.connectTimeoutMs ?? 300,
        connectSocket: opts.sockets?.connect,
        informationalHeaders: info,
        accessLog: opts.accessLog,
        taps: opts.taps,
        log,
      });
      apps.set(port, h);
    }
    return h;
  };
  const terminator = opts.identity === undefined
    ? undefined
    : new TlsTerminator({
      identity: opts.identity,
      handshakeTimeoutMs: detectTimeoutMs,
      observer,
      // Meshed peers may tag connections with the transport header.
      alpn: [...DEFAULT_SERVER_ALPN, TRANSPORT_ALPN],
    });
  /** HTTP/2 connections' services, by the client's "ip:port". */
  const h2Services = new Map<string, HttpService>();
  const h2 = new H2CodecServer(
    function inboundH2(req: HttpRequest) {
      const svc = h2Services.get(req.ext.client?.addr ?? "");
      if (svc !== undefined) return svc(req);
      // The connection is gone already (its socket closed).
      return appFor(0).denied("connection closed")(req);
    },
    { ...opts.h2, informationalHeaders: info },
  );
  const conns = new HttpConnections(h2, opts.sockets?.accept);

  const track = (s: net.Socket) => {
    conns.track(s);
    s.on("error", () => {});
  };

  /** Serves HTTP on `socket` through the port's per-request policy. */
  const serveHttp = (
    socket: net.Socket,
    protocol: "http1" | "h2",
    initial: Uint8Array,
    t: Target,
    tlsState: ConnTls,
  ): void => {
    const clientId = tlsState.kind === "established"
      ? tlsState.clientId
      : undefined;
    const app = appFor(t.port);
    const service = newHttpPolicy(
      t.policy,
      {
        targetAddr: t.targetAddr,
        port: t.port,
        tls: tlsState,
        clientIp: t.clientIp,
      },
      clientId === undefined ? app.anonymous : app.forClient(clientId),
      {
        metrics: opts.metrics,
        http: opts.httpMetrics,
        log,
        informationalHeaders: info,
      },
    );
    serveHttpWith(socket, protocol, initial, t.clientAddr, service);
  };

  const serveHttpWith = (
    socket: net.Socket,
    protocol: "http1" | "h2",
    initial: Uint8Array,
    clientAddr: string,
    service: HttpService,
  ): void => {
    if (protocol === "http1") {
      conns.serveH1(socket, initial, {
        ...opts.h1,
        informationalHeaders: info,
        service,
        clientAddr,
      });
      return;
    }
    h2Services.set(clientAddr, service);
    socket.once("close", () => {
      if (h2Services.get(clientAddr) === service) h2Services.delete(clientAddr);
    });
    conns.acceptH2(socket, initial);
  };

  /** Opaque bytes: the connection-level authorization, then a byte pipe. */
  const serveOpaque = (
    socket: net.Socket,
    initial: Uint8Array,
    t: Target,
    tlsState: ConnTls,
  ): void => {
    const p = t.policy.get();
    const labels = { targetAddr: t.targetAddr, port: t.port, tls: tlsState };
    const authz = p.authorizations.find((a) =>
      isAuthorized(a, t.clientIp, tlsState)
    );
    if (authz === undefined) {
      opts.metrics?.tcpDeny(labels, p);
      log.info("inbound connection denied", {
        client: t.clientAddr,
        server: p.meta.name,
        port: t.port,
      });
      socket.destroy();
      return;
    }
    opts.metrics?.tcpAllow(labels, p, authz.meta);
    forwardTcp(socket, initial, {
      host: appHost,
      port: t.port,
      timeoutMs: opts.connectTimeoutMs ?? 300,
      onConnectError: (err) =>
        log.info("inbound opaque connect failed", { error: String(err) }),
    });
  };

  /** A detected (or undetected) connection on `t`. */
  const serve = (
    socket: net.Socket,
    det: Detection,
    t: Target,
    tlsState: ConnTls,
    auth: ConnectionAuth,
  ): void => {
    // A connection closed before its first byte (a readiness probe) is
    // neither served nor refused.
    if (det.protocol === "eof") {
      socket.destroy();
      return;
    }
    if (opts.transportFor !== undefined) {
      trackInbound(opts.transportFor, socket, t, tlsState);
    }
    const legacy = defaultPolicyRefusal(t.policy.get(), auth);
    if (legacy !== undefined) {
      observer?.denied(legacy.reason);
      const p = t.policy.get();
      const labels = { targetAddr: t.targetAddr, port: t.port, tls: tlsState };
      log.info("inbound connection refused", {
        client: t.clientAddr,
        reason: legacy.reason,
        error: legacy.message,
      });
      if (det.protocol === "http1" || det.protocol === "h2") {
        // linkerd authorizes HTTP request by request: each refused request
        // is an `inbound_http_authz_deny_total` on the default route.
        const denied = appFor(t.port).denied(legacy.message);
        const route = defaultRouteMeta(p);
        const metrics = opts.metrics;
        serveHttpWith(
          socket,
          det.protocol,
          det.initial,
          t.clientAddr,
          metrics === undefined || route === undefined ? denied : (req) => {
            metrics.httpDeny(labels, p, route);
            return denied(req);
          },
        );
      } else {
        opts.metrics?.tcpDeny(labels, p);
        socket.destroy();
      }
      return;
    }
    if (det.protocol === "http1" || det.protocol === "h2") {
      serveHttp(socket, det.protocol, det.initial, t, tlsState);
      return;
    }
    serveOpaque(socket, det.initial, t, tlsState);
  };

  /** A connection refused for its client certificate: 403 for HTTP, else closed. */
  const refuseTls = async (
    socket: net.Socket,
    reason: DenyReason,
    message: string,
    clientAddr: string,
  ) => {
    const det = await detect(socket, detectTimeoutMs);
    if (socket.destroyed) return;
    // A probe closed before its first byte is not counted.
    if (det.protocol === "eof") {
      socket.destroy();
      return;
    }
    observer?.denied(reason);
    log.info("inbound connection refused", {
      client: clientAddr,
      reason,
      error: message,
    });
    if (det.protocol === "http1" || det.protocol === "h2") {
      serveHttpWith(
        socket,
        det.protocol,
        det.initial,
        clientAddr,
        appFor(0).denied(message),
      );
      return;
    }
    socket.destroy();
  };

  const targetOf = (
    socket: net.Socket,
    port: number,
    targetAddr: string,
  ): Target => {
    const clientIp = socket.remoteAddress ?? "";
    return {
      port,
      targetAddr,
      policy: store.get(port),
      clientIp,
      clientAddr: clientIp.includes(":")
        ? `[${clientIp}]:${socket.remotePort}`
        : `${clientIp}:${socket.remotePort}`,
    };
  };

  /**
   * A connection that negotiated `transport.l5d.io/v1`: the header names
   * the application port and the session protocol; HTTP sessions are
   * served through the inbound HTTP stack, others byte for byte (linkerd
   * inbound `direct`, reference §9.4).
   */
  const serveTagged = (
    socket: tls.TLSSocket,
    raw: net.Socket,
    tlsState: ConnTls,
  ): void => {
    readTransportHeader(socket, detectTimeoutMs).then(
      ({ header, rest }) => {
        if (socket.destroyed) return;
        const port = taggedPort(header, opts.appPort);
        if (port === undefined) {
          log.info("inbound transport header names no port", {
            client: `${raw.remoteAddress}:${raw.remotePort}`,
          });
          socket.destroy();
          return;
        }
        const t = targetOf(raw, port, `${appHost}:${port}`);
        if (header.sessionProtocol !== undefined) {
          serveHttp(
            socket,
            header.sessionProtocol === "http1" ? "http1" : "h2",
            rest,
            t,
            tlsState,
          );
          return;
        }
        serveOpaque(socket, rest, t, tlsState);
      },
      (err) => {
        log.info("inbound transport header failed", {
          client: `${raw.remoteAddress}:${raw.remotePort}`,
          error: err instanceof Error ? err.message : String(err),
        });
        socket.destroy();
      },
    );
  };

  const plaintextTls = (socket: net.Socket): ConnTls => {
    const ip = socket.remoteAddress ?? "";
    const loopback = ip === "::1" || ip.startsWith("127.") ||
      ip.startsWith("::ffff:127.");
    return {
      kind: "none",
      reason: loopback ? "loopback" : "no_tls_from_remote",
    };
  };

  const onConnection = async (socket: net.Socket) => {
    track(socket);
    socket.setNoDelay(true);
    if (opts.ready !== undefined) await opts.ready;
    if (socket.destroyed) return;
    const od = opts.origDst?.(socket);
    const port = opts.appPort ?? od?.port;
    const target = port === undefined ? undefined : targetOf(
      socket,
      port,
      od === undefined
        ? `${socket.localAddress}:${socket.localPort}`
        : od.family === 6
        ? `[${od.host}]:${od.port}`
        : `${od.host}:${od.port}`,
    );
    const proto = target?.policy.get().protocol.kind;
    if (target !== undefined && (proto === "opaque" || proto === "tls")) {
      // No detection: server-first protocols get the app's bytes at once.
      serveOpaque(socket, new Uint8Array(0), target, plaintextTls(socket));
      return;
    }
    const det = await detect(socket, detectTimeoutMs);
    if (socket.destroyed) return;
    if (det.protocol !== "tls") {
      if (target === undefined) {
        // linkerd: direct connections to the inbound port must be meshed.
        log.info("inbound direct connection refused: not mTLS", {
          client: `${socket.remoteAddress}:${socket.remotePort}`,
        });
        socket.destroy();
        return;
      }
      serve(socket, det, target, plaintextTls(socket), { tls: false });
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
    let tlsState: ConnTls;
    let auth: ConnectionAuth;
    let alpn: string | false;
    try {
      const accepted = await terminator.accept(socket, det.initial);
      tlsSocket = accepted.socket;
      alpn = accepted.alpn;
      const d = authorize("all-unauthenticated", {
        tls: true,
        peer: accepted.peer,
      });
      track(tlsSocket);
      socket.once("close", () => tlsSocket.destroy());
      tlsSocket.once("close", () => socket.destroy());
      if (!d.allow) {
        // A client certificate that is present but refused.
        await refuseTls(
          tlsSocket,
          d.reason,
          d.message,
          `${socket.remoteAddress}:${socket.remotePort}`,
        );
        return;
      }
      tlsState = { kind: "established", clientId: d.clientId };
      auth = { tls: true, peer: accepted.peer };
    } catch (err) {
      log.info("inbound TLS handshake failed", {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
        error: err instanceof Error ? err.message : String(err),
      });
      return;
    }
    if (alpn === TRANSPORT_ALPN) {
      serveTagged(tlsSocket, socket, tlsState);
      return;
    }
    if (target === undefined) {
      log.info("inbound direct connection refused: no transport header", {
        client: `${socket.remoteAddress}:${socket.remotePort}`,
      });
      tlsSocket.destroy();
      return;
    }
    const inner = await detect(tlsSocket, detectTimeoutMs);
    if (tlsSocket.destroyed) return;
    serve(tlsSocket, inner, target, tlsState, auth);
  };

  const server = net.createServer(
    { noDelay: true },
    (s) => void onConnection(s),
  );
  const bound = await listen(
    server,
    opts.listenAddr ?? DEFAULT_INBOUND_LISTEN_ADDR,
  );
  if (opts.appPort === undefined && !origDstSupport().ok) {
    log.warn(
      "inbound: no application port and no original destination (needs --allow-ffi on Linux): only meshed transport-header connections are served",
      { reason: (origDstSupport() as { reason?: string }).reason ?? "" },
    );
  }
  log.info("inbound listener started", {
    addr: `${bound.address}:${bound.port}`,
    app: opts.appPort === undefined
      ? `${appHost}:<original destination port>`
      : `${appHost}:${opts.appPort}`,
    ...(ownStore ? { policy: policyName } : {}),
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
      for (const h of apps.values()) h[Symbol.dispose]();
      if (ownStore) store[Symbol.dispose]();
    },
  };
}

/**
 * Petrel's connection-level refusal under the `all-authenticated` and
 * `deny` default policies (before the policy API: every request on the
 * connection is answered 403 with the TLS reason, counted in
 * `inbound_connections_denied_total{reason}`); undefined for any other
 * policy, which is checked request by request.
 */
function defaultPolicyRefusal(
  p: ServerPolicy,
  auth: ConnectionAuth,
): { reason: DenyReason; message: string } | undefined {
  if (p.meta.kind !== "default") return undefined;
  if (p.meta.name !== "all-authenticated" && p.meta.name !== "deny") {
    return undefined;
  }
  const d = authorize(p.meta.name, auth);
  return d.allow ? undefined : { reason: d.reason, message: d.message };
}

/**
 * Counts an accepted connection in the inbound transport series (linkerd
 * `ServerLabels::inbound`: `target_addr`, the TLS of the accept, `srv_*`).
 */
function trackInbound(
  transportFor: (labels: TransportLabels) => TransportMetrics,
  socket: net.Socket,
  t: Target,
  tlsState: ConnTls,
): void {
  const srv = t.policy.get().meta;
  transportFor({
    direction: "inbound",
    peer: "src",
    targetAddr: t.targetAddr,
    tls: tlsState.kind === "established"
      ? { clientId: tlsState.clientId ?? "" }
      : { noTlsReason: tlsState.reason },
    extra: {
      srv_group: srv.group,
      srv_kind: srv.kind,
      srv_name: srv.name,
      srv_port: String(t.port),
    },
  }).track(socket);
}

/** The meta of a policy's first HTTP (or gRPC) route: a default policy's one route. */
function defaultRouteMeta(p: ServerPolicy): PolicyMeta | undefined {
  const proto = p.protocol;
  if ("http" in proto) return proto.http[0]?.meta;
  if ("grpc" in proto) return proto.grpc[0]?.meta;
  return undefined;
}

/**
 * The application port of a tagged connection: the header's port, else
 * the fixed application port (linkerd requires a port).
 */
function taggedPort(
  header: TransportHeader,
  appPort: number | undefined,
): number | undefined {
  if (header.port !== 0) return header.port;
  return appPort;
}
