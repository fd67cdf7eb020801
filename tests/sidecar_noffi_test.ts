/**
 * Petrel without FFI (issue 16): the original destination cannot be read,
 * so Petrel says so once at start-up and routes every connection by name,
 * as before sidecar mode.
 */
import assert from "node:assert/strict";
import { startHttpBackend } from "./support/backend.ts";
import { writeConfig } from "./support/petrel.ts";
import { run, startPeer } from "./support/proc.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

Deno.test("without --allow-ffi: one warning at start, name-based routing still works", async () => {
  const web = await startHttpBackend();
  const configPath = await writeConfig(`
outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
services:
  - name: web.test:80
    endpoints: [127.0.0.1:${web.port}]
`);
  const peer = await startPeer(Deno.execPath(), [
    "run",
    "--allow-all",
    "--deny-ffi",
    MAIN,
    "--config",
    configPath,
  ], {
    env: {
      LINKERD2_PROXY_LOG: "warn",
      // Two listeners, still one warning.
      LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: "127.0.0.1:0,[::1]:0",
    },
    startTimeoutMs: 30_000,
  });
  try {
    const r = await run("curl", [
      "-sS",
      "-m",
      "10",
      "-x",
      `http://127.0.0.1:${peer.port}`,
      "http://web.test/",
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `backend-${web.port}`);
    const warnings = peer.stderr().split("\n").filter((l) =>
      l.includes("original destination unavailable")
    );
    assert.equal(warnings.length, 1, peer.stderr());
    assert.match(warnings[0]!, /FFI not allowed/);
  } finally {
    await peer.stop();
    await web.close();
    await Deno.remove(configPath.replace(/\/petrel\.yaml$/, ""), {
      recursive: true,
    });
  }
});
