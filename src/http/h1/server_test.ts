import assert from "node:assert/strict";
import net from "node:net";
import { bytesBody, type HttpRequest, readBody } from "../message.ts";
import {
  CountingSink,
  delay,
  echoService,
  RawClient,
  settled,
  startServer,
  streamBody,
  text,
  waitFor,
} from "./_test_util.ts";

Deno.test("serveH1() keeps an HTTP/1.1 connection alive and builds the request", async () => {
  const seen: HttpRequest[] = [];
  const srv = await startServer(echoService(seen));
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "GET /a?x=1 HTTP/1.1\r\nHost: svc.example:80\r\nX-Custom: One\r\n" +
        "Connection: keep-alive, X-Hop\r\nX-Hop: drop\r\nKeep-Alive: 5\r\n" +
        "Cookie: a=1\r\nCookie: b=2\r\nTE: trailers\r\n\r\n",
    );
    const r1 = await c.readResponse();
    assert.equal(r1.status, 200);
    assert.equal(r1.version, "HTTP/1.1");
    assert.equal(r1.body, "GET svc.example:80 /a?x=1 ");
    assert.equal(r1.headers["content-length"], String(r1.body.length));
    assert.equal(r1.headers["connection"], undefined);
    c.write("POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc");
    const r2 = await c.readResponse();
    assert.equal(r2.body, "POST h /b abc");

    const req = seen[0]!;
    assert.equal(req.scheme, "http");
    assert.equal(req.version, "HTTP/1.1");
    assert.deepEqual(req.headers, {
      "x-custom": "One",
      cookie: ["a=1", "b=2"],
      te: "trailers",
    });
    assert.equal(req.body, null);
    assert.equal(req.ext.client?.addr.startsWith("127.0.0.1:"), true);
    assert.equal(typeof req.ext.startMs, "number");
    assert.equal(req.ext.absoluteForm, undefined);
    assert.equal(seen[1]!.body?.length, 3);
    assert.equal(srv.conns.length, 1, "one connection served both");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() serves pipelined requests in order from one write", async () => {
  const srv = await startServer(async (req) => {
    // The first request is the slowest: answers must still come in order.
    if (req.path === "/1") await delay(30);
    const { bytes } = await readBody(req.body);
    return text(`${req.path}:${bytes.length}`);
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "GET /1 HTTP/1.1\r\nHost: a\r\n\r\n" +
        "POST /2 HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nwxyz" +
        "POST /3 HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n" +
        "GET /4 HTTP/1.1\r\nHost: a\r\n\r\n",
    );
    const bodies = [];
    for (let i = 0; i < 4; i++) bodies.push((await c.readResponse()).body);
    assert.deepEqual(bodies, ["/1:0", "/2:4", "/3:2", "/4:0"]);
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() sends 100 Continue when the body is first read", async () => {
  let started = false;
  const srv = await startServer(async (req) => {
    assert.equal(req.headers["expect"], undefined);
    if (req.path === "/ignore") return text("no body read");
    await delay(20);
    started = true;
    const { bytes } = await readBody(req.body);
    return text(`got ${bytes.length}`);
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "PUT /up HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const cont = await c.readResponse();
    assert.equal(cont.status, 100);
    assert.equal(started, true, "100 only once the service reads the body");
    c.write("hello");
    assert.equal((await c.readResponse()).body, "got 5");

    // A service that answers without reading: no 100, and the unread body
    // makes the server close after the response.
    c.write(
      "PUT /ignore HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n",
    );
    const r = await c.readResponse();
    assert.equal(r.status, 200);
    assert.equal(r.headers["connection"], "close");
    assert.equal(await c.readToEnd(), "");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() echoes a chunked request body with its trailers", async () => {
  const srv = await startServer(async (req) => {
    const { bytes, trailers } = await readBody(req.body);
    assert.equal(req.body?.length, undefined);
    return { status: 200, headers: {}, body: streamEcho(bytes, trailers) };
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write(
      "POST /e HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTrailer: x-sum\r\n\r\n" +
        "4;ext=1\r\nwiki\r\n5\r\npedia\r\n0\r\nX-Sum: 42\r\nX-Multi: a\r\nx-multi: b\r\n\r\n",
    );
    const r = await c.readResponse();
    assert.equal(r.headers["transfer-encoding"], "chunked");
    assert.equal(r.body, "wikipedia");
    assert.deepEqual(r.trailers, { "x-sum": "42", "x-multi": ["a", "b"] });
  } finally {
    await c.close();
    await srv.close();
  }
});

/** A body of unknown length (so chunked) carrying `trailers`. */
function streamEcho(
  bytes: Uint8Array,
  trailers: Record<string, string | string[]> | undefined,
) {
  return { ...bytesBody(bytes, trailers), length: undefined };
}

Deno.test("serveH1() HEAD gets the length but never a body", async () => {
  const srv = await startServer((req) => {
    if (req.path === "/null") {
      return Promise.resolve({
        status: 200,
        headers: { "content-length": "42" },
        body: null,
      });
    }
    return Promise.resolve(text("0123456789"));
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("HEAD /x HTTP/1.1\r\nHost: a\r\n\r\n");
    const r = await c.readResponse({ head: true });
    assert.equal(r.headers["content-length"], "10");
    c.write("HEAD /null HTTP/1.1\r\nHost: a\r\n\r\n");
    const r2 = await c.readResponse({ head: true });
    assert.equal(r2.headers["content-length"], "42");
    // The next response starts right away: no body bytes were sent.
    c.write("GET /x HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal((await c.readResponse()).body, "0123456789");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() HTTP/1.0: close by default, keep-alive on request, close-delimited streams", async () => {
  const srv = await startServer((req) => {
    if (req.path === "/stream") {
      return Promise.resolve({
        status: 200,
        headers: {},
        body: streamBody(1000, { chunkBytes: 300, chunked: true }).body,
      });
    }
    return Promise.resolve(text(`v=${req.version}`));
  });
  try {
    const a = await RawClient.connect(srv.port);
    a.write("GET / HTTP/1.0\r\n\r\n");
    const r = await a.readResponse();
    assert.equal(r.version, "HTTP/1.0");
    assert.equal(r.body, "v=HTTP/1.0");
    assert.equal(r.headers["connection"], undefined);
    assert.equal(await a.readToEnd(), "");
    await a.close();

    const b = await RawClient.connect(srv.port);
    b.write("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const rb = await b.readResponse();
    assert.equal(rb.headers["connection"], "keep-alive");
    b.write("GET /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    const rs = await b.readResponse();
    assert.equal(rs.headers["transfer-encoding"], undefined);
    assert.equal(rs.headers["content-length"], undefined);
    assert.equal(rs.body.length, 1000);
    await b.close();
  } finally {
    await srv.close();
  }
});

Deno.test("serveH1() response framing: null, 204, 304, chunked, closeConnection", async () => {
  const srv = await startServer((req) => {
    switch (req.path) {
      case "/null":
        return Promise.resolve({ status: 200, headers: {}, body: null });
      case "/204":
        return Promise.resolve({
          status: 204,
          headers: { "content-length": "5", "transfer-encoding": "chunked" },
          body: null,
        });
      case "/304":
        return Promise.resolve({
          status: 304,
          headers: { "content-length": "7", etag: "x" },
          body: null,
        });
      case "/chunked":
        return Promise.resolve({
          status: 200,
          headers: { "content-length": "999", connection: "keep-alive" },
          body: streamBody(70000, { chunked: true, chunkBytes: 20000 }).body,
        });
      default:
        return Promise.resolve({
          ...text("bye"),
          closeConnection: true,
        });
    }
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET /null HTTP/1.1\r\nHost: a\r\n\r\n");
    const n = await c.readResponse();
    assert.equal(n.headers["content-length"], "0");
    c.write("GET /204 HTTP/1.1\r\nHost: a\r\n\r\n");
    const r204 = await c.readResponse();
    assert.equal(r204.status, 204);
    assert.equal(r204.headers["content-length"], undefined);
    assert.equal(r204.headers["transfer-encoding"], undefined);
    c.write("GET /304 HTTP/1.1\r\nHost: a\r\n\r\n");
    const r304 = await c.readResponse();
    assert.equal(r304.headers["content-length"], "7");
    c.write("GET /chunked HTTP/1.1\r\nHost: a\r\n\r\n");
    const ch = await c.readResponse();
    assert.equal(ch.headers["content-length"], undefined);
    assert.equal(ch.headers["transfer-encoding"], "chunked");
    assert.equal(ch.body.length, 70000);
    c.write("GET /close HTTP/1.1\r\nHost: a\r\n\r\n");
    const cl = await c.readResponse();
    assert.equal(cl.headers["connection"], "close");
    assert.equal(await c.readToEnd(), "");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() drain(): idle closes now, busy finishes with connection: close", async () => {
  const release = Promise.withResolvers<void>();
  const slowArrived = Promise.withResolvers<void>();
  const srv = await startServer(async (req) => {
    if (req.path === "/slow") {
      slowArrived.resolve();
      await release.promise;
    }
    return text("done");
  });
  try {
    const idle = await RawClient.connect(srv.port);
    idle.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await idle.readResponse();
    srv.conns[0]!.drain();
    assert.equal(await idle.readToEnd(), "");
    await srv.conns[0]!.closed;
    await idle.close();

    const busy = await RawClient.connect(srv.port);
    busy.write("GET /slow HTTP/1.1\r\nHost: a\r\n\r\n");
    await slowArrived.promise;
    srv.conns[1]!.drain();
    release.resolve();
    const r = await busy.readResponse();
    assert.equal(r.body, "done");
    assert.equal(r.headers["connection"], "close");
    assert.equal(await busy.readToEnd(), "");
    await srv.conns[1]!.closed;
    await busy.close();
  } finally {
    await srv.close();
  }
});

Deno.test("serveH1() ext.client.close() closes after the current response", async () => {
  const srv = await startServer((req) => {
    req.ext.client!.close();
    return Promise.resolve(text("x"));
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    const r = await c.readResponse();
    assert.equal(r.headers["connection"], "close");
    assert.equal(await c.readToEnd(), "");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() request body backpressure pauses the socket", async () => {
  const sink = new CountingSink();
  const started = Promise.withResolvers<HttpRequest>();
  const srv = await startServer(async (req) => {
    started.resolve(req);
    await sink.ended;
    return text(`read ${sink.bytes}`);
  });
  const c = await RawClient.connect(srv.port);
  try {
    const total = 8 << 20;
    c.write(`POST / HTTP/1.1\r\nHost: a\r\nContent-Length: ${total}\r\n\r\n`);
    const req = await started.promise;
    const server = srv.sockets[0]!;
    // The whole body at once. Loopback buffers may take all of it, so the
    // server's side tells whether it stopped reading.
    c.socket.write(new Uint8Array(total));
    await waitFor(() => server.isPaused(), "the server pauses its socket");
    const readWhilePaused = await settled(
      () => server.bytesRead,
      "bytes read by a paused server",
    );
    assert.ok(
      readWhilePaused < 1 << 20,
      `read ${readWhilePaused} bytes before the body was started`,
    );
    assert.equal(sink.bytes, 0);
    req.body!.start(sink);
    const r = await c.readResponse();
    assert.equal(r.body, `read ${total}`);
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() response body backpressure pauses the body", async () => {
  const big = streamBody(64 << 20, { chunkBytes: 65536 });
  const srv = await startServer(() =>
    Promise.resolve({ status: 200, headers: {}, body: big.body })
  );
  const c = await RawClient.connect(srv.port);
  try {
    c.socket.pause();
    c.write("GET / HTTP/1.1\r\nHost: a\r\n\r\n");
    await waitFor(() => big.stats.pauses > 0, "the body pauses");
    // Production stops while nobody reads (it never reaches the 64 MiB).
    const produced = await settled(
      () => big.stats.produced,
      "a paused body's production",
    );
    assert.ok(produced < 16 << 20, `produced ${produced} while nobody read`);
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() processes the initial bytes from protocol detection", async () => {
  const server = net.createServer();
  const conns: Promise<void>[] = [];
  const { serveH1 } = await import("./server.ts");
  server.on("connection", (s) => {
    s.once("data", (first: Uint8Array) => {
      s.pause();
      const c = serveH1(s, first, {
        clientAddr: "t",
        service: echoService(),
      });
      conns.push(c.closed);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const c = await RawClient.connect(port);
  try {
    c.write("GET /first HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal((await c.readResponse()).body, "GET a /first ");
    c.write("GET /second HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal((await c.readResponse()).body, "GET a /second ");
  } finally {
    await c.close();
    await Promise.all(conns);
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("serveH1() absolute-form, CONNECT and OPTIONS * requests", async () => {
  const seen: HttpRequest[] = [];
  const srv = await startServer((req) => {
    seen.push(req);
    return Promise.resolve({
      status: req.method === "CONNECT" ? 403 : 200,
      headers: {},
      body: null,
    });
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET http://svc.ns:8080/p?q HTTP/1.1\r\nHost: ignored\r\n\r\n");
    await c.readResponse();
    c.write("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n");
    await c.readResponse();
    c.write("CONNECT db:5432 HTTP/1.1\r\nHost: db:5432\r\n\r\n");
    const r = await c.readResponse();
    assert.equal(r.status, 403);
    assert.equal(r.headers["connection"], "close", "a refused CONNECT closes");
    await c.readToEnd();
    assert.equal(seen[0]!.authority, "svc.ns:8080");
    assert.equal(seen[0]!.path, "/p?q");
    assert.equal(seen[0]!.ext.absoluteForm, true);
    assert.equal(seen[1]!.path, "*");
    assert.equal(seen[2]!.authority, "db:5432");
    assert.equal(seen[2]!.path, "");
    assert.equal(seen[2]!.ext.upgrade, true);
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() treats EOF before the response as a cancel (hyper h1_half_close=false)", async () => {
  let signal: AbortSignal | undefined;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const srv = await startServer(async (req) => {
    signal = req.ext.signal;
    // Answer once canceled (or, if the EOF were ignored, after 5 s).
    await new Promise<void>((r) => {
      timer = setTimeout(r, 5000);
      signal!.addEventListener("abort", () => r(), { once: true });
    });
    clearTimeout(timer);
    return text(`late ${req.path}`);
  });
  const c = await RawClient.connect(srv.port);
  try {
    c.socket.end("GET /hc HTTP/1.1\r\nHost: a\r\n\r\n");
    assert.equal(await c.readToEnd(), "");
    await c.closed;
    assert.equal(signal?.aborted, true, "the request was canceled");
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() keeps obs-text header bytes as they are", async () => {
  const srv = await startServer((req) =>
    Promise.resolve({
      status: 200,
      headers: { "x-back": req.headers["x-latin"]! },
      body: null,
    })
  );
  const c = await RawClient.connect(srv.port);
  try {
    c.write("GET / HTTP/1.1\r\nHost: a\r\nX-Latin: caf\xe9 \xff\r\n\r\n");
    const r = await c.readResponse();
    assert.equal(r.headers["x-back"], "caf\xe9 \xff");
  } finally {
    await c.close();
    await srv.close();
  }
});
