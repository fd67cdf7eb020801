/**
 * Outbound TCP connect with a timeout (linkerd `ConnectTcp` + connect timeout).
 *
 * @module
 */
import net from "node:net";
import { ConnectTimeoutError, EndpointIoError } from "../errors.ts";
import {
  applyTcpSocketConfig,
  type SockoptLog,
  type TcpSocketConfig,
} from "./sockopt.ts";

/** Options for {@linkcode connectTcp}. */
export interface ConnectOptions {
  /** Give up after this long. @default 1000 */
  timeoutMs?: number;
  /** Keepalive and user timeout (`LINKERD2_PROXY_*_CONNECT_*`). @default {none} */
  socket?: TcpSocketConfig | undefined;
  /** Where a socket option that cannot be set is reported (once). @default {none} */
  log?: SockoptLog | undefined;
}

/**
 * Opens a TCP connection to `host:port` with Nagle disabled and
 * `opts.socket` applied. Rejects with
 * `ConnectTimeoutError` after `timeoutMs`, or `EndpointIoError` (e.g.
 * ECONNREFUSED) (linkerd `ConnectTcp`, `ConnectTimeout`).
 */
export function connectTcp(
  host: string,
  port: number,
  opts: ConnectOptions = {},
): Promise<net.Socket> {
  const timeoutMs = opts.timeoutMs ?? 1000;
  const addr = host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port, noDelay: true });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ConnectTimeoutError(addr, timeoutMs));
    }, timeoutMs);
    const onError = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new EndpointIoError(addr, { cause: err }));
    };
    socket.once("error", onError);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.off("error", onError);
      applyTcpSocketConfig(socket, opts.socket, opts.log);
      resolve(socket);
    });
  });
}
