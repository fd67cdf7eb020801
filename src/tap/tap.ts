/**
 * The tap registry and the tap layer of the HTTP stacks (linkerd
 * `linkerd/app/core/src/tap`, `linkerd-proxy-tap`): each active
 * `Observe` call registers a tap; the layer costs one boolean check per
 * request while none is active, else it reports each matching request,
 * up to the tap's limit, as RequestInit, ResponseInit and ResponseEnd
 * events (`io.linkerd.proxy.tap.TapEvent` objects for `proto.ts`).
 *
 * @module
 */
import { isIP } from "node:net";
import { durationOf } from "../api/duration.ts";
import { httpMethodOf } from "../api/http_types.ts";
import { tcpAddressOf } from "../api/net.ts";
import type {
  Body,
  HeaderMap,
  HttpRequest,
  HttpResponse,
  HttpService,
} from "../http/message.ts";
import type { Layer } from "../svc/service.ts";
import type { TapMatch, TapRequestView } from "./match.ts";

/** Which stack a tap layer sits in (`TapEvent.ProxyDirection`). */
export type TapDirection = "inbound" | "outbound";

/** One `TapEvent` as a plain object for the proto encoder. */
export type TapEventObject = Record<string, unknown>;

/** Options of {@linkcode Tap}. */
export interface TapOptions {
  /** How many requests it reports at most (`ObserveRequest.limit`). */
  readonly limit: number;
  readonly match: TapMatch;
  /** `extract.http.headers`: events carry the request/response headers and trailers. */
  readonly extractHeaders: boolean;
  /** Receives each event. */
  emit(event: TapEventObject): void;
  /** Called once the limit is reached and every reported request is done. */
  onFinished?: () => void;
}

/** One `Observe` call's tap. */
export class Tap {
  readonly opts: TapOptions;
  /** Requests claimed so far. */
  matched = 0;
  /** Claimed requests whose response has not ended. */
  inFlight = 0;
  #finished = false;
  #registry: Taps | undefined;

  constructor(opts: TapOptions) {
    this.opts = opts;
  }

  /** Whether it takes no more requests. */
  get full(): boolean {
    return this.matched >= this.opts.limit;
  }

  /** @internal a claimed request ended. */
  release(): void {
    this.inFlight--;
    if (this.full && this.inFlight === 0) this.#finish();
  }

  /** @internal */
  attach(r: Taps): void {
    this.#registry = r;
  }

  /** Stops it (the client went away, or the limit was reached). */
  close(): void {
    this.#registry?.remove(this);
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.close();
    this.opts.onFinished?.();
  }
}

/** The taps of one proxy (linkerd `tap::Registry`). */
export class Taps {
  /** True while some tap takes requests: the layers check only this. */
  active = false;
  /** `StreamId.base`: random per process. */
  readonly base: number = (Math.random() * 0x1_0000_0000) >>> 0;
  #stream = 0;
  readonly #taps = new Set<Tap>();

  /** Registers `tap`; it takes requests until its limit or `close()`. */
  add(tap: Tap): Tap {
    tap.attach(this);
    if (tap.opts.limit > 0) this.#taps.add(tap);
    this.#refresh();
    return tap;
  }

  /** @internal */
  remove(tap: Tap): void {
    this.#taps.delete(tap);
    this.#refresh();
  }

  /** The taps that take `view` (each counts it against its limit), or undefined. */
  claim(view: TapRequestView): Tap[] | undefined {
    let out: Tap[] | undefined;
    for (const t of this.#taps) {
      if (t.full || !t.opts.match(view)) continue;
      t.matched++;
      t.inFlight++;
      (out ??= []).push(t);
      // Full: no more requests, it ends once its reported ones do.
      if (t.full) this.#taps.delete(t);
    }
    if (out !== undefined) this.#refresh();
    return out;
  }

  /** The next stream id. */
  nextStream(): number {
    return ++this.#stream;
  }

  #refresh(): void {
    this.active = this.#taps.size > 0;
  }
}

/**
 * The tap layer of one stack (linkerd `NewTapHttp`): `taps` undefined = no
 * tap server, the inner service is returned as is.
 */
export function newTapLayer(
  taps: Taps | undefined,
  direction: TapDirection,
): Layer<HttpService, HttpService> {
  if (taps === undefined) return (inner) => inner;
  return (inner) =>
    function tapService(req: HttpRequest): Promise<HttpResponse> {
      if (!taps.active) return inner(req);
      return tapRequest(taps, direction, inner, req);
    };
}

/** "ip:port" when `addr` is one, else undefined. */
function socketAddr(addr: string | undefined): string | undefined {
  if (addr === undefined) return undefined;
  // No exception on the common path (a name): they cost microseconds.
  const colon = addr.lastIndexOf(":");
  if (colon <= 0 || isIP(addr.slice(0, colon).replace(/^\[|\]$/g, "")) === 0) {
    return undefined;
  }
  try {
    tcpAddressOf(addr);
    return addr;
  } catch {
    return undefined;
  }
}

function headersMsg(
  h: HeaderMap,
): { headers: { name: string; value: Uint8Array }[] } {
  const enc = new TextEncoder();
  const headers: { name: string; value: Uint8Array }[] = [];
  for (const [name, v] of Object.entries(h)) {
    for (const one of Array.isArray(v) ? v : [v]) {
      headers.push({ name, value: enc.encode(one) });
    }
  }
  return { headers };
}

function grpcStatusOf(h: HeaderMap | undefined): number | undefined {
  const v = h?.["grpc-status"];
  const s = Array.isArray(v) ? v[0] : v;
  if (s === undefined) return undefined;
  const n = Number(s);
  return Number.isInteger(n) && n >= 0 ? n : undefined;
}

/** HTTP/2 INTERNAL_ERROR, the reset code of a body that failed without one. */
const INTERNAL_ERROR = 2;

function resetCodeOf(err: Error): number {
  const code = (err as { code?: unknown }).code;
  return typeof code === "number" && code >= 0 ? code : INTERNAL_ERROR;
}

function tapRequest(
  taps: Taps,
  direction: TapDirection,
  inner: HttpService,
  req: HttpRequest,
): Promise<HttpResponse> {
  const view = new RequestView(req);
  const claimed = taps.claim(view);
  if (claimed === undefined) return inner(req);
  const source = view.source;
  const destination = view.destination;
  return observeRequest(
    taps,
    direction,
    inner,
    req,
    claimed,
    source,
    destination,
  );
}

/** A request as matches see it; the addresses are parsed only when asked for. */
class RequestView implements TapRequestView {
  readonly #req: HttpRequest;
  #source: string | undefined | null = null;
  #destination: string | undefined | null = null;

  constructor(req: HttpRequest) {
    this.#req = req;
  }
  get method(): string {
    return this.#req.method;
  }
  get scheme(): string {
    return this.#req.scheme;
  }
  get authority(): string {
    return this.#req.authority;
  }
  get path(): string {
    return this.#req.path;
  }
  get source(): string | undefined {
    if (this.#source === null) {
      this.#source = socketAddr(this.#req.ext.client?.addr);
    }
    return this.#source;
  }
  get destination(): string | undefined {
    if (this.#destination === null) {
      this.#destination = socketAddr(this.#req.ext.logical) ??
        socketAddr(this.#req.authority);
    }
    return this.#destination;
  }
}

/** Reports one claimed request to the taps that claimed it. */
async function observeRequest(
  taps: Taps,
  direction: TapDirection,
  inner: HttpService,
  req: HttpRequest,
  claimed: Tap[],
  source: string | undefined,
  destination: string | undefined,
): Promise<HttpResponse> {
  const t0 = performance.now();
  const id = { base: taps.base, stream: taps.nextStream() };
  const common: TapEventObject = {
    source: source === undefined ? null : tcpAddressOf(source),
    destination: destination === undefined ? null : tcpAddressOf(destination),
    source_meta: { labels: {} },
    destination_meta: { labels: {} },
    route_meta: { labels: {} },
    proxy_direction: direction === "inbound" ? "INBOUND" : "OUTBOUND",
  };
  const emit = (ev: (withHeaders: boolean) => Record<string, unknown>) => {
    let plain: Record<string, unknown> | undefined;
    let full: Record<string, unknown> | undefined;
    for (const t of claimed) {
      const h = t.opts.extractHeaders;
      const http = h ? (full ??= ev(true)) : (plain ??= ev(false));
      try {
        t.opts.emit({ ...common, http });
      } catch {
        // a gone client: its call closes the tap
      }
    }
  };
  // The request as it arrived, before the inner layers change it.
  const reqHeaders = claimed.some((t) => t.opts.extractHeaders)
    ? headersMsg(req.headers)
    : undefined;
  emit((h) => ({
    request_init: {
      id,
      method: httpMethodOf(req.method),
      scheme: { registered: req.scheme === "https" ? "HTTPS" : "HTTP" },
      authority: req.authority,
      path: req.path,
      ...(h && reqHeaders ? { headers: reqHeaders } : {}),
    },
  }));
  let ended = false;
  let t1 = t0;
  const end = (
    bytes: number,
    trailers: HeaderMap | undefined,
    err?: Error,
    headers?: HeaderMap,
  ) => {
    if (ended) return;
    ended = true;
    const now = performance.now();
    const grpc = grpcStatusOf(trailers) ?? grpcStatusOf(headers);
    const eos = err !== undefined
      ? { reset_error_code: resetCodeOf(err) }
      : grpc !== undefined
      ? { grpc_status_code: grpc }
      : null;
    emit((h) => ({
      response_end: {
        id,
        since_request_init: durationOf(now - t0),
        since_response_init: durationOf(now - t1),
        response_bytes: bytes,
        eos,
        ...(h && trailers ? { trailers: headersMsg(trailers) } : {}),
      },
    }));
    for (const t of claimed) t.release();
  };
  let rsp: HttpResponse;
  try {
    rsp = await inner(req);
  } catch (err) {
    end(0, undefined, err as Error);
    throw err;
  }
  t1 = performance.now();
  emit((h) => ({
    response_init: {
      id,
      since_request_init: durationOf(t1 - t0),
      http_status: rsp.status,
      ...(h ? { headers: headersMsg(rsp.headers) } : {}),
    },
  }));
  if (rsp.body === null) {
    end(0, undefined, undefined, rsp.headers);
    return rsp;
  }
  rsp.body = tapBody(
    rsp.body,
    (bytes, trailers, err) => end(bytes, trailers, err, rsp.headers),
  );
  return rsp;
}

/** `body`, counting its bytes and telling `onEnd` how it ended. */
function tapBody(
  body: Body,
  onEnd: (bytes: number, trailers: HeaderMap | undefined, err?: Error) => void,
): Body {
  let bytes = 0;
  return {
    length: body.length,
    start(sink) {
      body.start({
        data(chunk) {
          bytes += chunk.length;
          sink.data(chunk);
        },
        end(trailers) {
          onEnd(bytes, trailers);
          sink.end(trailers);
        },
        error(err) {
          onEnd(bytes, undefined, err);
          sink.error(err);
        },
      });
    },
    pause: () => body.pause(),
    resume: () => body.resume(),
    cancel(err) {
      onEnd(bytes, undefined, err ?? new Error("response body cancelled"));
      body.cancel(err);
    },
  };
}
