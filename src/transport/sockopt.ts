/**
 * TCP keepalive and user timeout on accepted and connected sockets (linkerd
 * `LINKERD2_PROXY_{INBOUND,OUTBOUND}_{ACCEPT,CONNECT}_{KEEPALIVE,USER_TIMEOUT}`,
 * `linkerd/proxy/transport` `set_keepalive_or_warn`, `set_user_timeout_or_warn`).
 *
 * Keepalive goes through `node:net` `setKeepAlive(true, ms)`, which under
 * Deno sets `SO_KEEPALIVE` and `TCP_KEEPIDLE`. Node has no API for
 * `TCP_USER_TIMEOUT`; it is set with `setsockopt(2)` through Deno FFI on
 * the socket's descriptor (`_handle.fdForIpc()`), Linux only. Without the
 * FFI permission, or on another OS, the user timeout is skipped and one
 * warning is logged.
 *
 * @module
 */
import type net from "node:net";

/** TCP keepalive and user timeout of one kind of socket (linkerd `Keepalive`, `UserTimeout`); absent = the OS default. */
export interface TcpSocketConfig {
  readonly keepaliveMs?: number;
  readonly userTimeoutMs?: number;
}

const IPPROTO_TCP = 6;
const TCP_USER_TIMEOUT = 18;

const LIBC_SYMBOLS = {
  setsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "u32"],
    result: "i32",
  },
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof LIBC_SYMBOLS>["symbols"];

/** A logger that can take one warning. */
export interface SockoptLog {
  warn(message: string, fields?: Record<string, unknown>): void;
}

let libc: Libc | null | undefined;
let warned = false;

/** libc's setsockopt/getsockopt, or null when FFI is denied or not Linux (opened once). */
function loadLibc(): Libc | null {
  if (libc !== undefined) return libc;
  libc = null;
  if (Deno.build.os !== "linux") return libc;
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return libc;
    }
    libc = Deno.dlopen("libc.so.6", LIBC_SYMBOLS).symbols;
  } catch {
    libc = null;
  }
  return libc;
}

/** Whether `TCP_USER_TIMEOUT` can be set here (Linux with the FFI permission). */
export function tcpUserTimeoutSupported(): boolean {
  return loadLibc() !== null;
}

/**
 * A duplicate of the socket's file descriptor (Deno's node:net handle
 * `fdForIpc()` dups it), if it has one; the caller closes it, or the
 * connection stays open after `destroy()`.
 */
function fdOf(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as {
    _handle?: { fdForIpc?: () => number };
  })._handle;
  try {
    const fd = handle?.fdForIpc?.();
    return typeof fd === "number" && fd >= 0 ? fd : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Sets `TCP_USER_TIMEOUT` (ms) on a connected TCP socket; false when FFI is
 * unavailable or the call failed (linkerd `set_user_timeout_or_warn`).
 */
export function setTcpUserTimeout(socket: net.Socket, ms: number): boolean {
  const c = loadLibc();
  const fd = fdOf(socket);
  if (c === null || fd === undefined) return false;
  try {
    const value = new Uint32Array([Math.min(ms, 0xffff_ffff)]);
    return c.setsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, value, 4) === 0;
  } finally {
    c.close(fd);
  }
}

/** Reads `TCP_USER_TIMEOUT` back (ms); undefined without FFI (for tests). */
export function getTcpUserTimeout(socket: net.Socket): number | undefined {
  const c = loadLibc();
  const fd = fdOf(socket);
  if (c === null || fd === undefined) return undefined;
  try {
    const value = new Uint32Array(1);
    const len = new Uint32Array([4]);
    return c.getsockopt(fd, IPPROTO_TCP, TCP_USER_TIMEOUT, value, len) === 0
      ? value[0]
      : undefined;
  } finally {
    c.close(fd);
  }
}

/**
 * Applies `opts` to a freshly accepted or connected TCP socket, once per
 * connection; nothing to do when both are unset (linkerd's default).
 */
export function applyTcpSocketConfig(
  socket: net.Socket,
  opts: TcpSocketConfig | undefined,
  log?: SockoptLog,
): void {
  if (opts === undefined) return;
  if (opts.keepaliveMs !== undefined) {
    socket.setKeepAlive(true, opts.keepaliveMs);
  }
  if (opts.userTimeoutMs !== undefined) {
    if (!setTcpUserTimeout(socket, opts.userTimeoutMs) && !warned) {
      warned = true;
      log?.warn("TCP user timeout not set: needs --allow-ffi on Linux", {
        userTimeoutMs: opts.userTimeoutMs,
      });
    }
  }
}
