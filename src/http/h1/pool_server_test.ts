import assert from "node:assert/strict";
import net from "node:net";
import {
  type BodySink,
  bytesBody,
  type HttpService,
  readBody,
} from "../message.ts";
import { H1Pool } from "./pool.ts";
import {
  delay,
  RawClient,
  RawServer,
  request,
  startServer,
  streamBody,
} from "./_test_util.ts";

function connectTo(port: number): () => Promise<net.Socket> {
  return () =>
    new Promise((resolve, reject) => {
      const s = net.connect(port, "127.0.0.1");
      s.once("connect", () => {
        s.removeListener("error", reject);
        resolve(s);
      });
      s.once("error", reject);
    });
}

/** Reads a body, checking every byte is "x" (streamBody's filler). */
function drain(
  body: import("../message.ts").Body,
): Promise<{ bytes: number; trailers: unknown }> {
  return new Promise((resolve, reject) => {
    let bytes = 0;
    const sink: BodySink = {
      data(c) {
        for (let i = 0; i < c.length; i += 4096) {
          if (c[i] !== 120) reject(new Error(`corrupt byte at ${bytes + i}`));
        }
        bytes += c.length;
      },
      end(trailers) {
        resolve({ bytes, trailers });
      },
      error: reject,
    };
    body.start(sink);
  });
}

Deno.test("H1Pool <-> serveH1 round trip streams 10 MiB both ways", async () => {
  // The backend echoes the request body as the response body, streaming.
  const backend = await startServer((req) =>
    Promise.resolve({ status: 200, headers: { "x-echo": "1" }, body: req.body })
  );
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  try {
    const total = 10 << 20;
    const chunked = streamBody(total, {
      chunked: true,
      chunkBytes: 50000,
      trailers: { "x-t": "1" },
    });
    const res = await pool.request(
      request("/echo", { method: "POST", body: chunked.body }),
    );
    assert.equal(res.status, 200);
    assert.equal(res.headers["x-echo"], "1");
    assert.equal(res.body?.length, undefined);
    const got = await drain(res.body!);
    assert.equal(got.bytes, total);
    assert.deepEqual(got.trailers, { "x-t": "1" });

    const sized = streamBody(total, { chunkBytes: 65536 });
    const res2 = await pool.request(
      request("/echo", { method: "PUT", body: sized.body }),
    );
    assert.equal(res2.body?.length, total);
    assert.equal((await drain(res2.body!)).bytes, total);
  } finally {
    pool.close();
    await backend.close();
  }
});

/** A proxy: serveH1 downstream, H1Pool upstream (the outbound HTTP/1 path). */
function proxyService(pool: H1Pool): HttpService {
  return function proxy(req) {
    return pool.request(req);
  };
}

Deno.test("client -> serveH1 -> H1Pool -> serveH1 keeps both sides alive", async () => {
  const backend = await startServer(async (req) => {
    const { bytes } = await readBody(req.body);
    return {
      status: 200,
      headers: { "x-path": req.path },
      body: bytesBody(
        `${req.method} ${req.authority}${req.path} ${bytes.length}`,
      ),
    };
  });
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  const proxy = await startServer(proxyService(pool));
  const c = await RawClient.connect(proxy.port);
  try {
    for (let i = 0; i < 100; i++) {
      c.write(
        i % 2 === 0
          ? `GET /g${i} HTTP/1.1\r\nHost: svc:80\r\n\r\n`
          : `POST /p${i} HTTP/1.1\r\nHost: svc:80\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n`,
      );
      const r = await c.readResponse();
      assert.equal(r.status, 200);
      assert.equal(
        r.body,
        i % 2 === 0 ? `GET svc:80/g${i} 0` : `POST svc:80/p${i} 3`,
      );
    }
    assert.equal(backend.conns.length, 1, "the pool reused one connection");
    assert.equal(proxy.conns.length, 1);
  } finally {
    await c.close();
    await proxy.close();
    pool.close();
    await backend.close();
  }
});

Deno.test("client -> serveH1 -> H1Pool -> backend carries a WebSocket-style upgrade", async () => {
  const backend = await RawServer.start((req, conn) => {
    assert.match(req.head, /upgrade: websocket/);
    conn.socket.removeAllListeners("data");
    conn.write(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello-from-backend|",
    );
    conn.socket.on("data", (d) => conn.write(`echo:${d}|`));
    conn.socket.on("end", () => conn.socket.end("bye|"));
  });
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  const proxy = await startServer(proxyService(pool));
  const c = await RawClient.connect(proxy.port);
  try {
    c.write(
      "GET /ws HTTP/1.1\r\nHost: svc\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Key: k\r\n\r\n",
    );
    const r = await c.readResponse();
    assert.equal(r.status, 101);
    assert.equal(r.headers["upgrade"], "websocket");
    assert.equal(r.headers["connection"], "upgrade");
    assert.equal(
      await c.readBytes("hello-from-backend|".length),
      "hello-from-backend|",
    );
    c.write("ping");
    assert.equal(await c.readBytes("echo:ping|".length), "echo:ping|");
    // Half-close: our FIN reaches the backend, its answer still comes back.
    c.socket.end();
    assert.equal(await c.readToEnd(), "bye|");
    await c.closed;
    await proxy.conns[0]!.closed;
  } finally {
    await c.close();
    await proxy.close();
    pool.close();
    await backend.close();
  }
});

Deno.test("client -> serveH1 -> H1Pool -> backend tunnels CONNECT, early bytes included", async () => {
  const backend = await RawServer.start((_req, conn) => {
    conn.socket.removeAllListeners("data");
    conn.write("HTTP/1.1 200 Connection Established\r\n\r\n");
    conn.socket.on("data", (d) => conn.write(d));
  });
  const pool = new H1Pool("backend", { connect: connectTo(backend.port) });
  const proxy = await startServer(async (req) => {
    await delay(20); // let the client's early tunnel bytes arrive first
    return pool.request(req);
  });
  const c = await RawClient.connect(proxy.port);
  try {
    c.write("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\nEARLY");
    const r = await c.readResponse({ head: true });
    assert.equal(r.status, 200);
    assert.equal(r.headers["content-length"], undefined);
    assert.equal(await c.readBytes(5), "EARLY");
    c.write("more");
    assert.equal(await c.readBytes(4), "more");
  } finally {
    await c.close();
    await proxy.conns[0]?.closed;
    await proxy.close();
    pool.close();
    await backend.close();
  }
});
