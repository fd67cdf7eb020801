/**
 * Leveled structured logger configured by `LINKERD2_PROXY_LOG` and
 * `LINKERD2_PROXY_LOG_FORMAT` (linkerd `linkerd/tracing`).
 *
 * The filter syntax is tracing's `EnvFilter`, read minimally: comma-separated
 * directives, each `level` (the default) or `target=level` (span filters in
 * `[...]` are ignored). Each logger's level is that of the most specific
 * directive naming it: `petrel::outbound=debug` (or linkerd's crate name
 * `linkerd_app_outbound=debug`) applies to `petrel::outbound` and its
 * children; any other target starting with `linkerd` or `petrel` applies to
 * every Petrel logger (`warn,linkerd=info,hickory=error` logs at info); else
 * the default. {@linkcode parseLogFilter} gives the most verbose of them.
 *
 * `LINKERD2_PROXY_LOG_FORMAT=json` writes tracing-subscriber's JSON lines,
 * as linkerd configures them (`linkerd/tracing` `mk_json`): `timestamp`,
 * `level`, `fields` (with `message`), `target`, `spans`, `threadId`.
 *
 * @module
 */

/** Log levels, most severe first (tracing `Level`), plus "off". */
export type LogLevel = "off" | "error" | "warn" | "info" | "debug" | "trace";

/** Output format of log lines (`LINKERD2_PROXY_LOG_FORMAT`). */
export type LogFormat = "plain" | "json";

/** Structured fields appended to a log line. */
export type LogFields = Record<string, unknown>;

/** linkerd's default `LINKERD2_PROXY_LOG` (`app/src/env.rs`). */
export const DEFAULT_LOG_FILTER = "warn,linkerd=info,hickory=error";

const LEVELS: Record<LogLevel, number> = {
  off: 0,
  error: 1,
  warn: 2,
  info: 3,
  debug: 4,
  trace: 5,
};
const LEVEL_NAMES = ["OFF", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"];
const OUR_TARGETS = ["linkerd", "petrel"];

/**
 * Parses a `LINKERD2_PROXY_LOG` filter into Petrel's effective level
 * (linkerd `trace::level::Handle::set_from`, minimally). Throws `SyntaxError`
 * on an unknown level or an empty filter.
 */
export function parseLogFilter(filter: string): LogLevel {
  const directives = filter.split(",").map((d) => d.trim()).filter((d) =>
    d !== ""
  );
  if (directives.length === 0) {
    throw new SyntaxError(
      `Cannot parse log filter: current value is "${filter}"`,
    );
  }
  let best = -1;
  for (const directive of directives) {
    const eq = directive.lastIndexOf("=");
    const levelText = (eq < 0 ? directive : directive.slice(eq + 1)).trim()
      .toLowerCase();
    if (!(levelText in LEVELS)) {
      throw new SyntaxError(
        `Cannot parse log filter directive "${directive}": unknown level "${levelText}"`,
      );
    }
    const level = LEVELS[levelText as LogLevel];
    if (eq < 0) {
      best = Math.max(best, level);
      continue;
    }
    const target = directive.slice(0, eq).replace(/\[.*$/, "").trim();
    if (OUR_TARGETS.some((t) => target.startsWith(t))) {
      best = Math.max(best, level);
    }
  }
  // No default and no directive for our targets: keep errors visible.
  if (best < 0) best = LEVELS.error;
  return LEVEL_NAMES[best]!.toLowerCase() as LogLevel;
}

/** linkerd crate targets and the Petrel logger each one names. */
const LINKERD_TARGETS: Readonly<Record<string, string>> = {
  linkerd_app_outbound: "petrel::outbound",
  linkerd_app_inbound: "petrel::inbound",
  linkerd_app_admin: "petrel::admin",
  linkerd_proxy_identity_client: "petrel::identity",
  linkerd_app_core: "petrel",
};

/** One `target=level` directive, its target in Petrel's names. */
interface Directive {
  /** "petrel" (every logger) or a logger target such as "petrel::outbound". */
  readonly target: string;
  readonly level: number;
}

/** A filter compiled for per-target lookups. */
interface CompiledFilter {
  /** The bare level, or -1 when none was given. */
  readonly fallback: number;
  readonly directives: readonly Directive[];
}

/** Petrel's logger target named by a directive's target, or undefined (not ours). */
function ourTarget(target: string): string | undefined {
  const crate = target.split("::")[0]!;
  const mapped = LINKERD_TARGETS[crate];
  if (mapped !== undefined) {
    const rest = target.slice(crate.length);
    return mapped === "petrel" ? mapped : mapped + rest;
  }
  if (target === "petrel" || target.startsWith("petrel::")) return target;
  if (OUR_TARGETS.some((t) => target.startsWith(t))) return "petrel";
  return undefined;
}

function compileFilter(filter: string): CompiledFilter {
  parseLogFilter(filter); // validates
  let fallback = -1;
  const directives: Directive[] = [];
  for (const raw of filter.split(",")) {
    const directive = raw.trim();
    if (directive === "") continue;
    const eq = directive.lastIndexOf("=");
    const level = LEVELS[
      (eq < 0 ? directive : directive.slice(eq + 1)).trim()
        .toLowerCase() as LogLevel
    ];
    if (eq < 0) {
      fallback = Math.max(fallback, level);
      continue;
    }
    const target = ourTarget(
      directive.slice(0, eq).replace(/\[.*$/, "").trim(),
    );
    if (target !== undefined) directives.push({ target, level });
  }
  return { fallback, directives };
}

/** The level of logger `target` under `f`: the most specific directive naming it. */
function levelFor(f: CompiledFilter, target: string): number {
  let best: Directive | undefined;
  let broad = -1;
  for (const d of f.directives) {
    if (d.target === "petrel") {
      broad = Math.max(broad, d.level);
    } else if (target === d.target || target.startsWith(d.target + "::")) {
      if (best === undefined || d.target.length > best.target.length) best = d;
    }
  }
  if (best !== undefined) return best.level;
  if (broad >= 0) return broad;
  return f.fallback >= 0 ? f.fallback : LEVELS.error;
}

/** Parses `LINKERD2_PROXY_LOG_FORMAT` (case-insensitive `plain` or `json`). */
export function parseLogFormat(value: string): LogFormat {
  const v = value.trim().toLowerCase();
  if (v === "plain" || v === "json") return v;
  throw new SyntaxError(
    `Cannot parse LINKERD2_PROXY_LOG_FORMAT: current value is "${value}"`,
  );
}

/** A leveled logger for one target (linkerd's `tracing` macros + target). */
/**
 * The logging a component needs: the three levels the data plane writes
 * (both proxy directions take this, not a whole {@linkcode Logger}).
 */
export interface Log {
  /** Logs at WARN. */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at INFO. */
  info(msg: string, fields?: LogFields): void;
  /** Logs at DEBUG. */
  debug(msg: string, fields?: LogFields): void;
}

export interface Logger extends Log {
  /** This logger's target, e.g. `petrel::outbound`. */
  readonly target: string;
  /** The current filter string, as last set (GET `/proxy-log-level`). */
  readonly filter: string;
  /** The effective level of the whole logger tree. */
  readonly level: LogLevel;
  /** Whether `level` is enabled: guard for expensive fields. */
  enabled(level: Exclude<LogLevel, "off">): boolean;
  /** Logs at ERROR. */
  error(msg: string, fields?: LogFields): void;
  /** Logs at WARN. */
  warn(msg: string, fields?: LogFields): void;
  /** Logs at INFO. */
  info(msg: string, fields?: LogFields): void;
  /** Logs at DEBUG. */
  debug(msg: string, fields?: LogFields): void;
  /** Logs at TRACE. */
  trace(msg: string, fields?: LogFields): void;
  /** A logger for `target` under this one (`petrel::<target>`), same level. */
  child(target: string): Logger;
  /**
   * Replaces the filter for the whole tree (PUT `/proxy-log-level`).
   * Throws `SyntaxError` and keeps the old filter when `filter` is invalid.
   */
  setLevel(filter: string): void;
}

/** Options of {@linkcode createLogger}. */
export interface LoggerOptions {
  /** A `LINKERD2_PROXY_LOG` filter, e.g. "warn,linkerd=info". */
  level: string;
  /**
   * Line format.
   * @default {"plain"}
   */
  format?: LogFormat | undefined;
  /**
   * Root target.
   * @default {"petrel"}
   */
  target?: string | undefined;
  /**
   * Receives each line, without its trailing newline.
   * @default {writes the line to stderr}
   */
  write?: ((line: string) => void) | undefined;
  /**
   * Clock for timestamps, in epoch milliseconds.
   * @default {Date.now}
   */
  now?: (() => number) | undefined;
}

interface LogState {
  /** The most verbose level of any logger (the tree's). */
  max: number;
  compiled: CompiledFilter;
  /** Bumped at each `setLevel`: loggers recompute their own level. */
  generation: number;
  filter: string;
  format: LogFormat;
  write: (line: string) => void;
  now: () => number;
}

const encoder = new TextEncoder();

function writeStderr(line: string): void {
  const bytes = encoder.encode(line + "\n");
  let off = 0;
  while (off < bytes.length) {
    off += Deno.stderr.writeSync(bytes.subarray(off));
  }
}

const BARE_REGEXP = /^[^\s"=\\]+$/;

function plainValue(v: unknown): string {
  if (typeof v === "string") return BARE_REGEXP.test(v) ? v : JSON.stringify(v);
  if (
    typeof v === "number" || typeof v === "boolean" || typeof v === "bigint"
  ) {
    return String(v);
  }
  if (v === undefined || v === null) return String(v);
  if (v instanceof Error) return JSON.stringify(errorText(v));
  return safeJson(v);
}

function errorText(e: Error): string {
  let text = e.message || e.name;
  for (let c = e.cause; c instanceof Error; c = c.cause) {
    text += `: ${c.message}`;
  }
  return text;
}

function jsonValue(_key: string, v: unknown): unknown {
  if (typeof v === "bigint") return String(v);
  if (v instanceof Error) return errorText(v);
  return v;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v, jsonValue) ?? String(v);
  } catch {
    return JSON.stringify(String(v));
  }
}

class TreeLogger implements Logger {
  readonly target: string;
  readonly #state: LogState;
  #generation = -1;
  #ownMax = 0;

  constructor(target: string, state: LogState) {
    this.target = target;
    this.#state = state;
  }

  /** This logger's own level (per-target directives), recomputed after `setLevel`. */
  get #max(): number {
    const state = this.#state;
    if (this.#generation !== state.generation) {
      this.#generation = state.generation;
      this.#ownMax = levelFor(state.compiled, this.target);
    }
    return this.#ownMax;
  }

  get filter(): string {
    return this.#state.filter;
  }

  get level(): LogLevel {
    return LEVEL_NAMES[this.#state.max]!.toLowerCase() as LogLevel;
  }

  enabled(level: Exclude<LogLevel, "off">): boolean {
    return this.#max >= LEVELS[level];
  }

  error(msg: string, fields?: LogFields): void {
    if (this.#max >= 1) this.#emit(1, msg, fields);
  }

  warn(msg: string, fields?: LogFields): void {
    if (this.#max >= 2) this.#emit(2, msg, fields);
  }

  info(msg: string, fields?: LogFields): void {
    if (this.#max >= 3) this.#emit(3, msg, fields);
  }

  debug(msg: string, fields?: LogFields): void {
    if (this.#max >= 4) this.#emit(4, msg, fields);
  }

  trace(msg: string, fields?: LogFields): void {
    if (this.#max >= 5) this.#emit(5, msg, fields);
  }

  child(target: string): Logger {
    return new TreeLogger(`${this.target}::${target}`, this.#state);
  }

  setLevel(filter: string): void {
    const level = parseLogFilter(filter);
    const compiled = compileFilter(filter);
    this.#state.max = LEVELS[level];
    this.#state.compiled = compiled;
    this.#state.generation++;
    this.#state.filter = filter;
  }

  #emit(level: number, msg: string, fields: LogFields | undefined): void {
    const state = this.#state;
    const timestamp = new Date(state.now()).toISOString();
    const name = LEVEL_NAMES[level]!;
    let line: string;
    if (state.format === "json") {
      // tracing's SystemTime: RFC 3339 with microseconds.
      const micros = timestamp.slice(0, -1) + "000Z";
      // tracing-subscriber's JSON event format, with span list and thread id.
      line = safeJson({
        timestamp: micros,
        level: name,
        fields: { message: msg, ...fields },
        target: this.target,
        spans: [],
        threadId: "ThreadId(1)",
      });
    } else {
      line = `${timestamp} ${name.padStart(5)} ${this.target}: ${msg}`;
      if (fields) {
        for (const key in fields) line += ` ${key}=${plainValue(fields[key])}`;
      }
    }
    try {
      state.write(line);
    } catch {
      // A closed stderr must not take the proxy down.
    }
  }
}

/**
 * Creates the root logger (linkerd `trace::Settings::build`). Throws
 * `SyntaxError` when `opts.level` is not a valid filter.
 */
export function createLogger(opts: LoggerOptions): Logger {
  const state: LogState = {
    max: LEVELS[parseLogFilter(opts.level)],
    compiled: compileFilter(opts.level),
    generation: 0,
    filter: opts.level,
    format: opts.format ?? "plain",
    write: opts.write ?? writeStderr,
    now: opts.now ?? Date.now,
  };
  return new TreeLogger(opts.target ?? "petrel", state);
}
