import assert from "node:assert/strict";
import type { HeaderMap } from "../message.ts";
import { modifyHeaders } from "./filter_modify_header.ts";

Deno.test("modifyHeaders() adds, then sets, then removes", () => {
  const h: HeaderMap = { a: "1", b: "old", c: "gone", d: ["x", "y"] };
  modifyHeaders(h, {
    add: [
      { name: "a", value: "2" },
      { name: "d", value: "z" },
      { name: "e", value: "new" },
      { name: "s", value: "added" },
      { name: "r", value: "added" },
    ],
    set: [{ name: "b", value: "new" }, { name: "s", value: "set" }],
    remove: ["c", "r", "missing"],
  });
  assert.deepEqual(h, {
    a: ["1", "2"],
    b: "new",
    d: ["x", "y", "z"],
    e: "new",
    s: "set",
  });
});
