/**
 * The shape of results shared by the gRPC test clients (grpc_py_client.py and
 * {@linkcode grpcJsCalls}) and one assertion over them, so every pairing of
 * client and server — directly or through Petrel — checks the same things.
 *
 * No linkerd counterpart: linkerd2-proxy's tests drive tonic in-process.
 *
 * @module
 */
import assert from "node:assert/strict";

/** Absolute path of echo.proto (package petrel.test, service Echo). */
export const ECHO_PROTO_PATH = decodeURIComponent(
  new URL("./echo.proto", import.meta.url).pathname,
);

/** Status details of every failure the Echo service makes on purpose. */
export const FAIL_MESSAGE = "failed on purpose";
/** fail_code of the `error` call (FAILED_PRECONDITION). */
export const ERROR_CALL_CODE = 9;
/** fail_code of the `streamError` call (ABORTED). */
export const STREAM_ERROR_CALL_CODE = 10;

/** One call as a client saw it. */
export interface GrpcCallResult {
  /** Numeric gRPC status code. */
  code: number;
  details: string;
  /** `x-` entries of the initial metadata. */
  headers: Record<string, string>;
  /** `x-` entries of the trailing metadata. */
  trailers: Record<string, string>;
  /** message of each reply received, in order. */
  messages: string[];
  /** index of each reply received, in order. */
  indexes: number[];
}

/**
 * All calls of one client run. The calls: unary Unary{"hello"};
 * serverStream ServerStream{"tick", count 3}; clientStream "a","b","c";
 * bidi "x","y","z" ping-pong; error Unary{"boom", fail_code 9};
 * streamError ServerStream{"part", count 2, fail_code 10}.
 */
export interface GrpcResults {
  /** "python" or "grpc-js". */
  client: string;
  unary: GrpcCallResult;
  serverStream: GrpcCallResult;
  clientStream: GrpcCallResult;
  bidi: GrpcCallResult;
  error: GrpcCallResult;
  streamError: GrpcCallResult;
}

/**
 * Asserts that a client run saw every call shape succeed with the right
 * messages and metadata of server implementation `serverImpl` ("python" or
 * "grpc-js"), and both failures with their status, details and trailers.
 */
export function assertEchoResults(r: GrpcResults, serverImpl: string): void {
  const ok = (
    name: keyof Omit<GrpcResults, "client">,
    messages: string[],
    indexes: number[],
  ) => {
    const c = r[name];
    assert.equal(c.code, 0, `${name}: ${c.code} ${c.details}`);
    assert.deepEqual(c.messages, messages, name);
    assert.deepEqual(c.indexes, indexes, name);
    assert.equal(c.headers["x-server"], serverImpl, `${name} initial metadata`);
    assert.equal(c.trailers["x-trailer"], serverImpl, `${name} trailers`);
  };
  ok("unary", ["hello"], [0]);
  ok("serverStream", ["tick", "tick", "tick"], [0, 1, 2]);
  ok("clientStream", ["a,b,c"], [0]);
  ok("bidi", ["x", "y", "z"], [0, 1, 2]);

  assert.equal(r.error.code, ERROR_CALL_CODE, JSON.stringify(r.error));
  assert.equal(r.error.details, FAIL_MESSAGE);
  assert.deepEqual(r.error.messages, []);
  assert.equal(r.error.trailers["x-fail-detail"], "yes");
  assert.equal(r.error.trailers["x-trailer"], serverImpl);

  const se = r.streamError;
  assert.equal(se.code, STREAM_ERROR_CALL_CODE, JSON.stringify(se));
  assert.equal(se.details, FAIL_MESSAGE);
  if (r.client === "grpc-js") {
    // grpc-js hands a non-OK status to the caller as soon as the trailers
    // arrive and drops replies it had not yet delivered (subchannel-call.ts,
    // maybeOutputStatus): when both replies and the status come in one read,
    // only the first reply is seen. Any prefix of at least one is correct.
    assert.ok(se.messages.length >= 1, JSON.stringify(se));
    assert.deepEqual(
      se.messages,
      ["part", "part"].slice(0, se.messages.length),
    );
  } else {
    assert.deepEqual(se.messages, ["part", "part"]);
  }
  assert.equal(se.headers["x-server"], serverImpl);
  assert.equal(se.trailers["x-fail-detail"], "yes");
  assert.equal(se.trailers["x-trailer"], serverImpl);
}
