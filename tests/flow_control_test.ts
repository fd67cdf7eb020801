/**
 * Backpressure end to end: a client that stops reading stops the backend's
 * writes (after bounded buffering), over HTTP/1.1 and HTTP/2 downstream.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import net from "node:net";
import { settled, until } from "./support/backend.ts";
import { servicesYaml, startPetrel } from "./support/petrel.ts";

/** Bytes the backend may have written while the client reads nothing. */
const BOUND = 24 * 1024 * 1024;

/** An HTTP/1.1 backend streaming an endless chunked body, writing only while the socket drains. */
async function startFirehose() {
  let written = 0;
  const sockets = new Set<net.Socket>();
  const chunk = new Uint8Array(64 * 1024).fill(120);
  const head = `${chunk.length.toString(16)}\r\n`;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("error", () => {});
    socket.once("close", () => sockets.delete(socket));
    socket.once("data", () => {
      socket.write("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n");
      const pump = () => {
        while (!socket.destroyed) {
          written += chunk.length;
          socket.write(head);
          socket.write(chunk);
          if (!socket.write("\r\n")) {
            socket.once("drain", pump);
            return;
          }
        }
      };
      pump();
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get written() {
      return written;
    },
    close() {
      for (const s of sockets) s.destroy();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

Deno.test("flow control: an HTTP/1 client that stops reading stops the backend", async () => {
  const backend = await startFirehose();
  const petrel = await startPetrel(servicesYaml({
    "hose.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  const socket = net.connect({ host: "127.0.0.1", port: petrel.port });
  socket.on("error", () => {});
  try {
    let received = 0;
    let stall = true;
    socket.on("data", (c) => {
      received += c.length;
      if (stall && received > 1024 * 1024) socket.pause(); // read 1 MiB, then stop
    });
    socket.write("GET /hose HTTP/1.1\r\nHost: hose.test\r\n\r\n");
    await until(() => received > 1024 * 1024);
    // The backend is held back: its writes stop (after bounded buffering).
    const stalled = await settled(
      () => backend.written,
      "the backend's writes",
    );
    assert.ok(
      stalled < BOUND,
      `backend wrote ${stalled} bytes to a stalled client`,
    );
    stall = false;
    socket.resume(); // reading again lets the backend go on
    await until(() => backend.written > stalled + 4 * 1024 * 1024);
    assert.ok(backend.written > stalled, "the backend resumed");
  } finally {
    socket.destroy();
    await petrel.close();
    await backend.close();
  }
});

Deno.test("flow control: an HTTP/2 stream that stops reading stops the backend", async () => {
  const backend = await startFirehose();
  const petrel = await startPetrel(servicesYaml({
    "hose.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  const session = http2.connect(`http://${petrel.addr}`);
  session.on("error", () => {});
  try {
    const stream = session.request({
      ":path": "/hose",
      ":authority": "hose.test",
    });
    stream.on("error", () => {});
    let received = 0;
    let stall = true;
    stream.on("data", (c: Uint8Array) => {
      received += c.length;
      if (stall && received > 1024 * 1024) stream.pause();
    });
    await until(() => received > 1024 * 1024);
    // The backend is held back: its writes stop (after bounded buffering).
    const stalled = await settled(
      () => backend.written,
      "the backend's writes",
    );
    assert.ok(
      stalled < BOUND,
      `backend wrote ${stalled} bytes to a stalled stream`,
    );
    stall = false;
    stream.resume();
    await until(() => backend.written > stalled + 4 * 1024 * 1024);
    assert.ok(backend.written > stalled, "the backend resumed");
    stream.close(http2.constants.NGHTTP2_CANCEL);
  } finally {
    session.destroy();
    await petrel.close();
    await backend.close();
  }
});
