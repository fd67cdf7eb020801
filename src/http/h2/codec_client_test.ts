import assert from "node:assert/strict";
import net from "node:net";
import { StreamResetError } from "../../errors.ts";
import { bytesBody, type HttpRequest, readBody } from "../message.ts";
import { H2CodecClient } from "./codec_client.ts";
import { waitFor } from "./_codec_test_util.ts";

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
