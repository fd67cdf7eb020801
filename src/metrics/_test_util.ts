/**
 * A strict little parser for Prometheus text format 0.0.4, for tests.
 *
 * @module
 */

/** One parsed sample line `name{labels} value`. */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** A parsed exposition: samples plus `# TYPE` declarations. */
export interface PromText {
  samples: PromSample[];
  types: Map<string, string>;
}

const SAMPLE_REGEXP = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/;
const LABEL_REGEXP = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\["\\n])*)"(,|$)/;
const TYPE_REGEXP =
  /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/;

function parseValue(text: string, line: string): number {
  switch (text.toLowerCase()) {
    case "nan":
      return NaN;
    case "+inf":
      return Infinity;
    case "-inf":
      return -Infinity;
  }
  const n = Number(text);
  if (text === "" || Number.isNaN(n)) {
    throw new SyntaxError(
      `Cannot parse sample value: current line is "${line}"`,
    );
  }
  return n;
}

function parseLabels(text: string, line: string): Record<string, string> {
  const labels: Record<string, string> = {};
  let rest = text;
  while (rest.length > 0) {
    const m = LABEL_REGEXP.exec(rest);
    if (!m) {
      throw new SyntaxError(`Cannot parse labels: current line is "${line}"`);
    }
    const name = m[1]!;
    if (name in labels) {
      throw new SyntaxError(`Duplicate label "${name}" in line "${line}"`);
    }
    labels[name] = m[2]!.replace(
      /\\(["\\n])/g,
      (_, c: string) => c === "n" ? "\n" : c,
    );
    rest = rest.slice(m[0].length);
  }
  return labels;
}

/** Parses the whole text; throws `SyntaxError` on any malformed line. */
export function parsePromText(text: string): PromText {
  const samples: PromSample[] = [];
  const types = new Map<string, string>();
  for (const line of text.split("\n")) {
    if (line === "") continue;
    if (line.startsWith("# HELP ")) continue;
    if (line.startsWith("#")) {
      const m = TYPE_REGEXP.exec(line);
      if (!m) throw new SyntaxError(`Cannot parse comment: "${line}"`);
      types.set(m[1]!, m[2]!);
      continue;
    }
    const m = SAMPLE_REGEXP.exec(line);
    if (!m) throw new SyntaxError(`Cannot parse sample: "${line}"`);
    samples.push({
      name: m[1]!,
      labels: m[2] === undefined ? {} : parseLabels(m[2], line),
      value: parseValue(m[3]!, line),
    });
  }
  return { samples, types };
}

/** Samples named `name` whose labels include every pair of `match`. */
export function findSamples(
  text: PromText,
  name: string,
  match: Record<string, string> = {},
): PromSample[] {
  return text.samples.filter((s) =>
    s.name === name &&
    Object.entries(match).every(([k, v]) => s.labels[k] === v)
  );
}
