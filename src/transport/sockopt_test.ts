import assert from "node:assert/strict";
import net from "node:net";
import { connectTcp } from "./connect.ts";
import {
  applyTcpSocketConfig,
  getTcpUserTimeout,
  setTcpUserTimeout,
} from "./sockopt.ts";

/** `ss -tno` lines of the established sockets on `port` (either end). */
async function ssLines(port: number): Promise<string[]> {
  const out = await new Deno.Command("ss", {
    args: [
      "-tnoH",
      "state",
      "established",
      `( sport = :${port} or dport = :${port} )`,
    ],
    stdout: "piped",
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) => l);
}

/**
 * The keepalive timer (seconds left) of the socket whose local port is
 * `localPort`. ss prints `11sec`, `1min5sec`, or below 10 s `6.984ms`
 * (meaning 6.984 s).
 */
function keepaliveSecs(lines: string[], localPort: number): number | undefined {
  const line = lines.find((l) => l.split(/\s+/)[2]?.endsWith(`:${localPort}`));
  const m = /timer:\(keepalive,([^,]+),/.exec(line ?? "");
  if (!m) return undefined;
  const t = m[1]!;
  const dotted = /^(\d+)\.(\d+)ms$/.exec(t);
  if (dotted) return Number(`${dotted[1]}.${dotted[2]}`);
  const parts = /^(?:(\d+)min)?(?:(\d+)sec)?(?:(\d+)ms)?$/.exec(t);
  if (!parts) return undefined;
  return Number(parts[1] ?? 0) * 60 + Number(parts[2] ?? 0) +
    Number(parts[3] ?? 0) / 1000;
}

Deno.test("applyTcpSocketConfig() sets keepalive (ss shows the timer) and TCP_USER_TIMEOUT (read back) on accepted and connected sockets", async () => {
  let accepted: net.Socket | undefined;
  const server = net.createServer((s) => {
    applyTcpSocketConfig(s, { keepaliveMs: 7_000, userTimeoutMs: 5_000 });
    s.on("error", () => {});
    accepted = s;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = await connectTcp("127.0.0.1", port, {
    socket: { keepaliveMs: 50_000, userTimeoutMs: 30_000 },
  });
  try {
    const deadline = Date.now() + 5_000;
    while (accepted === undefined && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(accepted, "accepted");
    const lines = await ssLines(port);
    const clientKa = keepaliveSecs(lines, client.localPort!);
    const serverKa = keepaliveSecs(lines, port);
    assert.ok(
      clientKa !== undefined && clientKa > 40 && clientKa <= 50,
      `connected socket keepalive timer ${clientKa}:\n${lines.join("\n")}`,
    );
    assert.ok(
      serverKa !== undefined && serverKa > 1 && serverKa <= 7,
      `accepted socket keepalive timer ${serverKa}:\n${lines.join("\n")}`,
    );
    assert.equal(getTcpUserTimeout(client), 30_000);
    assert.equal(getTcpUserTimeout(accepted), 5_000);
    assert.equal(setTcpUserTimeout(client, 1234), true);
    assert.equal(getTcpUserTimeout(client), 1234);
  } finally {
    client.destroy();
    accepted?.destroy();
    await new Promise((r) => server.close(r));
  }
});

Deno.test("connectTcp() without socket options leaves keepalive off and TCP_USER_TIMEOUT at 0", async () => {
  let accepted: net.Socket | undefined;
  const server = net.createServer((s) => {
    s.on("error", () => {});
    accepted = s;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = await connectTcp("127.0.0.1", port);
  try {
    const lines = await ssLines(port);
    assert.equal(keepaliveSecs(lines, client.localPort!), undefined);
    assert.equal(getTcpUserTimeout(client), 0);
  } finally {
    client.destroy();
    accepted?.destroy();
    await new Promise((r) => server.close(r));
  }
});

Deno.test("applyTcpSocketConfig() without the FFI permission still sets keepalive, skips the user timeout and warns once", async () => {
  const sockopt = new URL("./sockopt.ts", import.meta.url).href;
  const script = `
    import net from "node:net";
    import { applyTcpSocketConfig, getTcpUserTimeout } from "${sockopt}";
    const server = net.createServer((s) => s.destroy());
    await new Promise((r) => server.listen(0, "127.0.0.1", r));
    const c = net.connect({ host: "127.0.0.1", port: server.address().port });
    await new Promise((r) => c.once("connect", r));
    const warnings = [];
    const log = { warn: (m) => warnings.push(m) };
    applyTcpSocketConfig(c, { keepaliveMs: 9000, userTimeoutMs: 1000 }, log);
    applyTcpSocketConfig(c, { userTimeoutMs: 1000 }, log);
    console.log(JSON.stringify({ warnings, readBack: getTcpUserTimeout(c) ?? null }));
    c.destroy();
    server.close();
  `;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "--no-check", "--allow-net=127.0.0.1", "--allow-read", "-"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(script));
  await writer.close();
  const out = await child.output();
  const text = new TextDecoder().decode(out.stdout).trim();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  assert.deepEqual(JSON.parse(text), {
    warnings: ["TCP user timeout not set: needs --allow-ffi on Linux"],
    readBack: null,
  });
});

Deno.test("setTcpUserTimeout() closes the descriptor it duplicates: no fd left behind, and a destroyed socket really closes", async () => {
  let accepted: net.Socket | undefined;
  let peerClosed = false;
  const server = net.createServer((s) => {
    s.on("error", () => {});
    s.on("end", () => peerClosed = true);
    s.resume();
    accepted = s;
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const client = await connectTcp("127.0.0.1", port);
  try {
    const fds = () => [...Deno.readDirSync("/proc/self/fd")].length;
    const before = fds();
    for (let i = 0; i < 20; i++) {
      assert.equal(setTcpUserTimeout(client, 1000 + i), true);
      assert.equal(getTcpUserTimeout(client), 1000 + i);
    }
    assert.equal(fds(), before, "open descriptors");
    client.destroy();
    const deadline = Date.now() + 5_000;
    while (!peerClosed && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.ok(peerClosed, "the peer saw the connection close");
  } finally {
    client.destroy();
    accepted?.destroy();
    await new Promise((r) => server.close(r));
  }
});
