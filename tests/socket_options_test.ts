/**
 * TCP keepalive on the proxy's sockets (linkerd
 * `LINKERD2_PROXY_OUTBOUND_ACCEPT_KEEPALIVE`, `…_CONNECT_KEEPALIVE`): `ss`
 * shows the keepalive timer on the socket Petrel accepted from the client
 * and on the one it opened to the backend, and none on the client's own.
 * (`…_USER_TIMEOUT` is read back with getsockopt in
 * `src/transport/sockopt_test.ts`; ss does not print it.)
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import { servicesYaml, startPetrel, waitFor } from "./support/petrel.ts";

interface SsSocket {
  local: string;
  peer: string;
  /** Seconds left on the keepalive timer; undefined without one. */
  keepaliveSecs?: number;
}

/** Established TCP sockets touching `ports`, from `ss -tnoH`. */
async function ss(ports: number[]): Promise<SsSocket[]> {
  const filter = ports.map((p) => `sport = :${p} or dport = :${p}`).join(
    " or ",
  );
  const out = await new Deno.Command("ss", {
    args: ["-tnoH", "state", "established", `( ${filter} )`],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l)
    .map((line) => {
      const cols = line.trim().split(/\s+/);
      const m = /timer:\(keepalive,([^,]+),/.exec(line);
      let secs: number | undefined;
      if (m) {
        const t = m[1]!;
        const dotted = /^(\d+)\.(\d+)ms$/.exec(t);
        const parts = /^(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)ms)?$/.exec(t);
        secs = dotted
          ? Number(`${dotted[1]}.${dotted[2]}`)
          : Number(parts?.[1] ?? 0) * 60 + Number(parts?.[2] ?? 0) +
            Number(parts?.[3] ?? 0) / 1000;
      }
      return {
        local: cols[2] ?? "",
        peer: cols[3] ?? "",
        ...(secs === undefined ? {} : { keepaliveSecs: secs }),
      };
    });
}

Deno.test("socket options: keepalive on accepted and connected sockets (ss shows the timers)", async () => {
  const backend = await startHttpBackend();
  const petrel = await startPetrel(
    servicesYaml({
      "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
    }),
    {
      LINKERD2_PROXY_OUTBOUND_ACCEPT_KEEPALIVE: "7s",
      LINKERD2_PROXY_OUTBOUND_CONNECT_KEEPALIVE: "50s",
    },
  );
  const client = net.connect({ host: "127.0.0.1", port: petrel.port });
  try {
    await new Promise((r) => client.once("connect", r));
    let got = "";
    client.on("data", (c: Buffer) => got += c.toString("latin1"));
    // Keep-alive: the client connection and the pooled backend one stay open.
    client.write("GET / HTTP/1.1\r\nHost: web.test\r\n\r\n");
    await waitFor(() => /^HTTP\/1\.1 200/.test(got), "the response");
    const sockets = await ss([petrel.port, backend.port]);
    const accepted = sockets.find((s) =>
      s.local.endsWith(`:${petrel.port}`) &&
      s.peer.endsWith(`:${client.localPort}`)
    );
    const connected = sockets.find((s) => s.peer.endsWith(`:${backend.port}`));
    const own = sockets.find((s) => s.local.endsWith(`:${client.localPort}`));
    const dump = JSON.stringify(sockets, null, 1);
    assert.ok(
      accepted?.keepaliveSecs !== undefined && accepted.keepaliveSecs <= 7 &&
        accepted.keepaliveSecs > 1,
      `accepted socket: ${dump}`,
    );
    assert.ok(
      connected?.keepaliveSecs !== undefined &&
        connected.keepaliveSecs <= 50 && connected.keepaliveSecs > 40,
      `connected socket: ${dump}`,
    );
    assert.ok(own && own.keepaliveSecs === undefined, `client: ${dump}`);
  } finally {
    client.destroy();
    await petrel.close();
    await backend.close();
  }
});
