/**
 * gRPC through Petrel with two independent implementations on each side:
 * python grpcio and grpc-js, all four call shapes, error statuses with
 * metadata (trailers-only and after messages), and synthetic gRPC errors.
 */
import assert from "node:assert/strict";
import { assertEchoResults } from "./support/grpc_echo.ts";
import { grpcJsCalls, startGrpcJsServer } from "./support/grpc_js.ts";
import { grpcPyCalls, startGrpcPyServer } from "./support/grpc_py.ts";
import { servicesYaml, startPetrel } from "./support/petrel.ts";
import { run } from "./support/proc.ts";

Deno.test("grpc: grpc-js and python clients through Petrel to a grpc-js server", async () => {
  const server = await startGrpcJsServer();
  await using petrel = await startPetrel(servicesYaml({
    "echo.test:50051": {
      endpoints: [`127.0.0.1:${server.port}`],
      protocol: "http2",
    },
  }));
  try {
    assertEchoResults(
      await grpcJsCalls(petrel.addr, { authority: "echo.test:50051" }),
      "grpc-js",
    );
    assertEchoResults(
      await grpcPyCalls(petrel.addr, { authority: "echo.test:50051" }),
      "grpc-js",
    );
  } finally {
    await server.close();
  }
});

Deno.test("grpc: grpc-js and python clients through Petrel to a python server", async () => {
  const server = await startGrpcPyServer();
  await using petrel = await startPetrel(servicesYaml({
    "echo.test:50051": {
      endpoints: [`127.0.0.1:${server.port}`],
      protocol: "http2",
    },
  }));
  try {
    assertEchoResults(
      await grpcPyCalls(petrel.addr, { authority: "echo.test:50051" }),
      "python",
    );
    assertEchoResults(
      await grpcJsCalls(petrel.addr, { authority: "echo.test:50051" }),
      "python",
    );
  } finally {
    await server.stop();
  }
});

Deno.test("grpc: a request Petrel cannot route gets HTTP 200 with grpc-status, not a bare 502", async () => {
  await using petrel = await startPetrel(servicesYaml({
    "echo.test:50051": { endpoints: ["127.0.0.1:1"], protocol: "http2" },
  }));
  const r = await run("nghttp", [
    "-v",
    "-H",
    ":method: POST",
    "-H",
    ":authority: echo.test:50051",
    "-H",
    "content-type: application/grpc",
    "-H",
    "te: trailers",
    `http://${petrel.addr}/petrel.test.Echo/Unary`,
  ]);
  assert.match(r.stdout, /:status: 200/, r.stdout);
  assert.match(r.stdout, /grpc-status: 14/, r.stdout);
  assert.match(r.stdout, /grpc-message: /, r.stdout);
});
