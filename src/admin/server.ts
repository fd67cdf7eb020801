/**
 * The admin HTTP server: probes, metrics, log level, env and shutdown
 * (linkerd `app/admin/src/server.rs`). Served by `Deno.serve`: nothing here
 * needs trailers or stream resets.
 *
 * @module
 */
import type { Logger } from "../log.ts";
import type { ProxyMetrics } from "../metrics/registry.ts";
import { DASHBOARD_HTML } from "./dashboard.ts";
import type { DashboardStateBuilder } from "./state.ts";

/** What the admin routes need from the proxy (linkerd `Admin::new`). */
export interface AdminHandlerOptions {
  /** The proxy's metrics, rendered by `GET /metrics`. */
  metrics: ProxyMetrics;
  /** The root logger; `/proxy-log-level` reads and sets its filter. */
  logger: Logger;
  /** `GET /ready` answers 200 when this returns true (linkerd `Readiness`). */
  isReady: () => boolean;
  /** Whether `POST /shutdown` is served (`LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED`). */
  shutdownEnabled: boolean;
  /** Called once the shutdown response is on its way. */
  onShutdown: () => void;
  /**
   * Environment shown by `GET /env.json`.
   * @default {the process environment, read per request}
   */
  env?: Record<string, string> | undefined;
  /** Serves the dashboard (`GET /`) and `GET /state.json`; absent: both 404. */
  state?: DashboardStateBuilder | undefined;
  /**
   * Serve the dashboard and `/state.json` (endpoint addresses, recent error
   * messages) to non-loopback clients too (`PETREL_ADMIN_DASHBOARD_PUBLIC`);
   * otherwise they get 403 like linkerd's localhost-only paths.
   * @default {false}
   */
  dashboardPublic?: boolean | undefined;
}

/** Options of {@linkcode startAdmin}. */
export interface AdminOptions extends AdminHandlerOptions {
  /** `host:port` to listen on (`LINKERD2_PROXY_ADMIN_LISTEN_ADDR`), e.g. "127.0.0.1:4191". */
  listenAddr: string;
}

/** A running admin server. */
export interface AdminServer {
  /** The bound address (the real port when `listenAddr` used port 0). */
  readonly addr: { hostname: string; port: number };
  /** Stops accepting, lets in-flight requests finish, and resolves when closed. */
  close(): Promise<void>;
}

/** The remote peer of an admin request. */
export interface AdminClient {
  /** The client's IP address. */
  hostname: string;
}

/** An admin request handler, as `Deno.serve` calls it. */
export type AdminHandler = (
  req: Request,
  client: AdminClient,
) => Promise<Response>;

const FORBIDDEN_BODY = "Requests are only permitted from localhost.";
const JSON_MIME = "application/json";
const TEXT_PLAIN = "text/plain";

const IPV4_MAPPED_REGEXP = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;
const LISTEN_ADDR_REGEXP = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/;

/** Whether `hostname` is a loopback IP (Rust `IpAddr::is_loopback`). */
export function isLoopback(hostname: string): boolean {
  let host = hostname.startsWith("[") && hostname.endsWith("]")
    ? hostname.slice(1, -1)
    : hostname;
  const mapped = IPV4_MAPPED_REGEXP.exec(host);
  if (mapped) host = mapped[1]!;
  if (host === "::1" || host === "0:0:0:0:0:0:0:1") return true;
  return /^127\.\d+\.\d+\.\d+$/.test(host);
}

/** Parses `ip:port` / `[ip6]:port` into `Deno.serve`'s hostname and port. */
export function parseListenAddr(
  addr: string,
): { hostname: string; port: number } {
  const m = LISTEN_ADDR_REGEXP.exec(addr.trim());
  const port = m ? Number(m[3]) : NaN;
  if (!m || port > 65535) {
    throw new TypeError(
      `Cannot parse admin listen address: current value is "${addr}"`,
    );
  }
  return { hostname: m[1] ?? m[2]!, port };
}

function text(status: number, body: string, headers?: HeadersInit): Response {
  const h = new Headers(headers);
  if (body !== "" && !h.has("content-type")) h.set("content-type", TEXT_PLAIN);
  return new Response(body === "" ? null : body, { status, headers: h });
}

function methodNotAllowed(allow: string): Response {
  return text(405, "", { allow });
}

function jsonResponse(status: number, value: unknown): Response {
  return new Response(JSON.stringify(value), {
    status,
    headers: { "content-type": JSON_MIME },
  });
}

function isGet(req: Request): boolean {
  return req.method === "GET" || req.method === "HEAD";
}

async function gzip(body: string): Promise<ArrayBuffer> {
  const stream = new Blob([body]).stream().pipeThrough(
    new CompressionStream("gzip"),
  );
  return await new Response(stream).arrayBuffer();
}

async function metricsResponse(
  req: Request,
  opts: AdminHandlerOptions,
): Promise<Response> {
  let body: string;
  try {
    body = await opts.metrics.render();
  } catch (error) {
    opts.logger.error("Failed to format metrics", { error });
    return text(500, String(error));
  }
  const headers = new Headers({
    "content-type": opts.metrics.contentType,
    vary: "accept-encoding",
  });
  if (req.headers.get("accept-encoding")?.includes("gzip")) {
    headers.set("content-encoding", "gzip");
    return new Response(await gzip(body), { status: 200, headers });
  }
  return new Response(body, { status: 200, headers });
}

async function logLevelResponse(
  req: Request,
  opts: AdminHandlerOptions,
): Promise<Response> {
  switch (req.method) {
    case "GET":
    case "HEAD":
      return text(200, opts.logger.filter);
    case "PUT": {
      const filter = (await req.text()).trim();
      try {
        opts.logger.setLevel(filter);
      } catch (error) {
        opts.logger.warn("Setting log level failed", { error });
        return text(
          400,
          error instanceof Error ? error.message : String(error),
        );
      }
      opts.logger.info("Log level changed", { filter });
      return text(204, "");
    }
    default:
      return methodNotAllowed("GET, PUT");
  }
}

function acceptsJson(req: Request): boolean {
  const accept = req.headers.get("accept");
  return accept === null || accept.includes(JSON_MIME) ||
    accept.includes("application/*") || accept.includes("*/*");
}

function decodeParam(param: string): string {
  try {
    return decodeURIComponent(param.replace(/\+/g, " "));
  } catch {
    return param;
  }
}

function envResponse(req: Request, opts: AdminHandlerOptions): Response {
  if (!isGet(req)) return methodNotAllowed("GET, HEAD");
  if (!acceptsJson(req)) return text(406, JSON_MIME);
  const env = opts.env ?? Deno.env.toObject();
  const query = new URL(req.url).search.slice(1);
  if (query === "") return jsonResponse(200, env);
  if (query.includes("=")) {
    return jsonResponse(400, {
      error: "env.json query parameters may not contain key-value pairs",
      status: 400,
    });
  }
  const picked: Record<string, string | null> = {};
  for (const param of query.split("&")) {
    const name = decodeParam(param);
    picked[name] = Object.hasOwn(env, name) ? env[name]! : null;
  }
  return jsonResponse(200, picked);
}

function shutdownResponse(
  req: Request,
  client: AdminClient,
  opts: AdminHandlerOptions,
): Response {
  if (req.method !== "POST") return methodNotAllowed("POST");
  if (!isLoopback(client.hostname)) return text(403, FORBIDDEN_BODY);
  if (!opts.shutdownEnabled) {
    return text(404, "shutdown endpoint is not enabled\n");
  }
  // Signal after the handler returns; the graceful close lets the response out.
  queueMicrotask(() => {
    try {
      opts.onShutdown();
    } catch (error) {
      opts.logger.error("Shutdown callback failed", { error });
    }
  });
  return text(200, "shutdown\n");
}

/**
 * Builds the admin router (linkerd `Admin` as a `tower::Service`). Exposed
 * for tests that need to pose as a non-loopback client.
 */
export function adminHandler(opts: AdminHandlerOptions): AdminHandler {
  const log = opts.logger;
  return async function admin(req, client) {
    const path = new URL(req.url).pathname;
    if (log.enabled("debug")) {
      log.debug("Admin request", {
        method: req.method,
        path,
        client: client.hostname,
      });
    }
    switch (path) {
      case "/live":
        return isGet(req) ? text(200, "live\n") : methodNotAllowed("GET, HEAD");
      case "/ready":
        if (!isGet(req)) return methodNotAllowed("GET, HEAD");
        return opts.isReady() ? text(200, "ready\n") : text(503, "not ready\n");
      case "/metrics":
        if (!isGet(req)) return methodNotAllowed("GET, HEAD");
        return await metricsResponse(req, opts);
      case "/proxy-log-level":
        if (!isLoopback(client.hostname)) return text(403, FORBIDDEN_BODY);
        return await logLevelResponse(req, opts);
      case "/env.json":
        return envResponse(req, opts);
      case "/shutdown":
        return shutdownResponse(req, client, opts);
      case "/":
        if (opts.state === undefined) return text(404, "");
        if (!opts.dashboardPublic && !isLoopback(client.hostname)) {
          return text(403, FORBIDDEN_BODY);
        }
        if (!isGet(req)) return methodNotAllowed("GET, HEAD");
        return new Response(DASHBOARD_HTML, {
          headers: {
            "content-type": "text/html; charset=utf-8",
            "cache-control": "no-store",
          },
        });
      case "/state.json":
        if (opts.state === undefined) return text(404, "");
        if (!opts.dashboardPublic && !isLoopback(client.hostname)) {
          return text(403, FORBIDDEN_BODY);
        }
        if (!isGet(req)) return methodNotAllowed("GET, HEAD");
        return new Response(JSON.stringify(await opts.state.state()), {
          headers: { "content-type": JSON_MIME, "cache-control": "no-store" },
        });
      default:
        return text(404, "");
    }
  };
}

/**
 * Starts the admin server on `opts.listenAddr` (linkerd `app/admin` `Config::build`
 * + `serve`). Rejects when the address cannot be parsed or bound.
 */
export function startAdmin(opts: AdminOptions): Promise<AdminServer> {
  try {
    const { hostname, port } = parseListenAddr(opts.listenAddr);
    const handle = adminHandler(opts);
    const server = Deno.serve(
      {
        hostname,
        port,
        onListen: () => {},
        onError: (error) => {
          opts.logger.error("Admin request failed", { error });
          return text(500, "internal error\n");
        },
      },
      (req, info) => handle(req, info.remoteAddr),
    );
    const bound = { hostname: server.addr.hostname, port: server.addr.port };
    opts.logger.info("Admin interface on", {
      addr: bound.hostname.includes(":")
        ? `[${bound.hostname}]:${bound.port}`
        : `${bound.hostname}:${bound.port}`,
    });
    let closing: Promise<void> | undefined;
    return Promise.resolve({
      addr: bound,
      close() {
        closing ??= server.shutdown().then(() => server.finished);
        return closing;
      },
    });
  } catch (error) {
    return Promise.reject(error);
  }
}
