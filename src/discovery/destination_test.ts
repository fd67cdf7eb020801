import assert from "node:assert/strict";
import { EventEmitter } from "node:events";
import type * as grpc from "@grpc/grpc-js";
import type { DiscoveredEndpoint, Update } from "../api/destination.ts";
import { tcpAddressOf } from "../api/net.ts";
import {
  ControlPlaneDiscovery,
  type DestinationClient,
  DestinationResolution,
  serviceStateOf,
} from "./destination.ts";

/** A fake server-streaming call: the test pushes messages and ends it. */
class FakeCall extends EventEmitter {
  cancelled = false;
  cancel(): void {
    this.cancelled = true;
    this.emit("status", { code: 1, details: "Cancelled", metadata: {} });
  }
  push(u: Record<string, unknown>): void {
    this.emit("data", u);
  }
  end(code: number, details = ""): void {
    this.emit("status", { code, details, metadata: {} });
  }
}

/** A fake Destination client recording every call. */
function fakeClient(): DestinationClient & { calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  return {
    calls,
    Get() {
      const call = new FakeCall();
      calls.push(call);
      return call as unknown as grpc.ClientReadableStream<Update>;
    },
  };
}

const ep = (addr: string, extra: Record<string, unknown> = {}) => ({
  addr: tcpAddressOf(addr),
  weight: 10_000,
  ...extra,
});
const add = (...addrs: Record<string, unknown>[]) => ({ add: { addrs } });
const remove = (...addrs: string[]) => ({
  remove: { addrs: addrs.map(tcpAddressOf) },
});
const addrs = (eps: readonly DiscoveredEndpoint[]) =>
  eps.map((e) => e.meta.addr);
const FAST = { backoff: { minMs: 1, maxMs: 1, jitter: 0 } };

async function until(cond: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !cond(); i++) {
    await new Promise((r) => setTimeout(r, 2));
  }
  assert.ok(cond(), "condition not reached");
}

Deno.test("DestinationResolution applies add, remove and no_endpoints", async () => {
  const client = fakeClient();
  using r = new DestinationResolution(client, "web:80", FAST);
  const call = client.calls[0]!;
  call.push(add(ep("10.0.0.1:80"), ep("10.0.0.2:80")));
  assert.deepEqual(await r.started, { kind: "served" });
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.1:80", "10.0.0.2:80"]);
  call.push(add(ep("10.0.0.3:80", { protocol_hint: { h2: {} } })));
  assert.deepEqual(addrs(r.endpoints.get()), [
    "10.0.0.1:80",
    "10.0.0.2:80",
    "10.0.0.3:80",
  ]);
  assert.equal(r.endpoints.get()[2]!.h2, true);
  call.push(remove("10.0.0.1:80", "10.9.9.9:80"));
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.2:80", "10.0.0.3:80"]);
  call.push({ no_endpoints: { exists: true } });
  assert.deepEqual(r.endpoints.get(), []);
});

Deno.test("DestinationResolution keeps endpoints while reconnecting; the first add after replaces them", async () => {
  const client = fakeClient();
  using r = new DestinationResolution(client, "web:80", FAST);
  client.calls[0]!.push(add(ep("10.0.0.1:80"), ep("10.0.0.2:80")));
  let published = 0;
  using _sub = r.endpoints.subscribe(() => published++);
  client.calls[0]!.end(14, "connection refused"); // UNAVAILABLE
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.1:80", "10.0.0.2:80"]);
  await until(() => client.calls.length === 2);
  client.calls[1]!.end(0); // a clean end reconnects too
  await until(() => client.calls.length === 3);
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.1:80", "10.0.0.2:80"]);
  assert.equal(published, 0);
  const call = client.calls[2]!;
  call.push(remove("10.0.0.2:80")); // applied as is
  call.push(add(ep("10.0.0.3:80"))); // the first add: a reset
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.3:80"]);
  call.push(add(ep("10.0.0.4:80"))); // later adds add
  assert.deepEqual(addrs(r.endpoints.get()), ["10.0.0.3:80", "10.0.0.4:80"]);
  assert.equal(client.calls[0]!.cancelled, false);
});

Deno.test("DestinationResolution: InvalidArgument first means the name is not served", async () => {
  const client = fakeClient();
  using r = new DestinationResolution(client, "example.com:80", FAST);
  client.calls[0]!.end(3, "not a cluster name");
  assert.deepEqual(await r.started, {
    kind: "rejected",
    reason: "3 not a cluster name",
  });
  await new Promise((r) => setTimeout(r, 10));
  assert.equal(client.calls.length, 1, "a fatal status is not retried");
});

Deno.test("DestinationResolution: no_endpoints { exists: false } first means the name is not served", async () => {
  const client = fakeClient();
  using r = new DestinationResolution(client, "gone:80", FAST);
  client.calls[0]!.push({ no_endpoints: { exists: false } });
  assert.equal((await r.started).kind, "rejected");
});

Deno.test("DestinationResolution: a fatal status after data empties the set", () => {
  const client = fakeClient();
  using r = new DestinationResolution(client, "web:80", FAST);
  client.calls[0]!.push(add(ep("10.0.0.1:80")));
  client.calls[0]!.end(9, "gone"); // FAILED_PRECONDITION
  assert.deepEqual(r.endpoints.get(), []);
});

Deno.test("DestinationResolution[Symbol.dispose]() cancels the stream and the reconnect", async () => {
  const client = fakeClient();
  const r = new DestinationResolution(client, "web:80", {
    backoff: { minMs: 5, maxMs: 5, jitter: 0 },
  });
  r[Symbol.dispose]();
  assert.equal(client.calls[0]!.cancelled, true);
  const r2 = new DestinationResolution(client, "web:80", {
    backoff: { minMs: 5, maxMs: 5, jitter: 0 },
  });
  client.calls[1]!.end(14);
  r2[Symbol.dispose]();
  await new Promise((r) => setTimeout(r, 15));
  assert.equal(client.calls.length, 2);
});

Deno.test("serviceStateOf() prefers profile routes and drops the breaker with them", () => {
  const endpoints = [{
    meta: { addr: "10.0.0.1:80", host: "10.0.0.1", port: 80 },
    h2: true,
  }];
  const policyRoutes = { kind: "http" as const, routes: [] };
  const profileRoutes = { kind: "http" as const, routes: [] };
  const fa = {
    kind: "consecutive" as const,
    maxFailures: 7,
    minPenaltyMs: 1000,
    maxPenaltyMs: 60000,
    jitter: 0.5,
  };
  const policy = {
    parent: { kind: "default" as const, name: "web:80" },
    routes: policyRoutes,
    failureAccrual: fa,
    opaque: false,
  };
  const withPolicy = serviceStateOf(
    "web:80",
    "http2",
    endpoints,
    undefined,
    policy,
  );
  assert.equal(withPolicy.routes, policyRoutes);
  assert.equal(withPolicy.failureAccrual, fa);
  assert.equal(withPolicy.protocol, "http2");
  assert.deepEqual(withPolicy.endpoints, [endpoints[0]!.meta]);
  const withProfile = serviceStateOf("web:80", "auto", endpoints, {
    routes: profileRoutes,
    opaque: false,
    fullyQualifiedName: "",
  }, policy);
  assert.equal(withProfile.routes, profileRoutes);
  assert.equal(withProfile.failureAccrual, undefined);
  const profileWithoutRoutes = serviceStateOf("web:80", "auto", endpoints, {
    opaque: false,
    fullyQualifiedName: "",
  }, policy);
  assert.equal(profileWithoutRoutes.routes, policyRoutes);
});

Deno.test("ControlPlaneDiscovery serves an unreachable control plane's names without endpoints after the initial timeout", async () => {
  const l = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (l.addr as Deno.NetAddr).port;
  l.close(); // nothing listens there now
  using cp = new ControlPlaneDiscovery({
    destinationAddr: `127.0.0.1:${port}`,
    initialTimeoutMs: 150,
    backoff: { minMs: 20, maxMs: 50, jitter: 0 },
  });
  const t0 = performance.now();
  const svc = await cp.tryResolve("web.svc.cluster.local:80");
  assert.ok(performance.now() - t0 >= 140);
  assert.ok(svc !== undefined);
  assert.deepEqual(svc.watch.get().endpoints, []);
  assert.equal(svc.watch.get().source, "destination");
  svc[Symbol.dispose]();
});
