/**
 * The YAML config file: parsing and validation with precise errors (the
 * file-based stand-in for linkerd's Destination/Policy discovery).
 *
 * Every error names the file, line and column and the field path, e.g.
 * `petrel.yaml:7:11: services[0].endpoints[1]: Cannot parse endpoint: current value is "127.0.0.1"`.
 * Unknown keys are errors. The schema is a table of fields per object: to add
 * a field, add a row to its table (see `SERVICE_FIELDS`).
 *
 * @module
 */
import {
  type Document,
  isAlias,
  isMap,
  isPair,
  isScalar,
  isSeq,
  LineCounter,
  parseDocument,
} from "yaml";
import type {
  EndpointConfig,
  FileConfig,
  ForwardConfig,
  ServiceConfig,
} from "./config.ts";
import {
  formatSocketAddr,
  isDnsName,
  parseAuthority,
  parseDurationMs,
  parseNumber,
  parseSocketAddr,
} from "./parse.ts";

// ---------------------------------------------------------------------------
// The validator toolkit: a `Parser<T>` turns one YAML node into a value, or
// throws a located error.

/** Where a node is: its field path and an offset into the source. */
interface Loc {
  readonly path: string;
  readonly offset: number;
}

interface Ctx {
  readonly source: string;
  readonly lineCounter: LineCounter;
  readonly doc: Document;
}

type Parser<T> = (node: unknown, loc: Loc, ctx: Ctx) => T;

/** One row of an object's table: YAML `key` → result field `into`. */
interface Field {
  readonly key: string;
  /** Result property name. @default {key} */
  readonly into?: string;
  readonly required?: boolean;
  readonly parse: Parser<unknown>;
}

type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

function located(
  ctx: Ctx,
  loc: Loc,
  message: string,
  type: ErrorClass = TypeError,
  cause?: unknown,
): Error {
  const { line, col } = ctx.lineCounter.linePos(loc.offset);
  const path = loc.path === "" ? "(top level)" : loc.path;
  return new type(
    `${ctx.source}:${line}:${col}: ${path}: ${message}`,
    cause === undefined ? undefined : { cause },
  );
}

/** Re-throws a parse.ts error with the location in front, keeping its class. */
function rethrow(ctx: Ctx, loc: Loc, err: unknown): never {
  if (err instanceof TypeError || err instanceof RangeError) {
    throw located(
      ctx,
      loc,
      err.message,
      err instanceof RangeError ? RangeError : TypeError,
      err,
    );
  }
  throw err;
}

function offsetOf(node: unknown, fallback: number): number {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0] ?? fallback;
}

function deref(node: unknown, loc: Loc, ctx: Ctx): unknown {
  if (!isAlias(node)) return node;
  const target = node.resolve(ctx.doc);
  if (target === undefined) {
    throw located(ctx, loc, `Unresolved alias "*${node.source}"`);
  }
  return target;
}

function describe(node: unknown): string {
  if (node === null || node === undefined) return "nothing";
  if (isMap(node)) return "a mapping";
  if (isSeq(node)) return "a sequence";
  if (isScalar(node)) {
    const v = node.value;
    if (v === null) return "nothing";
    return `a ${typeof v === "bigint" ? "number" : typeof v}`;
  }
  return "an unsupported node";
}

function childLoc(node: unknown, path: string, parent: Loc): Loc {
  return { path, offset: offsetOf(node, parent.offset) };
}

function isNull(node: unknown): boolean {
  return node === null || node === undefined ||
    (isScalar(node) && node.value === null);
}

/** A mapping with exactly the fields of `fields`; `finish` checks the whole. */
function objectOf<T>(
  fields: readonly Field[],
  finish?: (
    obj: Record<string, unknown>,
    loc: Loc,
    ctx: Ctx,
    node: unknown,
  ) => T,
): Parser<T> {
  const byKey = new Map(fields.map((f) => [f.key, f]));
  const known = fields.map((f) => f.key).join(", ");
  return (raw, loc, ctx) => {
    const node = deref(raw, loc, ctx);
    const obj: Record<string, unknown> = {};
    if (!isNull(node)) {
      if (!isMap(node)) {
        throw located(ctx, loc, `Expected a mapping, got ${describe(node)}`);
      }
      for (const pair of node.items) {
        if (!isPair(pair)) continue;
        const keyNode = deref(pair.key, loc, ctx);
        const keyLoc = childLoc(pair.key, loc.path, loc);
        if (!isScalar(keyNode) || typeof keyNode.value !== "string") {
          throw located(
            ctx,
            keyLoc,
            `Expected a string key, got ${describe(keyNode)}`,
          );
        }
        const key = keyNode.value;
        const path = loc.path === "" ? key : `${loc.path}.${key}`;
        const field = byKey.get(key);
        if (field === undefined) {
          throw located(
            ctx,
            { path, offset: keyLoc.offset },
            `Unknown field "${key}" (expected one of: ${known})`,
          );
        }
        // An empty value (`key:`) is located at its key.
        const valueLoc = isNull(pair.value)
          ? { path, offset: keyLoc.offset }
          : childLoc(pair.value, path, keyLoc);
        obj[field.into ?? field.key] = field.parse(pair.value, valueLoc, ctx);
      }
    }
    for (const field of fields) {
      if (field.required && !((field.into ?? field.key) in obj)) {
        throw located(ctx, loc, `Missing required field "${field.key}"`);
      }
    }
    return finish ? finish(obj, loc, ctx, node) : (obj as T);
  };
}

/** A sequence of `item`; an empty value is an empty list. */
function listOf<T>(item: Parser<T>): Parser<T[]> {
  return (raw, loc, ctx) => {
    const node = deref(raw, loc, ctx);
    if (isNull(node)) return [];
    if (!isSeq(node)) {
      throw located(ctx, loc, `Expected a sequence, got ${describe(node)}`);
    }
    return node.items.map((child, i) =>
      item(child, childLoc(child, `${loc.path}[${i}]`, loc), ctx)
    );
  };
}

/** A scalar of the JS type `type`, converted by `convert` (whose parse.ts errors get located). */
function scalar<T>(
  type: "string" | "number" | "boolean" | "string|number",
  convert: (value: string | number | boolean) => T,
): Parser<T> {
  const types = type.split("|");
  return (raw, loc, ctx) => {
    const node = deref(raw, loc, ctx);
    const value = isScalar(node) ? node.value : undefined;
    if (
      value === null || value === undefined || !types.includes(typeof value)
    ) {
      const want = type === "string|number" ? "a string" : `a ${type}`;
      throw located(ctx, loc, `Expected ${want}, got ${describe(node)}`);
    }
    try {
      return convert(value as string | number | boolean);
    } catch (err) {
      rethrow(ctx, loc, err);
    }
  };
}

/** Reports a duplicate `key` within one list, at `loc`. */
function checkUnique(
  seen: Map<string, Loc>,
  key: string,
  what: string,
  loc: Loc,
  ctx: Ctx,
): void {
  const first = seen.get(key);
  if (first !== undefined) {
    const { line } = ctx.lineCounter.linePos(first.offset);
    throw located(
      ctx,
      loc,
      `Duplicate ${what} "${key}" (first defined at line ${line}, ${first.path})`,
    );
  }
  seen.set(key, loc);
}

/**
 * The location of the node reached from `raw` by `steps` (mapping keys and
 * sequence indexes), for checks made after parsing; a missing node is
 * located at its nearest ancestor.
 */
function locAt(
  raw: unknown,
  base: Loc,
  ctx: Ctx,
  steps: readonly (string | number)[],
): Loc {
  let node: unknown = raw;
  let loc = base;
  for (const step of steps) {
    node = node === undefined ? undefined : deref(node, loc, ctx);
    let next: unknown;
    let anchor = loc.offset;
    let path: string;
    if (typeof step === "number") {
      path = `${loc.path}[${step}]`;
      next = isSeq(node) ? node.items[step] : undefined;
    } else {
      path = loc.path === "" ? step : `${loc.path}.${step}`;
      const pair = isMap(node)
        ? node.items.find((p) => isScalar(p.key) && p.key.value === step)
        : undefined;
      next = pair?.value ?? undefined;
      anchor = offsetOf(pair?.key, anchor);
    }
    loc = { path, offset: offsetOf(next, anchor) };
    node = next;
  }
  return loc;
}

// ---------------------------------------------------------------------------
// Leaf value parsers.

const str = scalar("string", (v) => v as string);

const duration = scalar(
  "string|number",
  (v) => parseDurationMs(String(v), "duration"),
);

const bool = scalar("boolean", (v) => v as boolean);

function count(what: string, max = Number.MAX_SAFE_INTEGER): Parser<number> {
  return scalar("number", (v) => {
    const n = v as number;
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new TypeError(`Cannot parse ${what}: current value is "${n}"`);
    }
    if (n > max) {
      throw new RangeError(`Cannot parse ${what}: current value is "${n}"`);
    }
    return n;
  });
}

const listenAddr = scalar(
  "string",
  (v) =>
    formatSocketAddr(
      parseSocketAddr(v as string, "listen address", { ip: true }),
    ),
);

function target(what: string): Parser<string> {
  return scalar(
    "string",
    (v) => formatSocketAddr(parseSocketAddr(v as string, what)),
  );
}

const identity = scalar("string", (v) => {
  const s = v as string;
  if (!isDnsName(s)) {
    throw new TypeError(`Cannot parse identity: current value is "${s}"`);
  }
  return s.toLowerCase();
});

const protocol = scalar("string", (v) => {
  if (v === "http1" || v === "http2") return v;
  throw new TypeError(
    `Cannot parse protocol: current value is "${v}" (expected "http1" or "http2")`,
  );
});

// ---------------------------------------------------------------------------
// The schema, one table per object.

const BACKOFF_FIELDS: readonly Field[] = [
  { key: "min", into: "minMs", required: true, parse: duration },
  { key: "max", into: "maxMs", required: true, parse: duration },
  {
    key: "jitter",
    required: true,
    parse: scalar(
      "number",
      (v) => parseNumber(String(v), "jitter", { min: 0, max: 1 }),
    ),
  },
];

const backoff = objectOf(BACKOFF_FIELDS, (obj, loc, ctx) => {
  if ((obj.minMs as number) > (obj.maxMs as number)) {
    throw located(
      ctx,
      loc,
      "Cannot parse backoff: min must not exceed max",
      RangeError,
    );
  }
  return obj;
});

const FORWARD_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", required: true, parse: listenAddr },
  { key: "target", required: true, parse: target("forward target") },
];

const forwards: Parser<ForwardConfig[]> = (raw, loc, ctx) => {
  const list = listOf(objectOf<ForwardConfig>(FORWARD_FIELDS))(raw, loc, ctx);
  const seen = new Map<string, Loc>();
  list.forEach((f, i) => {
    const at = locAt(raw, loc, ctx, [i, "listen"]);
    checkUnique(seen, f.listenAddr, "forward listen address", at, ctx);
  });
  return list;
};

const OUTBOUND_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", parse: listenAddr },
  { key: "opaqueTarget", parse: target("opaque target") },
  { key: "forwards", parse: forwards },
  { key: "connectTimeout", into: "connectTimeoutMs", parse: duration },
  { key: "connectBackoff", parse: backoff },
  { key: "detectTimeout", into: "detectTimeoutMs", parse: duration },
  {
    key: "http1PoolIdleTimeout",
    into: "http1PoolIdleTimeoutMs",
    parse: duration,
  },
  {
    key: "maxIdleConnsPerEndpoint",
    parse: count("maxIdleConnsPerEndpoint"),
  },
  { key: "maxInFlight", parse: count("maxInFlight") },
  { key: "httpQueueCapacity", parse: count("httpQueueCapacity") },
  {
    key: "httpFailfastTimeout",
    into: "httpFailfastTimeoutMs",
    parse: duration,
  },
  {
    key: "discoveryIdleTimeout",
    into: "discoveryIdleTimeoutMs",
    parse: duration,
  },
  { key: "disableInformationalHeaders", parse: bool },
];

const ADMIN_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", parse: listenAddr },
  { key: "shutdownEnabled", parse: bool },
];

function endpointOf(addr: string): EndpointConfig {
  const parsed = parseSocketAddr(addr, "endpoint");
  return {
    addr: formatSocketAddr(parsed),
    host: parsed.host,
    port: parsed.port,
  };
}

const endpointAddr = scalar("string", (v) => endpointOf(v as string));

const ENDPOINT_FIELDS: readonly Field[] = [
  { key: "addr", required: true, parse: endpointAddr },
  { key: "identity", parse: identity },
  { key: "weight", parse: count("weight", 0xffff_ffff) },
];

const endpointObject = objectOf<EndpointConfig>(ENDPOINT_FIELDS, (obj) => {
  const { addr, ...rest } = obj;
  return { ...(addr as EndpointConfig), ...rest } as EndpointConfig;
});

/** An endpoint: "ip:port" / "host:port", or `{ addr, identity?, weight? }`. */
const endpoint: Parser<EndpointConfig> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  if (isMap(node)) return endpointObject(node, loc, ctx);
  if (isScalar(node) && typeof node.value === "string") {
    return endpointAddr(node, loc, ctx);
  }
  throw located(
    ctx,
    loc,
    `Expected an endpoint address or mapping, got ${describe(node)}`,
  );
};

const serviceName = scalar(
  "string",
  (v) => formatSocketAddr(parseAuthority(v as string, "service name")),
);

const SERVICE_FIELDS: readonly Field[] = [
  { key: "name", required: true, parse: serviceName },
  { key: "protocol", parse: protocol },
  { key: "endpoints", required: true, parse: listOf(endpoint) },
  { key: "identity", parse: identity },
];

const service = objectOf<ServiceConfig>(
  SERVICE_FIELDS,
  (obj, loc, ctx, node) => {
    const defaultIdentity = obj.identity as string | undefined;
    const seen = new Map<string, Loc>();
    const endpoints = (obj.endpoints as EndpointConfig[]).map((ep, i) => {
      const at = locAt(node, loc, ctx, ["endpoints", i]);
      checkUnique(seen, ep.addr, "endpoint", at, ctx);
      return ep.identity === undefined && defaultIdentity !== undefined
        ? { ...ep, identity: defaultIdentity }
        : ep;
    });
    const out: ServiceConfig = {
      name: obj.name as string,
      protocol: (obj.protocol as ServiceConfig["protocol"] | undefined) ??
        "http1",
      endpoints,
    };
    return defaultIdentity === undefined
      ? out
      : { ...out, identity: defaultIdentity };
  },
);

const services: Parser<ServiceConfig[]> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  const list = listOf(service)(node, loc, ctx);
  const seen = new Map<string, Loc>();
  list.forEach((svc, i) => {
    const at = locAt(node, loc, ctx, [i, "name"]);
    checkUnique(seen, svc.name, "service name", at, ctx);
  });
  return list;
};

const ROOT_FIELDS: readonly Field[] = [
  { key: "outbound", parse: objectOf(OUTBOUND_FIELDS) },
  { key: "admin", parse: objectOf(ADMIN_FIELDS) },
  { key: "services", parse: services },
  {
    key: "shutdownGracePeriod",
    into: "shutdownGracePeriodMs",
    parse: duration,
  },
  { key: "logLevel", parse: str },
];

const root = objectOf<FileConfig>(
  ROOT_FIELDS,
  (obj) => ({ ...obj, services: obj.services ?? [] }) as FileConfig,
);

/**
 * Parses and validates a Petrel YAML config file (`source` names it in
 * errors). Throws `SyntaxError` for malformed YAML and `TypeError` /
 * `RangeError` for schema errors, each message starting `source:line:col:`.
 */
export function parseConfigYaml(text: string, source: string): FileConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    const message = problem.code === "MULTIPLE_DOCS"
      ? "Source contains multiple documents; a config file holds one"
      : problem.message.split("\n")[0];
    throw new SyntaxError(
      `${source}:${line}:${col}: Cannot parse YAML: ${message}`,
      { cause: problem },
    );
  }
  const ctx: Ctx = { source, lineCounter, doc };
  return root(
    doc.contents,
    { path: "", offset: offsetOf(doc.contents, 0) },
    ctx,
  );
}
