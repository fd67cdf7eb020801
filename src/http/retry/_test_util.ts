/**
 * Test doubles for the retry layer: a body the test pushes frames into, a
 * collecting sink, and a request builder.
 *
 * @module
 */
import type {
  Body,
  BodySink,
  HeaderMap,
  HttpRequest,
  HttpResponse,
} from "../message.ts";

/** A body whose frames the test pushes; records pause/resume/cancel. */
export class PushBody implements Body {
  readonly length: number | undefined;
  sink: BodySink | undefined;
  starts = 0;
  paused = false;
  pauses = 0;
  canceled: Error | undefined | true = undefined;

  constructor(length?: number) {
    this.length = length;
  }

  start(sink: BodySink): void {
    this.starts++;
    this.sink = sink;
  }

  pause(): void {
    this.paused = true;
    this.pauses++;
  }

  resume(): void {
    this.paused = false;
  }

  cancel(err?: Error): void {
    this.canceled = err ?? true;
  }

  push(...chunks: (string | Uint8Array)[]): void {
    for (const c of chunks) {
      this.sink!.data(typeof c === "string" ? new TextEncoder().encode(c) : c);
    }
  }

  end(trailers?: HeaderMap): void {
    this.sink!.end(trailers);
  }

  fail(err: Error): void {
    this.sink!.error(err);
  }
}

/** What a {@linkcode collect}ed body delivered. */
export interface Collected {
  readonly chunks: Uint8Array[];
  text(): string;
  ended: boolean;
  trailers: HeaderMap | undefined;
  error: Error | undefined;
}

/** Starts `body` with a sink that records everything. */
export function collect(body: Body): Collected {
  const c: Collected = {
    chunks: [],
    text() {
      return new TextDecoder().decode(concat(this.chunks));
    },
    ended: false,
    trailers: undefined,
    error: undefined,
  };
  body.start({
    data: (chunk) => c.chunks.push(chunk),
    end: (t) => {
      c.ended = true;
      c.trailers = t;
    },
    error: (e) => {
      c.error = e;
    },
  });
  return c;
}

/** Concatenates byte chunks. */
export function concat(chunks: readonly Uint8Array[]): Uint8Array {
  let n = 0;
  for (const c of chunks) n += c.length;
  const out = new Uint8Array(n);
  let off = 0;
  for (const c of chunks) {
    out.set(c, off);
    off += c.length;
  }
  return out;
}

/** A request with sensible defaults. */
export function request(over: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test:80",
    path: "/",
    version: "HTTP/1.1",
    headers: {},
    body: null,
    ext: {},
    ...over,
  };
}

/** A response without body. */
export function response(
  status: number,
  headers: HeaderMap = {},
): HttpResponse {
  return { status, headers, body: null };
}

/** Lets promise callbacks run. */
export async function flush(n = 10): Promise<void> {
  for (let i = 0; i < n; i++) await Promise.resolve();
}
