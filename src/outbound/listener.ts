/**
 * The outbound listener: accept, read the original destination of a
 * redirected connection (sidecar mode), detect the protocol from the first
 * bytes, then serve HTTP/1, HTTP/2 or forward opaque TCP (linkerd
 * `OrigDstAddr`, `push_tcp_instrument`, `push_protocol`,
 * `linkerd/http/detect`).
 *
 * @module
 */
import net from "node:net";
import { HttpConnections } from "../http/connections.ts";
import type { H1Limits } from "../http/h1/server.ts";
import {
  H2CodecServer,
  type H2CodecServerOptions,
} from "../http/h2/codec_server.ts";
import type { HttpService } from "../http/message.ts";
import { splitHostPort } from "../addr/socket_addr.ts";
import type { ProxyListener } from "../transport/listener.ts";
import { forwardTcp, listen } from "../transport/opaque.ts";
import { detect } from "../transport/detect.ts";
import {
  type OrigDst,
  origDstSupport,
  originalDst,
} from "../transport/orig_dst.ts";
import type { Log } from "../log.ts";

/** Options for {@linkcode startOutboundListener}. */
export interface OutboundListenerOptions {
  /** "host:port"; port 0 picks a free port. */
  listenAddr: string;
  service: HttpService;
  log: Log;
  /** @default 10000 */
  detectTimeoutMs?: number;
  /** Where non-HTTP connections go ("host:port"); absent = closed. */
  opaqueTarget?: string;
  /** Opens opaque upstreams (mesh-aware); default: plain TCP to the target. */
  dial?: (target: string) => Promise<net.Socket>;
  /** @default 1000 */
  connectTimeoutMs?: number;
  /** @default true */
  informationalHeaders?: boolean;
  /** HTTP/1 request head limits. @default {hyper's 100 fields, 10 s head read} */
  h1?: H1Limits;
  /** HTTP/2 server settings (keep-alive, windows). @default {the codec's} */
  h2?: H2CodecServerOptions;
  /** Called with the detection result of every connection (metrics). */
  onDetect?: (result: string) => void;
  /** OUTBOUND_ACCEPT_{KEEPALIVE,USER_TIMEOUT}. @default {none} */
  acceptSocket?: import("../transport/sockopt.ts").TcpSocketConfig;
  /** Transport metrics of accepted connections (`tcp_*`, peer="src"). */
  transport?: ListenerTransportMetrics;
  /**
   * Sidecar mode: read each connection's original destination
   * (`SO_ORIGINAL_DST`); a redirected connection is routed to it. `true`
   * uses `originalDst()`; a function replaces it (tests). Without FFI one
   * warning is logged and every connection is served as if not redirected.
   * @default false
   */
  origDst?: boolean | ((socket: net.Socket) => OrigDst | undefined);
  /**
   * The HTTP service for connections redirected to `target` ("ip:port");
   * absent: `service` (linkerd `HttpSidecar` keyed by orig dst).
   */
  serviceFor?: (target: string) => HttpService;
  /** Transport metrics of connections redirected to `target` (`target_addr`). */
  transportFor?: (target: string) => ListenerTransportMetrics;
  /**
   * Whether `target` is opaque (discovery says so): its connections skip
   * detection and go straight to it (linkerd opaque ports). Absent: detect.
   */
  opaqueFor?: (target: string) => Promise<boolean>;
}

/** Transport metrics of accepted connections (linkerd `tcp_*`, peer="src"). */
export interface ListenerTransportMetrics {
  open(): void;
  close(errno?: string): void;
  read(n: number): void;
  write(n: number): void;
  /** Counts `socket` open, its bytes live, its close (metrics/transport.ts). */
  track?(socket: net.Socket): void;
}

let origDstWarned = false;
const EMPTY = new Uint8Array(0);

/** The orig-dst lookup of `opts`, warning once per process when FFI is missing. */
function origDstLookup(
  opts: OutboundListenerOptions,
): ((socket: net.Socket) => OrigDst | undefined) | undefined {
  if (typeof opts.origDst === "function") return opts.origDst;
  if (opts.origDst !== true) return undefined;
  const support = origDstSupport();
  if (!support.ok) {
    if (!origDstWarned) {
      origDstWarned = true;
      opts.log.warn(
        "original destination unavailable: redirected connections are routed by name only",
        { reason: support.reason },
      );
    }
    return undefined;
  }
  return originalDst;
}

/** "ip:port" / "[v6]:port" of an original destination. */
export function origDstAddr(od: OrigDst): string {
  return od.family === 6 ? `[${od.host}]:${od.port}` : `${od.host}:${od.port}`;
}

/** Starts the outbound listener (linkerd outbound proxy accept path). */
export async function startOutboundListener(
  opts: OutboundListenerOptions,
): Promise<ProxyListener> {
  // linkerd disables detection with 365d, beyond what setTimeout takes.
  const detectTimeoutMs = Math.min(opts.detectTimeoutMs ?? 10_000, 2 ** 31 - 1);
  const lookup = origDstLookup(opts);
  const serviceFor = opts.serviceFor;
  // HTTP/2 sessions share one server: a redirected connection's streams
  // find their service by the client's address.
  const h2ByClient = new Map<string, HttpService>();
  const h2Service: HttpService = lookup === undefined || !serviceFor
    ? opts.service
    : function h2OrigDstService(req) {
      const svc = h2ByClient.get(req.ext.client?.addr ?? "");
      return (svc ?? opts.service)(req);
    };
  const h2 = new H2CodecServer(h2Service, {
    ...opts.h2,
    informationalHeaders: opts.informationalHeaders ?? true,
  });
  const conns = new HttpConnections(h2, opts.acceptSocket);
  const h1 = {
    ...opts.h1,
    informationalHeaders: opts.informationalHeaders ?? true,
  };

  // One metrics handle per original destination, not one lookup per accept.
  const transports = new Map<string, ListenerTransportMetrics>();
  const transportOf = (target: string) => {
    let t = transports.get(target);
    if (t === undefined) {
      if (transports.size >= 4096) transports.clear();
      t = opts.transportFor!(target);
      transports.set(target, t);
    }
    return t;
  };
  const onConnection = async (socket: net.Socket) => {
    conns.track(socket);
    const od = lookup?.(socket);
    const target = od === undefined ? undefined : origDstAddr(od);
    const t = target !== undefined && opts.transportFor
      ? transportOf(target)
      : opts.transport;
    socket.setNoDelay(true);
    let errno = "";
    socket.on(
      "error",
      (e: Error & { code?: string }) => errno ||= e.code ?? "",
    );
    if (t?.track) t.track(socket);
    else t?.open();
    if (t && !t.track) {
      socket.once("close", () => {
        t.read(socket.bytesRead);
        t.write(socket.bytesWritten);
        t.close(errno);
      });
    }
    const clientAddr = `${socket.remoteAddress}:${socket.remotePort}`;
    if (
      target !== undefined && opts.opaqueFor && await opts.opaqueFor(target)
    ) {
      // The socket is not flowing yet: nothing read is lost.
      if (!socket.destroyed) forwardOpaque(socket, EMPTY, opts, target);
      return;
    }
    const { protocol, initial } = await detect(socket, detectTimeoutMs);
    opts.onDetect?.(protocol);
    if (socket.destroyed) return;
    switch (protocol) {
      case "http1":
        conns.serveH1(socket, initial, {
          ...h1,
          service: target !== undefined && serviceFor
            ? serviceFor(target)
            : opts.service,
          clientAddr,
        });
        return;
      case "h2":
        if (target !== undefined && serviceFor) {
          h2ByClient.set(clientAddr, serviceFor(target));
          socket.once("close", () => h2ByClient.delete(clientAddr));
        }
        conns.acceptH2(socket, initial);
        return;
      case "eof":
        socket.destroy();
        return;
      default:
        // Not HTTP, TLS that is not ours, or a server-first protocol
        // (nothing within the detect timeout): bytes go to the original
        // destination untouched (linkerd opaque / TLS passthrough).
        forwardOpaque(socket, initial, opts, target);
    }
  };

  const server = net.createServer(
    { noDelay: true },
    (s) => void onConnection(s),
  );
  const bound = await listen(server, opts.listenAddr);
  opts.log.info("outbound listener started", {
    addr: `${bound.address}:${bound.port}`,
  });

  return {
    port: bound.port,
    host: bound.address,
    get connections() {
      return conns.size;
    },
    drain: () => conns.drain(server),
    close: () => conns.close(server),
  };
}

/** Forwards a non-HTTP connection byte for byte, or closes it (linkerd opaque forward). */
function forwardOpaque(
  socket: net.Socket,
  initial: Uint8Array,
  opts: OutboundListenerOptions,
  origDst?: string,
): void {
  const target = origDst ?? opts.opaqueTarget;
  if (!target) {
    opts.log.debug("closing non-HTTP connection: no opaque target configured");
    socket.destroy();
    return;
  }
  const { host, port } = splitHostPort(target);
  const dial = opts.dial;
  forwardTcp(socket, initial, {
    host,
    port,
    ...(dial ? { connect: () => dial(target) } : {}),
    timeoutMs: opts.connectTimeoutMs ?? 1000,
    onConnectError: (err) =>
      opts.log.info("opaque connect failed", { error: String(err) }),
  });
}

/** Options for {@linkcode startTcpForward}. */
export interface TcpForwardOptions {
  /** "host:port" to listen on. */
  listenAddr: string;
  /** "host:port" every accepted connection is forwarded to. */
  target: string;
  log: Log;
  /** @default 1000 */
  connectTimeoutMs?: number;
  /** Opens the upstream (mesh-aware); default: plain TCP to the target. */
  dial?: (target: string) => Promise<net.Socket>;
}

/** A per-port opaque TCP forward, no protocol detection (linkerd opaque route). */
export async function startTcpForward(
  opts: TcpForwardOptions,
): Promise<ProxyListener> {
  const sockets = new Set<net.Socket>();
  const fwd: OutboundListenerOptions = {
    listenAddr: opts.listenAddr,
    service: () => Promise.reject(new Error("not HTTP")),
    log: opts.log,
    opaqueTarget: opts.target,
    connectTimeoutMs: opts.connectTimeoutMs ?? 1000,
    ...(opts.dial ? { dial: opts.dial } : {}),
  };
  const server = net.createServer({ noDelay: true }, (socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
    socket.pause();
    forwardOpaque(socket, new Uint8Array(0), fwd);
  });
  const bound = await listen(server, opts.listenAddr);
  return {
    port: bound.port,
    host: bound.address,
    get connections() {
      return sockets.size;
    },
    drain() {
      // Opaque streams have no request boundary: finish when they close.
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
    close() {
      server.close();
      for (const s of sockets) s.destroy();
    },
  };
}
