/**
 * The per-connection cost of reading a connection's original destination
 * (linkerd `OrigDstAddr`): the fd from node:net (a dup), one getsockopt
 * through Deno FFI into preallocated buffers, closing the dup, decoding
 * the sockaddr. Goal: under 2 µs per call. Measured here (2-core VM, where
 * one syscall costs ~210 ns and an FFI call without one ~15 ns): ~3.1 µs
 * not redirected, ~3.4 µs redirected, of which `fdForIpc()` + close ~1.5 µs
 * and getsockopt ~0.9 µs. (The shared probe's 2.4 µs never closed its dups;
 * an earlier run of this bench that did not either ran out of fds and
 * measured the failure path.)
 *
 *   deno bench -A bench/orig_dst_bench.ts
 *
 * On a plain loopback connection getsockopt fails (no NAT entry), which is
 * what every explicit-proxy connection pays. For the redirected case run it
 * where a redirect exists: `ORIG_DST_BENCH_DIAL=10.79.1.2:8080` dials that
 * address and expects a rule redirecting it to :4143, e.g. in a network
 * namespace with `nft add rule ip nat output tcp dport 8080 redirect to
 * :4143` (see tests/support/pod.ts).
 */
import net from "node:net";
import {
  closeFd,
  decodeSockaddr,
  originalDst,
  socketFd,
} from "../src/transport/orig_dst.ts";

const dial = Deno.env.get("ORIG_DST_BENCH_DIAL");
const server = net.createServer();
await new Promise<void>((r) =>
  server.listen(dial ? 4143 : 0, dial ? "0.0.0.0" : "127.0.0.1", r)
);
const { port } = server.address() as net.AddressInfo;
const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
const [host, dialPort] = dial ? dial.split(":") : ["127.0.0.1", String(port)];
const client = net.connect(Number(dialPort), host);
const socket = await accepted;
server.close();
const expected = dial ? "redirected" : "not redirected";
const od = originalDst(socket);
if ((od !== undefined) !== (dial !== undefined)) {
  throw new Error(
    `expected a ${expected} connection, got ${JSON.stringify(od)}`,
  );
}

Deno.bench(`originalDst() of a ${expected} connection`, () => {
  originalDst(socket);
});

// fdForIpc() duplicates the fd: the dup must be closed again.
Deno.bench("socketFd() + closeFd() (node:net private fd, a dup)", () => {
  closeFd(socketFd(socket)!);
});

const sockaddr = new Uint8Array(28);
sockaddr.set([2, 0, 0x1f, 0x90, 10, 79, 1, 2]);
Deno.bench("decodeSockaddr() of a sockaddr_in", () => {
  decodeSockaddr(sockaddr);
});

globalThis.addEventListener("unload", () => {
  client.destroy();
  socket.destroy();
});
