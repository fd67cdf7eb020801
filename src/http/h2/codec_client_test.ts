import assert from "node:assert/strict";
import net from "node:net";
import { StreamResetError } from "../../errors.ts";
import { bytesBody, type HttpRequest, readBody } from "../message.ts";
import { H2CodecClient } from "./codec_client.ts";
import { startServer, waitFor } from "./_codec_test_util.ts";
import {
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  FrameWriter,
  readU32,
  SettingId,
} from "./frame.ts";
import { HpackEncoder, HpackWriter } from "./hpack.ts";

const PEER = new URL("./_h2_server_peer.py", import.meta.url).pathname;

function req(
  path: string,
  method = "GET",
  body: HttpRequest["body"] = null,
): HttpRequest {
  return {
    method,
    scheme: "http",
    authority: "test",
    path,
    version: "HTTP/2",
    headers: { "user-agent": "petrel-test", "te": "trailers" },
    body,
    ext: {},
  };
}

function client(port: number): H2CodecClient {
  return new H2CodecClient(`127.0.0.1:${port}`, {
    connect: () =>
      new Promise((resolve, reject) => {
        const s = net.connect(port, "127.0.0.1");
        s.once("connect", () => resolve(s));
        s.once("error", reject);
      }),
  });
}

async function freePort(): Promise<number> {
  const s = net.createServer();
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  const port = (s.address() as net.AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

Deno.test("H2CodecClient against nghttpd: files, padding, echo upload, trailers, MAX_CONCURRENT_STREAMS 2", async () => {
  const dir = await Deno.makeTempDir();
  const big = new Uint8Array(1 << 20).map((_, i) => (i * 7) & 0xff);
  await Deno.writeFile(`${dir}/big`, big);
  await Deno.writeTextFile(`${dir}/small`, "small file\n");
  const port = await freePort();
  const child = new Deno.Command("nghttpd", {
    args: [
      "--no-tls",
      "-d",
      dir,
      "--echo-upload",
      "-b",
      "7",
      "-m",
      "2",
      "--trailer",
      "x-t: v",
      String(port),
    ],
    stdout: "null",
    stderr: "null",
  }).spawn();
  const c = client(port);
  try {
    await waitFor(() => false, "never", 0).catch(() => {});
    // nghttpd needs a moment to listen: retry the first request.
    let first;
    for (let i = 0; i < 100 && first === undefined; i++) {
      first = await c.request(req("/small")).catch(() => undefined);
      if (first === undefined) await new Promise((r) => setTimeout(r, 20));
    }
    assert.ok(first);
    assert.equal(first.status, 200);
    const small = await readBody(first.body);
    assert.equal(new TextDecoder().decode(small.bytes), "small file\n");
    assert.deepEqual(small.trailers, { "x-t": "v" });
    // 20 concurrent requests over a server allowing 2 streams at a time.
    const all = await Promise.all(
      Array.from(
        { length: 20 },
        () => c.request(req("/big")).then((r) => readBody(r.body)),
      ),
    );
    for (const r of all) assert.deepEqual(r.bytes, big);
    // An upload larger than the windows, echoed back.
    const up = new Uint8Array(300000).fill(3);
    const echoed = await readBody(
      (await c.request(req("/", "POST", bytesBody(up)))).body,
    );
    assert.equal(echoed.bytes.length, up.length);
    const missing = await c.request(req("/nope"));
    assert.equal(missing.status, 404);
    await readBody(missing.body);
  } finally {
    c.destroy();
    child.kill();
    await child.status;
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("H2CodecClient against a python-h2 server: trailers both ways, reset code, GOAWAY refused stream retried", async () => {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [PEER],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  const { value } = await reader.read();
  const port = Number(new TextDecoder().decode(value).trim());
  const c = client(port);
  try {
    const r = await c.request(req("/hello"));
    assert.equal(r.status, 200);
    const b = await readBody(r.body);
    assert.equal(new TextDecoder().decode(b.bytes), "hello /hello");
    assert.deepEqual(b.trailers, { "grpc-status": "0", "x-trailer": "yes" });
    // A request body with trailers.
    const e = await c.request(
      req("/echo", "POST", bytesBody("ping", { "x-t": "sent" })),
    );
    assert.equal(e.headers["x-req-trailer"], "sent");
    assert.equal(
      new TextDecoder().decode((await readBody(e.body)).bytes),
      "ping",
    );
    // A reset with its code.
    await assert.rejects(
      c.request(req("/reset")),
      (err) => err instanceof StreamResetError && err.code === 11,
    );
    // GOAWAY below our stream: refused, retried on a new connection.
    const g = await c.request(req("/goaway"));
    assert.equal(g.status, 200);
    await readBody(g.body);
    // Many sequential requests reuse the connection and the dynamic table.
    for (let i = 0; i < 30; i++) {
      const x = await c.request(req(`/seq`));
      assert.equal(x.headers["content-type"], "text/plain");
      await readBody(x.body);
    }
  } finally {
    c.destroy();
    const w = child.stdin.getWriter();
    await w.close();
    let log = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      log += new TextDecoder().decode(value);
    }
    await child.status;
    assert.ok(!log.includes("error"), log);
    assert.equal(log.split("\n").filter((l) => l === "/goaway").length, 2, log);
  }
});

/** A raw HTTP/2 server: records frames, lets the test answer by hand. */
async function rawServer() {
  const frames: Array<
    { type: number; flags: number; sid: number; payload: Uint8Array }
  > = [];
  const sockets: net.Socket[] = [];
  const writers: FrameWriter[] = [];
  const server = net.createServer((s) => {
    sockets.push(s);
    const w = new FrameWriter(s);
    writers.push(w);
    s.on("error", () => {});
    const r = new FrameReader((type, flags, sid, payload) => {
      frames.push({ type, flags, sid, payload });
    }, { preface: true });
    s.on("data", (c: Uint8Array) => r.push(c));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    frames,
    writers,
    async [Symbol.asyncDispose]() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

function goawayCode(
  frames: Array<{ type: number; payload: Uint8Array }>,
): number | undefined {
  const g = frames.find((f) => f.type === FrameType.GOAWAY);
  return g === undefined ? undefined : readU32(g.payload, 4);
}

Deno.test("H2CodecClient: 1xx skipped, trailers-only response, abort resets with CANCEL, push refused, keep-alive timeout closes", async () => {
  const enc = new HpackEncoder();
  const hw = new HpackWriter();
  const block = (fields: Array<[string, string]>) => {
    hw.reset();
    enc.encode(fields, hw);
    return hw.subarray().slice();
  };
  {
    await using srv = await rawServer();
    const c = client(srv.port);
    const p = c.request(req("/a"));
    await waitFor(
      () => srv.frames.some((f) => f.type === FrameType.HEADERS),
      "request",
    );
    const w = srv.writers[0]!;
    w.settings([]);
    w.settingsAck();
    w.headers(1, block([[":status", "103"], ["link", "</x>"]]), false, 16384);
    // Trailers-only (how gRPC sends errors): one HEADERS with END_STREAM.
    w.headers(
      1,
      block([[":status", "200"], ["grpc-status", "5"]]),
      true,
      16384,
    );
    w.flush();
    const r = await p;
    assert.equal(r.status, 200);
    assert.equal(r.headers["grpc-status"], "5");
    assert.equal(r.body, null);
    const abort = new AbortController();
    const p2 = c.request({ ...req("/b"), ext: { signal: abort.signal } });
    await waitFor(
      () => srv.frames.filter((f) => f.type === FrameType.HEADERS).length === 2,
      "second request",
    );
    abort.abort(new StreamResetError(ErrorCode.CANCEL));
    await assert.rejects(
      p2,
      (e) => e instanceof StreamResetError && e.code === ErrorCode.CANCEL,
    );
    await waitFor(
      () => srv.frames.some((f) => f.type === FrameType.RST_STREAM),
      "RST_STREAM",
    );
    const rst = srv.frames.find((f) => f.type === FrameType.RST_STREAM)!;
    assert.equal(rst.sid, 3);
    assert.equal(readU32(rst.payload, 0), ErrorCode.CANCEL);
    c.destroy();
  }
  // A server that enables push, and one that pushes.
  for (const bad of ["enable_push", "push_promise"]) {
    await using srv = await rawServer();
    const c = client(srv.port);
    const p = c.request(req("/push"));
    await waitFor(
      () => srv.frames.some((f) => f.type === FrameType.HEADERS),
      "request",
    );
    const w = srv.writers[0]!;
    if (bad === "enable_push") w.settings([[SettingId.ENABLE_PUSH, 1]]);
    else {
      w.settings([]);
      w.frame(
        FrameType.PUSH_PROMISE,
        Flag.END_HEADERS,
        1,
        new Uint8Array([0, 0, 0, 2, 0x82]),
      );
    }
    w.flush();
    await assert.rejects(p);
    await waitFor(() => goawayCode(srv.frames) !== undefined, "GOAWAY");
    assert.equal(goawayCode(srv.frames), ErrorCode.PROTOCOL_ERROR, bad);
    c.destroy();
  }
  // A server that resets many of our streams is no attacker: the
  // connection stays (rapid reset is counted on the server side only).
  {
    await using srv = await rawServer();
    const c = client(srv.port);
    const ps = Array.from({ length: 300 }, () => c.request(req("/r")));
    await waitFor(
      () =>
        srv.frames.filter((f) => f.type === FrameType.HEADERS).length === 300,
      "300 requests",
    );
    const w = srv.writers[0]!;
    w.settings([]);
    w.settingsAck();
    for (let i = 0; i < 300; i++) w.rstStream(1 + 2 * i, ErrorCode.CANCEL);
    w.flush();
    for (const p of ps) {
      await assert.rejects(p, (e) => e instanceof StreamResetError);
    }
    const p = c.request(req("/after"));
    await waitFor(
      () =>
        srv.frames.filter((f) => f.type === FrameType.HEADERS).length === 301,
      "the next request on the same connection",
    );
    w.headers(601, block([[":status", "204"]]), true, 16384);
    w.flush();
    assert.equal((await p).status, 204);
    assert.equal(goawayCode(srv.frames), undefined);
    c.destroy();
  }
  // A server's SETTINGS_MAX_HEADER_LIST_SIZE: a request above it is
  // refused here, nothing of it sent; a smaller one goes.
  {
    await using srv = await rawServer();
    const c = client(srv.port);
    const first = c.request(req("/first"));
    await waitFor(() => srv.writers.length === 1, "accepted");
    const w = srv.writers[0]!;
    w.settings([[SettingId.MAX_HEADER_LIST_SIZE, 300]]);
    w.settingsAck();
    w.flush();
    await waitFor(
      () =>
        srv.frames.some((f) =>
          f.type === FrameType.SETTINGS && f.flags === Flag.ACK
        ),
      "our ACK of the server's SETTINGS",
    );
    const big = req("/big");
    big.headers["x-big"] = "x".repeat(300);
    await assert.rejects(c.request(big), /SETTINGS_MAX_HEADER_LIST_SIZE/);
    const small = c.request(req("/small"));
    await waitFor(
      () => srv.frames.filter((f) => f.type === FrameType.HEADERS).length === 2,
      "the small request",
    );
    w.headers(1, block([[":status", "204"]]), true, 16384);
    w.headers(3, block([[":status", "204"]]), true, 16384);
    w.flush();
    assert.equal((await first).status, 204);
    assert.equal((await small).status, 204);
    c.destroy();
  }
  // Keep-alive: a server that never answers PING is closed.
  {
    await using srv = await rawServer();
    const c = new H2CodecClient("x", {
      keepAliveIntervalMs: 30,
      keepAliveTimeoutMs: 60,
      connect: () =>
        new Promise((resolve) => {
          const s = net.connect(srv.port, "127.0.0.1");
          s.once("connect", () => resolve(s));
        }),
    });
    const p = c.request(req("/ka"));
    await waitFor(() => srv.writers.length === 1, "accepted");
    srv.writers[0]!.settings([]);
    srv.writers[0]!.flush();
    await waitFor(
      () => srv.frames.some((f) => f.type === FrameType.PING && f.flags === 0),
      "keep-alive PING",
    );
    await assert.rejects(p, (e) => e instanceof Error);
    assert.equal(c.connected, false);
    // GOAWAY before the close (hyper's keep-alive timeout).
    await waitFor(() => goawayCode(srv.frames) !== undefined, "GOAWAY");
    assert.equal(goawayCode(srv.frames), ErrorCode.NO_ERROR);
    c.destroy();
  }
});

Deno.test("H2CodecClient and serveH2 with windows larger than the write buffer: 16 MiB each way completes (held-back DATA goes on after the write, no 'drain' needed)", async () => {
  const MIB = 1024 * 1024;
  const windows = {
    initialStreamWindowSize: 4 * MIB,
    initialConnectionWindowSize: 8 * MIB,
  };
  const big = new Uint8Array(16 * MIB).fill(7);
  await using srv = await startServer(async (r) => {
    const up = await readBody(r.body);
    return {
      status: 200,
      headers: { "x-up": String(up.bytes.length) },
      body: bytesBody(big),
    };
  }, windows);
  const c = new H2CodecClient("x", {
    ...windows,
    connect: () =>
      new Promise((resolve) => {
        const s = net.connect(srv.port, "127.0.0.1");
        s.once("connect", () => resolve(s));
      }),
  });
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error("stalled")), 20_000);
  });
  try {
    const r = await Promise.race([
      c.request(req("/big", "POST", bytesBody(big))),
      deadline,
    ]);
    assert.equal(r.headers["x-up"], String(16 * MIB));
    const down = await Promise.race([readBody(r.body), deadline]);
    assert.equal(down.bytes.length, 16 * MIB);
  } finally {
    clearTimeout(timer);
    c.destroy();
  }
});
