import assert from "node:assert/strict";
import { BadRequestError } from "../../errors.ts";
import type { HttpRequest } from "../../http/message.ts";
import { logicalAddr, normalizeAuthority } from "./logical.ts";

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

Deno.test("normalizeAuthority() adds the default port and lower-cases", () => {
  assert.equal(normalizeAuthority("Web.Test", 80), "web.test:80");
  assert.equal(normalizeAuthority("web.test:8080", 80), "web.test:8080");
  assert.equal(normalizeAuthority("web.test.:8080", 80), "web.test:8080");
  assert.equal(normalizeAuthority("user@web.test:81", 80), "web.test:81");
  assert.equal(normalizeAuthority("[::1]", 443), "[::1]:443");
  assert.equal(normalizeAuthority("[::1]:9000", 80), "[::1]:9000");
  assert.equal(normalizeAuthority("web.test:", 80), "web.test:80");
  for (const bad of ["web.test:99999", "web.test:x", "[::1", ":80"]) {
    assert.throws(() => normalizeAuthority(bad, 80), BadRequestError, bad);
  }
});

Deno.test("logicalAddr() prefers l5d-dst-override over the authority", () => {
  assert.equal(logicalAddr(req("web.test:8080")), "web.test:8080");
  assert.equal(
    logicalAddr(req("127.0.0.1:4140", { "l5d-dst-override": "api.test:9090" })),
    "api.test:9090",
  );
  assert.throws(() => logicalAddr(req("")), BadRequestError);
});
