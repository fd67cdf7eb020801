import assert from "node:assert/strict";
import { flush, ManualClock } from "../../balance/_test_util.ts";
import type { FailureAccrualSpec } from "../../balance/breaker.ts";
import type {
  Discovery,
  EndpointMeta,
  ServiceState,
} from "../../discovery/resolve.ts";
import { EndpointIoError, FailFastError, LoadShedError } from "../../errors.ts";
import type { HttpRequest, HttpResponse } from "../../http/message.ts";
import { ProxyMetrics } from "../../metrics/registry.ts";
import { parsePromText as parseMetrics } from "../../metrics/_test_util.ts";
import { Watch } from "../../svc/watch.ts";
import type { OutboundCtx } from "../runtime.ts";
import { Balancer } from "./concrete.ts";
import type {
  EndpointHooks,
  EndpointTarget,
  HttpEndpoint,
} from "./endpoint.ts";

class Refused extends EndpointIoError {}

interface Call {
  req: HttpRequest;
  hooks: EndpointHooks;
  resolve: (rsp: HttpResponse) => void;
  reject: (err: unknown) => void;
}

/** An endpoint the test drives: probes and calls are settled by hand. */
class MockEndpoint implements HttpEndpoint {
  readonly addr: string;
  readonly calls: Call[] = [];
  probes: { resolve: () => void; reject: (e: Error) => void }[] = [];
  /** Answer calls at once with this status (undefined: hold them). */
  autoStatus: number | undefined = 200;
  /** Fail calls with a connect error. */
  refuse = false;
  disposed = false;
  pending = 0;
  readonly service = (req: HttpRequest) => this.call(req, NO_HOOKS);

  constructor(addr: string) {
    this.addr = addr;
  }

  probe(): Promise<void> {
    return new Promise((resolve, reject) =>
      this.probes.push({ resolve, reject })
    );
  }

  async connect(ok: boolean): Promise<void> {
    const p = this.probes.at(-1)!;
    if (ok) p.resolve();
    else p.reject(new Refused(this.addr));
    await flush();
  }

  call(req: HttpRequest, hooks: EndpointHooks): Promise<HttpResponse> {
    if (this.refuse) return Promise.reject(new Refused(this.addr));
    return new Promise((resolve, reject) => {
      const c = { req, hooks, resolve, reject };
      this.calls.push(c);
      if (this.autoStatus !== undefined) answer(c, this.autoStatus);
    });
  }

  isConnectError(err: unknown): boolean {
    return err instanceof Refused;
  }

  [Symbol.dispose](): void {
    this.disposed = true;
  }
}

const NO_HOOKS: EndpointHooks = { firstFrame() {}, classified() {} };

function answer(c: Call, status: number): void {
  c.hooks.firstFrame();
  c.hooks.classified(status >= 500 ? "failure" : "success");
  c.resolve({ status, headers: {}, body: null });
}

function meta(port: number): EndpointMeta {
  return { addr: `127.0.0.1:${port}`, host: "127.0.0.1", port };
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

function setup(ports: number[], failureAccrual?: FailureAccrualSpec) {
  const clock = new ManualClock();
  const metrics = new ProxyMetrics({ processMetrics: false });
  const ctx: OutboundCtx = {
    settings: {
      connectTimeoutMs: 1000,
      http1PoolIdleTimeoutMs: 3000,
      maxIdleConnsPerEndpoint: 10,
      httpQueueCapacity: 100,
      httpFailfastTimeoutMs: 3000,
      discoveryIdleTimeoutMs: 5000,
      maxInFlight: 1000,
      informationalHeaders: true,
    },
    discovery: {} as Discovery,
    metrics,
    log: { warn() {}, info() {}, debug() {} },
    random: Math.random,
  };
  const state = new Watch<ServiceState>({
    name: "web.test:80",
    protocol: "http1",
    source: "config",
    endpoints: ports.map(meta),
    ...(failureAccrual ? { failureAccrual } : {}),
  });
  const eps = new Map<number, MockEndpoint[]>();
  const b = new Balancer(
    ctx,
    { logical: "web.test:80", state },
    (t: EndpointTarget) => {
      const e = new MockEndpoint(t.meta.addr);
      eps.set(t.meta.port, [...(eps.get(t.meta.port) ?? []), e]);
      return e;
    },
    { clock, random: Math.random },
  );
  const ep = (port: number) => eps.get(port)!.at(-1)!;
  const setEndpoints = (ps: number[]) =>
    state.set({ ...state.get(), endpoints: ps.map(meta) });
  return { b, clock, ep, eps, state, setEndpoints, metrics };
}

async function settle<T>(p: Promise<T>): Promise<T | Error> {
  try {
    return await p;
  } catch (err) {
    return err as Error;
  }
}

Deno.test("Balancer: a request waits for the first endpoint to connect, then goes out", async () => {
  const t = setup([1]);
  const p = t.b.call(req());
  await flush();
  assert.equal(t.ep(1).calls.length, 0);
  await t.ep(1).connect(true);
  assert.equal((await p).status, 200);
  assert.equal(t.ep(1).calls.length, 1);
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: a request whose connect is refused goes to another ready endpoint", async () => {
  const t = setup([1, 2, 3]);
  for (const p of [1, 2, 3]) await t.ep(p).connect(true);
  t.ep(2).refuse = true;
  for (let i = 0; i < 30; i++) {
    const rsp = await t.b.call(req());
    assert.equal(rsp.status, 200);
  }
  assert.equal(t.b.readyCount, 2);
  assert.equal(t.b.pool.get("127.0.0.1:2")!.state.kind, "failed");
  assert.equal(t.ep(1).calls.length + t.ep(3).calls.length, 30);
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: with no endpoint ready or connecting, the connect error is the answer", async () => {
  const t = setup([1]);
  await t.ep(1).connect(false);
  t.ep(1).refuse = true;
  const err = await settle(t.b.call(req()));
  assert.ok(err instanceof Refused);
  // Once it answers again, a request makes it ready at once.
  t.ep(1).refuse = false;
  assert.equal((await t.b.call(req())).status, 200);
  assert.equal(t.b.readyCount, 1);
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: no endpoint for the failfast time → 504 for the queued, 503 for new ones, then recovery", async () => {
  const t = setup([]);
  const a = settle(t.b.call(req()));
  t.clock.advance(1000);
  const b = settle(t.b.call(req()));
  t.clock.advance(2000);
  assert.ok((await a) instanceof FailFastError);
  assert.ok((await b) instanceof FailFastError);
  assert.equal(t.b.gate.kind, "failfast");
  assert.equal(t.b.available, false);
  assert.ok((await settle(t.b.call(req()))) instanceof LoadShedError);
  t.setEndpoints([7]);
  assert.ok(
    (await settle(t.b.call(req()))) instanceof LoadShedError,
    "still connecting",
  );
  await t.ep(7).connect(true);
  assert.equal(t.b.gate.kind, "open");
  assert.equal((await t.b.call(req())).status, 200);
  const m = parseMetrics(await t.metrics.render());
  const v = (name: string) =>
    m.samples.filter((s) => s.name === name).reduce((n, s) => n + s.value, 0);
  assert.equal(v("outbound_http_balancer_queue_gate_shut_total"), 1);
  assert.equal(v("outbound_http_balancer_queue_gate_open_total"), 1);
  assert.equal(v("outbound_http_balancer_queue_failfast_total"), 2);
  assert.equal(v("outbound_http_balancer_queue_loadshed_total"), 2);
  assert.equal(v("outbound_http_balancer_queue_requests_total"), 5);
  assert.equal(v("outbound_http_balancer_queue_gate_timeout_seconds"), 3);
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: an endpoint removed mid-request finishes it and gets no new ones", async () => {
  const t = setup([1, 2]);
  await t.ep(1).connect(true);
  await t.ep(2).connect(true);
  t.ep(1).autoStatus = undefined;
  t.ep(2).autoStatus = undefined;
  const inflight = [t.b.call(req()), t.b.call(req()), t.b.call(req())];
  await flush();
  t.setEndpoints([2]);
  const one = t.ep(1);
  const before = one.calls.length;
  assert.equal(one.disposed, before === 0);
  t.ep(2).autoStatus = 200;
  for (const c of t.ep(2).calls) answer(c, 200);
  for (let i = 0; i < 10; i++) await t.b.call(req());
  assert.equal(one.calls.length, before, "no new request to the removed one");
  for (const c of one.calls) answer(c, 200);
  for (const p of inflight) assert.equal((await p).status, 200);
  assert.equal(one.disposed, true, "disposed once drained");
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: consecutive 5xx shut an endpoint; after the penalty one probe reopens it", async () => {
  const spec: FailureAccrualSpec = {
    kind: "consecutive",
    maxFailures: 7,
    minPenaltyMs: 1000,
    maxPenaltyMs: 60_000,
    jitter: 0,
  };
  const t = setup([1, 2], spec);
  await t.ep(1).connect(true);
  await t.ep(2).connect(true);
  t.ep(1).autoStatus = 500;
  let n = 0;
  while (t.b.pool.get("127.0.0.1:1")!.breaker?.kind === "open") {
    await t.b.call(req());
    assert.ok(++n < 1000);
  }
  assert.equal(t.ep(1).calls.length, 7);
  assert.equal(t.b.readyCount, 1);
  for (let i = 0; i < 20; i++) await t.b.call(req());
  assert.equal(t.ep(1).calls.length, 7, "shut: no traffic");
  t.ep(1).autoStatus = 200; // healed
  t.clock.advance(1000);
  assert.equal(t.b.pool.get("127.0.0.1:1")!.breaker?.kind, "probation");
  for (let i = 0; i < 40; i++) await t.b.call(req());
  assert.equal(t.b.pool.get("127.0.0.1:1")!.breaker?.kind, "open");
  assert.ok(t.ep(1).calls.length > 8, "traffic is back");
  t.b[Symbol.dispose]();
});

Deno.test("Balancer: the balancer endpoint gauge reports ready and pending", async () => {
  const t = setup([1, 2, 3]);
  await t.ep(1).connect(true);
  await t.ep(2).connect(false);
  const m = parseMetrics(await t.metrics.render());
  const g = m.samples.filter((s) =>
    s.name === "outbound_http_balancer_endpoints"
  );
  const by = Object.fromEntries(
    g.map((s) => [s.labels.endpoint_state, s.value]),
  );
  assert.deepEqual(by, { ready: 1, pending: 2 });
  assert.equal(g[0]!.labels.backend_name, "web.test");
  assert.equal(g[0]!.labels.backend_port, "80");
  t.b[Symbol.dispose]();
  const after = parseMetrics(await t.metrics.render()).samples.filter((s) =>
    s.name === "outbound_http_balancer_endpoints"
  );
  assert.ok(
    after.every((s) => s.value === 0),
    "a disposed balancer leaves the gauges",
  );
});

Deno.test("Balancer dispose fails the queued requests and disposes every endpoint", async () => {
  const t = setup([1]);
  const p = settle(t.b.call(req()));
  t.b[Symbol.dispose]();
  assert.ok((await p) instanceof LoadShedError);
  assert.equal(t.ep(1).disposed, true);
  assert.equal(t.clock.pending, 0);
});
