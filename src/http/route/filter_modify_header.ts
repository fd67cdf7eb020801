/**
 * The request and response header modifiers (linkerd
 * `http/route/src/http/filter/modify_header.rs`): add (append), then set
 * (replace), then remove.
 *
 * @module
 */
import type { HeaderMap } from "../message.ts";
import type { HeaderModifier } from "./model.ts";

/** Applies `mod` to `headers` in place: every `add`, then every `set`, then every `remove`. */
export function modifyHeaders(headers: HeaderMap, mod: HeaderModifier): void {
  for (const { name, value } of mod.add) {
    const old = headers[name];
    if (old === undefined) headers[name] = value;
    else if (typeof old === "string") headers[name] = [old, value];
    else headers[name] = [...old, value];
  }
  for (const { name, value } of mod.set) headers[name] = value;
  for (const name of mod.remove) {
    if (headers[name] !== undefined) delete headers[name];
  }
}
