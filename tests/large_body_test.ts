/**
 * Streaming never buffers: 1 GiB up and 1 GiB down through a Petrel child
 * process over HTTP/2, with Petrel's RSS sampled all along.
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import { patternBytes, startH2Backend } from "./support/backend.ts";
import { servicesYaml, spawnPetrel } from "./support/petrel.ts";
import { run } from "./support/proc.ts";

const GIB = 1024 * 1024 * 1024;
// Measured 143–147 MB on the own codec (183–186 MB on node:http2); idle ~100 MB.
const RSS_LIMIT = 160 * 1024 * 1024;

Deno.test("h2: 1 GiB upload and download through Petrel keep its RSS under 160 MB", async () => {
  const backend = await startH2Backend();
  const petrel = await spawnPetrel(servicesYaml({
    "big.test:80": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http2",
    },
  }));
  let maxRss = 0;
  const sampler = setInterval(() => {
    petrel.rss().then((r) => maxRss = Math.max(maxRss, r), () => {});
  }, 100);
  const session = http2.connect(`http://127.0.0.1:${petrel.port}`);
  session.on("error", () => {});
  try {
    // Upload: write with backpressure, the backend counts what arrives.
    const up = session.request({
      ":method": "POST",
      ":path": "/upload",
      ":authority": "big.test",
    });
    const chunk = patternBytes(256 * 1024);
    const reply = new Promise<string>((resolve, reject) => {
      let body = "";
      up.on("data", (c) => body += c);
      up.on("end", () => resolve(body));
      up.on("error", reject);
    });
    for (let sent = 0; sent < GIB; sent += chunk.length) {
      if (!up.write(chunk)) await new Promise((r) => up.once("drain", r));
    }
    up.end();
    assert.equal(JSON.parse(await reply).bytes, GIB);

    // Download with curl (nghttp2, an independent HTTP/2 implementation):
    // count what arrives. curl sends GOAWAY when it closes its connection
    // after this flow-controlled download: Petrel must keep serving.
    const rssAfterUpload = maxRss;
    const dl = await run("curl", [
      "-sS",
      "--http2-prior-knowledge",
      "-H",
      "Host: big.test",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code} %{size_download}",
      `http://127.0.0.1:${petrel.port}/big?bytes=${GIB}`,
    ], { timeoutMs: 120_000 });
    assert.equal(dl.code, 0, dl.stderr);
    assert.equal(dl.stdout.trim(), `200 ${GIB}`);
    console.log(
      `Petrel RSS peak: ${
        (rssAfterUpload / 1e6).toFixed(1)
      } MB during the upload`,
    );

    // The Deno client's session carried the flow-controlled upload: its
    // GOAWAY must not hurt Petrel either.
    session.close();
    await new Promise((r) => setTimeout(r, 300));
    const again = http2.connect(`http://127.0.0.1:${petrel.port}`);
    again.on("error", () => {});
    const status = await new Promise<number>((resolve, reject) => {
      const s = again.request({
        ":path": "/status?code=204",
        ":authority": "big.test",
      });
      s.on("response", (h) => resolve(Number(h[":status"])));
      s.on("error", reject);
      s.resume();
    });
    again.close();
    assert.equal(status, 204, "Petrel still serves after the client's GOAWAY");
    assert.ok(maxRss > 0, "RSS was sampled");
    assert.ok(
      maxRss < RSS_LIMIT,
      `Petrel RSS peaked at ${(maxRss / 1e6).toFixed(1)} MB`,
    );
    console.log(
      `Petrel RSS peak during 2 GiB of h2 streaming: ${
        (maxRss / 1e6).toFixed(1)
      } MB`,
    );
  } finally {
    clearInterval(sampler);
    session.close();
    await petrel.stop();
    await backend.close();
  }
});
