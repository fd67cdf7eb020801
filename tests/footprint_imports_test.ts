/**
 * Issue 19: what Petrel loads at start-up on a config that names no control
 * plane. The static import graph of `main.ts` (as `deno info` resolves it,
 * dynamic `import()` left out) must not reach the control-plane client
 * (@grpc/grpc-js, @grpc/proto-loader: ~10 MB RSS and ~150 ms of start-up),
 * the inbound proxy, or playwright-core; those load on demand.
 */
import assert from "node:assert/strict";

const ROOT = new URL("..", import.meta.url).pathname;

interface InfoModule {
  specifier: string;
  dependencies?: {
    isDynamic?: boolean;
    code?: { specifier?: string };
    type?: { specifier?: string };
  }[];
}

/** Every module `main.ts` reaches through static imports, with one importer each. */
async function staticGraph(): Promise<Map<string, string | undefined>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["info", "--json", "main.ts"],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const info = JSON.parse(new TextDecoder().decode(out.stdout)) as {
    roots: string[];
    modules: InfoModule[];
  };
  const mods = new Map(info.modules.map((m) => [m.specifier, m]));
  const parent = new Map<string, string | undefined>([[
    info.roots[0]!,
    undefined,
  ]]);
  const queue = [info.roots[0]!];
  while (queue.length > 0) {
    const s = queue.shift()!;
    for (const dep of mods.get(s)?.dependencies ?? []) {
      const t = dep.code?.specifier;
      if (dep.isDynamic || t === undefined || parent.has(t)) continue;
      parent.set(t, s);
      queue.push(t);
    }
  }
  return parent;
}

function chain(parent: Map<string, string | undefined>, s: string): string {
  const out = [];
  for (let x: string | undefined = s; x !== undefined; x = parent.get(x)) {
    out.push(x.replace(`file://${ROOT}`, ""));
  }
  return out.join(" <- ");
}

Deno.test("main.ts statically loads no control-plane client, inbound proxy or playwright", async () => {
  const graph = await staticGraph();
  assert.ok(graph.size > 50, `graph has ${graph.size} modules`);
  assert.ok(
    [...graph.keys()].some((s) => s.endsWith("/src/outbound/listener.ts")),
  );
  const banned = [...graph.keys()].filter((s) =>
    /^npm:\/?(@grpc\/|playwright)/.test(s) ||
    /\/src\/identity_client\//.test(s) ||
    /\/src\/inbound\/(listener|mod|store_config)\.ts$/.test(s) ||
    /\/src\/api\/proto\.ts$/.test(s) ||
    /\/src\/discovery\/destination\.ts$/.test(s)
  );
  assert.deepEqual(banned.map((s) => chain(graph, s)), []);
});
