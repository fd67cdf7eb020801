import { assertEchoResults } from "./grpc_echo.ts";
import { grpcJsCalls, startGrpcJsServer } from "./grpc_js.ts";
import { grpcPyCalls, startGrpcPyServer } from "./grpc_py.ts";

Deno.test("grpc: python client <-> python server", async () => {
  const server = await startGrpcPyServer();
  try {
    const r = await grpcPyCalls(`127.0.0.1:${server.port}`);
    assertEchoResults(r, "python");
  } finally {
    await server.stop();
  }
});

Deno.test("grpc: grpc-js client <-> grpc-js server", async () => {
  const server = await startGrpcJsServer();
  try {
    const r = await grpcJsCalls(`127.0.0.1:${server.port}`);
    assertEchoResults(r, "grpc-js");
  } finally {
    await server.close();
  }
});

Deno.test("grpc: python client <-> grpc-js server, with an authority override", async () => {
  const server = await startGrpcJsServer();
  try {
    const r = await grpcPyCalls(`127.0.0.1:${server.port}`, {
      authority: "echo.test.svc:8080",
    });
    assertEchoResults(r, "grpc-js");
  } finally {
    await server.close();
  }
});

Deno.test("grpc: grpc-js client <-> python server, with an authority override", async () => {
  const server = await startGrpcPyServer();
  try {
    const r = await grpcJsCalls(`127.0.0.1:${server.port}`, {
      authority: "echo.test.svc:8080",
    });
    assertEchoResults(r, "python");
  } finally {
    await server.stop();
  }
});
