import assert from "node:assert/strict";
import tls from "node:tls";
import { bytesBody, type HttpRequest, readBody } from "../message.ts";
import { H2CodecClient } from "./codec_client.ts";
import { type H2ServerConn, serveH2 } from "./codec_server.ts";

Deno.test("serveH2() and H2CodecClient over node:tls with ALPN h2 (nghttp and our client)", async () => {
  const dir = await Deno.makeTempDir();
  const gen = await new Deno.Command("openssl", {
    args: [
      "req",
      "-x509",
      "-newkey",
      "ec",
      "-pkeyopt",
      "ec_paramgen_curve:P-256",
      "-nodes",
      "-keyout",
      `${dir}/key.pem`,
      "-out",
      `${dir}/cert.pem`,
      "-days",
      "1",
      "-subj",
      "/CN=localhost",
      "-addext",
      "subjectAltName=IP:127.0.0.1",
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(gen.success, new TextDecoder().decode(gen.stderr));
  const conns: H2ServerConn[] = [];
  const alpn: Array<string | false> = [];
  const big = new Uint8Array(500000).fill(9);
  const server = tls.createServer({
    key: await Deno.readTextFile(`${dir}/key.pem`),
    cert: await Deno.readTextFile(`${dir}/cert.pem`),
    ALPNProtocols: ["h2"],
  }, (s) => {
    alpn.push(s.alpnProtocol ?? false);
    conns.push(serveH2(s, new Uint8Array(0), {
      service: async (req) => {
        const { bytes } = await readBody(req.body);
        return {
          status: 200,
          headers: { "x-up": String(bytes.length) },
          body: bytesBody(req.path === "/big" ? big : `tls ${req.path}\n`),
        };
      },
    }));
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as { port: number }).port;
  const c = new H2CodecClient(`127.0.0.1:${port}`, {
    connect: () =>
      new Promise((resolve, reject) => {
        const s = tls.connect({
          host: "127.0.0.1",
          port,
          ALPNProtocols: ["h2"],
          rejectUnauthorized: false,
        });
        s.once("secureConnect", () => resolve(s));
        s.once("error", reject);
      }),
  });
  try {
    const out = await new Deno.Command("nghttp", {
      args: ["-v", `https://127.0.0.1:${port}/hello`],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const text = new TextDecoder().decode(out.stdout);
    assert.ok(out.success, text);
    assert.match(text, /tls \/hello/);
    const req = (path: string, body: HttpRequest["body"]): HttpRequest => ({
      method: "POST",
      scheme: "https",
      authority: "localhost",
      path,
      version: "HTTP/2",
      headers: {},
      body,
      ext: {},
    });
    const up = await c.request(req("/big", bytesBody(new Uint8Array(300000))));
    assert.equal(up.headers["x-up"], "300000");
    assert.deepEqual((await readBody(up.body)).bytes, big);
    assert.deepEqual(alpn, ["h2", "h2"]);
  } finally {
    c.close();
    for (const conn of conns) conn.drain();
    await Promise.all(conns.map((x) => x.closed));
    await new Promise((r) => server.close(r));
    await Deno.remove(dir, { recursive: true });
  }
});
