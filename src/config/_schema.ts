/**
 * The YAML validator toolkit (private to `src/config/`): a `Parser<T>` turns
 * one YAML node into a value, or throws an error located by file, line,
 * column and field path; plus the leaf value parsers every schema shares.
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
  type LineCounter,
} from "yaml";
import {
  formatSocketAddr,
  isDnsName,
  parseAuthority,
  parseSocketAddr,
} from "../addr/mod.ts";
import { parseDurationMs, parseNumber } from "./parse.ts";

// ---------------------------------------------------------------------------
// The validator toolkit: a `Parser<T>` turns one YAML node into a value, or
// throws a located error.

/** Where a node is: its field path and an offset into the source. */
export interface Loc {
  readonly path: string;
  readonly offset: number;
}

/** The document being validated, for locating errors. */
export interface Ctx {
  readonly source: string;
  readonly lineCounter: LineCounter;
  readonly doc: Document;
}

/** Turns one YAML node into a value, or throws a located error. */
export type Parser<T> = (node: unknown, loc: Loc, ctx: Ctx) => T;

/** One row of an object's table: YAML `key` → result field `into`. */
export interface Field {
  readonly key: string;
  /** Result property name. @default {key} */
  readonly into?: string;
  readonly required?: boolean;
  readonly parse: Parser<unknown>;
}

/** The built-in error class a located error is made of. */
export type ErrorClass = new (message: string, options?: ErrorOptions) => Error;

/** An error of `type` whose message starts `source:line:col: path: `. */
export function located(
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
export function rethrow(ctx: Ctx, loc: Loc, err: unknown): never {
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

/** The source offset of a node, or `fallback` for a missing one. */
export function offsetOf(node: unknown, fallback: number): number {
  const range = (node as { range?: [number, number, number] } | null)?.range;
  return range?.[0] ?? fallback;
}

/** Resolves an alias node to its target. */
export function deref(node: unknown, loc: Loc, ctx: Ctx): unknown {
  if (!isAlias(node)) return node;
  const target = node.resolve(ctx.doc);
  if (target === undefined) {
    throw located(ctx, loc, `Unresolved alias "*${node.source}"`);
  }
  return target;
}

/** What a node is, for "Expected X, got Y" messages. */
export function describe(node: unknown): string {
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

/** The location of a child node at `path`. */
export function childLoc(node: unknown, path: string, parent: Loc): Loc {
  return { path, offset: offsetOf(node, parent.offset) };
}

/** True for a missing or empty (`key:`) value. */
export function isNull(node: unknown): boolean {
  return node === null || node === undefined ||
    (isScalar(node) && node.value === null);
}

/** A mapping with exactly the fields of `fields`; `finish` checks the whole. */
export function objectOf<T>(
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
export function listOf<T>(item: Parser<T>): Parser<T[]> {
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
export function scalar<T>(
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
export function checkUnique(
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
export function locAt(
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

/** A string. */
export const str = scalar("string", (v) => v as string);

/** A linkerd duration ("10s") in ms. */
export const duration = scalar(
  "string|number",
  (v) => parseDurationMs(String(v), "duration"),
);

/** A boolean. */
export const bool = scalar("boolean", (v) => v as boolean);

/** A non-negative integer up to `max`. */
export function count(
  what: string,
  max = Number.MAX_SAFE_INTEGER,
): Parser<number> {
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

/** An "ip:port" to listen on. */
export const listenAddr = scalar(
  "string",
  (v) =>
    formatSocketAddr(
      parseSocketAddr(v as string, "listen address", { ip: true }),
    ),
);

/** A "host:port" to connect to. */
export function target(what: string): Parser<string> {
  return scalar(
    "string",
    (v) => formatSocketAddr(parseSocketAddr(v as string, what)),
  );
}

/** A TLS identity (a DNS-like name), lower-cased. */
export const identity = scalar("string", (v) => {
  const s = v as string;
  if (!isDnsName(s)) {
    throw new TypeError(`Cannot parse identity: current value is "${s}"`);
  }
  return s.toLowerCase();
});

/** An upstream protocol: http1 or http2. */
export const protocol = scalar("string", (v) => {
  if (v === "http1" || v === "http2") return v;
  throw new TypeError(
    `Cannot parse protocol: current value is "${v}" (expected "http1" or "http2")`,
  );
});

/** The fields of an exponential backoff. */
export const BACKOFF_FIELDS: readonly Field[] = [
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

/** `{ min, max, jitter }`, min not above max. */
export const backoff = objectOf(BACKOFF_FIELDS, (obj, loc, ctx) => {
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

/** A logical authority "host[:port]", normalized to lower-case "host:port". */
export const serviceName = scalar(
  "string",
  (v) => formatSocketAddr(parseAuthority(v as string, "service name")),
);
