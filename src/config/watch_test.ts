import assert from "node:assert/strict";
import type { FileConfig } from "./config.ts";
import { watchConfigFile, type WatchConfigOptions } from "./watch.ts";
import { parseConfigYaml } from "./yaml.ts";

function yamlWith(port: number, comment = ""): string {
  return `# petrel test ${comment}
services:
  - name: web.test:8080
    endpoints: [127.0.0.1:${port}]
`;
}

type Event = { config: FileConfig } | { error: Error };

/** Collects the watcher's callbacks; `next()` waits for the following one. */
class Events {
  #queue: Event[] = [];
  #waiters: ((e: Event) => void)[] = [];
  readonly options: Pick<WatchConfigOptions, "onConfig" | "onError"> = {
    onConfig: (config) => this.#push({ config }),
    onError: (error) => this.#push({ error }),
  };

  #push(e: Event): void {
    const waiter = this.#waiters.shift();
    if (waiter) waiter(e);
    else this.#queue.push(e);
  }

  next(timeoutMs = 5000): Promise<Event> {
    const queued = this.#queue.shift();
    if (queued) return Promise.resolve(queued);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiters.splice(this.#waiters.indexOf(waiter), 1);
        reject(new Error(`no watcher event within ${timeoutMs}ms`));
      }, timeoutMs);
      const waiter = (e: Event) => {
        clearTimeout(timer);
        resolve(e);
      };
      this.#waiters.push(waiter);
    });
  }

  get pending(): number {
    return this.#queue.length;
  }
}

function endpointPort(e: Event): number {
  assert.ok("config" in e, "error" in e ? e.error.message : "");
  return e.config.services[0]?.endpoints[0]?.port ?? -1;
}

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "petrel_watch_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

Deno.test("watchConfigFile() reports an edit in place", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      debounceMs: 50,
    });
    await w.ready;
    assert.equal(events.pending, 0, "unchanged initial config not reported");
    await Deno.writeTextFile(path, yamlWith(9002));
    assert.equal(endpointPort(await events.next()), 9002);
  });
});

Deno.test("watchConfigFile() reports a temp file renamed over the config", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      debounceMs: 50,
    });
    await w.ready;
    assert.equal(endpointPort(await events.next()), 9001, "first read");
    await Deno.writeTextFile(`${dir}/.petrel.yaml.swp`, yamlWith(9003));
    await Deno.rename(`${dir}/.petrel.yaml.swp`, path);
    assert.equal(endpointPort(await events.next()), 9003);
  });
});

Deno.test("watchConfigFile() refuses a bad file with its line, then accepts a fixed one", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      debounceMs: 50,
    });
    await w.ready;
    await Deno.writeTextFile(
      path,
      "services:\n  - name: web.test:8080\n    endpoints: [127.0.0.1]\n",
    );
    const bad = await events.next();
    assert.ok("error" in bad);
    assert.equal(
      bad.error.message,
      `${path}:3:17: services[0].endpoints[0]: Cannot parse endpoint: current value is "127.0.0.1"`,
    );
    await Deno.writeTextFile(path, "services: [\n");
    const syntax = await events.next();
    assert.ok("error" in syntax);
    assert.match(
      syntax.error.message,
      /^.*petrel\.yaml:2:1: Cannot parse YAML/,
    );
    await Deno.writeTextFile(path, yamlWith(9004));
    assert.equal(endpointPort(await events.next()), 9004);
  });
});

Deno.test("watchConfigFile() ignores changes that do not change the parsed config", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      debounceMs: 10,
    });
    await w.ready;
    await Deno.writeTextFile(path, yamlWith(9001, "a new comment"));
    await sleep(150);
    assert.equal(events.pending, 0);
    // A bad file and back to the same good config: only the error is reported.
    await Deno.writeTextFile(path, "services: 7\n");
    assert.ok("error" in await events.next());
    await Deno.writeTextFile(path, yamlWith(9001));
    await sleep(150);
    assert.equal(events.pending, 0);
    // An emptied file (a writer between truncate and write) is not applied.
    await Deno.writeTextFile(path, "");
    const empty = await events.next();
    assert.ok("error" in empty);
    assert.match(
      empty.error.message,
      /is empty, keeping the last good config$/,
    );
    await Deno.writeTextFile(path, yamlWith(9005));
    assert.equal(endpointPort(await events.next()), 9005);
  });
});

Deno.test("watchConfigFile() polls when file events are off, and reports a missing file once", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      fsEvents: false,
      debounceMs: 10,
      pollMs: 30,
    });
    await w.ready;
    await Deno.writeTextFile(path, yamlWith(9006));
    assert.equal(endpointPort(await events.next()), 9006);
    await Deno.remove(path);
    const missing = await events.next();
    assert.ok("error" in missing);
    assert.match(
      missing.error.message,
      /^Cannot read config file ".*petrel\.yaml": /,
    );
    await sleep(150);
    assert.equal(events.pending, 0, "a missing file is reported once");
    await Deno.writeTextFile(path, yamlWith(9007));
    assert.equal(endpointPort(await events.next()), 9007);
  });
});

Deno.test("watchConfigFile() reports a first read that differs from the initial config", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9008));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
    });
    await w.ready;
    assert.equal(events.pending, 1);
    assert.equal(endpointPort(await events.next()), 9008);
  });
});

Deno.test("watchConfigFile() refuses a file over maxBytes once, naming it and the limit, then accepts a small one", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      debounceMs: 50,
      maxBytes: 200,
    });
    await w.ready;
    const big = yamlWith(9002, "x".repeat(300));
    await Deno.writeTextFile(path, big);
    const e = await events.next();
    assert.ok("error" in e);
    assert.equal(e.error.name, "RangeError");
    assert.equal(
      e.error.message,
      `Cannot use config file "${path}": it is ${big.length} bytes, over the limit of 200 bytes (PETREL_CONFIG_MAX_BYTES)`,
    );
    // Touching the directory again does not repeat the same refusal.
    await Deno.writeTextFile(`${dir}/other`, "x");
    await sleep(300);
    assert.equal(events.pending, 0);
    await Deno.writeTextFile(path, yamlWith(9003));
    assert.equal(endpointPort(await events.next()), 9003);
  });
});

Deno.test("watchConfigFile() keeps the error class and file:line:col message from the parse Worker", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9001));
    const events = new Events();
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      debounceMs: 50,
    });
    await w.ready;
    const bad = "services:\n  - name: web.test:8080\n    endpoints: [nope]\n";
    await Deno.writeTextFile(path, bad);
    const e = await events.next();
    assert.ok("error" in e);
    let expected: Error | undefined;
    try {
      parseConfigYaml(bad, path);
    } catch (err) {
      expected = err as Error;
    }
    assert.ok(expected);
    assert.equal(e.error.name, expected.name);
    assert.equal(e.error.message, expected.message);
    assert.match(
      e.error.message,
      /petrel\.yaml:3:17: services\[0\]\.endpoints\[0\]/,
    );
  });
});

Deno.test("watchConfigFile() trusts initialText: the unchanged file is not parsed again at start", async () => {
  await withDir(async (dir) => {
    const path = `${dir}/petrel.yaml`;
    await Deno.writeTextFile(path, yamlWith(9008));
    const events = new Events();
    // `initial` differs from the file on purpose: a parse of the file would
    // report 9008, so no event proves the first read was not parsed.
    await using w = watchConfigFile(path, {
      ...events.options,
      initial: parseConfigYaml(yamlWith(9001), path),
      initialText: yamlWith(9008),
      debounceMs: 50,
    });
    await w.ready;
    assert.equal(events.pending, 0);
    await Deno.writeTextFile(path, yamlWith(9002));
    assert.equal(endpointPort(await events.next()), 9002);
  });
});
