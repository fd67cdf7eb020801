/**
 * `main.ts check --config FILE` and `main.ts --help`, as real child
 * processes: a good file exits 0 with "config OK", a bad one exits 1 with
 * the file, line, column and field path of the error.
 */
import assert from "node:assert/strict";
import { run } from "./support/proc.ts";
import { servicesYaml, writeConfig } from "./support/petrel.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

function petrel(args: string[], env: Record<string, string> = {}) {
  return run(Deno.execPath(), ["run", "-A", MAIN, ...args], {
    env,
    timeoutMs: 30_000,
  });
}

async function removeConfig(path: string): Promise<void> {
  await Deno.remove(path.replace(/\/petrel\.yaml$/, ""), { recursive: true });
}

Deno.test("check: a good file exits 0 and counts its services", async () => {
  const path = await writeConfig(servicesYaml({
    "a.test:80": { endpoints: ["127.0.0.1:9001"] },
    "b.test:80": { endpoints: ["127.0.0.1:9002", "127.0.0.1:9003"] },
  }));
  try {
    const r = await petrel(["check", "--config", path]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^config OK: 2 services/);
    assert.equal(r.stderr, "");
  } finally {
    await removeConfig(path);
  }
});

Deno.test("check: a bad file exits 1 with file:line:col and the field path", async () => {
  const path = await writeConfig(
    "outbound: { listen: 127.0.0.1:0 }\nservices:\n  - name: web.test:8080\n    endpoints: [127.0.0.1:9001, 127.0.0.1]\n",
  );
  try {
    const r = await petrel(["check", "--config", path]);
    assert.equal(r.code, 1);
    assert.equal(r.stdout, "");
    assert.match(
      r.stderr,
      new RegExp(
        `${
          path.replaceAll(".", "\\.")
        }:4:\\d+: services\\[0\\]\\.endpoints\\[1\\]: `,
      ),
    );
  } finally {
    await removeConfig(path);
  }
});

Deno.test("check: an unknown key and a bad env var are errors too", async () => {
  const path = await writeConfig(
    "outbound: { listen: 127.0.0.1:0, bogus: 1 }\nservices: []\n",
  );
  try {
    const r = await petrel(["check", "--config", path]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /:1:\d+: outbound\.bogus/);
    const ok = await writeConfig("services: []\n");
    try {
      const e = await petrel(["check", "--config", ok], {
        LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT: "soon",
      });
      assert.equal(e.code, 1);
      assert.match(e.stderr, /LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT/);
    } finally {
      await removeConfig(ok);
    }
  } finally {
    await removeConfig(path);
  }
});

Deno.test("check: a missing file exits 1 naming it", async () => {
  const r = await petrel(["check", "--config", "/nonexistent/petrel.yaml"]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\/nonexistent\/petrel\.yaml/);
});

Deno.test("--help lists the commands, flags and env vars", async () => {
  const r = await petrel(["--help"]);
  assert.equal(r.code, 0);
  for (
    const s of [
      "check",
      "--config",
      "PETREL_CONFIG",
      "LINKERD2_PROXY_ADMIN_LISTEN_ADDR",
      "LINKERD2_PROXY_ACCESS_LOG",
      "LINKERD2_PROXY_LOG",
    ]
  ) {
    assert.ok(r.stdout.includes(s), `--help lacks ${s}`);
  }
});
