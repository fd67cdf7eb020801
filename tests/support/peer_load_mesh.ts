/**
 * A small mesh for the peer-load balancer on the wire (issue 20): three
 * "server pods" (an inbound Petrel with mTLS in front of an HTTP/1 app with
 * a fixed number of workers and a settable service time) and one
 * client-side Petrel whose two services reach the same three inbounds, one
 * with `loadBalancer: peer-load`, one with linkerd's default. A keep-alive
 * HTTP/1 load generator runs a closed loop through the client Petrel.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import { type Backend, startHttpBackend } from "./backend.ts";
import { makePki, meshIdentity, type TestPki } from "./certs.ts";
import { startPetrel, type TestPetrel } from "./petrel.ts";

const CLIENT_ID = meshIdentity("client", "front");
const SERVER_ID = meshIdentity("server", "back");

/** One server pod's application: `workers` slots, FIFO queue, `serviceMs` per request. */
export interface PodApp {
  backend: Backend;
  /** Service time of each request, ms (change it while running). */
  serviceMs: number;
  /** Requests whose headers carried the load header (must stay 0). */
  sawLoadHeader: number;
  /** Requests served. */
  served: number;
}

/** The mesh: pods, their inbound Petrels, the client Petrel. */
export interface PeerLoadMesh extends AsyncDisposable {
  readonly pods: PodApp[];
  readonly client: TestPetrel;
  readonly servers: TestPetrel[];
}

/** The services of the client Petrel. */
export const PEER_SERVICE = "peer.test:8080";
export const EWMA_SERVICE = "ewma.test:8080";

async function startPodApp(i: number, serviceMs: number, workers: number) {
  let busy = 0;
  const queue: (() => void)[] = [];
  const pod: PodApp = {
    backend: undefined as unknown as Backend,
    serviceMs,
    sawLoadHeader: 0,
    served: 0,
  };
  pod.backend = await startHttpBackend(async (req) => {
    if (req.header("l5d-petrel-load") !== undefined) pod.sawLoadHeader++;
    await req.readBody();
    if (busy >= workers) await new Promise<void>((r) => queue.push(r));
    else busy++;
    await new Promise((r) => setTimeout(r, pod.serviceMs));
    const next = queue.shift();
    if (next) next();
    else busy--;
    pod.served++;
    return { status: 200, headers: { "x-pod": String(i) }, body: "ok" };
  });
  return pod;
}

/** Starts three pods (service times `serviceMs`) and the client Petrel. */
export async function startPeerLoadMesh(
  serviceMs: readonly number[],
  opts: { workers?: number } = {},
): Promise<PeerLoadMesh> {
  const pki: TestPki = await makePki();
  const pods: PodApp[] = [];
  const servers: TestPetrel[] = [];
  let client: TestPetrel | undefined;
  const close = async () => {
    await client?.close();
    for (const s of servers) await s.close();
    for (const p of pods) await p.backend.close();
    await pki[Symbol.asyncDispose]();
  };
  try {
    const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
    for (let i = 0; i < serviceMs.length; i++) {
      const pod = await startPodApp(i, serviceMs[i]!, opts.workers ?? 4);
      pods.push(pod);
      servers.push(
        await startPetrel(
          `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: ${pod.backend.port}, policy: all-authenticated }
services: []
`,
          { LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT: "10s" },
        ),
      );
    }
    const eps = servers.map((s) => `"127.0.0.1:${s.app.inbound!.port}"`)
      .join(", ");
    const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
    client = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services:
  - name: ${PEER_SERVICE}
    identity: ${SERVER_ID}
    meshed: true
    loadBalancer: peer-load
    endpoints: [${eps}]
  - name: ${EWMA_SERVICE}
    identity: ${SERVER_ID}
    meshed: true
    endpoints: [${eps}]
`);
  } catch (err) {
    await close();
    throw err;
  }
  return { pods, client, servers, [Symbol.asyncDispose]: close };
}

/** What one closed-loop run measured at the client. */
export interface LoadRun {
  latenciesMs: number[];
  /** Responses per pod (from `x-pod`). */
  perPod: number[];
  /** Responses whose head carried `l5d-petrel-load` (must stay 0). */
  sawLoadHeader: number;
  errors: number;
}

/**
 * `concurrency` keep-alive HTTP/1 connections to the client Petrel, each
 * sending GETs for `host` back to back until `durationMs` passed (or
 * `maxRequests` in all). `onProgress(fraction)` is called as time passes.
 */
export async function closedLoop(
  port: number,
  host: string,
  opts: {
    concurrency: number;
    durationMs: number;
    pods: number;
    maxRequests?: number;
    onProgress?: (fraction: number) => void;
  },
): Promise<LoadRun> {
  const run: LoadRun = {
    latenciesMs: [],
    perPod: Array(opts.pods).fill(0),
    sawLoadHeader: 0,
    errors: 0,
  };
  const t0 = performance.now();
  const end = t0 + opts.durationMs;
  let sent = 0;
  const max = opts.maxRequests ?? Infinity;
  const worker = async () => {
    const conn = new KeepAliveConn(port);
    try {
      while (performance.now() < end && sent < max) {
        sent++;
        const t = performance.now();
        opts.onProgress?.((t - t0) / opts.durationMs);
        try {
          const head = await conn.get(host);
          run.latenciesMs.push(performance.now() - t);
          if (/^l5d-petrel-load:/im.test(head)) run.sawLoadHeader++;
          const pod = /^x-pod: *(\d+)/im.exec(head);
          if (pod) run.perPod[Number(pod[1])]!++;
          if (!head.startsWith("HTTP/1.1 200")) run.errors++;
        } catch {
          run.errors++;
          conn.close();
          return;
        }
      }
    } finally {
      conn.close();
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency }, worker));
  return run;
}

/** One keep-alive HTTP/1.1 connection reading fixed-length responses. */
class KeepAliveConn {
  readonly #socket: net.Socket;
  #buf = Buffer.alloc(0);
  #waiter: (() => void) | undefined;
  #closed = false;

  constructor(port: number) {
    this.#socket = net.connect({ host: "127.0.0.1", port });
    this.#socket.setNoDelay(true);
    this.#socket.on("data", (d: Buffer) => {
      this.#buf = Buffer.concat([this.#buf, d]);
      this.#waiter?.();
    });
    const done = () => {
      this.#closed = true;
      this.#waiter?.();
    };
    this.#socket.on("close", done);
    this.#socket.on("error", done);
  }

  /** Sends one GET; resolves with the response head once the body is read. */
  async get(host: string): Promise<string> {
    this.#socket.write(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    for (;;) {
      const i = this.#buf.indexOf("\r\n\r\n");
      if (i >= 0) {
        const head = this.#buf.subarray(0, i).toString("latin1");
        const m = /^content-length: *(\d+)/im.exec(head);
        if (!m) throw new Error(`no content-length: ${head}`);
        const total = i + 4 + Number(m[1]);
        if (this.#buf.length >= total) {
          this.#buf = this.#buf.subarray(total);
          return head;
        }
      }
      if (this.#closed) throw new Error("connection closed");
      await new Promise<void>((r) => (this.#waiter = r));
      this.#waiter = undefined;
    }
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** The q-quantile of `xs` (sorts a copy). */
export function quantile(xs: readonly number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1))] ??
    NaN;
}
