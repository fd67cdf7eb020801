/**
 * The whole outbound HTTP stack on one page (linkerd `out/sidecar.rs`,
 * `push_http_server`). Read top to bottom = innermost to outermost.
 *
 * @module
 */
import type { HttpService } from "../http/message.ts";
import { stack } from "../svc/stack.ts";
import { newHttpLogical } from "./http/logical.ts";
import { newHttpServer } from "./http/server.ts";
import type { OutboundCtx } from "./runtime.ts";

/** The outbound HTTP service plus the resources it owns. */
export interface HttpSidecar extends Disposable {
  readonly service: HttpService;
}

/** Builds the outbound HTTP stack (linkerd `Outbound::mk_sidecar`). */
export function mkHttpSidecar(ctx: OutboundCtx): HttpSidecar {
  const logical = newHttpLogical(ctx); // discovery → balancer → endpoint clients
  const service = stack<HttpService>(logical)
    .push(newHttpServer(ctx)) // in-flight limit + the one error rescue
    .into();
  return { service, [Symbol.dispose]: () => logical[Symbol.dispose]() };
}
