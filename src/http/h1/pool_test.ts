import assert from "node:assert/strict";
import net from "node:net";
import { causeOf, EndpointIoError } from "../../errors.ts";
import {
  type BodySink,
  bytesBody,
  type HeaderMap,
  readBody,
} from "../message.ts";
import { H1Pool } from "./pool.ts";
import {
  CountingSink,
  delay,
  RawServer,
  request,
  streamBody,
} from "./_test_util.ts";

const ok = (body: string, extra = "") =>
  `HTTP/1.1 200 OK\r\ncontent-length: ${body.length}\r\n${extra}\r\n${body}`;

Deno.test("H1Pool reuses one keep-alive connection for sequential requests", async () => {
  const srv = await RawServer.start((req, conn) => {
    conn.write(
      ok(`${conn.index}:${req.target}`, "x-a: 1\r\nconnection: keep-alive\r\n"),
    );
  });
  const pool = new H1Pool("127.0.0.1:x", { connect: srv.connector() });
  try {
    for (let i = 0; i < 20; i++) {
      const res = await pool.request(request(`/r${i}`));
      assert.equal(res.status, 200);
      assert.deepEqual(res.headers, {
        "content-length": String(`0:/r${i}`.length),
        "x-a": "1",
      });
      const { bytes } = await readBody(res.body);
      assert.equal(new TextDecoder().decode(bytes), `0:/r${i}`);
      assert.equal(pool.active, 0);
      assert.equal(pool.idle, 1);
    }
    assert.equal(srv.connections, 1);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool opens one connection per concurrent request and keeps them idle", async () => {
  const srv = await RawServer.start(async (_req, conn) => {
    await delay(20);
    conn.write(ok("x"));
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const pending = [1, 2, 3].map(() => pool.request(request("/")));
    await delay(10);
    assert.equal(pool.active, 3);
    const rs = await Promise.all(pending);
    await Promise.all(rs.map((r) => readBody(r.body)));
    assert.equal(pool.active, 0);
    assert.equal(pool.idle, 3);
    assert.equal(srv.connections, 3);
    // LIFO: the next request reuses an idle connection.
    await readBody((await pool.request(request("/"))).body);
    assert.equal(srv.connections, 3);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool writes the request line, host, headers and framing", async () => {
  const heads: string[] = [];
  const bodies: { body: string; trailers: HeaderMap | undefined }[] = [];
  const srv = await RawServer.start((req, conn) => {
    heads.push(req.head);
    bodies.push({ body: req.body, trailers: req.trailers });
    conn.write(ok("k"));
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    await readBody(
      (await pool.request(request("/p?q=1", {
        headers: {
          "x-one": "1",
          "x-many": ["a", "b"],
          connection: "close",
          "keep-alive": "5",
          "transfer-encoding": "gzip",
          "content-length": "99",
          te: "trailers",
          bad: "a\r\nInjected: 1",
        },
      }))).body,
    );
    assert.equal(
      heads[0],
      "GET /p?q=1 HTTP/1.1\r\nhost: svc.test:80\r\nx-one: 1\r\nx-many: a\r\n" +
        "x-many: b\r\nte: trailers\r\n\r\n",
    );
    await readBody(
      (await pool.request(request("/post", { method: "POST" }))).body,
    );
    assert.match(
      heads[1]!,
      /^POST \/post HTTP\/1.1\r\n.*content-length: 0\r\n\r\n$/s,
    );
    await readBody(
      (await pool.request(request("/len", {
        method: "PUT",
        body: bytesBody("hello"),
      }))).body,
    );
    assert.match(heads[2]!, /content-length: 5\r\n\r\n$/);
    assert.equal(bodies[2]!.body, "hello");
    await readBody(
      (await pool.request(request("/chunked", {
        method: "POST",
        body: { ...bytesBody("stream", { "x-sum": "9" }), length: undefined },
      }))).body,
    );
    assert.match(heads[3]!, /transfer-encoding: chunked\r\n\r\n$/);
    assert.deepEqual(bodies[3], { body: "stream", trailers: { "x-sum": "9" } });
    assert.equal(srv.connections, 1);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool closes idle connections after idleTimeoutMs", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.write(ok("x"));
  });
  const pool = new H1Pool("a", { connect: srv.connector(), idleTimeoutMs: 60 });
  try {
    await readBody((await pool.request(request("/"))).body);
    const idleSince = performance.now();
    await readBody((await pool.request(request("/"))).body);
    assert.equal(pool.idle, 1);
    assert.equal(srv.connections, 1, "reused while not yet idle for 60 ms");
    while (pool.idle > 0) await delay(5);
    assert.ok(performance.now() - idleSince >= 55, "not closed early");
    while (srv.sockets.size > 0) await delay(5);
    await readBody((await pool.request(request("/"))).body);
    assert.equal(srv.connections, 2);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool drops an idle connection the server closed", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.write(ok("x"));
    // Close right after the response, without announcing it.
    setTimeout(() => conn.socket.end(), 5);
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    await readBody((await pool.request(request("/"))).body);
    assert.equal(pool.idle, 1);
    while (pool.idle > 0) await delay(5);
    await readBody((await pool.request(request("/"))).body);
    assert.equal(srv.connections, 2);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool resends once on a fresh connection only when the reused one closed before the request was written", async () => {
  const srv = await RawServer.start((req, conn) => {
    if (req.target.startsWith("/die") && conn.requests > 1) {
      // Read, then closed without an answer: the server may have acted on it.
      conn.socket.destroy();
    } else if (req.target.startsWith("/last")) {
      // The keep-alive race: closed, unannounced, right after the answer.
      conn.write(ok(`c${conn.index}`));
      conn.socket.destroy();
    } else conn.write(ok(`c${conn.index}`));
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  const body = async (p: Promise<import("../message.ts").HttpResponse>) =>
    new TextDecoder().decode((await readBody((await p).body)).bytes);
  try {
    assert.equal(await body(pool.request(request("/last"))), "c0");
    assert.equal(pool.idle, 1, "the close is not seen yet");
    assert.equal(await body(pool.request(request("/after-close"))), "c1");
    assert.equal(srv.connections, 2);
    assert.equal(pool.idle, 1);

    // Written to a live connection, then lost: no resend, even for a GET.
    const err = await pool.request(request("/die-a")).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(causeOf(err, EndpointIoError), String(err));
    assert.equal(srv.connections, 2);
    assert.equal(pool.active, 0);
    assert.equal(pool.idle, 0);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool rejects with EndpointIoError before a response; connect errors as-is", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.socket.destroy();
  });
  const pool = new H1Pool("10.0.0.1:80", { connect: srv.connector() });
  const failing = new H1Pool("b", {
    connect: () => Promise.reject(new RangeError("no route")),
  });
  try {
    const err = await pool.request(request("/")).then(
      () => undefined,
      (e) => e,
    );
    assert.ok(err instanceof EndpointIoError);
    assert.equal(err.addr, "10.0.0.1:80");
    assert.equal(srv.connections, 1, "a fresh connection is not retried");
    assert.equal(pool.active, 0);
    await assert.rejects(failing.request(request("/")), RangeError);
  } finally {
    pool.close();
    failing.close();
    await srv.close();
  }
});

Deno.test("H1Pool reads a chunked response with trailers", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.write(
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: grpc-status\r\n\r\n" +
        "3\r\nabc\r\n",
    );
    setTimeout(
      () =>
        conn.write(
          "2;x=y\r\nde\r\n0\r\ngrpc-status: 0\r\nGrpc-Message: ok\r\n\r\n",
        ),
      5,
    );
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const res = await pool.request(request("/"));
    assert.equal(res.body?.length, undefined);
    assert.equal(res.headers["transfer-encoding"], undefined);
    assert.equal(res.headers["trailer"], undefined);
    const { bytes, trailers } = await readBody(res.body);
    assert.equal(new TextDecoder().decode(bytes), "abcde");
    assert.deepEqual(trailers, { "grpc-status": "0", "grpc-message": "ok" });
    assert.equal(pool.idle, 1);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool: no body for HEAD/204/304, 1xx skipped, close-delimited bodies", async () => {
  const srv = await RawServer.start((req, conn) => {
    switch (req.target) {
      case "/head":
        conn.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n");
        break;
      case "/204":
        conn.write("HTTP/1.1 204 No Content\r\n\r\n");
        break;
      case "/304":
        conn.write("HTTP/1.1 304 Not Modified\r\ncontent-length: 50\r\n\r\n");
        break;
      case "/continue":
        conn.write(
          "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 103 Early Hints\r\nlink: x\r\n\r\n",
        );
        conn.write(ok("after"));
        break;
      case "/eof":
        conn.write("HTTP/1.0 200 OK\r\n\r\nuntil ");
        setTimeout(() => conn.socket.end("close"), 5);
        break;
    }
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const h = await pool.request(request("/head", { method: "HEAD" }));
    assert.equal(h.body, null);
    assert.equal(h.headers["content-length"], "100");
    assert.equal((await pool.request(request("/204"))).body, null);
    const r304 = await pool.request(request("/304"));
    assert.equal(r304.body, null);
    const c = await pool.request(request("/continue"));
    assert.equal(c.status, 200);
    assert.equal(
      new TextDecoder().decode((await readBody(c.body)).bytes),
      "after",
    );
    assert.equal(srv.connections, 1);
    const eof = await pool.request(request("/eof"));
    assert.equal(eof.body?.length, undefined);
    assert.equal(
      new TextDecoder().decode((await readBody(eof.body)).bytes),
      "until close",
    );
    assert.equal(pool.idle, 0, "a close-delimited connection is not reused");
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool fails the response body when the connection dies mid-body", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.write("HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\npartial");
    setTimeout(() => conn.socket.destroy(), 10);
  });
  const pool = new H1Pool("ep:1", { connect: srv.connector() });
  try {
    const res = await pool.request(request("/"));
    const sink = new CountingSink();
    res.body!.start(sink);
    await assert.rejects(sink.ended, EndpointIoError);
    assert.equal(sink.bytes, 7);
    assert.equal(pool.active, 0);
    assert.equal(pool.idle, 0);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool destroys the connection when the response body is cancelled", async () => {
  const srv = await RawServer.start((_req, conn) => {
    conn.write("HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\nsome");
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const res = await pool.request(request("/"));
    res.body!.cancel();
    while (srv.sockets.size > 0) await delay(5);
    assert.equal(pool.active, 0);
    assert.equal(pool.idle, 0);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool streams a 20 MiB body without buffering more than ~1 MiB", async () => {
  const total = 20 << 20;
  const srv = await RawServer.start(async (_req, conn) => {
    conn.write(`HTTP/1.1 200 OK\r\ncontent-length: ${total}\r\n\r\n`);
    const chunk = new Uint8Array(65536).fill(97);
    for (let sent = 0; sent < total; sent += chunk.length) {
      if (!conn.write(chunk)) {
        await new Promise((r) => conn.socket.once("drain", r));
      }
    }
  });
  const opened: net.Socket[] = [];
  const pool = new H1Pool("a", { connect: srv.connector(opened) });
  try {
    const res = await pool.request(request("/big"));
    const body = res.body!;
    const socket = opened[0]!;
    let delivered = 0;
    let maxBuffered = 0;
    let paused = false;
    const done = Promise.withResolvers<void>();
    // A slow reader: takes a chunk, pauses, resumes a little later.
    const sink: BodySink = {
      data(c) {
        assert.equal(paused, false, "no data while paused");
        delivered += c.length;
        maxBuffered = Math.max(maxBuffered, socket.bytesRead - delivered);
        if (delivered % (1 << 20) < c.length) {
          paused = true;
          body.pause();
          setTimeout(() => {
            maxBuffered = Math.max(maxBuffered, socket.bytesRead - delivered);
            paused = false;
            body.resume();
          }, 5);
        }
      },
      end() {
        done.resolve();
      },
      error: done.reject,
    };
    body.start(sink);
    await done.promise;
    assert.equal(delivered, total);
    // bytesRead counts the head too (~40 bytes).
    assert.ok(maxBuffered <= (1 << 20), `buffered ${maxBuffered} bytes`);
    assert.equal(pool.idle, 1);
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool request body backpressure follows the socket", async () => {
  const total = 16 << 20;
  let received = 0;
  const { body, stats } = streamBody(total, { chunkBytes: 65536 });
  // A server that does not read until the body's producer was paused (or
  // 10 s passed: then the assertion below fails), then drains and answers.
  const server = net.createServer((s) => {
    s.pause();
    const deadline = performance.now() + 10_000;
    const poll = () => {
      if (stats.pauses > 0 || performance.now() > deadline) s.resume();
      else setTimeout(poll, 10);
    };
    poll();
    s.on("data", (d: Uint8Array) => {
      received += d.length;
      if (received >= total) {
        s.end("HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n");
      }
    });
    s.on("error", () => {});
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const pool = new H1Pool("a", {
    connect: () =>
      new Promise((r) => {
        const s = net.connect(port, "127.0.0.1", () => r(s));
      }),
  });
  try {
    const res = await pool.request(request("/up", { method: "POST", body }));
    await readBody(res.body);
    assert.ok(received >= total);
    assert.ok(stats.pauses > 0, "the request body was paused");
  } finally {
    pool.close();
    await new Promise<void>((r) => server.close(() => r()));
  }
});

Deno.test("H1Pool hands the socket over on 101 Switching Protocols", async () => {
  const srv = await RawServer.start((req, conn) => {
    assert.match(req.head, /connection: upgrade\r\nupgrade: websocket\r\n/);
    conn.write(
      "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\nearly",
    );
    conn.socket.removeAllListeners("data");
    conn.socket.on("data", (d) => conn.write(d));
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const res = await pool.request(request("/ws", {
      upgrade: true,
      headers: { upgrade: "websocket", "sec-websocket-key": "k" },
    }));
    assert.equal(res.status, 101);
    assert.equal(res.headers["upgrade"], "websocket");
    const up = res.upgraded!;
    assert.equal(new TextDecoder().decode(up.head), "early");
    assert.equal(pool.active, 0);
    assert.equal(pool.idle, 0);
    const echoed = new Promise<string>((r) =>
      up.socket.once("data", (d) => r(String(d)))
    );
    up.socket.resume();
    up.socket.write("ping");
    assert.equal(await echoed, "ping");
    up.socket.destroy();
  } finally {
    pool.close();
    await srv.close();
  }
});

Deno.test("H1Pool CONNECT writes authority-form and tunnels on 2xx", async () => {
  const srv = await RawServer.start((req, conn) => {
    assert.match(
      req.head,
      /^CONNECT db:5432 HTTP\/1.1\r\nhost: db:5432\r\n\r\n$/,
    );
    conn.write("HTTP/1.1 200 OK\r\n\r\n");
  });
  const pool = new H1Pool("a", { connect: srv.connector() });
  try {
    const res = await pool.request(request("", {
      method: "CONNECT",
      authority: "db:5432",
      upgrade: true,
    }));
    assert.equal(res.status, 200);
    assert.ok(res.upgraded);
    res.upgraded.socket.destroy();
  } finally {
    pool.close();
    await srv.close();
  }
});
