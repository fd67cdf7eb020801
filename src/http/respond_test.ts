import assert from "node:assert/strict";
import {
  GrpcRouteInjectedFailureError,
  HttpRouteInjectedFailureError,
  HttpRouteRedirectError,
  InvalidPolicyError,
  InvalidRedirectError,
  NoRouteError,
} from "../errors.ts";
import type { HttpRequest } from "./message.ts";
import { errorResponse, rescue } from "./respond.ts";

function req(grpc = false): HttpRequest {
  return {
    method: grpc ? "POST" : "GET",
    scheme: "http",
    authority: "web.test",
    path: "/x",
    version: grpc ? "HTTP/2" : "HTTP/1.1",
    headers: grpc ? { "content-type": "application/grpc+proto" } : {},
    body: null,
    ext: {},
  };
}

Deno.test("rescue() route rows match linkerd's table (reference §4.5)", () => {
  const rows: [unknown, number, number, boolean][] = [
    [new NoRouteError(), 404, 5, false],
    [new HttpRouteRedirectError(302, "http://a/b"), 302, 5, false],
    [new HttpRouteInjectedFailureError(503, "chaos"), 503, 9, false],
    [new GrpcRouteInjectedFailureError(14, "chaos"), 200, 14, false],
    [new InvalidRedirectError("bad"), 500, 13, true],
    [new InvalidPolicyError("web.test:80"), 500, 13, true],
  ];
  for (const [err, status, grpcStatus, close] of rows) {
    const r = rescue(new Error("wrapped", { cause: err }));
    assert.deepEqual([r.status, r.grpcStatus, r.close], [
      status,
      grpcStatus,
      close,
    ], String(err));
  }
});

Deno.test("errorResponse() for a redirect carries Location", () => {
  const { response } = errorResponse(
    req(),
    new HttpRouteRedirectError(301, "https://web.test/y?z=1"),
  );
  assert.equal(response.status, 301);
  assert.equal(response.headers["location"], "https://web.test/y?z=1");
  assert.equal(response.headers["content-length"], "0");
  assert.equal(response.closeConnection, false);
});

Deno.test("errorResponse() for an injected failure carries its message", () => {
  const http = errorResponse(
    req(),
    new HttpRouteInjectedFailureError(503, "chaos monkey"),
  ).response;
  assert.equal(http.status, 503);
  assert.equal(http.headers["l5d-proxy-error"], "chaos monkey");
  assert.equal(http.headers["location"], undefined);

  const grpc = errorResponse(
    req(true),
    new GrpcRouteInjectedFailureError(8, "slow down"),
  ).response;
  assert.equal(grpc.status, 200);
  assert.equal(grpc.headers["grpc-status"], "8");
  assert.equal(grpc.headers["grpc-message"], "slow down");

  const httpOnGrpc = errorResponse(
    req(true),
    new HttpRouteInjectedFailureError(503, "x"),
  ).response;
  assert.equal(httpOnGrpc.headers["grpc-status"], "9");
});
