import assert from "node:assert/strict";
import { EndpointIoError, StreamResetError } from "../errors.ts";
import {
  classifyError,
  classifyResponse,
  profileClassifyOf,
  type ResponseClass,
} from "./classify.ts";
import { bytesBody, type HttpRequest, readBody } from "./message.ts";

function req(grpc: boolean): HttpRequest {
  return {
    method: "POST",
    scheme: "http",
    authority: "a:80",
    path: "/svc/M",
    version: "HTTP/2",
    headers: grpc ? { "content-type": "application/grpc" } : {},
    body: null,
    ext: {},
  };
}

Deno.test("classifyResponse() HTTP: 5xx is a failure, 4xx (429 too) a success", () => {
  for (
    const [status, failure] of [[200, false], [404, false], [429, false], [
      500,
      true,
    ], [503, true]] as const
  ) {
    let c: ResponseClass | undefined;
    classifyResponse(
      req(false),
      { status, headers: {}, body: bytesBody("x") },
      (x) => c = x,
    );
    assert.deepEqual(c, { kind: "http", status, failure });
  }
});

Deno.test("classifyResponse() gRPC: trailers-only status decides at once", () => {
  let c: ResponseClass | undefined;
  classifyResponse(req(true), {
    status: 200,
    headers: { "grpc-status": "14" },
    body: null,
  }, (x) => c = x);
  assert.deepEqual(c, { kind: "grpc", code: 14, failure: true });
});

Deno.test("classifyResponse() gRPC: waits for the trailers, passing data through", async () => {
  const seen: ResponseClass[] = [];
  const rsp = classifyResponse(
    req(true),
    {
      status: 200,
      headers: {},
      body: bytesBody("payload", { "grpc-status": "13" }),
    },
    (x) => seen.push(x),
  );
  assert.equal(seen.length, 0, "not classified before the end");
  const { bytes, trailers } = await readBody(rsp.body);
  assert.equal(new TextDecoder().decode(bytes), "payload");
  assert.deepEqual(trailers, { "grpc-status": "13" });
  assert.deepEqual(seen, [{ kind: "grpc", code: 13, failure: true }]);
});

Deno.test("classifyResponse() gRPC: OK and missing status are successes; cancel is not the endpoint's failure", async () => {
  for (const trailers of [{ "grpc-status": "0" }, undefined]) {
    const seen: ResponseClass[] = [];
    const rsp = classifyResponse(req(true), {
      status: 200,
      headers: {},
      body: bytesBody("x", trailers),
    }, (x) => seen.push(x));
    await readBody(rsp.body);
    assert.equal(seen.length, 1);
    assert.equal(seen[0]!.failure, false);
  }
  const seen: ResponseClass[] = [];
  const rsp = classifyResponse(req(true), {
    status: 200,
    headers: {},
    body: bytesBody("x"),
  }, (x) => seen.push(x));
  rsp.body!.cancel();
  assert.deepEqual(seen, [{
    kind: "error",
    error: "canceled",
    failure: false,
  }]);
});

Deno.test("classifyError() labels resets, timeouts and I/O errors as failures", () => {
  assert.deepEqual(classifyError(new StreamResetError(8)), {
    kind: "error",
    error: "h2(CANCEL)",
    failure: true,
  });
  assert.deepEqual(classifyError(new EndpointIoError("a:1")), {
    kind: "error",
    error: "i/o",
    failure: true,
  });
});

Deno.test("classifyResponse() with a profile's classes (req.ext.classify): the first match decides, else gRPC status, else 5xx", async () => {
  // 404 is a failure, 5xx a success; everything else unmatched.
  const classify = profileClassifyOf({
    failure: [{ start: 404, end: 404 }],
    success: [{ start: 500, end: 599 }],
  });
  const profiled = (grpc: boolean): HttpRequest => ({
    ...req(grpc),
    ext: { classify },
  });
  const classOf = (
    r: HttpRequest,
    status: number,
    headers: Record<string, string> = {},
  ) => {
    let c: ResponseClass | undefined;
    classifyResponse(r, { status, headers, body: null }, (x) => c = x);
    return c;
  };
  assert.deepEqual(classOf(profiled(false), 404), {
    kind: "http",
    status: 404,
    failure: true,
  });
  assert.deepEqual(classOf(profiled(false), 503), {
    kind: "http",
    status: 503,
    failure: false,
  });
  assert.equal(classOf(profiled(false), 200)?.failure, false);
  // A matching class wins over grpc-status, even on a gRPC request.
  assert.equal(
    classOf(profiled(true), 404, { "grpc-status": "0" })?.failure,
    true,
  );
  // Unmatched: grpc-status in the headers with the default codes, whatever the content type.
  assert.deepEqual(classOf(profiled(false), 200, { "grpc-status": "14" }), {
    kind: "grpc",
    code: 14,
    failure: true,
  });
  // Unmatched with a body: known at the end, from the trailers if they carry a status.
  let c: ResponseClass | undefined;
  const rsp = classifyResponse(
    profiled(false),
    { status: 200, headers: {}, body: bytesBody("x") },
    (x) => c = x,
  );
  assert.equal(c, undefined);
  await readBody(rsp.body!);
  assert.deepEqual(c, { kind: "http", status: 200, failure: false });
  // Without the extension: the default (404 a success, 503 a failure).
  assert.equal(classOf(req(false), 404)?.failure, false);
  assert.equal(classOf(req(false), 503)?.failure, true);
});
