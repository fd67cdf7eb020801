/**
 * HTTP/2 through Petrel over real sockets: nghttp/h2load as clients,
 * python-h2 as a fault-injecting server, node:http2 as a backend.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import {
  startH2Backend,
  startHangingH2Backend,
  startHttpBackend,
  until,
} from "./support/backend.ts";
import {
  H2_CANCEL,
  H2_ENHANCE_YOUR_CALM,
  H2_REFUSED_STREAM,
  h2Streams,
  startH2FaultServer,
} from "./support/h2_fault.ts";
import { run } from "./support/proc.ts";
import { RawPeer, waitFor } from "../src/http/h2/_codec_test_util.ts";
import { ErrorCode, FrameType } from "../src/http/h2/frame.ts";
import { servicesYaml, startPetrel } from "./support/petrel.ts";

Deno.test("h2: an upstream reset resets only that stream, with the same code", async () => {
  const faults = await startH2FaultServer();
  await using petrel = await startPetrel(servicesYaml({
    "faults.test:80": {
      endpoints: [`127.0.0.1:${faults.port}`],
      protocol: "http2",
    },
  }));
  try {
    const results = await h2Streams(
      petrel.addr,
      ["/refuse", "/ok", "/cancel", "/slow?ms=200", "/calm", "/trailers"],
      { authority: "faults.test" },
    );
    const by = Object.fromEntries(results.map((r) => [r.path, r]));
    assert.equal(by["/refuse"]!.reset_code, H2_REFUSED_STREAM);
    assert.equal(by["/cancel"]!.reset_code, H2_CANCEL);
    assert.equal(by["/calm"]!.reset_code, H2_ENHANCE_YOUR_CALM);
    assert.equal(by["/ok"]!.status, 200);
    assert.equal(by["/ok"]!.body, "ok");
    assert.equal(by["/ok"]!.reset_code, null);
    assert.equal(by["/slow?ms=200"]!.status, 200);
    assert.equal(by["/slow?ms=200"]!.reset_code, null);
    assert.equal(by["/trailers"]!.status, 200);
    assert.deepEqual(by["/trailers"]!.trailers, { "x-trailer": "yes" });
  } finally {
    await faults.stop();
  }
});

Deno.test("h2: request body and trailers pass through to the upstream and back", async () => {
  const faults = await startH2FaultServer();
  await using petrel = await startPetrel(servicesYaml({
    "faults.test:80": {
      endpoints: [`127.0.0.1:${faults.port}`],
      protocol: "http2",
    },
  }));
  try {
    const [r] = await h2Streams(petrel.addr, ["/echo"], {
      authority: "faults.test",
      method: "POST",
      bodyBytes: 3 * 1024 * 1024,
      trailers: ["x-request-trailer: sent"],
    });
    assert.equal(r!.status, 200);
    assert.equal(r!.body_len, 3 * 1024 * 1024);
    assert.equal(r!.reset_code, null);
    assert.equal(r!.trailers?.["x-request-trailer"], "sent");
  } finally {
    await faults.stop();
  }
});

Deno.test("h2: a client cancel resets the upstream stream with CANCEL", async () => {
  const backend = await startHangingH2Backend();
  const petrel = await startPetrel(servicesYaml({
    "hang.test:80": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http2",
    },
  }));
  const session = http2.connect(`http://${petrel.addr}`);
  try {
    const stream = session.request({
      ":path": "/hang",
      ":authority": "hang.test",
    });
    stream.on("error", () => {});
    await until(() => backend.opened === 1);
    stream.close(H2_CANCEL);
    await until(() => backend.closedCodes.length === 1);
    assert.deepEqual(backend.closedCodes, [H2_CANCEL]);
  } finally {
    session.close();
    await petrel.close();
    await backend.close();
  }
});

Deno.test("h2: h2load runs 100 concurrent streams on one connection without errors", async () => {
  const backend = await startH2Backend();
  await using petrel = await startPetrel(servicesYaml({
    "h2.test:80": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http2",
    },
  }));
  try {
    const r = await run("h2load", [
      "-n",
      "2000",
      "-c",
      "1",
      "-m",
      "100",
      "-H",
      ":authority: h2.test",
      `http://${petrel.addr}/status?code=200`,
    ], { timeoutMs: 60_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /2000 succeeded, 0 failed, 0 errored/, r.stdout);
    assert.match(r.stdout, /status codes: 2000 2xx/, r.stdout);
  } finally {
    await backend.close();
  }
});

Deno.test("h2: an HTTP/2 client reaches an HTTP/1 endpoint (and trailers become chunked)", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:8080": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http1",
    },
  }));
  try {
    const r = await run("nghttp", [
      "-v",
      "-H",
      ":authority: web.test:8080",
      `http://${petrel.addr}/trailers`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /recv \(stream_id=\d+\) :status: 200/);
    assert.match(r.stdout, /recv \(stream_id=\d+\) x-trailer: /, r.stdout);
    const e = await run("nghttp", [
      "-H",
      ":authority: web.test:8080",
      `http://${petrel.addr}/echo`,
    ]);
    const echoed = JSON.parse(e.stdout);
    assert.equal(echoed.method, "GET");
    assert.equal(echoed.path ?? echoed.target, "/echo");
  } finally {
    await backend.close();
  }
});

Deno.test("h2: unknown services and refused endpoints get synthetic errors, not resets", async () => {
  const backend = await startHttpBackend();
  const deadPort = backend.port;
  await backend.close();
  await using petrel = await startPetrel(servicesYaml({
    "dead.test:80": { endpoints: [`127.0.0.1:${deadPort}`] },
  }));
  const r = await run("nghttp", [
    "-v",
    "-H",
    ":authority: dead.test",
    `http://${petrel.addr}/`,
  ]);
  assert.match(r.stdout, /:status: 502/);
  assert.match(r.stdout, /l5d-proxy-error: /);
  const u = await run("nghttp", [
    "-v",
    "-H",
    ":authority: nonexistent.invalid",
    `http://${petrel.addr}/`,
  ]);
  assert.match(u.stdout, /:status: 502/);
});

Deno.test("h2: LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2_KEEP_ALIVE_*: a client that never answers the PING gets GOAWAY and is closed; one that answers stays", async () => {
  await using petrel = await startPetrel(servicesYaml({}), {
    LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2_KEEP_ALIVE_INTERVAL: "50ms",
    LINKERD2_PROXY_OUTBOUND_SERVER_HTTP2_KEEP_ALIVE_TIMEOUT: "100ms",
  });
  {
    await using p = await RawPeer.connect(petrel.port);
    await p.until((f) => f.type === FrameType.PING && f.flags === 0, "PING");
    const [, code] = await p.goaway();
    assert.equal(code, ErrorCode.NO_ERROR);
    await waitFor(() => p.ended || p.closed, "close after GOAWAY");
  }
  // A client that answers: six intervals later its connection still serves.
  await using p = await RawPeer.connect(petrel.port);
  const acked = new Set<unknown>();
  const start = performance.now();
  await waitFor(() => {
    for (const f of p.frames) {
      if (f.type === FrameType.PING && f.flags === 0 && !acked.has(f)) {
        acked.add(f);
        p.w.ping(f.payload, true);
        p.w.flush();
      }
    }
    return performance.now() - start > 300 && acked.size >= 3;
  }, "PINGs answered for 300 ms");
  assert.ok(!p.frames.some((f) => f.type === FrameType.GOAWAY));
  p.request(1);
  p.w.flush();
  await waitFor(() => p.heads(1).length > 0, "a response");
});
