/**
 * The HTTP access log: one line per request on stderr, `apache` or `json`
 * (linkerd `linkerd/http/access-log`, `linkerd/tracing/src/access_log.rs`).
 *
 * Off by default. When off, no layer is installed: the stacks test for an
 * {@linkcode AccessLog} once, when they are built, never per request.
 *
 * @module
 */
import type {
  HeaderMap,
  HttpRequest,
  HttpResponse,
  HttpService,
} from "./http/message.ts";

/** linkerd `ENV_ACCESS_LOG`. */
export const ENV_ACCESS_LOG = "LINKERD2_PROXY_ACCESS_LOG";

/** The two formats linkerd knows (`tracing::access_log::Format`). */
export type AccessLogFormat = "apache" | "json";

/**
 * Parses `LINKERD2_PROXY_ACCESS_LOG` (case-insensitive). Unset or empty:
 * off. Any other value: `onError` is told (linkerd prints an error) and the
 * log stays off.
 */
export function parseAccessLogFormat(
  value: string | undefined,
  onError: (message: string) => void = (m) => console.error(m),
): AccessLogFormat | undefined {
  if (value === undefined || value.trim() === "") return undefined;
  const v = value.trim().toLowerCase();
  if (v === "apache" || v === "json") return v;
  onError(
    `petrel: invalid ${ENV_ACCESS_LOG}="${value}" (expected apache or json); access log disabled`,
  );
  return undefined;
}

/** One access-log record, with linkerd's field names. */
export interface AccessLogRecord {
  "client.addr": string;
  /** The client's mTLS identity, or `-`. */
  "client.id": string;
  /** RFC 3339 UTC, at request start. */
  timestamp: string;
  method: string;
  uri: string;
  version: string;
  /** First of `x-b3-traceid`, `x-request-id`, `x-amzn-trace-id`, or `-`. */
  trace_id: string;
  /** The request's `content-length`, or `-`. */
  request_bytes: string;
  status: number;
  /** The response's `content-length`, or `-`. */
  response_bytes: string;
  /** Request start → response headers. */
  total_ns: number;
  /**
   * Time spent in Petrel's own code dispatching the request (the
   * synchronous part of the stack call; linkerd: time inside its own polls).
   */
  processing_ns: number;
  user_agent: string;
  host: string;
}

/** Where lines go (without the newline). @default {stderr} */
export type AccessLogWrite = (line: string) => void;

const encoder = new TextEncoder();

function stderrWrite(line: string): void {
  Deno.stderr.writeSync(encoder.encode(line + "\n"));
}

function header(h: HeaderMap, name: string): string | undefined {
  const v = h[name];
  return typeof v === "string" ? v : v?.[0];
}

function uriOf(req: HttpRequest): string {
  if (req.method === "CONNECT") return req.authority;
  return `${req.scheme}://${req.authority}${req.path === "*" ? "" : req.path}`;
}

/** The access log of one process (linkerd `AccessLogLayer`). */
export class AccessLog {
  readonly format: AccessLogFormat;
  readonly #write: AccessLogWrite;

  constructor(format: AccessLogFormat, write: AccessLogWrite = stderrWrite) {
    this.format = format;
    this.#write = write;
  }

  /** Renders a record in this log's format. */
  render(r: AccessLogRecord): string {
    if (this.format === "json") return JSON.stringify(r);
    return `${r["client.addr"]} ${
      r["client.id"]
    } - [${r.timestamp}] "${r.method} ${r.uri} ${r.version}" ${r.status}`;
  }

  /**
   * Wraps `inner`: each request is logged once its response headers are
   * known (a request that fails without a response is not logged; the
   * outbound rescue turns errors into responses first).
   */
  wrap(inner: HttpService, clientId?: string): HttpService {
    const write = this.#write;
    const render = (r: AccessLogRecord) => this.render(r);
    return function accessLogged(req: HttpRequest): Promise<HttpResponse> {
      const t0 = performance.now();
      const wall = Date.now();
      // Read before the stack can rewrite the request.
      const h = req.headers;
      const base = {
        "client.addr": req.ext.client?.addr ?? "-",
        "client.id": clientId ?? "-",
        method: req.method,
        uri: uriOf(req),
        version: req.version,
        trace_id: header(h, "x-b3-traceid") ?? header(h, "x-request-id") ??
          header(h, "x-amzn-trace-id") ?? "-",
        request_bytes: header(h, "content-length") ?? "-",
        user_agent: header(h, "user-agent") ?? "-",
        host: header(h, "host") ?? req.authority,
      };
      let p: Promise<HttpResponse>;
      try {
        p = inner(req);
      } catch (err) {
        p = Promise.reject(err);
      }
      const processingNs = Math.round((performance.now() - t0) * 1e6);
      return p.then((rsp) => {
        const record: AccessLogRecord = {
          "client.addr": base["client.addr"],
          "client.id": base["client.id"],
          timestamp: new Date(wall).toISOString(),
          method: base.method,
          uri: base.uri,
          version: base.version,
          trace_id: base.trace_id,
          request_bytes: base.request_bytes,
          status: rsp.status,
          response_bytes: header(rsp.headers, "content-length") ?? "-",
          total_ns: Math.round((performance.now() - t0) * 1e6),
          processing_ns: processingNs,
          user_agent: base.user_agent,
          host: base.host,
        };
        try {
          write(render(record));
        } catch {
          // A closed stderr must not fail the request.
        }
        return rsp;
      });
    };
  }
}

/** The access log for `format`, or undefined when it is off. */
export function accessLogOf(
  format: AccessLogFormat | undefined,
  write?: AccessLogWrite,
): AccessLog | undefined {
  return format === undefined ? undefined : new AccessLog(format, write);
}
