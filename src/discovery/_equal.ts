/**
 * Structural equality of plain data (JSON-like values), for "publish only on
 * change" checks.
 *
 * @module
 */

/** True when `a` and `b` are equal plain data (arrays, plain objects, primitives). */
export function deepEqual(a: unknown, b: unknown): boolean {
  if (Object.is(a, b)) return true;
  if (
    typeof a !== "object" || typeof b !== "object" || a === null || b === null
  ) {
    return false;
  }
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  if (Array.isArray(a) && Array.isArray(b)) {
    return a.length === b.length && a.every((v, i) => deepEqual(v, b[i]));
  }
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  const bo = b as Record<string, unknown>;
  const ao = a as Record<string, unknown>;
  return ka.every((k) => Object.hasOwn(bo, k) && deepEqual(ao[k], bo[k]));
}
