/**
 * An upstream HTTP/2 GOAWAY after a stream was answered must not fail later
 * requests: Petrel opens a new upstream connection (linkerd: hyper/h2 client
 * marks the connection as closing, the pool reconnects). The upstream is the
 * python-h2 fault server's /goaway path, behind a counting TCP relay.
 */
import assert from "node:assert/strict";
import net from "node:net";
import { h2Streams, startH2FaultServer } from "./support/h2_fault.ts";
import { servicesYaml, startPetrel } from "./support/petrel.ts";
import { run } from "./support/proc.ts";

/**
 * A TCP relay to `127.0.0.1:target` that counts the connections Petrel sent
 * bytes on (a bare connect, e.g. a readiness probe, is not an h2 session).
 */
async function startCountingRelay(target: number) {
  const sockets = new Set<net.Socket>();
  let accepted = 0;
  const server = net.createServer((down) => {
    down.once("data", () => accepted++);
    const up = net.connect({ host: "127.0.0.1", port: target });
    for (const s of [down, up]) {
      sockets.add(s);
      s.on("error", () => {});
      s.on("close", () => {
        sockets.delete(s);
        down.destroy();
        up.destroy();
      });
    }
    down.pipe(up);
    up.pipe(down);
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

Deno.test("goaway: after an upstream GOAWAY, later h2 requests succeed on a new connection", async () => {
  const faults = await startH2FaultServer();
  const relay = await startCountingRelay(faults.port);
  await using petrel = await startPetrel(servicesYaml({
    "faults.test:80": {
      endpoints: [`127.0.0.1:${relay.port}`],
      protocol: "http2",
    },
  }));
  try {
    for (let round = 1; round <= 3; round++) {
      const [g] = await h2Streams(petrel.addr, ["/goaway"], {
        authority: "faults.test",
      });
      assert.equal(g!.status, 200, JSON.stringify(g));
      assert.equal(g!.body, "goaway");
      assert.equal(g!.error, null, "the downstream connection is not closed");
      const oks = await h2Streams(petrel.addr, ["/ok", "/ok", "/ok", "/ok"], {
        authority: "faults.test",
      });
      for (const r of oks) {
        assert.equal(r.status, 200, JSON.stringify(r));
        assert.equal(r.body, "ok");
        assert.equal(r.reset_code, null);
      }
      // One upstream session per GOAWAY'd session, plus the current one.
      assert.equal(relay.accepted(), round + 1);
    }
  } finally {
    await relay.close();
    await faults.stop();
  }
});

Deno.test("goaway: an HTTP/1 client keeps its connection across an upstream GOAWAY", async () => {
  const faults = await startH2FaultServer();
  const relay = await startCountingRelay(faults.port);
  await using petrel = await startPetrel(servicesYaml({
    "faults.test:80": {
      endpoints: [`127.0.0.1:${relay.port}`],
      protocol: "http2",
    },
  }));
  try {
    const url = (p: string) => `http://${petrel.addr}${p}`;
    // curl sends these in order on one downstream connection.
    const r = await run("curl", [
      "-sS",
      "-H",
      "Host: faults.test",
      "-w",
      " %{http_code} %{num_connects}\\n",
      url("/ok"),
      url("/goaway"),
      url("/ok"),
      url("/ok"),
      url("/goaway"),
      url("/ok"),
      url("/ok"),
    ], { timeoutMs: 20_000 });
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split("\n"), [
      "ok 200 1",
      "goaway 200 0",
      "ok 200 0",
      "ok 200 0",
      "goaway 200 0",
      "ok 200 0",
      "ok 200 0",
    ]);
    assert.equal(relay.accepted(), 3, "reconnected after each GOAWAY");
  } finally {
    await relay.close();
    await faults.stop();
  }
});
