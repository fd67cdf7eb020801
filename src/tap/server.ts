/**
 * The tap server (linkerd `linkerd/app/src/tap.rs`): `Tap/Observe` on the
 * control port over mTLS, served only to a client whose certificate
 * proves the tap service identity (`LINKERD2_PROXY_TAP_SVC_NAME`).
 *
 * Petrel's TLS terminator (`tls/server.ts`) takes each connection; a client
 * that is verified and names the tap identity is spliced to a grpc-js
 * server listening on a unix socket in a private folder (grpc-js's own TLS
 * server answers plaintext under Deno); any other client is closed.
 *
 * @module
 */
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import type { Log } from "../log.ts";
import type { LocalIdentity } from "../tls/identity.ts";
import { sansMatch } from "../tls/names.ts";
import { TlsTerminator } from "../tls/server.ts";
import {
  type ObserveRequestMsg,
  tapServiceDefinition,
  tapSpecOf,
} from "./proto.ts";
import { Tap, type TapEventObject, type Taps } from "./tap.ts";

/** Options of {@linkcode startTapServer}. */
export interface TapServerOptions {
  /** "ip:port" (`LINKERD2_PROXY_CONTROL_LISTEN_ADDR`). */
  listenAddr: string;
  /** The only client identity served. */
  svcName: string;
  identity: LocalIdentity;
  taps: Taps;
  log: Log;
}

/** A running tap server. */
export interface TapServer {
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Starts the tap server. */
export async function startTapServer(
  opts: TapServerOptions,
): Promise<TapServer> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-tap-" });
  const sockPath = `${dir}/tap.sock`;
  const grpcServer = new grpc.Server();
  grpcServer.addService(tapServiceDefinition(), {
    Observe: (
      call: grpc.ServerWritableStream<ObserveRequestMsg, TapEventObject>,
    ) => observe(opts, call),
  });
  try {
    await new Promise<void>((resolve, reject) =>
      grpcServer.bindAsync(
        `unix:${sockPath}`,
        grpc.ServerCredentials.createInsecure(),
        (err) => err ? reject(err) : resolve(),
      )
    );
  } catch (err) {
    await Deno.remove(dir, { recursive: true }).catch(() => {});
    throw err;
  }
  const terminator = new TlsTerminator({
    identity: opts.identity,
    alpn: ["h2"],
  });
  const sockets = new Set<net.Socket>();
  const front = net.createServer((raw) => {
    sockets.add(raw);
    raw.once("close", () => sockets.delete(raw));
    raw.on("error", () => {});
    terminator.accept(raw, new Uint8Array(0)).then(({ socket, peer }) => {
      if (peer.kind !== "verified" || !sansMatch(peer.sans, opts.svcName)) {
        opts.log.warn("tap client refused", {
          client: raw.remoteAddress,
          reason: peer.kind === "verified"
            ? `identity is ${peer.identity ?? "none"}, not ${opts.svcName}`
            : peer.kind === "none"
            ? "no client certificate"
            : peer.detail,
        });
        socket.destroy();
        return;
      }
      const up = net.connect({ path: sockPath });
      sockets.add(up);
      up.once("close", () => {
        sockets.delete(up);
        socket.destroy();
      });
      socket.once("close", () => up.destroy());
      up.on("error", () => socket.destroy());
      socket.on("error", () => up.destroy());
      socket.pipe(up);
      up.pipe(socket);
    }, () => {});
  });
  const { host, port } = splitAddr(opts.listenAddr);
  await new Promise<void>((resolve, reject) => {
    front.once("error", reject);
    front.listen({ host, port }, () => {
      front.off("error", reject);
      resolve();
    });
  });
  const bound = front.address() as net.AddressInfo;
  opts.log.info("tap server listening", {
    addr: opts.listenAddr,
    identity: opts.svcName,
  });
  let closing: Promise<void> | undefined;
  return {
    host: bound.address,
    port: bound.port,
    close: () =>
      closing ??= (async () => {
        const closed = new Promise<void>((r) => front.close(() => r()));
        for (const s of sockets) s.destroy();
        grpcServer.forceShutdown();
        await closed;
        await Deno.remove(dir, { recursive: true }).catch(() => {});
      })(),
  };
}

function splitAddr(addr: string): { host: string; port: number } {
  const i = addr.lastIndexOf(":");
  return {
    host: addr.slice(0, i).replace(/^\[|\]$/g, ""),
    port: Number(addr.slice(i + 1)),
  };
}

/** One `Observe` call: a tap until its limit, or until the client leaves. */
function observe(
  opts: TapServerOptions,
  call: grpc.ServerWritableStream<ObserveRequestMsg, TapEventObject>,
): void {
  let spec;
  try {
    spec = tapSpecOf(call.request);
  } catch (err) {
    call.emit("error", {
      code: grpc.status.INVALID_ARGUMENT,
      details: (err as Error).message,
    });
    return;
  }
  const tap = opts.taps.add(
    new Tap({
      ...spec,
      emit: (ev) => {
        if (!call.cancelled && !call.writableEnded) call.write(ev);
      },
      onFinished: () => {
        if (!call.writableEnded) call.end();
      },
    }),
  );
  call.on("cancelled", () => tap.close());
  call.on("close", () => tap.close());
}
