/**
 * `deno task lint:deps`: the imports of `src/` go one way, from the upper
 * layers to the lower ones (docs/architecture.md §1). Reads every import and
 * re-export of every non-test module under `src/` (and `main.ts`), maps each
 * file to its unit (its top folder under `src/`, or the file itself for
 * `src/*.ts`), and fails on any edge from a unit to one of the same or a
 * higher layer.
 *
 *   deno run -A scripts/lint_deps.ts           check; exit 1 on a violation
 *   deno run -A scripts/lint_deps.ts --print   print the layers
 *
 * @module
 */

/**
 * The layers, lowest first. A unit may import from units of lower layers
 * only; units of one layer do not import each other.
 */
export const LAYERS: readonly (readonly string[])[] = [
  ["svc", "errors", "log", "file_watch"], // composition, error kinds, the logger, the file watcher
  ["addr"], // names and socket addresses
  ["transport"], // connect, detect, opaque splice, orig dst, transport header
  ["tls"], // local identity, mTLS client/server, verification
  ["balance"], // P2C, Peak-EWMA, pool, queue, failure accrual
  ["http"], // message type, HTTP/1 and HTTP/2 codecs, routes, retries, timeouts
  ["metrics", "access_log"], // Prometheus families, the access log
  ["api"], // linkerd2-proxy-api wire types and their conversion
  ["discovery", "identity_client"], // control-plane clients, YAML and DNS sources
  ["tap"], // the tap registry, stack layer and mTLS server (io.linkerd.proxy.tap)
  ["outbound", "inbound"], // the two proxy stacks
  ["admin"], // the admin server and dashboard
  ["config"], // env + YAML → Config (maps onto each subsystem's own type)
  ["app", "init"], // builds everything; `petrel init` (the redirect rules)
  ["main"], // the entry point
];

/** One import against the layers. */
export interface Violation {
  file: string;
  line: number;
  from: string;
  to: string;
  specifier: string;
}

const IMPORT_RE =
  /^\s*(?:import|export)\s[^'"]*?from\s*["']([^"']+)["']|^\s*import\s*["']([^"']+)["']|import\(\s*["']([^"']+)["']\s*\)/gm;

/** The unit of a path relative to the project root, or undefined outside src/. */
export function unitOf(path: string): string | undefined {
  if (path === "main.ts") return "main";
  const m = /^src\/([^/]+)(\/)?/.exec(path);
  if (!m) return undefined;
  return m[2] ? m[1]! : m[1]!.replace(/\.ts$/, "");
}

function layerIndex(): Map<string, number> {
  const idx = new Map<string, number>();
  LAYERS.forEach((units, i) => units.forEach((u) => idx.set(u, i)));
  return idx;
}

/** Resolves `spec` imported by `file` (both relative to the root). */
function resolve(file: string, spec: string): string | undefined {
  if (!spec.startsWith(".")) return undefined; // npm:, node:, bare
  const parts = file.split("/").slice(0, -1);
  for (const seg of spec.split("/")) {
    if (seg === "." || seg === "") continue;
    if (seg === "..") parts.pop();
    else parts.push(seg);
  }
  return parts.join("/");
}

/** Checks `files` (root-relative path → source text). */
export function checkImports(files: ReadonlyMap<string, string>): {
  violations: Violation[];
  unknown: string[];
} {
  const idx = layerIndex();
  const violations: Violation[] = [];
  const unknown = new Set<string>();
  for (const [file, text] of files) {
    const from = unitOf(file);
    if (from === undefined) continue;
    const fromLayer = idx.get(from);
    if (fromLayer === undefined) {
      unknown.add(from);
      continue;
    }
    for (const m of text.matchAll(IMPORT_RE)) {
      const spec = m[1] ?? m[2] ?? m[3]!;
      const target = resolve(file, spec);
      if (target === undefined) continue;
      const to = unitOf(target);
      if (to === undefined || to === from) continue;
      const toLayer = idx.get(to);
      if (toLayer === undefined) {
        unknown.add(to);
        continue;
      }
      if (toLayer >= fromLayer) {
        const at = m.index + m[0].length - m[0].trimStart().length;
        const line = text.slice(0, at).split("\n").length;
        violations.push({ file, line, from, to, specifier: spec });
      }
    }
  }
  return { violations, unknown: [...unknown].sort() };
}

const isTest = (p: string) => /(_test|_test_util)\.ts$/.test(p);

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory) yield* walk(p);
    else if (p.endsWith(".ts") && !isTest(p)) yield p;
  }
}

/** Reads the project's modules (root-relative paths). */
export async function readProject(root: string): Promise<Map<string, string>> {
  const files = new Map<string, string>();
  for await (const p of walk(`${root}/src`)) {
    files.set(p.slice(root.length + 1), await Deno.readTextFile(p));
  }
  files.set("main.ts", await Deno.readTextFile(`${root}/main.ts`));
  return files;
}

if (import.meta.main) {
  const root = new URL("..", import.meta.url).pathname.replace(/\/$/, "");
  if (Deno.args.includes("--print")) {
    LAYERS.forEach((units, i) =>
      console.log(`${String(i).padStart(2)}  ${units.join(", ")}`)
    );
    Deno.exit(0);
  }
  const { violations, unknown } = checkImports(await readProject(root));
  for (const u of unknown) {
    console.error(`lint:deps: ${u} is in no layer (add it to LAYERS)`);
  }
  for (const v of violations) {
    console.error(
      `${v.file}:${v.line}: ${v.from} imports ${v.to} ("${v.specifier}"), which is not below it`,
    );
  }
  if (violations.length || unknown.length) {
    console.error(
      `lint:deps: ${violations.length} import(s) against the layers, ${unknown.length} unknown unit(s)`,
    );
    Deno.exit(1);
  }
  console.log(`lint:deps: ${LAYERS.flat().length} units, imports all go down`);
}
