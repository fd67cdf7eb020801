import assert from "node:assert/strict";
import http2 from "node:http2";
import type net from "node:net";
import { StreamResetError } from "../../errors.ts";
import { bytesBody, readBody } from "../message.ts";
import { H2Code, pipeBodyToStream, resetStream, streamBody } from "./stream.ts";

async function withServer(
  onStream: (s: http2.ServerHttp2Stream, h: http2.IncomingHttpHeaders) => void,
  fn: (url: string) => Promise<void>,
) {
  const server = http2.createServer();
  server.on("stream", onStream);
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  try {
    await fn(`http://127.0.0.1:${port}`);
  } finally {
    await new Promise((r) => server.close(r));
  }
}

function request(url: string, path: string) {
  const session = http2.connect(url);
  const stream = session.request({ ":path": path });
  stream.on("error", () => {});
  return { session, stream };
}

Deno.test("resetStream() sends RST_STREAM with the code after respond()", async () => {
  await withServer((s) => {
    s.respond({ ":status": 200 });
    s.write("partial");
    setTimeout(() => resetStream(s, H2Code.CANCEL), 20);
  }, async (url) => {
    const { session, stream } = request(url, "/");
    const chunks: string[] = [];
    stream.on("data", (c) => chunks.push(String(c)));
    await new Promise((r) => stream.on("close", r));
    // Without the workaround the code is NO_ERROR (a clean END_STREAM).
    assert.equal(stream.rstCode, H2Code.CANCEL);
    assert.equal(chunks.join(""), "partial");
    session.close();
  });
});

Deno.test("pipeBodyToStream() sends data then trailers, or a clean end without them", async () => {
  await withServer((s, h) => {
    s.respond({ ":status": 200 }, { waitForTrailers: true });
    const withTrailers = h[":path"] === "/t";
    pipeBodyToStream(
      bytesBody("hello", withTrailers ? { "x-t": "yes" } : undefined),
      s,
    );
  }, async (url) => {
    for (const path of ["/t", "/plain"]) {
      const { session, stream } = request(url, path);
      const body = await new Promise<{ bytes: Uint8Array; trailers?: unknown }>(
        (resolve, reject) => {
          stream.once("response", () => {
            readBody(streamBody(stream, undefined)).then(resolve, reject);
          });
        },
      );
      assert.equal(new TextDecoder().decode(body.bytes), "hello");
      if (path === "/t") assert.deepEqual(body.trailers, { "x-t": "yes" });
      else assert.equal(body.trailers, undefined);
      assert.equal(stream.rstCode, H2Code.NO_ERROR);
      session.close();
    }
  });
});

Deno.test("streamBody() surfaces a peer reset as StreamResetError with its code", async () => {
  await withServer((s) => {
    s.respond({ ":status": 200 });
    s.write("x");
    setTimeout(() => resetStream(s, H2Code.ENHANCE_YOUR_CALM), 20);
  }, async (url) => {
    const { session, stream } = request(url, "/");
    const err = await new Promise<unknown>((resolve) => {
      stream.once("response", () => {
        readBody(streamBody(stream, undefined)).then(
          () => resolve(undefined),
          resolve,
        );
      });
    });
    assert.ok(err instanceof StreamResetError);
    assert.equal(err.code, H2Code.ENHANCE_YOUR_CALM);
    session.close();
  });
});
