/**
 * Dialing the target of an opaque TCP forward (linkerd `out/opaq`): the
 * target is resolved like any service; an endpoint that is a meshed proxy
 * with an identity is reached over mTLS with ALPN `transport.l5d.io/v1`
 * and linkerd's transport header naming the original port (reference §9.4),
 * anything else directly.
 *
 * @module
 */
import type net from "node:net";
import type { EndpointMeta } from "../discovery/resolve.ts";
import { connectTls } from "../tls/client.ts";
import { connectTcp } from "../transport/connect.ts";
import { splitHostPort } from "../addr/socket_addr.ts";
import {
  encodeTransportHeader,
  TRANSPORT_ALPN,
} from "../transport/transport_header.ts";
import type { OutboundCtx } from "./runtime.ts";

/** Opens the upstream connection for an opaque forward to `target` ("host:port"). */
export type OpaqueDialer = (target: string) => Promise<net.Socket>;

/** Builds the opaque dialer for an outbound runtime. */
export function newOpaqueDialer(ctx: OutboundCtx): OpaqueDialer {
  const timeoutMs = ctx.settings.connectTimeoutMs;
  const connectSocket = ctx.settings.connectSocket;
  return async function dialOpaque(target) {
    let endpoints: readonly EndpointMeta[] = [];
    try {
      endpoints = (await ctx.discovery.resolve(target)).get().endpoints;
    } catch {
      // Unknown to discovery: dial the name as given (DNS in connect).
    }
    if (endpoints.length === 0) {
      const { host, port } = splitHostPort(target);
      return connectTcp(host, port, { timeoutMs, socket: connectSocket });
    }
    const ep = endpoints[Math.floor(ctx.random() * endpoints.length)]!;
    const gateway = ep.authorityOverride;
    if (
      ep.identity === undefined ||
      !(ep.meshed || ep.opaqueTransportPort || gateway !== undefined)
    ) {
      return connectTcp(ep.host, ep.port, { timeoutMs, socket: connectSocket });
    }
    // From the Destination API the endpoint is the app port and the proxy
    // listens on `opaqueTransportPort`; a YAML `meshed` endpoint is the peer
    // proxy itself, and port 0 in the header means its application port.
    const tagged = ep.opaqueTransportPort !== undefined;
    const socket = await connectTls(
      ep.host,
      tagged ? ep.opaqueTransportPort! : ep.port,
      {
        serverId: ep.identity,
        identity: ctx.tls?.identity,
        timeoutMs,
        socket: connectSocket,
        alpn: [TRANSPORT_ALPN],
        observer: ctx.tls?.observer,
      },
    );
    // A peer that did not take the ALPN gets the plain bytes (linkerd).
    // A gateway (authority_override) gets the override's port and name
    // (linkerd `TaggedTransport`: the endpoint is the gateway's inbound).
    if (socket.alpnProtocol === TRANSPORT_ALPN) {
      const i = gateway?.lastIndexOf(":") ?? -1;
      socket.write(encodeTransportHeader(
        gateway !== undefined && i > 0
          ? { port: Number(gateway.slice(i + 1)), name: gateway.slice(0, i) }
          : { port: tagged ? ep.port : 0 },
      ));
    }
    return socket;
  };
}
