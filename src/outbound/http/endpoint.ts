/**
 * One endpoint's HTTP clients with their metrics, readiness probe and the
 * per-request hooks the balancer reads (linkerd `out/http/endpoint.rs`,
 * `phttp/client.rs`, `reconnect`, `PendingUntilFirstData`,
 * `BroadcastClassification`).
 *
 * @module
 */
import net from "node:net";
import type { Outcome } from "../../balance/breaker.ts";
import type { PoolService } from "../../balance/pool.ts";
import { PEER_LOAD_HEADER } from "../../balance/peer_load.ts";
import type {
  EndpointMeta,
  UpstreamProtocol,
} from "../../discovery/resolve.ts";
import {
  ConnectTimeoutError,
  EndpointIoError,
  IdentityRequiredError,
} from "../../errors.ts";
import { endpointRescueStatus } from "../../metrics/http_endpoint.ts";
import {
  classifyError,
  classifyResponse,
  type ResponseClass,
} from "../../http/classify.ts";
import { H1Pool } from "../../http/h1/pool.ts";
import { L5D_PROXY_CONNECTION, L5D_PROXY_ERROR } from "../../http/headers.ts";
import { H2CodecClient } from "../../http/h2/codec_client.ts";
import type {
  Body,
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../../http/message.ts";
import {
  canUpgrade,
  restoreResponse,
  upgradeRequest,
} from "../../http/orig_proto.ts";
import { connectTls } from "../../tls/client.ts";
import { connectTcp } from "../../transport/connect.ts";
import {
  encodeTransportHeader,
  TRANSPORT_ALPN,
} from "../../transport/transport_header.ts";
import type { HttpEndpointMetrics, OutboundCtx } from "../runtime.ts";

/** The target of an endpoint stack (linkerd `Endpoint`). */
export interface EndpointTarget {
  /** The logical service, "host:port". */
  readonly logical: string;
  readonly protocol: UpstreamProtocol;
  readonly meta: EndpointMeta;
}

/** What the balancer learns about one request from the endpoint. */
export interface EndpointHooks {
  /** When the balancer dispatched the request (`performance.now()` ms), if it read the clock. */
  readonly sentAtMs?: number;
  /**
   * The response's first body frame, its end, or the head of a response
   * without body; also called when the request fails (linkerd
   * `PendingUntilFirstData`: the Peak-EWMA RTT sample). May return the
   * clock time it read, which the endpoint's latency metric then reuses.
   */
  firstFrame(): number | undefined | void;
  /**
   * The response's final class (at the end of stream for gRPC), for the
   * breaker; "none" for a downstream cancel, which says nothing about the
   * endpoint (linkerd `BroadcastClassification`).
   */
  classified(outcome: Outcome): void;
  /** The response carried the peer proxy's load report (`l5d-petrel-load`). */
  peerLoad?(value: string): void;
}

/** An endpoint's service plus what the balancer reads from it. */
export interface HttpEndpoint extends PoolService {
  readonly addr: string;
  /** The endpoint's client, without hooks. */
  readonly service: HttpService;
  /** Requests dispatched and not yet answered (headers). */
  readonly pending: number;
  /**
   * Like `service`, reporting the first frame and the class of the
   * response to `hooks`. Absent: the balancer uses `service` and takes the
   * response head as the first frame.
   */
  call?(req: HttpRequest, hooks: EndpointHooks): Promise<HttpResponse>;
  /**
   * True when `err` (from `call`/`service`) failed while connecting, so
   * nothing was sent and the request may go to another endpoint.
   */
  isConnectError?(err: unknown): boolean;
}

/** Builds the client stack for one endpoint (linkerd `push_http_endpoint`). */
export function newHttpEndpoint(
  ctx: OutboundCtx,
): (target: EndpointTarget) => HttpEndpoint {
  return (target) => new Endpoint(ctx, target);
}

/**
 * ALPN offered to a meshed endpoint: none on a plain mTLS connection, only
 * `transport.l5d.io/v1` when the connection carries the transport header
 * (linkerd `http/concrete.rs` `Param<ConditionalClientTls>`).
 */
const NO_ALPN: readonly string[] = Object.freeze([]);
const TAGGED_ALPN: readonly string[] = Object.freeze([TRANSPORT_ALPN]);

/** The header naming the identity a request's endpoint must have (linkerd `require_id_header.rs`). */
export const REQUIRE_ID_HEADER = "l5d-require-id";
/** The header carrying the logical destination to a meshed peer (linkerd `CANONICAL_DST_HEADER`). */
export const CANONICAL_DST_HEADER = "l5d-dst-canonical";

/** Errors thrown by an endpoint's connect: nothing was sent on them. */
const CONNECT_ERRORS = new WeakSet<object>();

/** True when `err` came from connecting to an endpoint (no byte of the request was sent). */
export function isConnectError(err: unknown): boolean {
  return typeof err === "object" && err !== null && CONNECT_ERRORS.has(err);
}

/** The balancer's view of a class (linkerd `Class::is_failure`; a cancel is no verdict). */
function outcomeOf(c: ResponseClass): Outcome {
  if (c.kind === "error" && c.error === "canceled") return "none";
  return c.failure ? "failure" : "success";
}

class Endpoint implements HttpEndpoint {
  readonly addr: string;
  readonly #ctx: OutboundCtx;
  readonly #target: EndpointTarget;
  readonly #metrics: HttpEndpointMetrics;
  #h1: H1Pool | undefined;
  #h2: H2CodecClient | undefined;
  #pending = 0;
  readonly service: HttpService;

  constructor(ctx: OutboundCtx, target: EndpointTarget) {
    this.#ctx = ctx;
    this.#target = target;
    this.addr = target.meta.addr;
    this.#metrics = ctx.metrics.httpEndpoint({
      direction: "outbound",
      authority: target.logical,
      targetAddr: target.meta.addr,
      ...(target.meta.identity === undefined
        ? {}
        : { tls: { serverId: target.meta.identity } }),
      ...(target.meta.metricLabels === undefined
        ? {}
        : { dstLabels: target.meta.metricLabels }),
    });
    this.#transport = ctx.metrics.transport?.({
      direction: "outbound",
      peer: "dst",
      authority: target.logical,
      targetAddr: target.meta.addr,
      ...(target.meta.identity === undefined
        ? {}
        : { tls: { serverId: target.meta.identity } }),
      ...(target.meta.metricLabels === undefined
        ? {}
        : { dstLabels: target.meta.metricLabels }),
    });
    this.service = (req) => this.#call(req, undefined);
  }

  /** The endpoint's client-side transport series (`peer="dst"`). */
  readonly #transport: { track(socket: net.Socket): void } | undefined;

  get pending(): number {
    return this.#pending;
  }

  call(req: HttpRequest, hooks: EndpointHooks): Promise<HttpResponse> {
    return this.#call(req, hooks);
  }

  isConnectError(err: unknown): boolean {
    return isConnectError(err);
  }

  /**
   * A TCP connect to the endpoint, closed at once: it proves the endpoint
   * accepts connections before the balancer sends it requests (linkerd
   * connects eagerly with `SpawnReady`). A plain TCP probe rather than a
   * first client connection because which client a request needs (HTTP/1
   * or HTTP/2) is only known per request for `auto` services, and because
   * a socket parked until the first request could be closed by the server
   * meanwhile.
   *
   * A meshed endpoint (one with an identity) is probed with a full mTLS
   * handshake instead: an endpoint whose certificate is refused (wrong
   * identity, expired, untrusted) is never ready, and backs off like any
   * failed connect instead of turning ready at each TCP probe.
   */
  probe(signal: AbortSignal): Promise<void> {
    if (this.#target.meta.identity !== undefined) {
      return this.#connect(undefined).then((socket) => {
        socket.destroy();
        if (signal.aborted) throw new Error("probe aborted");
      });
    }
    const { host, port } = this.#target.meta;
    const timeoutMs = this.#ctx.settings.connectTimeoutMs;
    const addr = this.addr;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port });
      const done = (err?: Error) => {
        clearTimeout(timer);
        signal.removeEventListener("abort", onAbort);
        socket.destroy();
        if (err) reject(err);
        else resolve();
      };
      const onAbort = () => done(new Error("probe aborted"));
      const timer = setTimeout(
        () => done(new ConnectTimeoutError(addr, timeoutMs)),
        timeoutMs,
      );
      signal.addEventListener("abort", onAbort, { once: true });
      socket.once("connect", () => done());
      socket.once(
        "error",
        (e) => done(new EndpointIoError(addr, { cause: e })),
      );
    });
  }

  /**
   * Opens the transport: mTLS verifying `meta.identity` when the endpoint
   * has one (never a plaintext fallback), else TCP. Every failure, TLS
   * included, is a connect error: nothing was sent, the endpoint reconnects
   * with backoff and the request may go elsewhere (linkerd: the TLS client
   * is part of the connect stack).
   *
   * An endpoint with an opaque transport port or an authority override is
   * reached through the tagged transport (linkerd `TaggedTransport`): mTLS
   * to the peer proxy's inbound port offering only `transport.l5d.io/v1`
   * and, when the peer took it, the transport header with the target port,
   * the gateway name and `session` (absent for the readiness probe, which
   * closes before sending anything), then the HTTP session.
   */
  #connect(session: "http1" | "http2" | undefined): Promise<net.Socket> {
    const meta = this.#target.meta;
    const { host, port, identity } = meta;
    const timeoutMs = this.#ctx.settings.connectTimeoutMs;
    const socket = this.#ctx.settings.connectSocket;
    const tagged = this.#tagged;
    const p = identity === undefined
      ? connectTcp(host, port, { timeoutMs, socket })
      : connectTls(host, tagged ? meta.opaqueTransportPort ?? port : port, {
        socket,
        serverId: identity,
        identity: this.#ctx.tls?.identity,
        observer: this.#ctx.tls?.observer,
        timeoutMs,
        alpn: tagged ? TAGGED_ALPN : NO_ALPN,
      }).then((s) => {
        if (
          tagged && session !== undefined && s.alpnProtocol === TRANSPORT_ALPN
        ) {
          s.write(encodeTransportHeader(taggedHeader(meta, session)));
        }
        return s;
      });
    const transport = this.#transport;
    return p.then((s) => {
      transport?.track(s);
      return s;
    }, (err) => {
      if (typeof err === "object" && err !== null) CONNECT_ERRORS.add(err);
      throw err;
    });
  }

  /** True when connections carry the transport header (meshed, with a port override or a gateway). */
  get #tagged(): boolean {
    const m = this.#target.meta;
    return m.identity !== undefined &&
      (m.opaqueTransportPort !== undefined ||
        m.authorityOverride !== undefined);
  }

  #connectH1 = () => this.#connect("http1");
  #connectH2 = () => this.#connect("http2");

  #h2Client(): H2CodecClient {
    return this.#h2 ??= new H2CodecClient(this.addr, {
      connect: this.#connectH2,
    });
  }

  /** Upgraded-request counters per original version, resolved once. */
  readonly #origProtoCounts = new Map<string, { inc(): void }>();

  /**
   * Sends an HTTP/1 request to a meshed endpoint as an HTTP/2 stream with
   * `l5d-orig-proto`, on the endpoint's one multiplexed connection, and
   * removes the header from the response (linkerd `orig_proto::Upgrade`,
   * chosen by `ProtocolHint::Http2`, reference §8.4–8.5).
   */
  #upgraded(req: HttpRequest): Promise<HttpResponse> {
    const up = upgradeRequest(req);
    let count = this.#origProtoCounts.get(req.version);
    if (count === undefined) {
      count = this.#ctx.metrics.origProto?.({
        direction: "outbound",
        targetAddr: this.addr,
        origProto: req.version,
      }) ?? NO_COUNT;
      this.#origProtoCounts.set(req.version, count);
    }
    count.inc();
    return this.#h2Client().request(up).then(restoreResponse);
  }

  #request(req: HttpRequest): Promise<HttpResponse> {
    const { identity, authorityOverride } = this.#target.meta;
    if (authorityOverride !== undefined) {
      // linkerd `NewOverrideAuthority` with `host` and `l5d-dst-canonical`.
      req.authority = authorityOverride;
      delete req.headers["host"];
      req.headers[CANONICAL_DST_HEADER] = authorityOverride;
    } else if (identity !== undefined) {
      req.headers[CANONICAL_DST_HEADER] = this.#target.logical;
    }
    if (this.#target.meta.meshed === true && canUpgrade(req)) {
      return this.#upgraded(req);
    }
    return this.#client(req).request(req);
  }

  #client(req: HttpRequest): H1Pool | H2CodecClient {
    const p = this.#target.protocol;
    const h2 = p === "http2" ||
      (p === "auto" && req.version === "HTTP/2" && !req.ext.upgrade);
    if (h2 && !req.ext.upgrade) return this.#h2Client();
    return this.#h1 ??= new H1Pool(this.addr, {
      connect: this.#connectH1,
      idleTimeoutMs: this.#ctx.settings.http1PoolIdleTimeoutMs,
      maxIdle: this.#ctx.settings.maxIdleConnsPerEndpoint,
    });
  }

  #call(
    req: HttpRequest,
    hooks: EndpointHooks | undefined,
  ): Promise<HttpResponse> {
    const required = req.headers[REQUIRE_ID_HEADER];
    if (required !== undefined) {
      // Removed in any case; a mismatch fails above the endpoint's metrics
      // (linkerd `RequireIdentity`, rescued as a 502 by the server).
      delete req.headers[REQUIRE_ID_HEADER];
      const want = (Array.isArray(required) ? required[0] : required)?.trim();
      const found = this.#target.meta.identity;
      if (want !== undefined && want !== "" && want !== found) {
        hooks?.firstFrame();
        hooks?.classified("none");
        return Promise.reject(new IdentityRequiredError(want, found));
      }
    }
    const m = this.#metrics;
    m.request();
    this.#pending++;
    const start = hooks?.sentAtMs ?? performance.now();
    return this.#request(req).then(
      (rsp) => {
        this.#pending--;
        takePeerLoad(rsp, hooks);
        if (this.#target.meta.identity !== undefined) this.#peerErrors(rsp);
        // response_total/latency once both the class and the first frame are known.
        let cls: ResponseClass | undefined;
        let latencyMs = -1;
        const report = () => {
          if (cls === undefined || latencyMs < 0) return;
          m.response(rsp.status, {
            classification: cls.failure ? "failure" : "success",
            ...(cls.kind === "grpc" && cls.code >= 0
              ? { grpcStatus: cls.code }
              : {}),
            ...(cls.kind === "error" ? { error: cls.error } : {}),
            latencyMs,
          });
        };
        const first = () => {
          const t = hooks?.firstFrame();
          latencyMs = (typeof t === "number" ? t : performance.now()) - start;
          report();
        };
        const out = classifyResponse(req, rsp, (c) => {
          cls = c;
          hooks?.classified(outcomeOf(c));
          report();
        });
        if (out.body === null) first();
        else out.body = onFirstFrame(out.body, first);
        return out;
      },
      (err) => {
        this.#pending--;
        const c = classifyError(err);
        // Connection errors are answered 502/504 right here in linkerd
        // (`ClientRescue`), so the endpoint series counts that response, and
        // the server does not count it again as a proxy error.
        const rescued = endpointRescueStatus(err);
        m.response(rescued, {
          classification: "failure",
          ...(rescued === 0 ? { error: c.error } : {}),
          latencyMs: performance.now() - start,
        });
        // A failed connect sent nothing: the balancer handles it, no verdict.
        if (hooks !== undefined && !isConnectError(err)) {
          hooks.firstFrame();
          hooks.classified(outcomeOf(c));
        }
        throw err;
      },
    );
  }

  /**
   * A meshed peer proxy's error headers (linkerd
   * `HandleProxyErrorHeaders` and `NewStripProxyError`):
   * `l5d-proxy-connection` never reaches the application (a balancer's
   * endpoints do not close the server connection on it); `l5d-proxy-error`
   * is logged and passed on, so the client sees why, unless informational
   * headers are disabled.
   */
  #peerErrors(rsp: HttpResponse): void {
    const h = rsp.headers;
    const e = h[L5D_PROXY_ERROR];
    if (e !== undefined) {
      if (!this.#ctx.settings.informationalHeaders) delete h[L5D_PROXY_ERROR];
      this.#ctx.log.info("Remote proxy error", {
        error: String(e),
        endpoint: this.addr,
      });
    }
    if (h[L5D_PROXY_CONNECTION] !== undefined) delete h[L5D_PROXY_CONNECTION];
  }

  [Symbol.dispose](): void {
    this.#h1?.close();
    this.#h2?.close();
  }
}

/**
 * Removes the peer Petrel's load report from a response, so it never
 * reaches the client application, and hands it to the balancer
 * (`balance/peer_load.ts`; not in linkerd).
 */
function takePeerLoad(
  rsp: HttpResponse,
  hooks: EndpointHooks | undefined,
): void {
  const v = rsp.headers[PEER_LOAD_HEADER];
  if (v === undefined) return;
  delete rsp.headers[PEER_LOAD_HEADER];
  if (typeof v === "string") hooks?.peerLoad?.(v);
}

/** The transport header of a tagged HTTP connection (linkerd `TaggedTransport::call`). */
function taggedHeader(
  meta: EndpointMeta,
  session: "http1" | "http2",
): { port: number; name?: string; sessionProtocol: "http1" | "http2" } {
  const o = meta.authorityOverride;
  if (o !== undefined) {
    const i = o.lastIndexOf(":");
    return {
      port: Number(o.slice(i + 1)),
      name: o.slice(0, i),
      sessionProtocol: session,
    };
  }
  return { port: meta.port, sessionProtocol: session };
}

/** Wraps `body` to call `fn` once at its first frame, end, error or cancel. */
function onFirstFrame(body: Body, fn: () => void): Body {
  let fired = false;
  const fire = () => {
    if (fired) return;
    fired = true;
    fn();
  };
  return {
    length: body.length,
    start(sink) {
      body.start({
        data(chunk) {
          if (!fired) fire();
          sink.data(chunk);
        },
        end(trailers) {
          fire();
          sink.end(trailers);
        },
        error(err) {
          fire();
          sink.error(err);
        },
      });
    },
    pause: () => body.pause(),
    resume: () => body.resume(),
    cancel(err) {
      fire();
      body.cancel(err);
    },
  };
}

const NO_COUNT = { inc() {} };
