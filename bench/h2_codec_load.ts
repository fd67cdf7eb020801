/**
 * Same-run comparison of a trivial HTTP/2 responder on Petrel's own codec
 * (src/http/h2/codec_server.ts) and on `node:http2`, with h2load -c4 -m10.
 *
 *   deno run -A bench/h2_codec_load.ts [requests=200000]
 *   deno run -A bench/h2_codec_load.ts --serve codec|node   (one server, prints its port)
 *
 * @module
 */
import net from "node:net";
import http2 from "node:http2";
import { serveH2 } from "../src/http/h2/codec_server.ts";
import { bytesBody } from "../src/http/message.ts";

const BODY = new TextEncoder().encode("ok\n");

function serve(kind: string): void {
  if (kind === "codec") {
    const srv = net.createServer((s) =>
      serveH2(s, new Uint8Array(0), {
        service: () =>
          Promise.resolve({
            status: 200,
            headers: { "content-type": "text/plain" },
            body: bytesBody(BODY),
          }),
      })
    );
    srv.listen(
      0,
      "127.0.0.1",
      () => console.log((srv.address() as net.AddressInfo).port),
    );
  } else {
    const srv = http2.createServer();
    srv.on("stream", (stream: http2.ServerHttp2Stream) => {
      stream.respond({ ":status": 200, "content-type": "text/plain" });
      stream.end(BODY);
    });
    srv.listen(
      0,
      "127.0.0.1",
      () => console.log((srv.address() as net.AddressInfo).port),
    );
  }
}

async function measure(kind: string, n: number): Promise<string> {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", import.meta.filename!, "--serve", kind],
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  const port = Number(new TextDecoder().decode((await reader.read()).value));
  try {
    // Warm up the JIT, then measure. Deno's node:http2 server aborts on the
    // GOAWAY h2load sends at its end (denoland/deno#36788): one run only.
    if (kind === "codec") await h2load(port, Math.min(20000, n));
    return await h2load(port, n);
  } finally {
    reader.releaseLock();
    await child.stdout.cancel();
    // Deno's node:http2 may already have aborted on h2load's GOAWAY (denoland/deno#36788).
    try {
      child.kill();
    } catch { /* exited */ }
    await child.status;
  }
}

async function h2load(port: number, n: number): Promise<string> {
  const out = await new Deno.Command("h2load", {
    args: ["-n", String(n), "-c", "4", "-m", "10", `http://127.0.0.1:${port}/`],
    stdout: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  const rps = text.match(/finished in [^,]+, ([\d.]+) req\/s/)?.[1];
  const done = text.match(/requests: .*/)?.[0];
  return `${rps} req/s (${done})`;
}

if (Deno.args[0] === "--serve") serve(Deno.args[1]!);
else {
  const n = Number(Deno.args[0] ?? 200000);
  for (let round = 1; round <= 2; round++) {
    for (const kind of ["codec", "node"]) {
      console.log(
        `round ${round} ${kind.padEnd(5)} ${await measure(
          kind,
          kind === "node" ? n / 10 : n,
        )}`,
      );
    }
  }
}
