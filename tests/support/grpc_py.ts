/**
 * The python grpcio peers of the gRPC tests: grpc_py_server.py as a child
 * process and grpc_py_client.py as a one-shot client.
 *
 * No linkerd counterpart (linkerd2-proxy's tests use tonic in-process).
 *
 * @module
 */
import type { GrpcResults } from "./grpc_echo.ts";
import { type Peer, runPython, startPythonPeer } from "./proc.ts";

/** Starts the Echo service on python grpcio; `x-server` is "python". */
export function startGrpcPyServer(): Promise<Peer> {
  return startPythonPeer("grpc_py_server.py");
}

/**
 * Runs every Echo call with python grpcio against `target` (host:port);
 * `authority` sets the channel's grpc.default_authority.
 */
export async function grpcPyCalls(
  target: string,
  opts: { authority?: string; timeoutMs?: number } = {},
): Promise<GrpcResults> {
  const args = [target];
  if (opts.authority) args.push("--authority", opts.authority);
  const timeoutMs = opts.timeoutMs ?? 10_000;
  args.push("--timeout", String(timeoutMs / 1000));
  const r = await runPython("grpc_py_client.py", args, {
    timeoutMs: timeoutMs + 10_000,
  });
  if (r.code !== 0) {
    throw new Error(`grpc_py_client.py exited ${r.code}:\n${r.stderr}`);
  }
  return JSON.parse(r.stdout) as GrpcResults;
}
