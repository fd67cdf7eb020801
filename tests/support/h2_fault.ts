/**
 * Typed wrappers for the python-h2 peers: h2_fault_server.py (an h2c server
 * that resets, cancels, slows down or GOAWAYs by path) and h2_client.py (one
 * connection, several concurrent streams).
 *
 * No linkerd counterpart: linkerd2-proxy's tests build such faults with the
 * h2 crate in-process.
 *
 * @module
 */
import { jsonLines, type Peer, runPython, startPythonPeer } from "./proc.ts";

/** RST_STREAM / GOAWAY error codes the fault server uses (RFC 9113 §7). */
export const H2_NO_ERROR = 0;
export const H2_REFUSED_STREAM = 7;
export const H2_CANCEL = 8;
export const H2_ENHANCE_YOUR_CALM = 11;

/**
 * Starts h2_fault_server.py. Paths: /ok, /refuse, /cancel, /calm,
 * /slow?ms=N, /trailers, /echo, /goaway, /headers (see the script's doc).
 */
export function startH2FaultServer(): Promise<Peer> {
  return startPythonPeer("h2_fault_server.py");
}

/** One stream as h2_client.py saw it. */
export interface H2StreamResult {
  path: string;
  stream_id: number;
  status: number | null;
  headers: Record<string, string>;
  body_len: number;
  /** The body as text, cut at 4096 characters. */
  body: string;
  reset_code: number | null;
  trailers: Record<string, string> | null;
  /** null, "goaway", "connection closed", "timeout" or "protocol error: …". */
  error: string | null;
  goaway_last_stream_id: number | null;
}

/** Options of {@linkcode h2Streams}. */
export interface H2StreamsOptions {
  /** The :authority (default: the target). */
  authority?: string;
  method?: string;
  /** A text body sent on every stream. */
  body?: string;
  /** A pattern body (byte i = i % 251) of this many bytes on every stream. */
  bodyBytes?: number;
  /** Request trailers, "name: value". */
  trailers?: string[];
  timeoutMs?: number;
}

/**
 * Opens ONE h2c connection to `target` (host:port), sends a stream per path,
 * all in flight at once, and returns what each stream got, in path order.
 */
export async function h2Streams(
  target: string,
  paths: string[],
  opts: H2StreamsOptions = {},
): Promise<H2StreamResult[]> {
  const args = [target, ...paths];
  if (opts.authority) args.push("--authority", opts.authority);
  if (opts.method) args.push("--method", opts.method);
  if (opts.body !== undefined) args.push("--body", opts.body);
  if (opts.bodyBytes !== undefined) {
    args.push("--body-bytes", String(opts.bodyBytes));
  }
  for (const t of opts.trailers ?? []) args.push("--trailer", t);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  args.push("--timeout", String(timeoutMs / 1000));
  const r = await runPython("h2_client.py", args, {
    timeoutMs: timeoutMs + 10_000,
  });
  if (r.code !== 0) {
    throw new Error(`h2_client.py exited ${r.code}:\n${r.stderr}`);
  }
  return jsonLines<H2StreamResult>(r.stdout);
}
