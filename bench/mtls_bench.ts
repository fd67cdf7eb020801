/**
 * The cost of mesh TLS, in-process: requests over one warm keep-alive
 * connection through outbound Petrel → inbound Petrel → application, with
 * mTLS between the proxies versus plaintext; and full mTLS handshakes per
 * second (TLS 1.3, ECDSA P-256, both sides verifying) versus a bare TCP
 * connect. Both proxies, the client and the application share this one
 * process, so every figure carries both ends' work.
 *
 *   deno bench -A bench/mtls_bench.ts
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import { startHttpBackend } from "../tests/support/backend.ts";
import { makePki, meshIdentity } from "../tests/support/certs.ts";
import { startPetrel } from "../tests/support/petrel.ts";
import { connectTls } from "../src/tls/client.ts";
import { loadCredentials } from "../src/tls/credentials.ts";
import { LocalIdentity } from "../src/tls/identity.ts";

const SERVER = meshIdentity("server", "bench");
const CLIENT = meshIdentity("client", "bench");

const pki = await makePki();
globalThis.addEventListener("unload", () => {
  try {
    Deno.removeSync(pki.dir, { recursive: true });
  } catch { /* gone */ }
});
const serverLeaf = await pki.issue(SERVER);
const clientLeaf = await pki.issue(CLIENT);
const app = await startHttpBackend();
const quiet = { logLevel: "off" };

const meshed = await startPetrel(
  `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${await pki.identityDir(serverLeaf)} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port}, policy: all-authenticated }
services: []
`,
  {},
  quiet,
);
const plain = await startPetrel(
  `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port} }
services: []
`,
  {},
  quiet,
);
const outbound = await startPetrel(
  `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${await pki.identityDir(clientLeaf)} }
services:
  - name: mesh.test:8080
    identity: ${SERVER}
    endpoints: ["127.0.0.1:${meshed.app.inbound!.port}"]
  - name: plain.test:8080
    endpoints: ["127.0.0.1:${plain.app.inbound!.port}"]
`,
  {},
  quiet,
);

/** A sequential HTTP/1.1 keep-alive client for content-length responses. */
class KeepAlive {
  readonly #socket: net.Socket;
  #buf: Buffer = Buffer.alloc(0);
  #waiter: (() => void) | undefined;

  constructor(port: number) {
    this.#socket = net.connect({ host: "127.0.0.1", port, noDelay: true });
    this.#socket.on("data", (d: Buffer) => {
      this.#buf = this.#buf.length === 0 ? d : Buffer.concat([this.#buf, d]);
      this.#waiter?.();
    });
  }

  async get(host: string): Promise<number> {
    this.#socket.write(`GET / HTTP/1.1\r\nhost: ${host}\r\n\r\n`);
    for (;;) {
      const end = this.#buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = this.#buf.subarray(0, end).toString("latin1");
        const len = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (this.#buf.length >= end + 4 + len) {
          this.#buf = this.#buf.subarray(end + 4 + len);
          return Number(head.slice(9, 12));
        }
      }
      await new Promise<void>((r) => this.#waiter = r);
    }
  }
}

const meshClient = new KeepAlive(outbound.port);
const plainClient = new KeepAlive(outbound.port);
for (let i = 0; i < 50; i++) {
  if (await meshClient.get("mesh.test:8080") !== 200) {
    throw new Error("mesh warm-up failed");
  }
  if (await plainClient.get("plain.test:8080") !== 200) {
    throw new Error("plain warm-up failed");
  }
}

Deno.bench({
  name: "request, plaintext between the proxies (warm connection)",
  group: "request",
  baseline: true,
  async fn() {
    await plainClient.get("plain.test:8080");
  },
});

Deno.bench({
  name: "request, mTLS between the proxies (warm connection)",
  group: "request",
  async fn() {
    await meshClient.get("mesh.test:8080");
  },
});

const identity = LocalIdentity.fixed(
  await loadCredentials({
    certFile: clientLeaf.certFile,
    keyFile: clientLeaf.keyFile,
    trustAnchorsFile: pki.anchorFile,
  }),
);
const inboundPort = meshed.app.inbound!.port;

Deno.bench({
  name: "TCP connect + close to the inbound",
  group: "connect",
  baseline: true,
  async fn() {
    const s = net.connect({ host: "127.0.0.1", port: inboundPort });
    await new Promise((r) => s.once("connect", r));
    s.destroy();
  },
});

Deno.bench({
  name: "mTLS handshake to the inbound (connect, TLS 1.3, both verify)",
  group: "connect",
  async fn() {
    const s = await connectTls("127.0.0.1", inboundPort, {
      serverId: SERVER,
      identity,
    });
    s.destroy();
  },
});
