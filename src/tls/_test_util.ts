/**
 * Test doubles for the TLS tests: a `net` server that terminates TLS with
 * {@linkcode TlsTerminator} and echoes, and a recording observer.
 *
 * @module
 */
import net from "node:net";
import type { TlsFailureReason, TlsObserver } from "./errors.ts";
import { type Credentials, loadCredentials } from "./credentials.ts";
import { LocalIdentity } from "./identity.ts";
import { type TlsAccepted, TlsTerminator } from "./server.ts";
import type { Leaf } from "../../tests/support/certs.ts";

/** An observer that records every outcome as "direction:ok" / "direction:reason". */
export class RecordingObserver implements TlsObserver {
  readonly events: string[] = [];
  handshake(direction: "outbound" | "inbound"): void {
    this.events.push(`${direction}:ok`);
  }
  failure(direction: "outbound" | "inbound", reason: TlsFailureReason): void {
    this.events.push(`${direction}:${reason}`);
  }
}

/** Fixed credentials for `leaf` trusting `anchorFile`. */
export async function credsOf(
  leaf: Leaf,
  anchorFile: string,
): Promise<Credentials> {
  return await loadCredentials({
    certFile: leaf.certFile,
    keyFile: leaf.keyFile,
    trustAnchorsFile: anchorFile,
  });
}

/** A fixed identity for `leaf`. */
export async function fixedIdentity(
  leaf: Leaf,
  anchorFile: string,
): Promise<LocalIdentity> {
  return LocalIdentity.fixed(await credsOf(leaf, anchorFile));
}

/** A TLS echo server built on {@linkcode TlsTerminator}. */
export interface TlsEchoServer extends AsyncDisposable {
  readonly port: number;
  /** Every accepted handshake, in order. */
  readonly accepted: TlsAccepted[];
  /** Every rejected handshake's error. */
  readonly errors: Error[];
}

/** Starts a server on 127.0.0.1:0 that terminates TLS and echoes bytes back. */
export async function startTlsEcho(
  identity: LocalIdentity,
  observer?: TlsObserver,
): Promise<TlsEchoServer> {
  const terminator = new TlsTerminator({
    identity,
    observer,
    handshakeTimeoutMs: 2000,
  });
  const accepted: TlsAccepted[] = [];
  const errors: Error[] = [];
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
    terminator.accept(socket, new Uint8Array(0)).then((a) => {
      accepted.push(a);
      sockets.add(a.socket);
      a.socket.on("error", () => {});
      a.socket.once("close", () => sockets.delete(a.socket));
      a.socket.on("data", (d) => a.socket.write(d));
      a.socket.on("end", () => a.socket.end());
    }, (err) => errors.push(err));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    accepted,
    errors,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
