import assert from "node:assert/strict";
import { type Body, bytesBody, type HttpRequest } from "./message.ts";
import {
  canUpgrade,
  downgradeRequest,
  L5D_ORIG_PROTO,
  markDowngradedResponse,
  parseOrigProto,
  restoreResponse,
  upgradeRequest,
} from "./orig_proto.ts";

function req(over: Partial<HttpRequest> = {}): HttpRequest {
  return {
    method: "GET",
    scheme: "http",
    authority: "web.test:8080",
    path: "/a?b",
    version: "HTTP/1.1",
    headers: { "x-a": "1" },
    body: null,
    ext: {},
    ...over,
  };
}

/** A body of unknown length (HTTP/1 chunked). */
function chunkedBody(): Body {
  const b = bytesBody("abc");
  return { ...b, length: undefined, start: b.start, cancel: b.cancel };
}

Deno.test("orig_proto: only plain HTTP/1 requests are upgraded", () => {
  assert.equal(canUpgrade(req()), true);
  assert.equal(canUpgrade(req({ version: "HTTP/1.0" })), true);
  assert.equal(canUpgrade(req({ version: "HTTP/2" })), false);
  assert.equal(canUpgrade(req({ ext: { upgrade: true } })), false);
  assert.equal(
    canUpgrade(req({ method: "CONNECT", path: "", authority: "a:443" })),
    false,
  );
});

Deno.test("orig_proto: upgrade names the version, drops transfer-encoding, states a known length", () => {
  const original = req({
    method: "POST",
    headers: { "x-a": "1", "transfer-encoding": "chunked" },
    body: bytesBody("hello"),
  });
  const up = upgradeRequest(original);
  assert.equal(up.version, "HTTP/2");
  assert.deepEqual(up.headers, {
    "x-a": "1",
    [L5D_ORIG_PROTO]: "HTTP/1.1",
    "content-length": "5",
  });
  // The original request is untouched.
  assert.equal(original.version, "HTTP/1.1");
  assert.equal(original.headers[L5D_ORIG_PROTO], undefined);
  assert.equal(original.headers["transfer-encoding"], "chunked");

  const chunked = upgradeRequest(
    req({
      method: "POST",
      headers: { "content-length": "9" },
      body: chunkedBody(),
    }),
  );
  assert.equal(chunked.headers["content-length"], undefined);

  const h10 = upgradeRequest(
    req({ version: "HTTP/1.0", ext: { absoluteForm: true } }),
  );
  assert.equal(h10.headers[L5D_ORIG_PROTO], "HTTP/1.0; absolute-form");
  assert.equal(h10.headers["content-length"], undefined);
});

Deno.test("orig_proto: parse accepts the two versions and the absolute-form flag", () => {
  assert.deepEqual(parseOrigProto("HTTP/1.1"), {
    version: "HTTP/1.1",
    absoluteForm: false,
  });
  assert.deepEqual(parseOrigProto(["HTTP/1.0; absolute-form"]), {
    version: "HTTP/1.0",
    absoluteForm: true,
  });
  assert.equal(parseOrigProto("HTTP/2"), undefined);
  assert.equal(parseOrigProto("h2"), undefined);
  assert.equal(parseOrigProto(undefined), undefined);
});

Deno.test("orig_proto: downgrade restores the HTTP/1 request and the response is marked", () => {
  const r = req({
    version: "HTTP/2",
    headers: { [L5D_ORIG_PROTO]: "HTTP/1.0; absolute-form", "x-a": "1" },
  });
  const orig = downgradeRequest(r);
  assert.deepEqual(orig, { version: "HTTP/1.0", absoluteForm: true });
  assert.equal(r.version, "HTTP/1.0");
  assert.equal(r.ext.absoluteForm, true);
  assert.deepEqual(r.headers, { "x-a": "1" });

  const rsp = markDowngradedResponse(
    { status: 200, headers: {}, body: null, closeConnection: true },
    orig!,
  );
  assert.equal(rsp.headers[L5D_ORIG_PROTO], "HTTP/1.0");
  assert.equal(rsp.closeConnection, false);
  assert.deepEqual(restoreResponse(rsp).headers, {});
});

Deno.test("orig_proto: downgrade ignores requests without a usable header", () => {
  const plain = req({ version: "HTTP/2" });
  assert.equal(downgradeRequest(plain), undefined);
  assert.equal(plain.version, "HTTP/2");

  const bogus = req({
    version: "HTTP/2",
    headers: { [L5D_ORIG_PROTO]: "SPDY" },
  });
  assert.equal(downgradeRequest(bogus), undefined);
  assert.equal(bogus.version, "HTTP/2");
  assert.equal(bogus.headers[L5D_ORIG_PROTO], undefined);

  // Over HTTP/1 the header means nothing and is removed.
  const h1 = req({ headers: { [L5D_ORIG_PROTO]: "HTTP/1.0" } });
  assert.equal(downgradeRequest(h1), undefined);
  assert.equal(h1.version, "HTTP/1.1");
  assert.equal(h1.headers[L5D_ORIG_PROTO], undefined);
});
