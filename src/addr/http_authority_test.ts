import assert from "node:assert/strict";
import { BadRequestError } from "../errors.ts";
import { normalizeHttpAuthority } from "./http_authority.ts";

Deno.test("normalizeHttpAuthority() adds the default port and lower-cases", () => {
  assert.equal(normalizeHttpAuthority("Web.Test", 80), "web.test:80");
  assert.equal(normalizeHttpAuthority("web.test:8080", 80), "web.test:8080");
  assert.equal(normalizeHttpAuthority("web.test.:8080", 80), "web.test:8080");
  assert.equal(normalizeHttpAuthority("user@web.test:81", 80), "web.test:81");
  assert.equal(normalizeHttpAuthority("[::1]", 443), "[::1]:443");
  assert.equal(normalizeHttpAuthority("[::1]:9000", 80), "[::1]:9000");
  assert.equal(normalizeHttpAuthority("web.test:", 80), "web.test:80");
  for (const bad of ["web.test:99999", "web.test:x", "[::1", ":80"]) {
    assert.throws(() => normalizeHttpAuthority(bad, 80), BadRequestError, bad);
  }
});
