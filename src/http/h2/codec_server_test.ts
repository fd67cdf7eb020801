import assert from "node:assert/strict";
import { StreamResetError } from "../../errors.ts";
import {
  type Body,
  type BodySink,
  bytesBody,
  type HttpRequest,
  type HttpResponse,
  readBody,
} from "../message.ts";
import { startServer, waitFor } from "./_codec_test_util.ts";
import { ErrorCode } from "./frame.ts";

const PEER = new URL("./_h2_client_peer.py", import.meta.url).pathname;

async function peer(
  port: number,
  scenario: string,
): Promise<Record<string, unknown>> {
  const out = await new Deno.Command("/usr/bin/python3", {
    args: [PEER, String(port), scenario],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(
    out.success,
    `python ${scenario}: ${new TextDecoder().decode(out.stderr)}`,
  );
  return JSON.parse(text);
}

/** A body that produces 16 KiB chunks while not paused, up to `total`; counts what it produced. */
function producingBody(total: number) {
  const state = { produced: 0 };
  let sink: BodySink | undefined;
  let paused = false;
  let done = false;
  const chunk = new Uint8Array(16384).fill(0x61);
  const pump = () => {
    while (sink && !paused && !done) {
      if (state.produced >= total) {
        done = true;
        sink.end();
        return;
      }
      state.produced += chunk.length;
      sink.data(chunk);
    }
  };
  const body: Body = {
    length: undefined,
    start(s) {
      sink = s;
      queueMicrotask(pump);
    },
    pause() {
      paused = true;
    },
    resume() {
      paused = false;
      setTimeout(pump, 0);
    },
    cancel() {
      done = true;
    },
  };
  return { body, state };
}

function testService() {
  const seen = {
    calls: 0,
    aborted: [] as number[],
    streams: [] as Array<{ produced: number }>,
  };
  let slowBody: Body | null = null;
  const service = async (req: HttpRequest): Promise<HttpResponse> => {
    seen.calls++;
    req.ext.signal?.addEventListener("abort", () => {
      const r = req.ext.signal!.reason;
      seen.aborted.push(r instanceof StreamResetError ? r.code : -1);
    });
    const path = req.path;
    if (path.startsWith("/hello/")) {
      return {
        status: 200,
        headers: { "content-type": "text/plain" },
        body: bytesBody(`hello ${path}\n`),
      };
    }
    if (path === "/echo") {
      const { bytes, trailers } = await readBody(req.body);
      return {
        status: 201,
        headers: {},
        body: bytesBody(bytes, { "x-echo": String(trailers?.["x-in"]) }),
      };
    }
    if (path.startsWith("/reset/")) {
      throw new StreamResetError(Number(path.slice(7)));
    }
    if (path === "/hold") return new Promise(() => {});
    if (path === "/stream") {
      const { body, state } = producingBody(1 << 20);
      seen.streams.push(state);
      return { status: 200, headers: {}, body };
    }
    if (path === "/slow-read") {
      slowBody = req.body;
      return new Promise(() => {});
    }
    if (path === "/start-reading") {
      slowBody?.start({ data() {}, end() {}, error() {} });
      return { status: 200, headers: {}, body: null };
    }
    return { status: 404, headers: {}, body: null };
  };
  return { service, seen };
}

Deno.test("serveH2() with python-h2: concurrent requests, body and trailers both ways, dynamic table reuse", async () => {
  const { service } = testService();
  await using srv = await startServer(service);
  const out = await peer(srv.port, "basic");
  assert.equal(out.ok, true);
  assert.deepEqual(
    out.hello,
    [0, 1, 2, 3, 4].map((i) => `hello /hello/${i}\n`),
  );
  assert.equal(out.echo_len, 60000);
  assert.deepEqual(out.echo_trailers, [{ "x-echo": "trailer-value" }]);
  assert.equal(out.resets, 0);
  assert.equal(out.seq, 50);
  assert.deepEqual(out.seq_heads, {
    ":status": "200",
    "content-type": "text/plain",
  });
  assert.equal(
    out.closed_by_server,
    true,
    "client GOAWAY: the server closes once idle",
  );
});

Deno.test("serveH2() with python-h2: reset codes both ways", async () => {
  const { service, seen } = testService();
  await using srv = await startServer(service);
  const out = await peer(srv.port, "resets");
  assert.deepEqual(out.codes, [7, 8]);
  assert.equal(out.after, "hello /hello/after\n");
  await waitFor(
    () => seen.aborted.includes(ErrorCode.INTERNAL_ERROR),
    "handler abort",
  );
});

Deno.test("serveH2() with python-h2: a slow reader holds the response body to the window", async () => {
  const { service, seen } = testService();
  await using srv = await startServer(service);
  const child = new Deno.Command("/usr/bin/python3", {
    args: [PEER, String(srv.port), "slow_reader"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const stderr = child.stderr.getReader();
  const { value } = await stderr.read();
  assert.equal(new TextDecoder().decode(value), "stalled\n");
  // The client reads nothing: the body must have stopped at window + queue.
  let last = -1;
  await waitFor(() => {
    const now = seen.streams[0]?.produced ?? -2;
    const stable = now === last;
    last = now;
    return stable;
  }, "producer stalled");
  const produced = seen.streams[0]!.produced;
  assert.ok(produced <= 65535 + 65536 + 2 * 16384, `produced ${produced}`);
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  stderr.releaseLock();
  await child.stderr.cancel();
  const res = await child.output();
  assert.ok(res.success);
  const out = JSON.parse(new TextDecoder().decode(res.stdout));
  assert.equal(
    out.before_ack,
    65535,
    "exactly the stream window before any WINDOW_UPDATE",
  );
  assert.equal(out.total, 1 << 20);
  assert.equal(out.ended, true);
  // While the client did not read, the body produced at most window + queue high-water + a chunk.
  assert.equal(seen.streams.length, 1);
});

Deno.test("serveH2() with python-h2: a handler that does not read closes the client's window", async () => {
  const { service } = testService();
  await using srv = await startServer(service);
  const out = await peer(srv.port, "slow_upload");
  assert.equal(out.sent, 65535);
  assert.equal(out.window_before, 0);
  assert.ok((out.window_after as number) > 0, "reading reopens the window");
});

Deno.test("serveH2() with python-h2: rapid reset gets GOAWAY ENHANCE_YOUR_CALM; the handler sees a bounded number", async () => {
  const { service, seen } = testService();
  await using srv = await startServer(service);
  const out = await peer(srv.port, "rapid_reset");
  assert.equal(out.goaway, ErrorCode.ENHANCE_YOUR_CALM);
  assert.ok(seen.calls <= 201, `handler calls ${seen.calls}`);
  // Still serving a fresh client.
  const again = await peer(srv.port, "resets");
  assert.equal(again.after, "hello /hello/after\n");
});

Deno.test("serveH2() with python-h2: CONTINUATION flood and window overflow", async () => {
  const { service, seen } = testService();
  await using srv = await startServer(service);
  const flood = await peer(srv.port, "continuation_flood");
  assert.equal(flood.goaway, ErrorCode.ENHANCE_YOUR_CALM);
  assert.equal(seen.calls, 0);
  const overflow = await peer(srv.port, "window_overflow");
  assert.deepEqual(overflow.stream, [ErrorCode.FLOW_CONTROL_ERROR]);
  assert.equal(overflow.goaway, ErrorCode.FLOW_CONTROL_ERROR);
});

Deno.test("serveH2() with python-h2: malformed heads are stream PROTOCOL_ERRORs", async () => {
  const { service, seen } = testService();
  await using srv = await startServer(service);
  const out = await peer(srv.port, "bad_headers");
  assert.deepEqual(out.codes, Array(9).fill(ErrorCode.PROTOCOL_ERROR));
  assert.equal(out.after, "hello /hello/ok\n");
  assert.equal(seen.calls, 1);
});

async function run(cmd: string, args: string[]): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  assert.ok(out.success, `${cmd}: ${text}`);
  return text;
}

Deno.test("serveH2() with h2load -n 10000 -c 4 -m 10: every request succeeds", async () => {
  const { service } = testService();
  await using srv = await startServer(service);
  const out = await run("h2load", [
    "-n",
    "10000",
    "-c",
    "4",
    "-m",
    "10",
    `http://127.0.0.1:${srv.port}/hello/load`,
  ]);
  assert.match(
    out,
    /requests: 10000 total, 10000 started, 10000 done, 10000 succeeded, 0 failed, 0 errored, 0 timeout/,
  );
  assert.match(out, /status codes: 10000 2xx/);
});

Deno.test("serveH2() with nghttp: a GET and an upload echoed with trailers", async () => {
  const { service } = testService();
  await using srv = await startServer(service);
  const get = await run("nghttp", [
    "-v",
    `http://127.0.0.1:${srv.port}/hello/nghttp`,
  ]);
  assert.match(get, /hello \/hello\/nghttp/);
  assert.match(get, /:status: 200/);
  const file = await Deno.makeTempFile();
  try {
    await Deno.writeFile(file, new Uint8Array(200000).fill(0x62));
    const up = await run("nghttp", [
      "-v",
      "-d",
      file,
      `http://127.0.0.1:${srv.port}/echo`,
    ]);
    assert.match(up, /:status: 201/);
    assert.match(up, /recv DATA frame <length=\d+, flags=0x00/);
    assert.doesNotMatch(
      up,
      /RST_STREAM|GOAWAY frame <length=\d+, flags=0x00, stream_id=0>\s+\(last_stream_id=\d+, error_code=[A-Z_]+\(0x0[1-9a-d]\)/,
    );
  } finally {
    await Deno.remove(file);
  }
});
