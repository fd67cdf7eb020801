/**
 * The inbound HTTP stack: requests accepted by the inbound listener go to
 * the local application, with `l5d-client-id` set to the verified client
 * identity and any incoming copy of it removed (linkerd
 * `app/inbound/src/http/set_identity_header.rs`, `http/server.rs`
 * `ServerRescue`, the policy's unauthorized responses).
 *
 * HTTP/1 requests go to the application over HTTP/1.1 (a pooled client),
 * HTTP/2 and gRPC over one HTTP/2 session, as they arrived.
 *
 * @module
 */
import { UnauthorizedError } from "../errors.ts";
import { H1Pool } from "../http/h1/pool.ts";
import { H2CodecClient } from "../http/h2/codec_client.ts";
import {
  downgradeRequest,
  L5D_ORIG_PROTO,
  markDowngradedResponse,
} from "../http/orig_proto.ts";
import { InboundLoad, PEER_LOAD_HEADER } from "../balance/peer_load.ts";
import type {
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../http/message.ts";
import { errorResponse, rescuer } from "../http/respond.ts";
import type { AccessLog } from "../access_log.ts";
import { L5D_CLIENT_ID } from "../tls/names.ts";
import { connectTcp } from "../transport/connect.ts";
import { stack } from "../svc/stack.ts";
import { newTapLayer, type Taps } from "../tap/tap.ts";
import type { Log } from "../log.ts";

/** Options of {@linkcode InboundHttp}. */
export interface InboundHttpOptions {
  /** The application, "host:port". */
  appHost: string;
  appPort: number;
  /** Connecting to the application gives up after this long. @default {300} */
  connectTimeoutMs?: number;
  /** Keepalive and user timeout of connections to the application. @default {none} */
  connectSocket?: import("../transport/sockopt.ts").TcpSocketConfig | undefined;
  /** Idle HTTP/1 connections to the application close after this long. @default {3000} */
  http1PoolIdleTimeoutMs?: number;
  /** Add `l5d-proxy-error` to synthetic responses. @default {true} */
  informationalHeaders?: boolean;
  log: Log;
  /** One access-log line per request (linkerd installs it inbound); absent = off. */
  accessLog?: AccessLog | undefined;
  /** The tap registry when the tap server runs; absent = no tap layer. */
  taps?: Taps | undefined;
}

/** The inbound HTTP services and the application clients they share. */
export class InboundHttp implements Disposable {
  readonly #h1: H1Pool;
  readonly #h2: H2CodecClient;
  readonly #info: boolean;
  readonly #log: Log;
  readonly #accessLog: AccessLog | undefined;
  readonly #taps: Taps | undefined;
  /** The application's load, reported to meshed peers (balance/peer_load.ts). */
  readonly #load = new InboundLoad();
  /** The service for connections without a verified identity. */
  readonly anonymous: HttpService;

  constructor(opts: InboundHttpOptions) {
    const addr = opts.appHost.includes(":")
      ? `[${opts.appHost}]:${opts.appPort}`
      : `${opts.appHost}:${opts.appPort}`;
    const connect = () =>
      connectTcp(opts.appHost, opts.appPort, {
        timeoutMs: opts.connectTimeoutMs ?? 300,
        socket: opts.connectSocket,
      });
    this.#h1 = new H1Pool(addr, {
      connect,
      idleTimeoutMs: opts.http1PoolIdleTimeoutMs ?? 3000,
    });
    this.#h2 = new H2CodecClient(addr, { connect });
    this.#info = opts.informationalHeaders ?? true;
    this.#log = opts.log;
    this.#accessLog = opts.accessLog;
    this.#taps = opts.taps;
    this.anonymous = this.forClient(undefined);
  }

  /**
   * The inbound HTTP stack of a connection whose client proved `clientId`
   * (or none), on one page, innermost first (linkerd
   * `app/inbound/src/http/server.rs`); the listener puts the per-request
   * authorization (`authz.ts` `newHttpPolicy`) on top.
   */
  forClient(clientId: string | undefined): HttpService {
    const log = this.#log;
    const rescue = rescuer({
      informationalHeaders: this.#info,
      onRescue(req, r) {
        log.info("inbound request failed", {
          error: r.message,
          path: req.path,
        });
      },
    });
    const service = stack(newAppClient(this.#h1, this.#h2)) // the application: H1 pool or its H2 session
      .push(newRescue(rescue)) // errors → synthetic responses (http/respond.ts, as outbound)
      .push(newOrigProtoDowngrade) // HTTP/1 carried over HTTP/2 by the peer goes back to HTTP/1
      .push(newLoadReport(this.#load, clientId)) // meshed peers get the application's load
      .push(newSetIdentityHeader(clientId)) // l5d-client-id: removed, then set when verified
      .push(newTapLayer(this.#taps, "inbound")) // tap events; one boolean check while no tap is active
      .into();
    return this.#accessLog === undefined
      ? service
      : this.#accessLog.wrap(service, clientId);
  }

  /**
   * The service for a refused connection: every request is answered 403
   * (gRPC: PERMISSION_DENIED) with the reason in `l5d-proxy-error`, and the
   * connection is closed after it (linkerd's unauthorized response).
   */
  denied(reason: string): HttpService {
    const informationalHeaders = this.#info;
    const err = new UnauthorizedError(reason.replace(/[^\x20-\x7e\t]/g, "?"));
    return function deniedService(req: HttpRequest): Promise<HttpResponse> {
      // The request body is left unread: the connection closes after this
      // response (cancelling an HTTP/2 body would reset the stream first).
      return Promise.resolve(
        errorResponse(req, err, { informationalHeaders }).response,
      );
    };
  }

  /** Closes the application clients (in-flight exchanges finish). */
  [Symbol.dispose](): void {
    this.#h1.close();
    this.#h2.close();
  }
}

/** The application client: HTTP/2 (not an upgrade) over the H2 session, else the HTTP/1 pool. */
function newAppClient(h1: H1Pool, h2: H2CodecClient): HttpService {
  return function appService(req: HttpRequest): Promise<HttpResponse> {
    const client = req.version === "HTTP/2" && !req.ext.upgrade ? h2 : h1;
    try {
      return client.request(req);
    } catch (err) {
      return Promise.reject(err);
    }
  };
}

/** Turns the errors of `inner` into responses with `rescue` (http/respond.ts `rescuer`). */
function newRescue(
  rescue: (req: HttpRequest, err: unknown) => HttpResponse,
): (inner: HttpService) => HttpService {
  return (inner) =>
    function rescueService(req: HttpRequest): Promise<HttpResponse> {
      return inner(req).catch((err) => rescue(req, err));
    };
}

/**
 * Restores HTTP/1 for a request the peer proxy carried over HTTP/2
 * (`l5d-orig-proto`) and marks its response so the peer restores the
 * original framing (linkerd `orig_proto::Downgrade`).
 */
function newOrigProtoDowngrade(inner: HttpService): HttpService {
  return function downgradeService(req: HttpRequest): Promise<HttpResponse> {
    const orig = downgradeRequest(req);
    const p = inner(req);
    return orig === undefined
      ? p
      : p.then((rsp) => markDowngradedResponse(rsp, orig));
  };
}

/**
 * For a meshed peer (a verified client, or the peer's orig-proto upgrade):
 * counts the request in flight at the application until its response head
 * and stamps the load on that response (`l5d-petrel-load`, which the peer's
 * outbound removes; Petrel's own, not linkerd's).
 */
function newLoadReport(
  load: InboundLoad,
  clientId: string | undefined,
): (inner: HttpService) => HttpService {
  return (inner) =>
    function loadReportService(req: HttpRequest): Promise<HttpResponse> {
      const meshed = clientId !== undefined ||
        req.headers[L5D_ORIG_PROTO] !== undefined;
      const p = inner(req);
      return meshed ? reportLoad(p, load) : p;
    };
}

/** Removes any incoming `l5d-client-id`, then sets the verified one (linkerd `SetIdentityHeader`). */
function newSetIdentityHeader(
  clientId: string | undefined,
): (inner: HttpService) => HttpService {
  return (inner) =>
    function setIdentityService(req: HttpRequest): Promise<HttpResponse> {
      const headers = req.headers;
      if (headers[L5D_CLIENT_ID] !== undefined) delete headers[L5D_CLIENT_ID];
      if (clientId !== undefined) headers[L5D_CLIENT_ID] = clientId;
      return inner(req);
    };
}

/** Counts a request in flight until its response head and stamps the load on it. */
function reportLoad(
  p: Promise<HttpResponse>,
  load: InboundLoad,
): Promise<HttpResponse> {
  const rif = load.start();
  const t0 = performance.now();
  return p.then((rsp) => {
    rsp.headers[PEER_LOAD_HEADER] = load.finish(rif, t0, performance.now());
    return rsp;
  }, (err) => {
    load.finish(rif, t0, performance.now());
    throw err;
  });
}
