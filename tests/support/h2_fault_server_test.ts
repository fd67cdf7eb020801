import assert from "node:assert/strict";
import {
  H2_CANCEL,
  H2_ENHANCE_YOUR_CALM,
  H2_REFUSED_STREAM,
  h2Streams,
  startH2FaultServer,
} from "./h2_fault.ts";

Deno.test("h2 fault server: resets on two streams leave their siblings whole", async () => {
  const server = await startH2FaultServer();
  try {
    const [ok, refuse, cancel, calm, slow, trailers] = await h2Streams(
      `127.0.0.1:${server.port}`,
      ["/ok", "/refuse", "/cancel", "/calm", "/slow?ms=150", "/trailers"],
    );
    // all six were streams of the one connection
    assert.deepEqual(
      [ok, refuse, cancel, calm, slow, trailers].map((s) => s?.stream_id),
      [1, 3, 5, 7, 9, 11],
    );
    assert.equal(ok?.status, 200);
    assert.equal(ok?.body, "ok");
    assert.equal(ok?.reset_code, null);

    assert.equal(
      refuse?.status,
      null,
      "REFUSED_STREAM comes before any response",
    );
    assert.equal(refuse?.reset_code, H2_REFUSED_STREAM);

    assert.equal(
      cancel?.status,
      200,
      "CANCEL comes after the response headers",
    );
    assert.equal(cancel?.body, "partial-");
    assert.equal(cancel?.reset_code, H2_CANCEL);

    assert.equal(calm?.reset_code, H2_ENHANCE_YOUR_CALM);

    assert.equal(slow?.status, 200);
    assert.equal(slow?.body, "slow");
    assert.equal(slow?.reset_code, null);

    assert.equal(trailers?.status, 200);
    assert.equal(trailers?.body, "trailers");
    assert.deepEqual(trailers?.trailers, { "x-trailer": "yes" });
    for (const s of [ok, slow, trailers]) assert.equal(s?.error, null);
  } finally {
    await server.stop();
  }
});

Deno.test("h2 fault server: echo streams a large body and trailers back", async () => {
  const server = await startH2FaultServer();
  try {
    const bytes = 3 * 1024 * 1024; // well past the 64 KiB default windows
    const [echo, headers] = await h2Streams(`127.0.0.1:${server.port}`, [
      "/echo",
      "/headers",
    ], {
      bodyBytes: bytes,
      trailers: ["x-req-trailer: 42"],
      authority: "svc.test:8080",
    });
    assert.equal(echo?.status, 200);
    assert.equal(echo?.body_len, bytes);
    assert.equal(
      echo?.body.charCodeAt(1),
      1,
      "the pattern comes back in order",
    );
    assert.deepEqual(echo?.trailers, { "x-req-trailer": "42" });

    const seen = JSON.parse(headers?.body ?? "{}") as Record<string, string>;
    assert.equal(seen[":authority"], "svc.test:8080");
    assert.equal(seen[":path"], "/headers");
    assert.equal(seen[":method"], "POST");
  } finally {
    await server.stop();
  }
});

Deno.test("h2 fault server: GOAWAY lets lower streams finish and refuses higher ones", async () => {
  const server = await startH2FaultServer();
  try {
    const [slow, goaway, after] = await h2Streams(`127.0.0.1:${server.port}`, [
      "/slow?ms=200",
      "/goaway",
      "/ok",
    ]);
    assert.equal(goaway?.status, 200);
    assert.equal(goaway?.body, "goaway");
    assert.equal(goaway?.goaway_last_stream_id, goaway?.stream_id);
    assert.equal(slow?.status, 200, "a stream below last-stream-id completes");
    assert.equal(slow?.body, "slow");
    assert.equal(
      after?.status,
      null,
      "a stream above last-stream-id is not served",
    );
    assert.notEqual(after?.error ?? after?.reset_code, null);
  } finally {
    await server.stop();
  }
});

Deno.test("h2 fault server: 60 concurrent streams on one connection, mixed faults", async () => {
  const server = await startH2FaultServer();
  try {
    const paths = Array.from(
      { length: 60 },
      (_, i) =>
        ["/ok", "/refuse", "/slow?ms=30", "/cancel", "/trailers"][i % 5]!,
    );
    const results = await h2Streams(`127.0.0.1:${server.port}`, paths);
    assert.equal(results.length, 60);
    for (const r of results) {
      assert.equal(r.error, null, JSON.stringify(r));
      switch (r.path) {
        case "/refuse":
          assert.equal(r.reset_code, H2_REFUSED_STREAM);
          break;
        case "/cancel":
          assert.equal(r.reset_code, H2_CANCEL);
          break;
        default:
          assert.equal(r.status, 200);
          assert.equal(r.reset_code, null);
      }
    }
  } finally {
    await server.stop();
  }
});
