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
import { ConnectTimeoutError, EndpointIoError } from "../../errors.ts";
import { endpointRescueStatus } from "../../metrics/http_endpoint.ts";
import {
  classifyError,
  classifyResponse,
  type ResponseClass,
} from "../../http/classify.ts";
import { H1Pool } from "../../http/h1/pool.ts";
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

/** ALPN offered by an endpoint's HTTP/1 and HTTP/2 clients over mTLS. */
const H1_ALPN: readonly string[] = Object.freeze(["http/1.1"]);
const H2_ALPN: readonly string[] = Object.freeze(["h2"]);
const PROBE_ALPN: readonly string[] = Object.freeze(["h2", "http/1.1"]);

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
      return this.#connect(PROBE_ALPN).then((socket) => {
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
   */
  #connect(alpn: readonly string[]): Promise<net.Socket> {
    const { host, port, identity } = this.#target.meta;
    const timeoutMs = this.#ctx.settings.connectTimeoutMs;
    const socket = this.#ctx.settings.connectSocket;
    const p = identity === undefined
      ? connectTcp(host, port, { timeoutMs, socket })
      : connectTls(host, port, {
        socket,
        serverId: identity,
        identity: this.#ctx.tls?.identity,
        observer: this.#ctx.tls?.observer,
        timeoutMs,
        alpn,
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

  #connectH1 = () => this.#connect(H1_ALPN);
  #connectH2 = () => this.#connect(H2_ALPN);

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
    const m = this.#metrics;
    m.request();
    this.#pending++;
    const start = hooks?.sentAtMs ?? performance.now();
    return this.#request(req).then(
      (rsp) => {
        this.#pending--;
        takePeerLoad(rsp, hooks);
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
