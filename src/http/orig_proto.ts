/**
 * HTTP/1 carried over HTTP/2 between two proxies (linkerd
 * `proxy/http/src/orig_proto.rs`): the outbound side turns an HTTP/1
 * request into an HTTP/2 stream naming the original version in
 * `l5d-orig-proto` (`Upgrade`), the inbound side turns it back into HTTP/1
 * for the application and marks the response (`Downgrade`), and the
 * outbound side removes the mark from the response.
 *
 * Pure functions over Petrel's message envelope; the endpoint client and
 * the inbound HTTP stack call them.
 *
 * @module
 */
import type { HttpRequest, HttpResponse, HttpVersion } from "./message.ts";

/** The header naming the original HTTP/1 version (linkerd `L5D_ORIG_PROTO`). */
export const L5D_ORIG_PROTO = "l5d-orig-proto";

/** The suffix flagging an absolute-form request target (linkerd `WAS_ABSOLUTE_FORM`). */
const ABSOLUTE_FORM_SUFFIX = "; absolute-form";

/** An HTTP/1 version carried in `l5d-orig-proto`. */
export type OrigProto = "HTTP/1.1" | "HTTP/1.0";

/** What `l5d-orig-proto` says about the original request. */
export interface OrigProtoValue {
  readonly version: OrigProto;
  /** The request target was in absolute-form (`GET http://a/b HTTP/1.1`). */
  readonly absoluteForm: boolean;
}

/**
 * True when `req` may travel as an HTTP/2 stream with `l5d-orig-proto`:
 * an HTTP/1 request that asks for no protocol upgrade and is no CONNECT
 * (linkerd `orig_proto::Upgrade`: those keep their own HTTP/1 connection).
 */
export function canUpgrade(req: HttpRequest): boolean {
  return req.version !== "HTTP/2" && req.ext.upgrade !== true &&
    req.method !== "CONNECT";
}

/** The `l5d-orig-proto` value for an HTTP/1 request. */
export function origProtoValue(req: HttpRequest): string {
  const v = req.version === "HTTP/1.0" ? "HTTP/1.0" : "HTTP/1.1";
  return req.ext.absoluteForm === true ? v + ABSOLUTE_FORM_SUFFIX : v;
}

/** Parses an `l5d-orig-proto` value; undefined when it names no HTTP/1 version. */
export function parseOrigProto(
  value: string | string[] | undefined,
): OrigProtoValue | undefined {
  const raw = typeof value === "string" ? value : value?.[0];
  if (raw === undefined) return undefined;
  let v = raw.trim();
  let absoluteForm = false;
  if (v.endsWith(ABSOLUTE_FORM_SUFFIX)) {
    absoluteForm = true;
    v = v.slice(0, -ABSOLUTE_FORM_SUFFIX.length).trim();
  }
  if (v !== "HTTP/1.1" && v !== "HTTP/1.0") return undefined;
  return { version: v, absoluteForm };
}

/**
 * The HTTP/2 form of an HTTP/1 request (linkerd `Upgrade::call`): a copy
 * with version HTTP/2, `l5d-orig-proto` naming the original version,
 * `transfer-encoding` removed and the body's length, when known, stated in
 * `content-length` so the far side restores the same framing. `req` is
 * left unchanged.
 */
export function upgradeRequest(req: HttpRequest): HttpRequest {
  const headers = { ...req.headers };
  delete headers["transfer-encoding"];
  headers[L5D_ORIG_PROTO] = origProtoValue(req);
  const body = req.body;
  if (body !== null && body.length !== undefined) {
    headers["content-length"] = String(body.length);
  } else if (body !== null) {
    // A chunked body has no length; a stale value must not travel.
    delete headers["content-length"];
  }
  return { ...req, version: "HTTP/2", headers };
}

/**
 * Restores a response received for an upgraded request (linkerd
 * `Upgrade` response path): removes `l5d-orig-proto`. The HTTP/1 server
 * that received the original request writes the response in that
 * request's version and framing rules.
 */
export function restoreResponse(rsp: HttpResponse): HttpResponse {
  if (rsp.headers[L5D_ORIG_PROTO] !== undefined) {
    delete rsp.headers[L5D_ORIG_PROTO];
  }
  return rsp;
}

/**
 * Turns an HTTP/2 request carrying `l5d-orig-proto` back into HTTP/1 in
 * place (linkerd `Downgrade`): the version it names, absolute-form when
 * flagged, the header removed. Returns what the header said, or undefined
 * (the request is left as it was, minus an unusable header) when there is
 * none or it names no HTTP/1 version.
 */
export function downgradeRequest(
  req: HttpRequest,
): OrigProtoValue | undefined {
  const raw = req.headers[L5D_ORIG_PROTO];
  if (raw === undefined) return undefined;
  delete req.headers[L5D_ORIG_PROTO];
  if (req.version !== "HTTP/2") return undefined;
  const orig = parseOrigProto(raw);
  if (orig === undefined) return undefined;
  req.version = orig.version satisfies HttpVersion;
  if (orig.absoluteForm) req.ext.absoluteForm = true;
  return orig;
}

/**
 * Marks the response to a downgraded request (linkerd `Downgrade`
 * response path): `l5d-orig-proto` names the version the application
 * answered for. The shared HTTP/2 connection is never closed for one
 * request's sake, so `closeConnection` is dropped.
 */
export function markDowngradedResponse(
  rsp: HttpResponse,
  orig: OrigProtoValue,
): HttpResponse {
  rsp.headers[L5D_ORIG_PROTO] = orig.version;
  if (rsp.closeConnection) rsp.closeConnection = false;
  return rsp;
}
