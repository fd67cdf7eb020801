import assert from "node:assert/strict";
import { startHttpBackend } from "./backend.ts";
import { startWsEchoBackend, WsClient, wsEcho } from "./ws.ts";

Deno.test("ws: the raw client echoes through the Deno.serve backend", async () => {
  const backend = await startWsEchoBackend();
  try {
    const reply = await wsEcho(
      `127.0.0.1:${backend.port}`,
      "chat.test.svc:80",
      "hello ws",
    );
    assert.equal(reply, "hello ws");
    assert.deepEqual(backend.upgradeHosts, ["chat.test.svc:80"]);
  } finally {
    await backend.close();
  }
});

Deno.test("ws: several messages, a 200 KiB binary one, then a clean close", async () => {
  const backend = await startWsEchoBackend();
  try {
    const ws = await WsClient.connect(
      `127.0.0.1:${backend.port}`,
      "chat.test.svc:80",
    );
    try {
      assert.match(ws.handshake, /^HTTP\/1\.1 101/);
      for (const m of ["one", "two", "x".repeat(300)]) {
        ws.sendText(m);
        const r = await ws.receive();
        assert.equal(r.opcode, 1);
        assert.equal(r.text(), m);
      }
      const big = new Uint8Array(200 * 1024).map((_, i) => i % 251);
      ws.sendBinary(big);
      const r = await ws.receive();
      assert.equal(r.opcode, 2);
      assert.deepEqual(r.data, big);
    } finally {
      await ws.close();
    }
  } finally {
    await backend.close();
  }
});

Deno.test("ws: a non-upgrade request gets the backend name; a refused upgrade is an error", async () => {
  const backend = await startWsEchoBackend();
  const plain = await startHttpBackend();
  try {
    const res = await fetch(`http://127.0.0.1:${backend.port}/`);
    assert.equal(await res.text(), backend.name);
    // an HTTP/1 server that does not speak WebSocket answers 200, not 101
    await assert.rejects(
      WsClient.connect(`127.0.0.1:${plain.port}`, "x"),
      /expected 101, got: HTTP\/1\.1 200/,
    );
  } finally {
    await plain.close();
    await backend.close();
  }
});
