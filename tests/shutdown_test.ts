/**
 * Shutdown of a real Petrel process (`deno run main.ts`): SIGTERM and
 * `POST /shutdown` drain in-flight requests, refuse new connections and exit
 * 0; the grace period bounds a drain that never ends; `/live` and `/ready`
 * (linkerd `drain`, admin `/shutdown`, `LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD`).
 */
import assert from "node:assert/strict";
import net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import {
  httpRequest,
  servicesYaml,
  type SpawnedPetrel,
  spawnPetrel,
  waitFor,
} from "./support/petrel.ts";

/** Whether a TCP connect to 127.0.0.1:port is refused (vs. accepted). */
function connectRefused(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host: "127.0.0.1", port });
    s.once("connect", () => {
      s.destroy();
      resolve(false);
    });
    s.once("error", (err: Error & { code?: string }) => {
      s.destroy();
      resolve(err.code === "ECONNREFUSED");
    });
  });
}

/** Waits for the child's exit; returns its code and when it happened. */
async function exitOf(
  p: SpawnedPetrel,
): Promise<{ code: number; at: number }> {
  const s = await p.peer.proc.status;
  return { code: s.code, at: performance.now() };
}

/**
 * A TCP server that reads but never answers; `accepted()` counts the
 * connections that carried bytes (a bare connect, e.g. a readiness probe,
 * does not count).
 */
async function startBlackHole(): Promise<
  { port: number; accepted: () => number; close(): Promise<void> }
> {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((s) => {
    s.once("data", () => accepted++);
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.resume();
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    accepted: () => accepted,
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

Deno.test("shutdown: SIGTERM drains an in-flight request, refuses new connections, exits 0", async () => {
  let arrived = 0;
  const backend = await startHttpBackend(() => void arrived++);
  const petrel = await spawnPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
    { LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "10s" },
  );
  try {
    const live = await httpRequest(petrel.adminPort, "localhost", "/live");
    assert.equal(live.status, 200);
    assert.equal(live.body, "live\n");
    const ready = await httpRequest(petrel.adminPort, "localhost", "/ready");
    assert.equal(ready.status, 200);
    assert.equal(ready.body, "ready\n");
    const warm = await httpRequest(petrel.port, "web.test", "/");
    assert.equal(warm.status, 200);
    assert.equal(warm.body, backend.name);

    const before = arrived;
    const slow = httpRequest(petrel.port, "web.test", "/slow?ms=800");
    // The request is at the backend before the signal.
    await waitFor(() => arrived > before, "the slow request");
    const exit = exitOf(petrel);
    const signalled = performance.now();
    petrel.peer.proc.kill("SIGTERM");

    await waitFor(
      () => connectRefused(petrel.port),
      "the outbound listener to refuse connections",
      2_000,
    );
    const refusedAt = performance.now() - signalled;
    // The listener closed while the slow request was still in flight.
    assert.ok(refusedAt < 700, `refused after ${refusedAt.toFixed(0)} ms`);

    const rsp = await slow;
    assert.equal(rsp.status, 200);
    assert.equal(rsp.body, `${backend.name} slow`);
    const { code, at } = await exit;
    assert.equal(code, 0);
    const took = at - signalled;
    assert.ok(took < 3_000, `exited ${took.toFixed(0)} ms after SIGTERM`);
    assert.ok(took >= 400, `exited after the request (${took.toFixed(0)} ms)`);
    assert.equal(await connectRefused(petrel.adminPort), true);
  } finally {
    await petrel.stop();
    await backend.close();
  }
});

Deno.test("shutdown: POST /shutdown answers `shutdown`, drains and exits 0; /ready turns 503", async () => {
  let arrived = 0;
  const backend = await startHttpBackend(() => void arrived++);
  const petrel = await spawnPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
    {
      LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "10s",
      LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED: "true",
    },
  );
  try {
    const before = arrived;
    const slow = httpRequest(petrel.port, "web.test", "/slow?ms=800");
    await waitFor(() => arrived > before, "the slow request");
    const exit = exitOf(petrel);
    const asked = performance.now();
    const get = await httpRequest(petrel.adminPort, "localhost", "/shutdown");
    assert.equal(get.status, 405, "only POST shuts down");
    const r = await httpRequest(petrel.adminPort, "localhost", "/shutdown", {
      method: "POST",
    });
    assert.equal(r.status, 200);
    assert.equal(r.body, "shutdown\n");

    // Draining: the admin server still answers, but not ready.
    const ready = await httpRequest(petrel.adminPort, "localhost", "/ready");
    assert.equal(ready.status, 503);
    await waitFor(
      () => connectRefused(petrel.port),
      "the outbound listener to refuse connections",
      2_000,
    );

    const rsp = await slow;
    assert.equal(rsp.status, 200);
    const { code, at } = await exit;
    assert.equal(code, 0);
    const took = at - asked;
    assert.ok(took < 3_000, `exited ${took.toFixed(0)} ms after /shutdown`);
  } finally {
    await petrel.stop();
    await backend.close();
  }
});

Deno.test("shutdown: the grace period ends a drain that never finishes", async () => {
  const hole = await startBlackHole();
  const petrel = await spawnPetrel(
    servicesYaml({ "hang.test:80": { endpoints: [`127.0.0.1:${hole.port}`] } }),
    { LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD: "1s" },
  );
  try {
    const stuck = httpRequest(petrel.port, "hang.test", "/", {
      timeoutMs: 10_000,
    }).then((r) => `status ${r.status}`, (e: Error) => e.message);
    await waitFor(() => hole.accepted() === 1, "the upstream request");
    const exit = exitOf(petrel);
    const signalled = performance.now();
    petrel.peer.proc.kill("SIGTERM");
    const { code, at } = await exit;
    const took = at - signalled;
    assert.equal(code, 0);
    assert.ok(took >= 900, `waited the grace period (${took.toFixed(0)} ms)`);
    assert.ok(took < 2_500, `exited ${took.toFixed(0)} ms after SIGTERM`);
    // The client's connection was closed without a response.
    assert.match(await stuck, /incomplete response|ECONNRESET|closed/i);
  } finally {
    await petrel.stop();
    await hole.close();
  }
});

Deno.test("shutdown: POST /shutdown is 404 unless LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED=true (linkerd's default), and Petrel keeps serving", async () => {
  const backend = await startHttpBackend();
  const petrel = await spawnPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
  );
  try {
    const r = await httpRequest(petrel.adminPort, "localhost", "/shutdown", {
      method: "POST",
    });
    assert.equal(r.status, 404);
    assert.equal(r.body, "shutdown endpoint is not enabled\n");
    const ready = await httpRequest(petrel.adminPort, "localhost", "/ready");
    assert.equal(ready.status, 200);
    const rsp = await httpRequest(petrel.port, "web.test", "/");
    assert.equal(rsp.status, 200);
  } finally {
    await petrel.stop();
    await backend.close();
  }
});
