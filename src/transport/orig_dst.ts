/**
 * The original destination of a redirected connection (linkerd
 * `linkerd/proxy/transport/src/orig_dst.rs`): iptables/nftables `REDIRECT`
 * rewrites the destination of the app's connection to the proxy's port,
 * and `getsockopt(SO_ORIGINAL_DST)` on the accepted socket returns the
 * address the app dialed. Deno has no API for it, so this reads it through
 * FFI (`Deno.dlopen` of libc); needs Linux, netfilter conntrack
 * (`nf_conntrack`, loaded by any `nat` rule) and `--allow-ffi`.
 *
 * @module
 */
import type net from "node:net";

/** An original destination (linkerd `OrigDstAddr`). */
export interface OrigDst {
  /** The IP address the client dialed ("10.0.0.1", "fd00::1"). */
  readonly host: string;
  readonly port: number;
  readonly family: 4 | 6;
}

/** `SOL_IP` (`<netinet/in.h>`). */
const SOL_IP = 0;
/** `SOL_IPV6` (`<netinet/in.h>`). */
const SOL_IPV6 = 41;
/** `SO_ORIGINAL_DST` (`<linux/netfilter_ipv4.h>`). */
const SO_ORIGINAL_DST = 80;
/** `IP6T_SO_ORIGINAL_DST` (`<linux/netfilter_ipv6/ip6_tables.h>`). */
const IP6T_SO_ORIGINAL_DST = 80;
/** `sizeof(struct sockaddr_in6)`; a `sockaddr_in` (16) fits too. */
const SOCKADDR_BYTES = 28;

const SYMBOLS = {
  getsockopt: {
    parameters: ["i32", "i32", "i32", "buffer", "buffer"],
    result: "i32",
  },
  getsockname: {
    parameters: ["i32", "buffer", "buffer"],
    result: "i32",
  },
  close: { parameters: ["i32"], result: "i32" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>;

/** Whether the lookup works here, and why not when it does not. */
export type OrigDstSupport =
  | { readonly ok: true }
  | { readonly ok: false; readonly reason: string };

let libc: Libc | undefined;
let support: OrigDstSupport | undefined;
// Preallocated for every call: the address and its length (socklen_t).
const addrBuf = new Uint8Array(SOCKADDR_BYTES);
const lenBuf = new Uint8Array(4);
const lenView = new DataView(lenBuf.buffer);

/**
 * Opens libc once. Fails (with the reason) without `--allow-ffi`, or where
 * there is no `libc.so.6` (not Linux/glibc).
 */
export function origDstSupport(): OrigDstSupport {
  if (support !== undefined) return support;
  if (Deno.build.os !== "linux") {
    return support = { ok: false, reason: "not Linux" };
  }
  try {
    if (Deno.permissions.querySync({ name: "ffi" }).state !== "granted") {
      return support = { ok: false, reason: "FFI not allowed (--allow-ffi)" };
    }
    libc = Deno.dlopen("libc.so.6", SYMBOLS);
    return support = { ok: true };
  } catch (err) {
    return support = {
      ok: false,
      reason: `cannot open libc: ${err instanceof Error ? err.message : err}`,
    };
  }
}

/**
 * A duplicate of an accepted `node:net` socket's file descriptor, which
 * the caller must close ({@linkcode closeFd}): an fd left open keeps the
 * connection open after the socket is destroyed. Deno-specific private
 * API: Deno 2.9's node:net `TCP` handle has `_handle.fdForIpc()` (for
 * passing sockets over IPC; its `fd` property is -1), which returns
 * `fcntl(F_DUPFD_CLOEXEC)` of the socket. Wire-tested in
 * `orig_dst_test.ts`, which fails if a Deno upgrade changes either.
 */
export function socketFd(socket: net.Socket): number | undefined {
  const handle = (socket as unknown as {
    _handle?: { fdForIpc?: () => unknown };
  })._handle;
  const fd = typeof handle?.fdForIpc === "function"
    ? handle.fdForIpc()
    : undefined;
  return typeof fd === "number" && fd >= 0 ? fd : undefined;
}

/**
 * The address `socket` was originally dialed at, or `undefined` when the
 * connection was not redirected (no conntrack NAT entry, or the original
 * destination is the socket's own local address), when FFI is not
 * available, or when the fd cannot be had (linkerd `OrigDstAddr`).
 * IPv6 sockets are asked at `SOL_IPV6`/`IP6T_SO_ORIGINAL_DST`, IPv4 (and
 * v4-mapped) ones at `SOL_IP`/`SO_ORIGINAL_DST`.
 */
export function originalDst(socket: net.Socket): OrigDst | undefined {
  if (libc === undefined && !origDstSupport().ok) return undefined;
  const fd = socketFd(socket);
  if (fd === undefined) return undefined;
  const local = socket.localAddress ?? "";
  const v6 = local.includes(":") && !local.startsWith("::ffff:");
  const dst = v6 ? getOrigDst6(fd) : getOrigDst4(fd);
  libc!.symbols.close(fd);
  if (dst === undefined) return undefined;
  if (dst.port === socket.localPort && sameIp(dst.host, local)) {
    return undefined;
  }
  return dst;
}

function getOrigDst4(fd: number): OrigDst | undefined {
  lenView.setUint32(0, SOCKADDR_BYTES, true);
  const rc = libc!.symbols.getsockopt(
    fd,
    SOL_IP,
    SO_ORIGINAL_DST,
    addrBuf,
    lenBuf,
  );
  if (rc !== 0) return undefined;
  return decodeSockaddr(addrBuf);
}

function getOrigDst6(fd: number): OrigDst | undefined {
  lenView.setUint32(0, SOCKADDR_BYTES, true);
  const rc = libc!.symbols.getsockopt(
    fd,
    SOL_IPV6,
    IP6T_SO_ORIGINAL_DST,
    addrBuf,
    lenBuf,
  );
  if (rc !== 0) return undefined;
  return decodeSockaddr(addrBuf);
}

/** Closes an fd from {@linkcode socketFd}. */
export function closeFd(fd: number): void {
  if (libc === undefined && !origDstSupport().ok) return;
  libc!.symbols.close(fd);
}

/**
 * `getsockname(fd)` through libc (for tests: proves that an fd from
 * {@linkcode socketFd} is the socket's own), or undefined.
 */
export function sockName(fd: number): OrigDst | undefined {
  if (libc === undefined && !origDstSupport().ok) return undefined;
  lenView.setUint32(0, SOCKADDR_BYTES, true);
  if (libc!.symbols.getsockname(fd, addrBuf, lenBuf) !== 0) return undefined;
  return decodeSockaddr(addrBuf);
}

const AF_INET = 2;
const AF_INET6 = 10;

/** Decodes a `sockaddr_in` / `sockaddr_in6` (family in host order, port big-endian). */
export function decodeSockaddr(b: Uint8Array): OrigDst | undefined {
  const family = b[0]! | (b[1]! << 8);
  const port = (b[2]! << 8) | b[3]!;
  if (family === AF_INET) {
    return { host: `${b[4]}.${b[5]}.${b[6]}.${b[7]}`, port, family: 4 };
  }
  if (family !== AF_INET6) return undefined;
  // sin6_flowinfo at 4..8, sin6_addr at 8..24.
  if (isV4Mapped(b)) {
    return { host: `${b[20]}.${b[21]}.${b[22]}.${b[23]}`, port, family: 4 };
  }
  const groups: number[] = [];
  for (let i = 8; i < 24; i += 2) groups.push((b[i]! << 8) | b[i + 1]!);
  return { host: formatIpv6(groups), port, family: 6 };
}

function isV4Mapped(b: Uint8Array): boolean {
  for (let i = 8; i < 18; i++) if (b[i] !== 0) return false;
  return b[18] === 0xff && b[19] === 0xff;
}

/** RFC 5952 text: lower-case hex, the longest run (≥ 2) of zero groups as "::". */
export function formatIpv6(groups: readonly number[]): string {
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && groups[j] === 0) j++;
    if (j - i > bestLen && j - i >= 2) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (from: number, to: number) =>
    groups.slice(from, to).map((g) => g.toString(16)).join(":");
  if (best < 0) return hex(0, 8);
  return `${hex(0, best)}::${hex(best + bestLen, 8)}`;
}

/** Compares an IP with a socket's local address (which may be v4-mapped). */
function sameIp(ip: string, local: string): boolean {
  if (ip === local) return true;
  if (local.startsWith("::ffff:")) return ip === local.slice(7);
  return false;
}
