/**
 * HTTP/2 field validation (RFC 9113 §8.2, §8.3): a decoded field block
 * becomes an {@linkcode H2Head}, or an error naming why the message is
 * malformed; and regular fields are filtered for sending (h2
 * `frame::headers`, hyper's `proto::h2` header filtering).
 *
 * @module
 */
import type { HeaderMap } from "../message.ts";
import {
  type HpackEncoder,
  type HpackWriter,
  isValidFieldName,
  isValidFieldValue,
} from "./hpack.ts";

/** A decoded, validated request or response head (or trailers). */
export interface H2Head {
  /** `:method` (requests). */
  method: string;
  /** `:scheme` (requests). */
  scheme: string;
  /** `:authority` (requests), "" when absent. */
  authority: string;
  /** `:path` (requests). */
  path: string;
  /** `:status` (responses), else 0. */
  status: number;
  /** Regular fields, lower-case names; repeated ones as arrays, cookies joined. */
  headers: HeaderMap;
}

/** Fields that are connection-specific and so malformed in HTTP/2 (RFC 9113 §8.2.2). */
export function connectionSpecific(name: string): boolean {
  switch (name.length) {
    case 7:
      return name === "upgrade";
    case 10:
      return name === "connection" || name === "keep-alive";
    case 16:
      return name === "proxy-connection";
    case 17:
      return name === "transfer-encoding";
  }
  return false;
}

/** Whether a value is safe to put in a field block (no CR, LF or NUL). */
export function sendable(v: string): boolean {
  return v.indexOf("\r") === -1 && v.indexOf("\n") === -1 &&
    v.indexOf("\0") === -1;
}

/** A response head with only a status. */
export function statusHead(status: number, headers: HeaderMap = {}): H2Head {
  return { method: "", scheme: "", authority: "", path: "", status, headers };
}

/**
 * Encodes regular fields for sending: connection-specific ones, `host` and
 * pseudo-headers dropped, `te` kept only as `trailers`, values with CR, LF
 * or NUL dropped (RFC 9113 §8.2.2).
 */
export function encodeFields(
  enc: HpackEncoder,
  headers: HeaderMap,
  w: HpackWriter,
): void {
  for (const name in headers) {
    if (connectionSpecific(name)) continue;
    if (name.length === 4 && name === "host") continue;
    if (name.charCodeAt(0) === 58) continue;
    const v = headers[name]!;
    if (name.length === 2 && name === "te") {
      const s = typeof v === "string" ? v : v.join(",");
      if (s.toLowerCase().includes("trailers")) {
        enc.encodeField("te", "trailers", w);
      }
      continue;
    }
    if (typeof v === "string") {
      if (sendable(v)) enc.encodeField(name, v, w);
    } else {
      for (let i = 0; i < v.length; i++) {
        if (sendable(v[i]!)) enc.encodeField(name, v[i]!, w);
      }
    }
  }
}

/**
 * The size of the header list `head` is sent as (RFC 9113 §6.5.2: each
 * field's name and value octets plus 32), counting what
 * {@linkcode encodeFields} would send.
 */
export function headListSize(head: H2Head): number {
  let n = 0;
  if (head.status !== 0) n += 42; // ":status" + 3 digits + 32
  else if (head.method !== "") {
    n += 39 + head.method.length + 39 + head.scheme.length + 37 +
      head.path.length;
    if (head.authority !== "") n += 42 + head.authority.length;
  }
  const headers = head.headers;
  for (const name in headers) {
    if (connectionSpecific(name) || name === "host") continue;
    if (name.charCodeAt(0) === 58) continue;
    const v = headers[name]!;
    if (typeof v === "string") n += name.length + v.length + 32;
    else for (const x of v) n += name.length + x.length + 32;
  }
  return n;
}

/**
 * Collects one field block's fields into an {@linkcode H2Head} and checks
 * them (h2 `HeaderBlock::load` and `Pseudo` validation). Call `start()`,
 * feed `emit` to the HPACK decoder, then `finish()`; `error` is "" when the
 * head is well-formed.
 */
export class HeadCollector {
  /** The head being collected. */
  head: H2Head = EMPTY_HEAD;
  /** Why the block is malformed, or "". */
  error = "";
  /** The content-length value, or -1. */
  contentLength = -1;
  readonly #server: boolean;
  #regular = false;
  #trailers = false;
  /** The field callback for the HPACK decoder. */
  readonly emit = (name: string, value: string): void =>
    this.#field(name, value);

  constructor(role: "client" | "server") {
    this.#server = role === "server";
  }

  /** Starts a new block (a head, or trailers). */
  start(trailers: boolean): H2Head {
    this.head = {
      method: "",
      scheme: "",
      authority: "",
      path: "",
      status: 0,
      headers: {},
    };
    this.error = "";
    this.#regular = false;
    this.#trailers = trailers;
    this.contentLength = -1;
    return this.head;
  }

  /** The block is complete: checks the pseudo-headers a head needs. */
  finish(): void {
    if (this.error === "" && !this.#trailers) this.#checkPseudo(this.head);
  }

  #checkPseudo(h: H2Head): void {
    if (this.#server) {
      if (h.method === "") this.error = "missing :method";
      else if (h.method === "CONNECT") {
        if (h.scheme !== "" || h.path !== "" || h.authority === "") {
          this.error = "malformed CONNECT";
        }
      } else if (h.scheme === "" || h.path === "") {
        this.error = "missing :scheme or :path";
      }
    } else if (h.status === 0) this.error = "missing :status";
  }

  #field(name: string, value: string): void {
    if (this.error !== "") return;
    const h = this.head;
    if (!isValidFieldName(name)) {
      this.error = `invalid field name`;
      return;
    }
    if (!isValidFieldValue(value)) {
      this.error = `invalid value of ${name}`;
      return;
    }
    if (name.charCodeAt(0) === 58) {
      if (this.#regular || this.#trailers) {
        this.error = "pseudo-header after a regular field";
        return;
      }
      this.#pseudo(h, name, value);
      return;
    }
    this.#regular = true;
    if (connectionSpecific(name)) {
      this.error = `connection-specific field ${name}`;
      return;
    }
    if (name.length === 2 && name === "te" && value !== "trailers") {
      this.error = "te other than trailers";
      return;
    }
    if (name.length === 14 && name === "content-length") {
      const n = /^[0-9]{1,15}$/.test(value) ? Number(value) : -1;
      if (
        n < 0 ||
        (this.contentLength >= 0 && this.contentLength !== n)
      ) {
        this.error = "invalid content-length";
        return;
      }
      this.contentLength = n;
    }
    const headers = h.headers;
    const prev = headers[name];
    if (prev === undefined) headers[name] = value;
    else if (name === "cookie") headers[name] = prev + "; " + value;
    else if (typeof prev === "string") headers[name] = [prev, value];
    else prev.push(value);
  }

  #pseudo(h: H2Head, name: string, value: string): void {
    if (this.#server) {
      switch (name) {
        case ":method":
          if (h.method !== "" || value === "") break;
          h.method = value;
          return;
        case ":scheme":
          if (h.scheme !== "" || value === "") break;
          h.scheme = value;
          return;
        case ":authority":
          if (h.authority !== "") break;
          h.authority = value;
          return;
        case ":path":
          if (h.path !== "" || value === "") break;
          h.path = value;
          return;
      }
    } else if (name === ":status" && h.status === 0) {
      if (/^[1-9][0-9][0-9]$/.test(value)) {
        h.status = Number(value);
        return;
      }
    }
    this.error = `invalid or repeated pseudo-header ${name}`;
  }
}

const EMPTY_HEAD: H2Head = {
  method: "",
  scheme: "",
  authority: "",
  path: "",
  status: 0,
  headers: {},
};
