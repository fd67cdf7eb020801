/**
 * Routes through the whole proxy over real sockets (linkerd HTTPRoute and
 * GRPCRoute semantics): each HTTP filter seen by curl, gRPC routes seen by
 * grpc-js and python grpcio, a weighted split over 10 000 requests, and a
 * weight change in the file applied without a restart or a failed request.
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import { grpcJsCalls, startGrpcJsServer } from "./support/grpc_js.ts";
import { grpcPyCalls } from "./support/grpc_py.ts";
import { startPetrel, type TestPetrel, waitFor } from "./support/petrel.ts";
import { run } from "./support/proc.ts";

const HEAD =
  "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\n";

/** `curl -i` through Petrel as an HTTP proxy; the response parsed. */
async function curl(petrel: TestPetrel, url: string, args: string[] = []) {
  const r = await run("curl", [
    "-sS",
    "-i",
    "-x",
    `http://${petrel.addr}`,
    ...args,
    url,
  ]);
  assert.equal(r.code, 0, r.stderr);
  const [head = "", ...rest] = r.stdout.split("\r\n\r\n");
  const [statusLine = "", ...lines] = head.split("\r\n");
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const i = line.indexOf(":");
    headers[line.slice(0, i).toLowerCase()] = line.slice(i + 1).trim();
  }
  return {
    status: Number(statusLine.split(" ")[1]),
    headers,
    body: rest.join("\r\n\r\n"),
  };
}

Deno.test("routes: each HTTP filter over the wire (curl)", async () => {
  const web = await startHttpBackend();
  const canary = await startHttpBackend();
  const yaml = HEAD + `services:
  - name: web.test:80
    endpoints: [127.0.0.1:${web.port}]
    routes:
      - name: modify-headers
        matches: [{ path: { exact: /echo } }]
        filters:
          - requestHeaderModifier: { add: { x-added: "1" }, set: { x-set: new }, remove: [x-remove] }
          - responseHeaderModifier: { set: { x-served-by: petrel }, remove: [x-backend] }
      - name: canary-by-header
        matches: [{ path: { exact: /echo }, headers: [{ name: x-canary, exact: "yes" }] }]
        backends: [canary.test]
      - name: canary-by-query
        matches: [{ path: { prefix: /q }, queryParams: [{ name: v, regex: "[0-9]+" }] }]
        backends: [canary.test]
      - name: moved
        matches: [{ path: { prefix: /old } }]
        filters: [{ requestRedirect: { path: { replacePrefixMatch: /new }, statusCode: 302 } }]
      - name: to-https
        matches: [{ path: { exact: /secure } }]
        filters: [{ requestRedirect: { scheme: https, port: 8443 } }]
      - name: same-place
        matches: [{ path: { prefix: /same } }]
        filters: [{ requestRedirect: { hostname: web.test } }]
      - name: chaos
        matches: [{ path: { prefix: /chaos } }]
        filters: [{ failureInjector: { status: 503, message: chaos monkey } }]
      - name: plain
        matches: [{ path: { prefix: /new } }, { path: { prefix: /status } }]
  - name: canary.test:80
    endpoints: [127.0.0.1:${canary.port}]
`;
  await using petrel = await startPetrel(yaml);
  try {
    // Request and response header modifiers.
    const echo = await curl(petrel, "http://web.test/echo", [
      "-H",
      "x-set: old",
      "-H",
      "x-remove: bye",
      "-H",
      "x-added: 0",
    ]);
    assert.equal(echo.status, 200);
    const seen = JSON.parse(echo.body) as {
      backend: string;
      headers: Record<string, string>;
    };
    assert.equal(seen.backend, web.name);
    assert.equal(seen.headers["x-added"], "0, 1", "add appends");
    assert.equal(seen.headers["x-set"], "new");
    assert.equal(seen.headers["x-remove"], undefined);
    assert.equal(echo.headers["x-served-by"], "petrel");
    assert.equal(echo.headers["x-backend"], undefined);

    // Header and query matches pick another backend.
    const byHeader = await curl(petrel, "http://web.test/echo", [
      "-H",
      "x-canary: yes",
    ]);
    assert.equal(JSON.parse(byHeader.body).backend, canary.name);
    assert.equal(
      (await curl(petrel, "http://web.test/q?v=42")).body,
      canary.name,
    );
    assert.equal(
      (await curl(petrel, "http://web.test/q?v=4x")).status,
      404,
      "the query regex must match the whole value",
    );

    // Redirects: prefix replacement, scheme + port, and a no-op.
    const moved = await curl(petrel, "http://web.test/old/page?x=1");
    assert.equal(moved.status, 302);
    assert.equal(moved.headers["location"], "http://web.test/new/page?x=1");
    const secure = await curl(petrel, "http://web.test/secure");
    assert.equal(secure.status, 301, "the default status");
    assert.equal(secure.headers["location"], "https://web.test:8443/secure");
    const same = await curl(petrel, "http://web.test/same");
    assert.equal(same.status, 200, "a redirect to itself is a no-op");
    assert.equal(same.body, web.name);
    const followed = await curl(petrel, "http://web.test/old/page", ["-L"]);
    assert.ok(followed.body.endsWith(web.name), followed.body);

    // Failure injection, with a request body the proxy never reads.
    const chaos = await curl(petrel, "http://web.test/chaos", [
      "-d",
      "payload",
    ]);
    assert.equal(chaos.status, 503);
    assert.equal(chaos.headers["l5d-proxy-error"], "chaos monkey");
    assert.equal(
      web.requests + canary.requests,
      5,
      "nothing reached a backend",
    );

    // No route.
    const none = await curl(petrel, "http://web.test/nothing");
    assert.equal(none.status, 404);
    assert.match(none.headers["l5d-proxy-error"] ?? "", /no route/);
    assert.equal(
      (await curl(petrel, "http://web.test/status?code=418")).status,
      418,
    );
  } finally {
    await web.close();
    await canary.close();
  }
});

Deno.test("routes: gRPC routes match service and method; injected failures and no route carry grpc-status", async () => {
  const server = await startGrpcJsServer();
  const yaml = HEAD + `services:
  - name: echo.test:50051
    protocol: http2
    endpoints: [127.0.0.1:${server.port}]
    routes:
      - kind: grpc
        name: unary
        matches: [{ method: { service: petrel.test.Echo, method: Unary } }]
      - kind: grpc
        name: stream-fails
        matches: [{ method: { service: petrel.test.Echo, method: ServerStream } }]
        filters: [{ failureInjector: { code: 8, message: injected by petrel } }]
      - kind: grpc
        name: grpc-js-only
        matches:
          - method: { service: petrel.test.Echo }
            headers: [{ name: x-client, exact: grpc-js }]
`;
  await using petrel = await startPetrel(yaml);
  try {
    const authority = "echo.test:50051";
    const js = await grpcJsCalls(petrel.addr, { authority });
    assert.deepEqual(
      [js.unary.code, js.unary.messages],
      [0, ["hello"]],
    );
    assert.deepEqual(
      [js.serverStream.code, js.serverStream.details, js.serverStream.messages],
      [8, "injected by petrel", []],
    );
    assert.equal(js.clientStream.code, 0, "the x-client header matched");
    assert.equal(js.bidi.code, 0);
    assert.equal(js.error.code, 9, "the server's own error passes");
    assert.equal(js.streamError.code, 8);

    const py = await grpcPyCalls(petrel.addr, { authority });
    assert.equal(py.unary.code, 0);
    assert.equal(py.serverStream.code, 8);
    assert.equal(py.serverStream.details, "injected by petrel");
    assert.equal(py.clientStream.code, 5, "no route: NOT_FOUND");
    assert.equal(py.bidi.code, 5);

    const raw = await run("nghttp", [
      "-v",
      "-H",
      ":method: POST",
      "-H",
      `:authority: ${authority}`,
      "-H",
      "content-type: application/grpc",
      "-H",
      "te: trailers",
      `http://${petrel.addr}/petrel.test.Other/Call`,
    ]);
    assert.match(raw.stdout, /:status: 200/, raw.stdout);
    assert.match(raw.stdout, /grpc-status: 5/, raw.stdout);
  } finally {
    await server.close();
  }
});

/**
 * HTTP/1.1 keep-alive connections to Petrel sending `GET /` for `host` one
 * after another; counts answers by body. Throws on any connection error.
 */
class KeepAliveLoad {
  readonly bodies = new Map<string, number>();
  readonly failures: string[] = [];
  #sockets: net.Socket[] = [];
  #stopped = false;
  #done: Promise<void>[] = [];
  #limit: number;
  #sent = 0;
  /** Connections opened in all (a dropped connection would add one). */
  opened = 0;

  constructor(
    port: number,
    host: string,
    connections: number,
    limit = Infinity,
  ) {
    this.#limit = limit;
    for (let i = 0; i < connections; i++) {
      this.#done.push(this.#connection(port, host));
    }
  }

  get answered(): number {
    let n = 0;
    for (const v of this.bodies.values()) n += v;
    return n + this.failures.length;
  }

  count(name: string): number {
    return this.bodies.get(name) ?? 0;
  }

  async #connection(port: number, host: string): Promise<void> {
    const socket = net.connect({ host: "127.0.0.1", port });
    this.opened++;
    this.#sockets.push(socket);
    socket.setNoDelay(true);
    let buf: Buffer = Buffer.alloc(0);
    let wake: (() => void) | undefined;
    let closed: Error | undefined;
    socket.on("data", (c: Buffer) => {
      buf = buf.length === 0 ? c : Buffer.concat([buf, c]);
      wake?.();
    });
    const end = (err?: Error) => {
      closed ??= err ?? new Error("connection closed");
      wake?.();
    };
    socket.on("error", end);
    socket.on("close", () => end());
    const request = Buffer.from(`GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`);
    try {
      while (!this.#stopped && this.#sent < this.#limit) {
        this.#sent++;
        socket.write(request);
        for (;;) {
          const headEnd = buf.indexOf("\r\n\r\n");
          if (headEnd >= 0) {
            const head = buf.subarray(0, headEnd).toString("latin1");
            const m = /content-length: *(\d+)/i.exec(head);
            const len = m ? Number(m[1]) : 0;
            if (buf.length >= headEnd + 4 + len) {
              const status = Number(head.split(" ")[1]);
              const body = buf.subarray(headEnd + 4, headEnd + 4 + len)
                .toString();
              buf = buf.subarray(headEnd + 4 + len);
              if (status === 200) {
                this.bodies.set(body, (this.bodies.get(body) ?? 0) + 1);
              } else {
                this.failures.push(`${status} ${head}`);
              }
              break;
            }
          }
          if (closed) throw closed;
          await new Promise<void>((r) => wake = r);
          wake = undefined;
        }
      }
    } catch (err) {
      if (!this.#stopped) this.failures.push(String(err));
    }
  }

  /** Resolves once every connection has finished (limit reached or stopped). */
  async finished(): Promise<void> {
    await Promise.all(this.#done);
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.finished();
    for (const s of this.#sockets) s.destroy();
  }
}

function splitYaml(
  webPort: number,
  canaryPort: number,
  webWeight: number,
  canaryWeight: number,
): string {
  return HEAD + `services:
  - name: web.test:80
    endpoints: [127.0.0.1:${webPort}]
    routes:
      - name: split
        backends:
          - { name: web.test, weight: ${webWeight} }
          - { name: canary.test, weight: ${canaryWeight} }
  - name: canary.test:80
    endpoints: [127.0.0.1:${canaryPort}]
`;
}

Deno.test("routes: a 90/10 split holds within ±3 % over 10 000 requests", async () => {
  const web = await startHttpBackend();
  const canary = await startHttpBackend();
  await using petrel = await startPetrel(
    splitYaml(web.port, canary.port, 90, 10),
  );
  const load = new KeepAliveLoad(petrel.port, "web.test", 8, 10_000);
  try {
    await load.finished();
    assert.deepEqual(load.failures, []);
    const total = load.count(web.name) + load.count(canary.name);
    assert.equal(total, 10_000);
    const share = load.count(canary.name) / total;
    assert.ok(
      Math.abs(share - 0.1) <= 0.03,
      `canary share ${(share * 100).toFixed(2)} %`,
    );
  } finally {
    await load.stop();
    await web.close();
    await canary.close();
  }
});

Deno.test("routes: new weights in the file shift traffic without a restart or a failed request", async () => {
  const web = await startHttpBackend();
  const canary = await startHttpBackend();
  const logs: string[] = [];
  await using petrel = await startPetrel(
    splitYaml(web.port, canary.port, 90, 10),
    {},
    { logLevel: "info", logWrite: (l) => logs.push(l) },
  );
  const load = new KeepAliveLoad(petrel.port, "web.test", 4);
  try {
    await waitFor(() => load.answered >= 1_000, "traffic on the 90/10 split");
    await Deno.writeTextFile(
      petrel.configPath,
      splitYaml(web.port, canary.port, 10, 90),
    );
    await waitFor(
      () => logs.some((l) => /config reloaded/.test(l)),
      "the reload",
    );
    const webBefore = load.count(web.name);
    const canaryBefore = load.count(canary.name);
    await waitFor(
      () => load.answered >= webBefore + canaryBefore + 3_000,
      "traffic on the 10/90 split",
      10_000,
    );
    await load.stop();
    assert.deepEqual(load.failures, [], "no request failed");
    assert.equal(load.opened, 4, "no connection was dropped");
    const webAfter = load.count(web.name) - webBefore;
    const canaryAfter = load.count(canary.name) - canaryBefore;
    const share = canaryAfter / (webAfter + canaryAfter);
    assert.ok(
      Math.abs(share - 0.9) <= 0.04,
      `canary share after the change ${(share * 100).toFixed(2)} %`,
    );
    assert.ok(
      canaryBefore / (webBefore + canaryBefore) < 0.2,
      "the 90/10 split held before the change",
    );
  } finally {
    await load.stop();
    await web.close();
    await canary.close();
  }
});
