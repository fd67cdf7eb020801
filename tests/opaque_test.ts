/**
 * Opaque TCP through Petrel over real sockets: non-HTTP bytes on the outbound
 * listener go to `outbound.opaqueTarget` byte for byte (linkerd's opaque
 * fallback after protocol detection), `outbound.forwards` forward a port with
 * no detection at all (linkerd opaque ports), and without an opaque target a
 * non-HTTP connection is closed.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import {
  freePort,
  httpRequest,
  servicesYaml,
  startPetrel,
  waitFor,
} from "./support/petrel.ts";

/**
 * A TCP server for a tiny line protocol: it greets with `READY\n` on
 * connect, echoes every byte it receives, answers `BYE\n` and closes after
 * a `QUIT\n` line, and `END <n>\n` (n = bytes received) when the client
 * half-closes.
 */
async function startLineServer() {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  let received = 0;
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    accepted++;
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    let n = 0;
    let tail = "";
    s.write("READY\n");
    s.on("data", (c: Buffer) => {
      n += c.length;
      received += c.length;
      s.write(c);
      tail = (tail + c.toString("latin1")).slice(-5);
      if (tail === "QUIT\n") s.end("BYE\n");
    });
    s.on("end", () => {
      if (!s.writableEnded) s.end(`END ${n}\n`);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    received: () => received,
    /** Connections still open at the server. */
    open: () => sockets.size,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** A client socket with buffered reads. */
class Client {
  readonly socket: net.Socket;
  #buf = Buffer.alloc(0);
  #ended = false;
  #wake: (() => void) | undefined;
  /** Settles when the peer has sent FIN (or the socket closed). */
  readonly ended: Promise<void>;
  readonly closed: Promise<void>;

  private constructor(socket: net.Socket) {
    this.socket = socket;
    socket.on("data", (c: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, c]);
      this.#wake?.();
    });
    socket.on("error", () => {});
    this.ended = new Promise((r) => {
      const ended = () => {
        this.#ended = true;
        this.#wake?.();
        r();
      };
      socket.on("end", ended);
      socket.on("close", ended);
    });
    this.closed = new Promise((r) => socket.on("close", () => r()));
  }

  static connect(port: number): Promise<Client> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ host: "127.0.0.1", port, allowHalfOpen: true });
      s.once("connect", () => resolve(new Client(s)));
      s.once("error", reject);
    });
  }

  /** Resolves with exactly `n` bytes, or rejects if the socket closes or `timeoutMs` passes. */
  async read(n: number, timeoutMs = 5_000): Promise<Buffer> {
    const deadline = performance.now() + timeoutMs;
    while (this.#buf.length < n) {
      if (this.#ended) {
        throw new Error(
          `closed after ${this.#buf.length} of ${n} bytes: ${
            JSON.stringify(this.#buf.toString("latin1").slice(0, 80))
          }`,
        );
      }
      const left = deadline - performance.now();
      if (left <= 0) throw new Error(`timeout reading ${n} bytes`);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await new Promise<void>((r) => {
        this.#wake = r;
        timer = setTimeout(r, left);
      });
      clearTimeout(timer);
      this.#wake = undefined;
    }
    const out = this.#buf.subarray(0, n);
    this.#buf = this.#buf.subarray(n);
    return out;
  }

  async readText(text: string): Promise<void> {
    const got = (await this.read(Buffer.byteLength(text))).toString("latin1");
    assert.equal(got, text);
  }

  /**
   * Everything until the peer half-closes (or `timeoutMs` passes: then
   * rejects); then closes this side too.
   */
  async rest(timeoutMs = 5_000): Promise<string> {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const timeout = new Promise<"timeout">((r) => {
      timer = setTimeout(() => r("timeout"), timeoutMs);
    });
    const why = await Promise.race([this.ended, timeout]);
    clearTimeout(timer);
    this.socket.destroy();
    await this.closed;
    if (why === "timeout") {
      throw new Error(`the peer did not close within ${timeoutMs} ms`);
    }
    const s = this.#buf.toString("latin1");
    this.#buf = Buffer.alloc(0);
    return s;
  }

  write(data: string | Uint8Array): void {
    this.socket.write(data);
  }

  destroy(): void {
    this.socket.destroy();
  }
}

/** 64 KiB covering every byte value. */
function binaryBlob(): Uint8Array {
  const b = new Uint8Array(64 * 1024);
  for (let i = 0; i < b.length; i++) b[i] = (i * 7 + (i >> 8)) & 0xff;
  return b;
}

/** A line, 64 KiB of binary, then QUIT: echoed byte for byte, then BYE and close. */
async function lineSession(c: Client, greeted: boolean): Promise<void> {
  if (greeted) await c.readText("READY\n");
  c.write("PING 1\n");
  if (!greeted) await c.readText("READY\n");
  await c.readText("PING 1\n");
  const blob = binaryBlob();
  c.write(blob);
  const back = await c.read(blob.length);
  assert.ok(Buffer.from(blob).equals(back), "binary echoed byte for byte");
  c.write("QUIT\n");
  await c.readText("QUIT\n");
  assert.equal(
    await c.rest(),
    "BYE\n",
    "the server's close reaches the client",
  );
}

Deno.test("opaque: non-HTTP bytes on the outbound listener go to opaqueTarget, both ways", async () => {
  const lines = await startLineServer();
  const web = await startHttpBackend();
  await using petrel = await startPetrel(
    "outbound:\n  listen: 127.0.0.1:0\n" +
      `  opaqueTarget: 127.0.0.1:${lines.port}\n` +
      "admin: { listen: 127.0.0.1:0 }\n" +
      "services:\n  - name: web.test\n    protocol: http1\n" +
      `    endpoints: [127.0.0.1:${web.port}]\n`,
  );
  try {
    // The line server speaks after the client: detection needs its bytes.
    const c = await Client.connect(petrel.port);
    await lineSession(c, false);
    assert.equal(lines.accepted(), 1);
    await waitFor(() => lines.open() === 0, "the upstream side to close");
    // HTTP on the same listener is still proxied as HTTP.
    const r = await httpRequest(petrel.port, "web.test", "/");
    assert.equal(r.status, 200);
    assert.equal(r.body, web.name);
    assert.equal(lines.accepted(), 1, "HTTP did not go to the opaque target");
  } finally {
    await lines.close();
    await web.close();
  }
});

Deno.test("opaque: a client half-close reaches the opaque target, and its reply comes back", async () => {
  const lines = await startLineServer();
  await using petrel = await startPetrel(
    "outbound:\n  listen: 127.0.0.1:0\n" +
      `  opaqueTarget: 127.0.0.1:${lines.port}\n` +
      "admin: { listen: 127.0.0.1:0 }\nservices: []\n",
  );
  try {
    const c = await Client.connect(petrel.port);
    c.write("PING 2\n");
    await c.readText("READY\nPING 2\n");
    c.socket.end();
    assert.equal(await c.rest(), "END 7\n");
    await waitFor(() => lines.open() === 0, "the upstream side to close");
  } finally {
    await lines.close();
  }
});

Deno.test("opaque: outbound.forwards forwards a port byte for byte, server-first protocols too", async () => {
  const lines = await startLineServer();
  // The app does not expose the bound port of a forward: pick one up front.
  const fwdPort = freePort();
  await using _petrel = await startPetrel(
    "outbound:\n  listen: 127.0.0.1:0\n  forwards:\n" +
      `    - { listen: 127.0.0.1:${fwdPort}, target: 127.0.0.1:${lines.port} }\n` +
      "admin: { listen: 127.0.0.1:0 }\nservices: []\n",
  );
  try {
    // No detection on a forward: the server's greeting arrives first.
    const c = await Client.connect(fwdPort);
    await lineSession(c, true);
    // Even an HTTP request line is forwarded as bytes.
    const d = await Client.connect(fwdPort);
    await d.readText("READY\n");
    d.write("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    await d.readText("GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    d.destroy();
    await d.closed;
    // A half-close passes through a forward too.
    const e = await Client.connect(fwdPort);
    await e.readText("READY\n");
    e.write("x");
    e.socket.end();
    assert.equal(await e.rest(), "xEND 1\n");
    assert.equal(lines.accepted(), 3);
    await waitFor(() => lines.open() === 0, "every upstream side to close");
  } finally {
    await lines.close();
  }
});

Deno.test("opaque: without an opaqueTarget a non-HTTP connection is closed", async () => {
  const lines = await startLineServer();
  const web = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${web.port}`] },
  }));
  try {
    const c = await Client.connect(petrel.port);
    c.write("PING 3\n");
    assert.equal(await c.rest(), "", "closed with no bytes sent back");
    // A TLS ClientHello-looking start is not forwarded either.
    const t = await Client.connect(petrel.port);
    t.write(new Uint8Array([0x16, 0x03, 0x01, 0x00, 0x05, 1, 2, 3, 4, 5]));
    assert.equal(await t.rest(), "");
    await waitFor(async () => {
      const m = await httpRequest(petrel.adminPort, "localhost", "/metrics");
      return /outbound_tcp_detect_http_results_total\{result="not_http"\} 2/
        .test(m.body);
    }, "both connections counted as not_http");
    assert.equal(lines.accepted(), 0);
  } finally {
    await lines.close();
    await web.close();
  }
});
