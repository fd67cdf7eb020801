/**
 * Request head limits through Petrel (issue 13 item 3): the HTTP/1 header
 * field count (hyper's 100) on requests and on upstream responses, the
 * HTTP/1 head read timeout against slowloris clients, and HTTP/2 header
 * values with CR, LF or NUL (RFC 9113 §8.2.1).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { type Backend, startHttpBackend } from "./support/backend.ts";
import {
  httpRequest,
  servicesYaml,
  startPetrel,
  waitFor,
} from "./support/petrel.ts";
import { runPython } from "./support/proc.ts";
import { parseConfig } from "../src/config/env.ts";

function fieldLines(n: number): Record<string, string> {
  const h: Record<string, string> = {};
  for (let i = 0; i < n; i++) h[`x-f${i}`] = String(i);
  return h;
}

Deno.test("limits: PETREL_HTTP1_* variables and YAML keys set the HTTP/1 limits", () => {
  const def = parseConfig({}, [], { services: [] });
  assert.equal(def.outbound.http1MaxHeaders, 100);
  assert.equal(def.outbound.http1HeaderReadTimeoutMs, 10_000);
  const env = parseConfig(
    {
      PETREL_HTTP1_MAX_HEADERS: "250",
      PETREL_HTTP1_HEADER_READ_TIMEOUT: "300ms",
    },
    [],
    { services: [] },
  );
  assert.equal(env.outbound.http1MaxHeaders, 250);
  assert.equal(env.outbound.http1HeaderReadTimeoutMs, 300);
  assert.throws(
    () => parseConfig({ PETREL_HTTP1_MAX_HEADERS: "x" }, [], { services: [] }),
    /PETREL_HTTP1_MAX_HEADERS/,
  );
});

Deno.test("limits: more than 100 request header fields get 431 and never reach the backend", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    // Host + Connection + 98 = 100 fields: served.
    const ok = await httpRequest(petrel.port, "web.test", "/", {
      headers: fieldLines(98),
    });
    assert.equal(ok.status, 200);
    assert.equal(backend.requests, 1);
    // 1 000 fields (what used to be forwarded): refused.
    for (const n of [99, 998]) {
      const r = await httpRequest(petrel.port, "web.test", "/", {
        headers: fieldLines(n),
      });
      assert.equal(r.status, 431, `${n + 2} fields`);
      assert.equal(
        r.headers["l5d-proxy-error"],
        "too many request header fields",
      );
      assert.equal(r.headers["connection"], "close");
    }
    assert.equal(backend.requests, 1);
  } finally {
    await backend.close();
  }
});

Deno.test("limits: PETREL_HTTP1_MAX_HEADERS raises the request limit", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
    { PETREL_HTTP1_MAX_HEADERS: "150" },
  );
  try {
    const ok = await httpRequest(petrel.port, "web.test", "/", {
      headers: fieldLines(148),
    });
    assert.equal(ok.status, 200);
    const r = await httpRequest(petrel.port, "web.test", "/", {
      headers: fieldLines(149),
    });
    assert.equal(r.status, 431);
  } finally {
    await backend.close();
  }
});

Deno.test("limits: an upstream response with more than 100 header fields is a 502", async () => {
  const backend = await startHttpBackend((req) => {
    const n = Number(req.query.get("n"));
    const headers: [string, string][] = [];
    for (let i = 0; i < n; i++) headers.push([`x-r${i}`, String(i)]);
    return { status: 200, headers, body: "many" };
  });
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    // The backend adds x-backend and content-length: 98 + 2 fields pass.
    const ok = await httpRequest(petrel.port, "web.test", "/?n=98");
    assert.equal(ok.status, 200);
    assert.equal(ok.body, "many");
    assert.equal(ok.headers["x-r97"], "97");
    const r = await httpRequest(petrel.port, "web.test", "/?n=99");
    assert.equal(r.status, 502);
    assert.match(r.headers["l5d-proxy-error"] ?? "", /too many header fields/);
  } finally {
    await backend.close();
  }
});

/** A client that sends a request line, then one header byte every `everyMs`. */
class Slowloris {
  readonly socket: net.Socket;
  connectedAt = 0;
  closedAt = 0;
  received = "";
  #timer: ReturnType<typeof setInterval> | undefined;
  readonly closed: Promise<void>;

  constructor(port: number, everyMs: number, onByte: () => void) {
    this.socket = net.connect(port, "127.0.0.1");
    this.socket.on("error", () => {});
    this.socket.on("data", (d) => (this.received += d.toString("latin1")));
    this.closed = new Promise((r) =>
      this.socket.on("close", () => {
        this.closedAt = performance.now();
        this.stop();
        r();
      })
    );
    this.socket.once("connect", () => {
      this.connectedAt = performance.now();
      this.socket.write("GET / HTTP/1.1\r\nHost: web.test\r\n");
      this.#timer = setInterval(() => {
        if (this.socket.writable) {
          this.socket.write("x");
          onByte();
        }
      }, everyMs);
    });
  }

  stop(): void {
    if (this.#timer !== undefined) clearInterval(this.#timer);
    this.#timer = undefined;
  }
}

Deno.test("limits: 200 slowloris connections get 408 and are closed after the head read timeout, others are served", async () => {
  const backend = await startHttpBackend();
  const timeoutMs = 300;
  await using petrel = await startPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
    { PETREL_HTTP1_HEADER_READ_TIMEOUT: `${timeoutMs}ms` },
  );
  const clients: Slowloris[] = [];
  // A keep-alive connection left idle longer than the timeout must stay.
  const idle = net.connect(petrel.port, "127.0.0.1");
  idle.on("error", () => {});
  let idleClosed = false;
  idle.on("close", () => (idleClosed = true));
  let idleData = "";
  idle.on("data", (d) => (idleData += d.toString("latin1")));
  try {
    await new Promise((r) => idle.once("connect", r));
    idle.write("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
    await waitFor(
      () => idleData.includes(backend.name),
      "the idle client's first response",
    );

    let bytes = 0;
    const started = performance.now();
    for (let i = 0; i < 200; i++) {
      clients.push(new Slowloris(petrel.port, 100, () => bytes++));
    }
    // Meanwhile a normal client is served, repeatedly.
    let served = 0;
    while (clients.some((c) => c.closedAt === 0) && served < 50) {
      const r = await httpRequest(petrel.port, "web.test", "/");
      assert.equal(r.status, 200);
      served++;
    }
    await waitFor(
      () => clients.every((c) => c.closedAt > 0),
      "every slowloris connection closed by Petrel",
      10_000,
    );
    const lifetimes = clients.map((c) => c.closedAt - c.connectedAt);
    const allClosed = Math.max(...clients.map((c) => c.closedAt)) - started;
    const shortest = Math.min(...lifetimes);
    const longest = Math.max(...lifetimes);
    console.log(
      `slowloris: 200 closed after ${shortest.toFixed(0)}-${
        longest.toFixed(0)
      } ms after connecting (timeout ${timeoutMs} ms; all within ${
        allClosed.toFixed(0)
      } ms), ${bytes} bytes trickled, ${served} normal requests served meanwhile`,
    );
    assert.ok(served >= 1);
    assert.ok(shortest >= timeoutMs - 10, `closed after ${shortest} ms`);
    for (const c of clients) {
      assert.match(c.received, /^HTTP\/1\.1 408 Request Timeout\r\n/);
      assert.match(
        c.received,
        /l5d-proxy-error: request header read timed out/,
      );
    }
    assert.equal(backend.requests, 1 + served);

    // The idle keep-alive connection outlived every slowloris and still works.
    assert.equal(idleClosed, false);
    idleData = "";
    idle.write("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
    await waitFor(
      () => idleData.includes(backend.name),
      "the idle client's second response",
    );
  } finally {
    for (const c of clients) {
      c.stop();
      c.socket.destroy();
    }
    idle.destroy();
    await Promise.all(clients.map((c) => c.closed));
    await backend.close();
  }
});

interface BadHeaderResult {
  bad: {
    status: number | null;
    reset_code: number | null;
    error: string | null;
  };
  good:
    | { status: number | null; reset_code: number | null; body: string }
    | null;
  goaway: { error_code: number; last_stream_id: number } | null;
}

/** h2_bad_header.py: a request with `x-bad: a<byte>b`, then a good one. */
async function sendBadHeader(
  addr: string,
  byte: number,
): Promise<BadHeaderResult> {
  const r = await runPython("h2_bad_header.py", [
    addr,
    "web.test:80",
    String(byte),
  ], {
    timeoutMs: 30_000,
  });
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as BadHeaderResult;
}

/** An HTTP/1 backend that records every request's header fields. */
async function recordingBackend(): Promise<
  { backend: Backend; seen: [string, string][][] }
> {
  const seen: [string, string][][] = [];
  const backend = await startHttpBackend((req) => {
    seen.push(req.headers);
    return { status: 200, body: "ok" };
  });
  return { backend, seen };
}

Deno.test("limits: HTTP/2 header values with CR, LF or NUL never reach the backend", async () => {
  const { backend, seen } = await recordingBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    for (const byte of [13, 10, 0]) {
      seen.length = 0;
      const r = await sendBadHeader(petrel.addr, byte);
      const what = `byte ${byte}: ${JSON.stringify(r)} ${JSON.stringify(seen)}`;
      assert.equal(r.goaway, null, what);
      assert.equal(r.good?.status, 200, what);
      // Refused (RFC 9113: reset or 400), or at least stripped (what the
      // node:http2 adapter did: nghttp2 dropped the field silently).
      const refused = r.bad.reset_code === 1 || r.bad.status === 400;
      assert.ok(refused || r.bad.status === 200, what);
      assert.equal(seen.length, refused ? 1 : 2, what);
      for (const fields of seen) {
        for (const [k, v] of fields) {
          assert.notEqual(k, "x-bad", what);
          assert.ok(!v.includes(String.fromCharCode(byte)), what);
        }
      }
    }
  } finally {
    await backend.close();
  }
});

// RFC 9113 §8.2.1: such a request is malformed. Petrel's own codec checks
// every value (conn.ts) and resets the stream with PROTOCOL_ERROR.
Deno.test({
  name:
    "limits: HTTP/2 header values with CR, LF or NUL are malformed: PROTOCOL_ERROR, not forwarded",
  async fn() {
    const { backend, seen } = await recordingBackend();
    await using petrel = await startPetrel(servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }));
    try {
      for (const byte of [13, 10, 0]) {
        seen.length = 0;
        const r = await sendBadHeader(petrel.addr, byte);
        const what = `byte ${byte}: ${JSON.stringify(r)}`;
        assert.ok(r.bad.reset_code === 1 || r.bad.status === 400, what);
        assert.equal(r.goaway, null, what);
        assert.equal(r.good?.status, 200, what);
        assert.equal(seen.length, 1, what);
      }
    } finally {
      await backend.close();
    }
  },
});
