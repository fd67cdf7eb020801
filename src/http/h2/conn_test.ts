import assert from "node:assert/strict";
import { StreamResetError } from "../../errors.ts";
import { bytesBody, type HttpRequest, readBody } from "../message.ts";
import { RawPeer, startServer, waitFor } from "./_codec_test_util.ts";
import { ErrorCode, Flag, FrameType, readU31, SettingId } from "./frame.ts";

const ok = () =>
  Promise.resolve({
    status: 200,
    headers: { "content-type": "text/plain" },
    body: bytesBody("ok\n"),
  });

Deno.test("H2Conn answers a request with HEADERS and one DATA frame carrying END_STREAM", async () => {
  await using srv = await startServer(ok);
  await using p = await RawPeer.connect(srv.port);
  p.request(1);
  p.w.flush();
  await waitFor(() => p.data(1).ended, "response end");
  assert.deepEqual(p.heads(1), [{
    ":status": "200",
    "content-type": "text/plain",
  }]);
  const data = p.frames.filter((f) => f.type === FrameType.DATA);
  assert.equal(data.length, 1);
  assert.equal(data[0]!.flags, Flag.END_STREAM);
  // Our SETTINGS: push disabled, limits advertised; the connection window raised.
  const s = p.frames.find((f) =>
    f.type === FrameType.SETTINGS && f.flags === 0
  )!;
  const ids = [];
  for (let i = 0; i < s.payload.length; i += 6) ids.push(s.payload[i + 1]);
  assert.ok(ids.includes(SettingId.ENABLE_PUSH));
  assert.ok(ids.includes(SettingId.MAX_CONCURRENT_STREAMS));
  assert.ok(
    p.frames.some((f) => f.type === FrameType.WINDOW_UPDATE && f.sid === 0),
  );
});

Deno.test("H2Conn answers PING and closes on frames that break the connection rules", async () => {
  let calls = 0;
  await using srv = await startServer(() => (calls++, ok()));
  const cases: Array<[string, (p: RawPeer) => void, number]> = [
    [
      "DATA on an idle stream",
      (p) => p.w.data(5, new Uint8Array(1), false),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "DATA on stream 0",
      (p) => p.w.data(0, new Uint8Array(1), false),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ["an even stream id", (p) => p.request(2), ErrorCode.PROTOCOL_ERROR],
    ["CONTINUATION interleaved with PING", (p) => {
      p.w.frame(FrameType.HEADERS, 0, 1, p.block([[":method", "GET"]]));
      p.w.ping(new Uint8Array(8), false);
    }, ErrorCode.PROTOCOL_ERROR],
    ["CONTINUATION on another stream", (p) => {
      p.w.frame(FrameType.HEADERS, 0, 1, p.block([[":method", "GET"]]));
      p.w.frame(FrameType.CONTINUATION, Flag.END_HEADERS, 3, new Uint8Array(0));
    }, ErrorCode.PROTOCOL_ERROR],
    [
      "CONTINUATION without HEADERS",
      (p) =>
        p.w.frame(
          FrameType.CONTINUATION,
          Flag.END_HEADERS,
          1,
          new Uint8Array(0),
        ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "PUSH_PROMISE to a server",
      (p) =>
        p.w.frame(
          FrameType.PUSH_PROMISE,
          Flag.END_HEADERS,
          1,
          new Uint8Array(4),
        ),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "a connection WINDOW_UPDATE past 2^31-1",
      (p) => p.w.windowUpdate(0, 0x7fffffff),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      "a WINDOW_UPDATE of 0 on the connection",
      (p) => p.w.windowUpdate(0, 0),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "SETTINGS with a bad length",
      (p) => p.w.frame(FrameType.SETTINGS, 0, 0, new Uint8Array(5)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      "INITIAL_WINDOW_SIZE past 2^31-1",
      (p) => p.w.settings([[SettingId.INITIAL_WINDOW_SIZE, 0x80000000]]),
      ErrorCode.FLOW_CONTROL_ERROR,
    ],
    [
      "MAX_FRAME_SIZE below 16384",
      (p) => p.w.settings([[SettingId.MAX_FRAME_SIZE, 100]]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "ENABLE_PUSH 2",
      (p) => p.w.settings([[SettingId.ENABLE_PUSH, 2]]),
      ErrorCode.PROTOCOL_ERROR,
    ],
    [
      "PING of 7 bytes",
      (p) => p.w.frame(FrameType.PING, 0, 0, new Uint8Array(7)),
      ErrorCode.FRAME_SIZE_ERROR,
    ],
    [
      "RST_STREAM on an idle stream",
      (p) => p.w.rstStream(9, 8),
      ErrorCode.PROTOCOL_ERROR,
    ],
    ["a frame above SETTINGS_MAX_FRAME_SIZE", (p) => {
      p.request(1, false);
      p.w.data(1, new Uint8Array(16385), false);
    }, ErrorCode.FRAME_SIZE_ERROR],
    [
      "a bad HPACK block",
      (p) => p.w.headers(1, new Uint8Array([0x80]), true, 16384),
      ErrorCode.COMPRESSION_ERROR,
    ],
    [
      "padding longer than the frame",
      (p) =>
        p.w.frame(
          FrameType.HEADERS,
          Flag.PADDED | Flag.END_HEADERS,
          1,
          new Uint8Array([9, 0x82]),
        ),
      ErrorCode.PROTOCOL_ERROR,
    ],
  ];
  for (const [what, send, code] of cases) {
    await using p = await RawPeer.connect(srv.port);
    p.w.ping(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]), false);
    p.w.flush();
    const ack = await p.until((f) => f.type === FrameType.PING);
    assert.equal(ack.flags, Flag.ACK);
    assert.deepEqual([...ack.payload], [1, 2, 3, 4, 5, 6, 7, 8]);
    send(p);
    p.w.flush();
    const [, got] = await p.goaway();
    assert.equal(got, code, what);
    await waitFor(() => p.ended || p.closed, `close after ${what}`);
  }
  assert.equal(calls, 0);
  // Still serving a fresh client afterwards.
  await using p = await RawPeer.connect(srv.port);
  p.request(1);
  p.w.flush();
  await waitFor(() => p.data(1).ended, "fresh response");
});

Deno.test("H2Conn: frames on closed streams (RFC 9113 §5.1): ended → connection STREAM_CLOSED, peer-reset → stream STREAM_CLOSED, a skipped lower id → PROTOCOL_ERROR", async () => {
  await using srv = await startServer((req) =>
    req.path === "/hold" ? new Promise(() => {}) : ok()
  );
  {
    // Both sides sent END_STREAM: DATA afterwards is a connection error.
    await using p = await RawPeer.connect(srv.port);
    p.request(1);
    p.w.flush();
    await waitFor(() => p.data(1).ended, "response");
    p.w.data(1, new Uint8Array(1), false);
    p.w.flush();
    const [, code] = await p.goaway();
    assert.equal(code, ErrorCode.STREAM_CLOSED);
  }
  {
    // A new stream below one already used was never opened (§5.1.1).
    await using p = await RawPeer.connect(srv.port);
    p.request(5);
    p.w.flush();
    await waitFor(() => p.data(5).ended, "response");
    p.request(3);
    p.w.flush();
    const [last, code] = await p.goaway();
    assert.equal(code, ErrorCode.PROTOCOL_ERROR);
    assert.equal(last, 5);
  }
  {
    // Reset by the peer: later frames are stream errors; the connection stays.
    await using p = await RawPeer.connect(srv.port);
    p.request(1, false, [], "/hold");
    p.w.flush();
    await waitFor(() => srv.conns.at(-1)!.inflight === 1, "held stream");
    p.w.rstStream(1, ErrorCode.CANCEL);
    p.w.data(1, new Uint8Array(1), false);
    p.w.flush();
    assert.equal(await p.rst(1), ErrorCode.STREAM_CLOSED);
    p.request(3);
    p.w.flush();
    await waitFor(() => p.data(3).ended, "next response");
    assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
  }
});

Deno.test("H2Conn honours the peer's SETTINGS_MAX_HEADER_LIST_SIZE: a response head above it is not sent (RST INTERNAL_ERROR)", async () => {
  await using srv = await startServer((req) =>
    Promise.resolve({
      status: 200,
      headers: req.path === "/big" ? { "x-big": "x".repeat(200) } : {},
      body: null,
    })
  );
  await using p = await RawPeer.connect(srv.port, [[
    SettingId.MAX_HEADER_LIST_SIZE,
    100,
  ]]);
  p.request(1, true, [], "/big");
  p.request(3, true, [], "/small");
  p.w.flush();
  assert.equal(await p.rst(1), ErrorCode.INTERNAL_ERROR);
  await waitFor(() => p.heads(3).length === 1, "the small response");
  assert.equal(p.heads(1).length, 0);
});

Deno.test("H2Conn resets streams with malformed requests (PROTOCOL_ERROR) and keeps the connection", async () => {
  let calls = 0;
  await using srv = await startServer(() => (calls++, ok()));
  await using p = await RawPeer.connect(srv.port);
  const base: Array<[string, string]> = [[":method", "GET"], [
    ":scheme",
    "http",
  ], [":path", "/"]];
  const bad: Array<Array<[string, string]>> = [
    [...base, ["Upper", "x"]],
    [...base, ["connection", "close"]],
    [...base, ["keep-alive", "1"]],
    [...base, ["proxy-connection", "1"]],
    [...base, ["transfer-encoding", "chunked"]],
    [...base, ["upgrade", "h2c"]],
    [...base, ["te", "gzip"]],
    [...base, ["x", "a\r\nb"]],
    [...base, ["x", "a\0b"]],
    [...base, ["x", " lead"]],
    [[":method", "GET"], [":scheme", "http"]],
    [[":method", "GET"], [":path", "/"]],
    [[":scheme", "http"], [":path", "/"]],
    [["x", "1"], ...base],
    [...base, [":foo", "1"]],
    [...base, [":status", "200"]],
    [...base, [":method", "POST"]],
    [[":method", "GET"], [":scheme", "http"], [":path", ""]],
    [[":method", "CONNECT"], [":scheme", "http"], [":path", "/"], [
      ":authority",
      "a:1",
    ]],
    [...base, ["content-length", "abc"]],
  ];
  let sid = 1;
  for (const fields of bad) {
    p.w.headers(sid, p.block(fields), true, 16384);
    p.w.flush();
    assert.equal(
      await p.rst(sid),
      ErrorCode.PROTOCOL_ERROR,
      JSON.stringify(fields),
    );
    sid += 2;
  }
  // content-length that the DATA does not match.
  p.request(sid, false, [["content-length", "5"]]);
  p.w.data(sid, new Uint8Array(3), true);
  p.w.flush();
  assert.equal(await p.rst(sid), ErrorCode.PROTOCOL_ERROR);
  sid += 2;
  // Trailers without END_STREAM; pseudo-headers in trailers.
  for (
    const [fields, es] of [[[["x-t", "1"]], false], [
      [[":path", "/"]],
      true,
    ]] as const
  ) {
    p.request(sid, false);
    p.w.headers(
      sid,
      p.block([...fields] as Array<[string, string]>),
      es,
      16384,
    );
    p.w.flush();
    assert.equal(await p.rst(sid), ErrorCode.PROTOCOL_ERROR);
    sid += 2;
  }
  // te: trailers is fine, and the connection still works.
  p.request(sid, true, [["te", "trailers"]]);
  p.w.flush();
  await waitFor(() => p.data(sid).ended, "valid request answered");
  assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
  // Streams reset in the chunk that opened them never reach the handler.
  assert.equal(calls, 1);
});

Deno.test("H2Conn handles PRIORITY by its length only, and self-dependency as a stream error", async () => {
  await using srv = await startServer(ok);
  await using p = await RawPeer.connect(srv.port);
  p.w.frame(FrameType.PRIORITY, 0, 3, new Uint8Array([0, 0, 0, 1, 16]));
  p.w.frame(FrameType.PRIORITY, 0, 5, new Uint8Array([0, 0, 0, 1]));
  p.w.frame(FrameType.PRIORITY, 0, 7, new Uint8Array([0, 0, 0, 7, 16]));
  // HEADERS with the PRIORITY flag.
  const block = p.block([[":method", "GET"], [":scheme", "http"], [
    ":path",
    "/",
  ]]);
  const payload = new Uint8Array(5 + block.length);
  payload.set([0x80, 0, 0, 0, 20]);
  payload.set(block, 5);
  p.w.frame(
    FrameType.HEADERS,
    Flag.END_HEADERS | Flag.END_STREAM | Flag.PRIORITY,
    9,
    payload,
  );
  p.w.flush();
  assert.equal(await p.rst(5), ErrorCode.FRAME_SIZE_ERROR);
  assert.equal(await p.rst(7), ErrorCode.PROTOCOL_ERROR);
  await waitFor(() => p.data(9).ended, "response on 9");
  assert.ok(
    !p.frames.some((f) => f.type === FrameType.RST_STREAM && f.sid === 3),
  );
  assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
});

Deno.test("H2Conn refuses streams above MAX_CONCURRENT_STREAMS and answers 431 to a header list too large", async () => {
  const held: Array<() => void> = [];
  await using srv = await startServer(
    () => new Promise((r) => held.push(() => r(ok()))),
    { maxConcurrentStreams: 2, maxHeaderListSize: 400 },
  );
  await using p = await RawPeer.connect(srv.port);
  p.request(1);
  p.request(3);
  p.request(5);
  p.w.flush();
  assert.equal(await p.rst(5), ErrorCode.REFUSED_STREAM);
  await waitFor(() => held.length === 2, "two handlers");
  held.forEach((f) => f());
  await waitFor(() => p.data(3).ended, "answers");
  p.request(7, true, [["x-big", "v".repeat(500)]]);
  p.w.flush();
  await waitFor(() => p.heads(7).length === 1, "431");
  assert.equal(p.heads(7)[0]![":status"], "431");
  // The HPACK state stayed in step: the next request works.
  p.request(9, true, [["x-big", "v".repeat(10)]]);
  p.w.flush();
  await waitFor(() => held.length === 3, "third handler");
  held[2]!();
  await waitFor(() => p.data(9).ended, "answer on 9");
});

Deno.test("H2Conn flow control: WINDOW_UPDATE only as the handler reads; a peer past the window is reset", async () => {
  let req: HttpRequest | undefined;
  await using srv = await startServer((r) => {
    req = r;
    return new Promise(() => {});
  });
  await using p = await RawPeer.connect(srv.port);
  p.w.headers(
    1,
    p.block([[":method", "POST"], [":scheme", "http"], [":path", "/"]]),
    false,
    16384,
  );
  for (let i = 0; i < 4; i++) p.w.data(1, new Uint8Array(16000), false);
  p.w.flush();
  await waitFor(() => req !== undefined, "handler");
  await new Promise((r) => setTimeout(r, 50));
  const updates = () =>
    p.frames.filter((f) => f.type === FrameType.WINDOW_UPDATE && f.sid === 1);
  assert.equal(
    updates().length,
    0,
    "nothing read yet: no stream WINDOW_UPDATE",
  );
  // The handler reads: the window reopens.
  const chunks: number[] = [];
  req!.body!.start({
    data: (c) => chunks.push(c.length),
    end() {},
    error() {},
  });
  await waitFor(() => updates().length > 0, "stream WINDOW_UPDATE");
  const credited = updates().reduce((n, f) => n + readU31(f.payload, 0), 0);
  assert.ok(credited >= 32767 && credited <= 64000, `credited ${credited}`);
  // A paused reader: the peer may send exactly the window, then is reset.
  req!.body!.pause();
  const room = 65535 - 64000 + credited;
  for (let left = room; left > 0; left -= 16000) {
    p.w.data(1, new Uint8Array(Math.min(16000, left)), false);
  }
  p.w.flush();
  await new Promise((r) => setTimeout(r, 50));
  assert.ok(
    !p.frames.some((f) => f.type === FrameType.RST_STREAM),
    "within the window",
  );
  p.w.data(1, new Uint8Array(1), false);
  p.w.flush();
  assert.equal(await p.rst(1), ErrorCode.FLOW_CONTROL_ERROR);
});

Deno.test("H2Conn send side waits for the window and follows SETTINGS_INITIAL_WINDOW_SIZE changes", async () => {
  const big = new Uint8Array(100000).fill(1);
  await using srv = await startServer(() =>
    Promise.resolve({ status: 200, headers: {}, body: bytesBody(big) })
  );
  await using p = await RawPeer.connect(srv.port, [[
    SettingId.INITIAL_WINDOW_SIZE,
    10,
  ]]);
  p.request(1);
  p.w.flush();
  await waitFor(() => p.data(1).bytes === 10, "10 bytes");
  await new Promise((r) => setTimeout(r, 30));
  assert.equal(p.data(1).bytes, 10);
  p.w.settings([[SettingId.INITIAL_WINDOW_SIZE, 1000]]);
  p.w.flush();
  await waitFor(() => p.data(1).bytes === 1000, "1000 bytes");
  p.w.windowUpdate(1, 20000);
  p.w.flush();
  // The connection window (65535) now limits.
  await waitFor(() => p.data(1).bytes === 21000, "21000 bytes");
  p.w.settings([[SettingId.INITIAL_WINDOW_SIZE, 200000]]);
  p.w.flush();
  await waitFor(() => p.data(1).bytes === 65535, "connection window");
  p.w.windowUpdate(0, 100000);
  p.w.flush();
  await waitFor(() => p.data(1).ended, "end");
  assert.equal(p.data(1).bytes, 100000);
  // Window overflow on a stream is a stream error.
  p.request(3, false);
  p.w.flush();
  await new Promise((r) => setTimeout(r, 20));
  p.w.windowUpdate(3, 0x7fffffff);
  p.w.flush();
  assert.equal(await p.rst(3), ErrorCode.FLOW_CONTROL_ERROR);
});

Deno.test("H2Conn: rapid reset gets GOAWAY ENHANCE_YOUR_CALM and the handler sees a bounded number of requests", async () => {
  let calls = 0;
  await using srv = await startServer(() => {
    calls++;
    return new Promise(() => {});
  });
  await using p = await RawPeer.connect(srv.port);
  for (let i = 0; i < 2000; i++) {
    const sid = 1 + 2 * i;
    p.request(sid, true);
    p.w.rstStream(sid, ErrorCode.CANCEL);
    if (i % 50 === 49) {
      p.w.flush();
      await new Promise((r) => setTimeout(r, 1));
    }
  }
  p.w.flush();
  const [, code] = await p.goaway();
  assert.equal(code, ErrorCode.ENHANCE_YOUR_CALM);
  assert.ok(calls <= 201, `handler calls ${calls}`);
});

Deno.test("H2Conn: a busy connection whose client cancels a burst of streams is not taken for rapid reset", async () => {
  await using srv = await startServer((req) =>
    req.path === "/hold" ? new Promise(() => {}) : ok()
  );
  await using p = await RawPeer.connect(srv.port);
  // 300 answered requests, then 300 held ones cancelled at once (a mesh
  // hop whose downstream clients went away): more than the 200 resets a
  // window allows alone, fewer than that plus the completed streams.
  for (let i = 0; i < 300; i++) p.request(1 + 2 * i);
  p.w.flush();
  await waitFor(() => p.data(599).ended, "300 responses");
  for (let i = 300; i < 600; i++) p.request(1 + 2 * i, true, [], "/hold");
  p.w.flush();
  await waitFor(() => srv.conns[0]!.inflight === 300, "300 held streams");
  for (let i = 300; i < 600; i++) p.w.rstStream(1 + 2 * i, ErrorCode.CANCEL);
  p.request(1201);
  p.w.flush();
  await waitFor(() => p.data(1201).ended, "the next response");
  assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
});

Deno.test("H2Conn keep-alive: a peer that never answers the PING gets GOAWAY, then the connection closes", async () => {
  await using srv = await startServer(ok, {
    keepAliveIntervalMs: 30,
    keepAliveTimeoutMs: 60,
  });
  await using p = await RawPeer.connect(srv.port);
  const ping = await p.until(
    (f) => f.type === FrameType.PING && f.flags === 0,
    "keep-alive PING",
  );
  const [last, code] = await p.goaway();
  assert.equal(code, ErrorCode.NO_ERROR);
  assert.equal(last, 0);
  assert.ok(
    p.frames.indexOf(ping) <
      p.frames.findIndex((f) => f.type === FrameType.GOAWAY),
  );
  await waitFor(() => p.ended || p.closed, "close after GOAWAY");
});

Deno.test("H2Conn keep-alive: PINGs answered keep the connection open", async () => {
  await using srv = await startServer(ok, {
    keepAliveIntervalMs: 20,
    keepAliveTimeoutMs: 200,
  });
  await using p = await RawPeer.connect(srv.port);
  const seenPings = new Set<unknown>();
  let acked = 0;
  await waitFor(
    () => {
      for (const f of p.frames) {
        if (f.type === FrameType.PING && f.flags === 0 && !seenPings.has(f)) {
          seenPings.add(f);
          p.w.ping(f.payload, true);
          p.w.flush();
          acked++;
        }
      }
      return acked >= 5;
    },
    "five keep-alive PINGs",
    5000,
  );
  p.request(1);
  p.w.flush();
  await waitFor(() => p.data(1).ended, "response");
  assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
});
Deno.test("H2Conn: CONTINUATION flood and control-frame floods get ENHANCE_YOUR_CALM", async () => {
  let calls = 0;
  await using srv = await startServer(() => (calls++, ok()), {
    maxControlFramesPerWindow: 100,
  });
  const floods: Array<[string, (p: RawPeer) => void]> = [
    ["CONTINUATION", (p) => {
      p.w.frame(FrameType.HEADERS, 0, 1, p.block([[":method", "GET"]]));
      for (let i = 0; i < 10; i++) {
        p.w.frame(FrameType.CONTINUATION, 0, 1, new Uint8Array(16384));
      }
    }],
    ["empty CONTINUATION", (p) => {
      p.w.frame(FrameType.HEADERS, 0, 1, p.block([[":method", "GET"]]));
      for (let i = 0; i < 1000; i++) {
        p.w.frame(FrameType.CONTINUATION, 0, 1, new Uint8Array(0));
      }
    }],
    ["PING", (p) => {
      for (let i = 0; i < 200; i++) p.w.ping(new Uint8Array(8), false);
    }],
    ["SETTINGS", (p) => {
      for (let i = 0; i < 200; i++) p.w.settings([]);
    }],
    ["empty DATA", (p) => {
      p.request(1, false);
      for (let i = 0; i < 200; i++) p.w.data(1, new Uint8Array(0), false);
    }],
    ["PRIORITY", (p) => {
      for (let i = 0; i < 200; i++) {
        p.w.frame(FrameType.PRIORITY, 0, 3, new Uint8Array([0, 0, 0, 1, 1]));
      }
    }],
    ["unknown frames", (p) => {
      for (let i = 0; i < 200; i++) p.w.frame(0x42, 0, 0, new Uint8Array(1));
    }],
  ];
  for (const [what, send] of floods) {
    await using p = await RawPeer.connect(srv.port);
    send(p);
    p.w.flush();
    const [, code] = await p.goaway();
    assert.equal(code, ErrorCode.ENHANCE_YOUR_CALM, what);
  }
  assert.ok(calls <= 1, `calls ${calls}`);
});

Deno.test("H2Conn: SETTINGS ACK timeout and keep-alive PING timeout close the connection", async () => {
  await using srv = await startServer(ok, {
    settingsTimeoutMs: 100,
    keepAliveIntervalMs: 50,
    keepAliveTimeoutMs: 100,
  });
  // A peer that never acknowledges SETTINGS.
  {
    const net = await import("node:net");
    const s = net.connect(srv.port, "127.0.0.1");
    const seen: Uint8Array[] = [];
    let closed = false;
    s.on("data", (c: Uint8Array) => seen.push(c));
    s.on("close", () => (closed = true));
    s.on("error", () => {});
    const { PREFACE } = await import("./frame.ts");
    s.write(PREFACE);
    s.write(new Uint8Array([0, 0, 0, 4, 0, 0, 0, 0, 0]));
    await waitFor(() => closed, "close on SETTINGS timeout");
    const all = new Uint8Array(seen.reduce((n, c) => n + c.length, 0));
    let o = 0;
    for (const c of seen) all.set(c, (o += c.length) - c.length);
    // The last frame is GOAWAY SETTINGS_TIMEOUT (error code at bytes 13..16 of it).
    const i = all.lastIndexOf(FrameType.GOAWAY, all.length - 1);
    assert.ok(i > 0);
    const goawayAt = [...all.keys()].reverse().find((k) =>
      all[k + 3] === FrameType.GOAWAY && all[k] === 0 && k + 9 <= all.length
    )!;
    assert.equal(all[goawayAt + 9 + 7], ErrorCode.SETTINGS_TIMEOUT);
  }
  // A peer that acknowledges SETTINGS but never answers PING.
  {
    const p = await RawPeer.connect(srv.port);
    await p.until(
      (f) => f.type === FrameType.PING && f.flags === 0,
      "keep-alive PING",
    );
    await waitFor(() => p.closed, "close on keep-alive timeout");
  }
  // A peer that answers PINGs stays connected (a generous timeout: the
  // event loop may stall under a parallel test run).
  {
    await using srv2 = await startServer(ok, {
      keepAliveIntervalMs: 50,
      keepAliveTimeoutMs: 5000,
    });
    await using p = await RawPeer.connect(srv2.port);
    let answered = 0;
    const t0 = performance.now();
    while (performance.now() - t0 < 400) {
      const pings = p.frames.filter((f) =>
        f.type === FrameType.PING && f.flags === 0
      );
      for (const f of pings.slice(answered)) p.w.ping(f.payload, true);
      if (pings.length > answered) p.w.flush();
      answered = pings.length;
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(answered >= 3, `pings ${answered}`);
    assert.ok(!p.closed);
  }
});

Deno.test("H2Conn.drain() sends GOAWAY 2^31-1 with a PING, then the last stream id, and finishes in-flight streams", async () => {
  const held: Array<() => void> = [];
  await using srv = await startServer(() =>
    new Promise((r) => held.push(() => r(ok())))
  );
  await using p = await RawPeer.connect(srv.port);
  p.request(1);
  p.w.flush();
  await waitFor(() => held.length === 1, "handler");
  srv.conns[0]!.drain();
  const first = await p.until((f) => f.type === FrameType.GOAWAY);
  assert.equal(readU31(first.payload, 0), 0x7fffffff);
  const ping = await p.until((f) => f.type === FrameType.PING && f.flags === 0);
  // A request already on the wire is still served.
  p.request(3);
  p.w.ping(ping.payload, true);
  p.w.flush();
  await waitFor(
    () => p.frames.filter((f) => f.type === FrameType.GOAWAY).length === 2,
    "final GOAWAY",
  );
  const last = p.frames.filter((f) => f.type === FrameType.GOAWAY)[1]!;
  assert.equal(readU31(last.payload, 0), 3);
  await waitFor(() => held.length === 2, "second handler");
  held.forEach((f) => f());
  await waitFor(() => p.data(1).ended && p.data(3).ended, "answers");
  await waitFor(() => p.ended || p.closed, "close after drain");
});

Deno.test("H2Conn carries trailers both ways and resets with the handler's code", async () => {
  await using srv = await startServer(async (req) => {
    if (req.path === "/reset") {
      throw new StreamResetError(ErrorCode.REFUSED_STREAM);
    }
    const { bytes, trailers } = await readBody(req.body);
    return {
      status: 200,
      headers: {},
      body: bytesBody(bytes, {
        "x-echo": String(trailers?.["x-in"]),
        "x-len": String(bytes.length),
      }),
    };
  });
  await using p = await RawPeer.connect(srv.port);
  p.w.headers(
    1,
    p.block([[":method", "POST"], [":scheme", "http"], [":path", "/"]]),
    false,
    16384,
  );
  p.w.data(1, new Uint8Array(5), false);
  p.w.headers(1, p.block([["x-in", "yes"]]), true, 16384);
  p.request(3, true, [], "/reset");
  p.w.flush();
  await waitFor(() => p.data(1).ended, "end");
  const heads = p.heads(1);
  assert.equal(heads.length, 2);
  assert.deepEqual(heads[1], { "x-echo": "yes", "x-len": "5" });
  assert.equal(await p.rst(3), ErrorCode.REFUSED_STREAM);
});
