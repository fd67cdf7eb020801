import assert from "node:assert/strict";
import { BadRequestError } from "../../errors.ts";
import type { HttpRequest } from "../../http/message.ts";
import { logicalAddr } from "./logical.ts";

function req(
  authority: string,
  headers: Record<string, string> = {},
): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority,
    path: "/",
    version: "HTTP/1.1",
    headers,
    body: null,
    ext: {},
  };
}

Deno.test("logicalAddr() prefers l5d-dst-override over the authority", () => {
  assert.equal(logicalAddr(req("web.test:8080")), "web.test:8080");
  assert.equal(
    logicalAddr(req("127.0.0.1:4140", { "l5d-dst-override": "api.test:9090" })),
    "api.test:9090",
  );
  assert.throws(() => logicalAddr(req("")), BadRequestError);
});
