import assert from "node:assert/strict";
import { EndpointIoError, StreamResetError } from "../errors.ts";
import {
  classifyError,
  classifyResponse,
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
