import assert from "node:assert/strict";
import net from "node:net";
import type { Discovery } from "../../discovery/resolve.ts";
import { EndpointIoError } from "../../errors.ts";
import { type HttpRequest, readBody } from "../../http/message.ts";
import type { OutboundCtx } from "../runtime.ts";
import {
  type EndpointHooks,
  isConnectError,
  newHttpEndpoint,
} from "./endpoint.ts";

function ctx(): OutboundCtx {
  return {
    settings: {
      connectTimeoutMs: 300,
      http1PoolIdleTimeoutMs: 3000,
      maxIdleConnsPerEndpoint: 10,
      httpQueueCapacity: 100,
      httpFailfastTimeoutMs: 3000,
      discoveryIdleTimeoutMs: 5000,
      maxInFlight: 1000,
      informationalHeaders: true,
    },
    discovery: {} as Discovery,
    metrics: {
      httpEndpoint: () => ({ request() {}, response() {} }),
      httpError() {},
    },
    log: { warn() {}, info() {}, debug() {} },
    random: Math.random,
  };
}

function endpoint(port: number) {
  return newHttpEndpoint(ctx())({
    logical: "web.test:80",
    protocol: "http1",
    meta: { addr: `127.0.0.1:${port}`, host: "127.0.0.1", port },
  });
}

function req(): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test",
    path: "/",
    version: "HTTP/1.1",
    headers: {},
    body: null,
    ext: {},
  };
}

/** A raw server answering every request with `response`, counting connections. */
async function server(response: string | null) {
  const sockets = new Set<net.Socket>();
  let connections = 0;
  const s = net.createServer((socket) => {
    connections++;
    sockets.add(socket);
    socket.on("error", () => {});
    socket.on("close", () => sockets.delete(socket));
    socket.on("data", () => {
      if (response === null) socket.destroy();
      else socket.write(response);
    });
  });
  await new Promise<void>((r) => s.listen(0, "127.0.0.1", r));
  return {
    port: (s.address() as net.AddressInfo).port,
    get connections() {
      return connections;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const x of sockets) x.destroy();
        s.close(() => r());
      }),
  };
}

async function closedPort(): Promise<number> {
  const s = await server("");
  await s.close();
  return s.port;
}

Deno.test("HttpEndpoint.probe() connects and closes; a refused port rejects with EndpointIoError", async () => {
  const s = await server("");
  const up = endpoint(s.port);
  await up.probe!(new AbortController().signal);
  assert.equal(s.connections, 1);
  up[Symbol.dispose]();
  await s.close();
  const down = endpoint(await closedPort());
  await assert.rejects(
    down.probe!(new AbortController().signal),
    EndpointIoError,
  );
  down[Symbol.dispose]();
});

Deno.test("HttpEndpoint.probe() stops on abort, closing its socket", async () => {
  const s = await server("");
  const ep = endpoint(s.port);
  const ac = new AbortController();
  const p = ep.probe!(ac.signal).catch((e) => e);
  ac.abort(); // before the connect completes
  const err = await p;
  assert.ok(err instanceof Error);
  assert.match(err.message, /aborted/);
  ep[Symbol.dispose]();
  await s.close();
});

Deno.test("HttpEndpoint: a refused connect is a connect error, and reports no class", async () => {
  const ep = endpoint(await closedPort());
  const seen: string[] = [];
  const hooks: EndpointHooks = {
    firstFrame: () => void seen.push("first"),
    classified: (o) => void seen.push(o),
  };
  const err = await ep.call!(req(), hooks).catch((e) => e);
  assert.ok(err instanceof EndpointIoError);
  assert.equal(isConnectError(err), true);
  assert.equal(ep.isConnectError!(err), true);
  assert.deepEqual(
    seen,
    [],
    "the balancer decides what a failed connect means",
  );
  ep[Symbol.dispose]();
});

Deno.test("HttpEndpoint: a connection dropped after the request was sent is not a connect error", async () => {
  const s = await server(null);
  const ep = endpoint(s.port);
  const seen: string[] = [];
  const err = await ep.call!(req(), {
    firstFrame: () => void seen.push("first"),
    classified: (o) => void seen.push(o),
  }).catch((e) => e);
  assert.ok(err instanceof Error);
  assert.equal(isConnectError(err), false);
  assert.deepEqual(seen, ["first", "failure"]);
  ep[Symbol.dispose]();
  await s.close();
});

Deno.test("HttpEndpoint: hooks see the first frame, then the class; latency reuses the hook's clock", async () => {
  const s = await server(
    "HTTP/1.1 503 Service Unavailable\r\ncontent-length: 2\r\n\r\nno",
  );
  const latencies: number[] = [];
  const c = ctx();
  const ep = newHttpEndpoint({
    ...c,
    metrics: {
      httpEndpoint: () => ({
        request() {},
        response: (_s, o) => void latencies.push(o.latencyMs),
      }),
      httpError() {},
    },
  })({
    logical: "web.test:80",
    protocol: "http1",
    meta: { addr: `127.0.0.1:${s.port}`, host: "127.0.0.1", port: s.port },
  });
  const seen: string[] = [];
  const rsp = await ep.call!(req(), {
    sentAtMs: 1000,
    firstFrame: () => {
      seen.push("first");
      return 1042;
    },
    classified: (o) => void seen.push(o),
  });
  assert.equal(rsp.status, 503);
  assert.deepEqual(seen, ["failure"], "HTTP: classified at the head");
  const body = await readBody(rsp.body);
  assert.equal(new TextDecoder().decode(body.bytes), "no");
  assert.deepEqual(seen, ["failure", "first"]);
  assert.deepEqual(latencies, [42]);
  ep[Symbol.dispose]();
  await s.close();
});
