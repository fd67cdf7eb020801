/**
 * From a request to its logical service: the destination named by
 * `l5d-dst-override`, absolute-form or Host/`:authority`, resolved by
 * discovery and cached while in use, then routed by the service's policy
 * router (linkerd `out/http/logical.rs`, `push_http_cached`,
 * `NewNormalizeUri`).
 *
 * @module
 */
import { normalizeHttpAuthority } from "../../addr/http_authority.ts";
import { BadRequestError, ResolveError } from "../../errors.ts";
import { L5D_DST_OVERRIDE } from "../../http/headers.ts";
import {
  headerValue,
  type HttpRequest,
  type HttpResponse,
  type HttpService,
} from "../../http/message.ts";
import { IdleCache } from "../../svc/idle_cache.ts";
import type { OutboundCtx } from "../runtime.ts";
import type { HttpRouter, NewRouter } from "./router.ts";

/**
 * The logical destination of a request as "host:port" (lower-case; port
 * defaults to 80, or 443 for https), or an error for a request that names
 * none (linkerd: no authority at all ⇒ error).
 */
export function logicalAddr(req: HttpRequest): string {
  const override = headerValue(req.headers, L5D_DST_OVERRIDE);
  const raw = override ?? req.authority;
  if (!raw) {
    throw new BadRequestError(
      "request names no destination (no Host or :authority)",
    );
  }
  const https = req.scheme === "https";
  const memo = https ? NORMALIZED_HTTPS : NORMALIZED;
  let addr = memo.get(raw);
  if (addr === undefined) {
    addr = normalizeHttpAuthority(raw, https ? 443 : 80);
    if (memo.size >= MEMO_MAX) memo.clear();
    memo.set(raw, addr);
  }
  return addr;
}

/** Authorities as clients write them → normalized "host:port" (bounded memo). */
const NORMALIZED = new Map<string, string>();
const NORMALIZED_HTTPS = new Map<string, string>();
const MEMO_MAX = 10_000;

interface Logical {
  router: HttpRouter | undefined;
  ready: Promise<HttpRouter>;
}

/**
 * The logical layer: one policy router per destination (routes → backends
 * → balancers), built on first use and dropped after
 * `discoveryIdleTimeoutMs` without requests (linkerd `NewIdleCached` over
 * the logical stack).
 */
export function newHttpLogical(
  ctx: OutboundCtx,
  newRouter: NewRouter,
): HttpService & Disposable {
  const cache = new IdleCache<Logical>({
    idleMs: ctx.settings.discoveryIdleTimeoutMs,
    dispose: (l) => {
      l.router?.[Symbol.dispose]();
      l.ready.then((r) => r[Symbol.dispose](), () => {});
    },
  });
  const build = (addr: string): Logical => {
    const l: Logical = {
      router: undefined,
      ready: ctx.discovery.resolve(addr).then((state) => {
        const r = newRouter({ logical: addr, state });
        l.router = r;
        return r;
      }),
    };
    l.ready.catch(() => {});
    return l;
  };
  const service = function logicalService(
    req: HttpRequest,
  ): Promise<HttpResponse> {
    let addr: string;
    try {
      addr = req.ext.logical ?? logicalAddr(req);
    } catch (err) {
      return Promise.reject(err);
    }
    if (req.headers[L5D_DST_OVERRIDE] !== undefined) {
      delete req.headers[L5D_DST_OVERRIDE];
    }
    const l = cache.get(addr) ?? cache.insert(addr, build(addr));
    if (l.router) return l.router.call(req);
    const release = cache.hold(addr);
    return l.ready.then(
      (r) => {
        release();
        return r.call(req);
      },
      (err) => {
        release();
        cache.evict(addr, l);
        throw err instanceof ResolveError
          ? err
          : new ResolveError(addr, { cause: err });
      },
    );
  } as HttpService & Disposable;
  service[Symbol.dispose] = () => cache.clear();
  return service;
}
