import assert from "node:assert/strict";
import net from "node:net";
import {
  closeFd,
  decodeSockaddr,
  formatIpv6,
  origDstSupport,
  originalDst,
  socketFd,
  sockName,
} from "./orig_dst.ts";

/** Accepts one loopback connection and hands both ends to `fn`. */
async function withAccepted(
  host: string,
  fn: (accepted: net.Socket, client: net.Socket) => void,
): Promise<void> {
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, host, r));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect(port, host);
  const socket = await accepted;
  try {
    fn(socket, client);
  } finally {
    const closed = new Promise((r) => socket.once("close", r));
    client.destroy();
    socket.destroy();
    await closed;
    await new Promise((r) => server.close(r));
  }
}

Deno.test("socketFd() is the accepted socket's own fd (Deno private API: _handle.fdForIpc)", async () => {
  assert.deepEqual(origDstSupport(), { ok: true });
  await withAccepted("127.0.0.1", (socket) => {
    const fd = socketFd(socket);
    assert.ok(
      fd !== undefined,
      "node:net socket._handle.fdForIpc() no longer returns an fd: Deno changed its private API; SO_ORIGINAL_DST needs another way to the fd",
    );
    // getsockname on that fd names exactly this socket's local address.
    assert.deepEqual(sockName(fd), {
      host: "127.0.0.1",
      port: socket.localPort,
      family: 4,
    });
    closeFd(fd);
  });
  await withAccepted("::1", (socket) => {
    const fd = socketFd(socket)!;
    assert.deepEqual(sockName(fd), {
      host: "::1",
      port: socket.localPort,
      family: 6,
    });
    closeFd(fd);
  });
});

function openFds(): number {
  return [...Deno.readDirSync("/proc/self/fd")].length;
}

Deno.test("originalDst() leaks no fd: a destroyed socket closes its connection", async () => {
  // fdForIpc() returns a dup; one left open would keep the TCP connection
  // open after destroy() (seen with the first version of this module).
  const server = net.createServer();
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as net.AddressInfo;
  const accepted = new Promise<net.Socket>((r) => server.once("connection", r));
  const client = net.connect(port, "127.0.0.1");
  client.on("error", () => {});
  const socket = await accepted;
  const before = openFds();
  for (let i = 0; i < 1000; i++) originalDst(socket);
  assert.equal(openFds(), before, "every duplicated fd was closed");
  const clientClosed = new Promise<void>((r) =>
    client.once("close", () => r())
  );
  socket.destroy();
  const timer = setTimeout(() => client.destroy(new Error("not closed")), 2000);
  await clientClosed;
  clearTimeout(timer);
  assert.equal(client.errored, null, "the client saw the server close");
  await new Promise((r) => server.close(r));
});

Deno.test("originalDst() is undefined for a connection that was not redirected", async () => {
  await withAccepted("127.0.0.1", (socket) => {
    assert.equal(originalDst(socket), undefined);
  });
  await withAccepted("::1", (socket) => {
    assert.equal(originalDst(socket), undefined);
  });
});

Deno.test("decodeSockaddr() reads sockaddr_in and sockaddr_in6", () => {
  const v4 = new Uint8Array(28);
  v4.set([2, 0, 0x1f, 0x90, 10, 79, 1, 2]);
  assert.deepEqual(decodeSockaddr(v4), {
    host: "10.79.1.2",
    port: 8080,
    family: 4,
  });
  const v6 = new Uint8Array(28);
  v6.set([10, 0, 0, 80]);
  v6.set([0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 8);
  assert.deepEqual(decodeSockaddr(v6), {
    host: "fd00::2",
    port: 80,
    family: 6,
  });
  const mapped = new Uint8Array(28);
  mapped.set([10, 0, 0, 80]);
  mapped.set([0xff, 0xff, 10, 0, 0, 1], 18);
  assert.deepEqual(decodeSockaddr(mapped), {
    host: "10.0.0.1",
    port: 80,
    family: 4,
  });
  assert.equal(decodeSockaddr(new Uint8Array(28)), undefined);
});

Deno.test("formatIpv6() writes RFC 5952 text", () => {
  assert.equal(formatIpv6([0, 0, 0, 0, 0, 0, 0, 1]), "::1");
  assert.equal(formatIpv6([0xfd00, 0, 0, 0, 0, 0, 0, 0]), "fd00::");
  assert.equal(formatIpv6([1, 0, 2, 0, 0, 3, 0, 0]), "1:0:2::3:0:0");
  assert.equal(formatIpv6([1, 0, 0, 2, 0, 0, 3, 4]), "1::2:0:0:3:4");
  assert.equal(formatIpv6([1, 2, 3, 4, 5, 6, 0, 8]), "1:2:3:4:5:6:0:8");
});
