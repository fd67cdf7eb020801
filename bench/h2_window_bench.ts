/**
 * Flow-control windows for the HTTP/2 codec (issue 15): bulk download
 * throughput through a relay shaped like Petrel's HTTP/2 path (client →
 * serveH2 → H2CodecClient → serveH2 backend), over loopback TCP, for
 * several initial stream / connection windows set on every hop.
 *
 *   deno run -A bench/h2_window_bench.ts [MiB per run=256]
 */
import net from "node:net";
import { H2CodecClient } from "../src/http/h2/codec_client.ts";
import { serveH2 } from "../src/http/h2/codec_server.ts";
import type { H2ConnOptions } from "../src/http/h2/conn.ts";
import type { Body, BodySink, HttpRequest } from "../src/http/message.ts";

const MIB = 1024 * 1024;
const total = Number(Deno.args[0] ?? 256) * MIB;
const CHUNK = new Uint8Array(64 * 1024).fill(0x61);

/** `n` bytes in 64 KiB chunks, honouring pause/resume. */
function generated(n: number): Body {
  let sink: BodySink;
  let left = n;
  let paused = false;
  const pump = () => {
    while (!paused && left > 0) {
      const c = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left);
      left -= c.length;
      sink.data(c);
    }
    if (left === 0) {
      left = -1;
      sink.end(undefined);
    }
  };
  return {
    length: n,
    start(s) {
      sink = s;
      queueMicrotask(pump);
    },
    pause() {
      paused = true;
    },
    resume() {
      if (!paused) return;
      paused = false;
      queueMicrotask(pump);
    },
    cancel() {
      left = -1;
    },
  };
}

function listen(onSocket: (s: net.Socket) => void): Promise<net.Server> {
  const server = net.createServer({ noDelay: true }, onSocket);
  return new Promise((r) => server.listen(0, "127.0.0.1", () => r(server)));
}

function portOf(s: net.Server): number {
  return (s.address() as net.AddressInfo).port;
}

function dial(port: number): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ port, host: "127.0.0.1", noDelay: true });
    s.once("connect", () => resolve(s));
    s.once("error", reject);
  });
}

function req(path: string): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "bench",
    path,
    version: "HTTP/2",
    headers: {},
    body: null,
    ext: {},
  };
}

/** Reads a body to its end, counting bytes. */
function drain(body: Body | null): Promise<number> {
  return new Promise((resolve, reject) => {
    if (body === null) return resolve(0);
    let n = 0;
    body.start({
      data: (c) => (n += c.length),
      end: () => resolve(n),
      error: reject,
    });
  });
}

async function run(opts: H2ConnOptions, streams: number): Promise<number> {
  const sockets = new Set<net.Socket>();
  const track = (s: net.Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };
  const backend = await listen((s) => {
    track(s);
    serveH2(s, new Uint8Array(0), {
      ...opts,
      service: (r) =>
        Promise.resolve({
          status: 200,
          headers: {},
          body: generated(Number(r.path.slice(1))),
        }),
    });
  });
  const upstream = new H2CodecClient("backend", {
    ...opts,
    connect: () => dial(portOf(backend)),
  });
  const relay = await listen((s) => {
    track(s);
    serveH2(s, new Uint8Array(0), {
      ...opts,
      service: (r) => upstream.request(r),
    });
  });
  const client = new H2CodecClient("relay", {
    ...opts,
    connect: () => dial(portOf(relay)),
  });
  const each = Math.floor(total / streams);
  const t0 = performance.now();
  const got = await Promise.all(
    Array.from(
      { length: streams },
      () => client.request(req(`/${each}`)).then((r) => drain(r.body)),
    ),
  );
  const secs = (performance.now() - t0) / 1000;
  const bytes = got.reduce((a, b) => a + b, 0);
  if (bytes !== each * streams) throw new Error(`short: ${bytes}`);
  client.destroy();
  upstream.destroy();
  for (const s of sockets) s.destroy();
  await new Promise((r) => relay.close(r));
  await new Promise((r) => backend.close(r));
  return bytes / MIB / secs;
}

const configs: Array<[string, H2ConnOptions]> = [
  ["64 KiB / 1 MiB (h2 default, linkerd)", {}],
  ["256 KiB / 1 MiB", { initialStreamWindowSize: 256 * 1024 }],
  ["1 MiB / 4 MiB", {
    initialStreamWindowSize: MIB,
    initialConnectionWindowSize: 4 * MIB,
  }],
  ["4 MiB / 16 MiB", {
    initialStreamWindowSize: 4 * MIB,
    initialConnectionWindowSize: 16 * MIB,
  }],
];
console.log(`bulk download through an h2 relay, ${total / MIB} MiB per run`);
for (const streams of [1, 8]) {
  for (const [name, opts] of configs) {
    await run(opts, streams); // warm-up
    const a = await run(opts, streams);
    const b = await run(opts, streams);
    console.log(
      `  ${streams} stream(s), windows ${name.padEnd(38)} ${
        a.toFixed(0)
      } / ${b.toFixed(0)} MiB/s`,
    );
  }
}
