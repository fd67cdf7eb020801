/**
 * Byte-for-byte TCP forwarding and listening helpers shared by the inbound
 * and outbound listeners (linkerd `duplex`, opaque forward).
 *
 * @module
 */
import type net from "node:net";
import { connectTcp } from "./connect.ts";
import { splitHostPort } from "../addr/socket_addr.ts";

/** Options for {@linkcode forwardTcp}. */
export interface ForwardTcpOptions {
  host: string;
  port: number;
  /** @default 1000 */
  timeoutMs?: number;
  /** Called when the upstream cannot be reached (the socket is then closed). */
  onConnectError?: (err: unknown) => void;
  /** Opens the upstream instead of a plain TCP connect to host:port. */
  connect?: () => Promise<net.Socket>;
}

/**
 * Connects to `host:port` and pipes `socket` to it both ways, `initial`
 * (bytes already read) first. A FIN from one side only ends the other
 * side's writes, so bytes keep flowing the other way (linkerd's duplex shuts
 * down one half at a time); a socket that closes before both of its halves
 * are done (a reset, an error) takes the other down.
 */
export function forwardTcp(
  socket: net.Socket,
  initial: Uint8Array,
  opts: ForwardTcpOptions,
): void {
  socket.allowHalfOpen = true;
  const connect = opts.connect ??
    (() =>
      connectTcp(opts.host, opts.port, { timeoutMs: opts.timeoutMs ?? 1000 }));
  connect().then(
    (upstream) => {
      if (socket.destroyed) {
        upstream.destroy();
        return;
      }
      upstream.allowHalfOpen = true;
      upstream.on("error", () => socket.destroy());
      socket.on("error", () => upstream.destroy());
      const done = (s: net.Socket) => s.readableEnded && s.writableFinished;
      socket.once("close", () => done(socket) || upstream.destroy());
      upstream.once("close", () => done(upstream) || socket.destroy());
      if (initial.length > 0) upstream.write(initial);
      socket.pipe(upstream);
      upstream.pipe(socket);
      socket.resume();
    },
    (err) => {
      opts.onConnectError?.(err);
      socket.destroy();
    },
  );
}

/** Binds `server` to "host:port" and returns the bound address. */
export async function listen(
  server: net.Server,
  addr: string,
): Promise<net.AddressInfo> {
  const { host, port } = splitHostPort(addr);
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host, port }, () => {
      server.off("error", reject);
      resolve();
    });
  });
  return server.address() as net.AddressInfo;
}
