#!/usr/bin/python3
"""Runs every call shape of petrel.test.Echo (see echo.proto) with python
grpcio and prints ONE JSON line of results.

  grpc_py_client.py TARGET [--authority NAME] [--timeout SECONDS]

TARGET is host:port (e.g. Petrel's 127.0.0.1:4140); --authority sets the
channel option grpc.default_authority, so the :authority names a logical
service while the connection goes to TARGET.

Output: {"client": "python", "unary", "serverStream", "clientStream", "bidi",
"error", "streamError"}, each call as {code, details, headers, trailers,
messages, indexes}: code is the numeric status, headers/trailers are the
`x-` entries of the initial/trailing metadata, messages and indexes those of
the replies received. The calls are:
  unary        Unary {message: "hello"}
  serverStream ServerStream {message: "tick", count: 3}
  clientStream ClientStream "a", "b", "c"
  bidi         Bidi "x", "y", "z", each sent after the previous reply came
  error        Unary {message: "boom", fail_code: 9}
  streamError  ServerStream {message: "part", count: 2, fail_code: 10}
"""

import argparse
import json
import queue
import sys

import grpc

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
from grpc_py_common import load_echo, x_metadata  # noqa: E402

pb2, pb2_grpc = load_echo()
CLIENT_MD = (("x-client", "python"),)


def result(code=0, details="", headers=None, trailers=None, replies=()):
    return {
        "code": code,
        "details": details or "",
        "headers": x_metadata(headers),
        "trailers": x_metadata(trailers),
        "messages": [r.message for r in replies],
        "indexes": [r.index for r in replies],
    }


def from_error(e, replies=()):
    return result(e.code().value[0], e.details(), e.initial_metadata(),
                  e.trailing_metadata(), replies)


def unary(stub, req, timeout):
    try:
        reply, call = stub.Unary.with_call(req, metadata=CLIENT_MD, timeout=timeout)
        return result(call.code().value[0], call.details(), call.initial_metadata(),
                      call.trailing_metadata(), [reply])
    except grpc.RpcError as e:
        return from_error(e)


def server_stream(stub, req, timeout):
    replies = []
    call = stub.ServerStream(req, metadata=CLIENT_MD, timeout=timeout)
    try:
        for r in call:
            replies.append(r)
    except grpc.RpcError as e:
        return from_error(e, replies)
    return result(call.code().value[0], call.details(), call.initial_metadata(),
                  call.trailing_metadata(), replies)


def client_stream(stub, messages, timeout):
    reqs = iter([pb2.EchoRequest(message=m) for m in messages])
    try:
        reply, call = stub.ClientStream.with_call(reqs, metadata=CLIENT_MD,
                                                  timeout=timeout)
        return result(call.code().value[0], call.details(), call.initial_metadata(),
                      call.trailing_metadata(), [reply])
    except grpc.RpcError as e:
        return from_error(e)


def bidi(stub, messages, timeout):
    q = queue.Queue()

    def requests():
        while True:
            item = q.get()
            if item is None:
                return
            yield item

    call = stub.Bidi(requests(), metadata=CLIENT_MD, timeout=timeout)
    replies = []
    try:
        for m in messages:  # ping-pong: the next request waits for a reply
            q.put(pb2.EchoRequest(message=m))
            replies.append(next(call))
        q.put(None)
        for r in call:
            replies.append(r)
    except grpc.RpcError as e:
        q.put(None)
        return from_error(e, replies)
    except StopIteration:
        q.put(None)
    return result(call.code().value[0], call.details(), call.initial_metadata(),
                  call.trailing_metadata(), replies)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target")
    ap.add_argument("--authority")
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    options = []
    if args.authority:
        options.append(("grpc.default_authority", args.authority))
    t = args.timeout
    with grpc.insecure_channel(args.target, options=options) as channel:
        stub = pb2_grpc.EchoStub(channel)
        out = {
            "client": "python",
            "unary": unary(stub, pb2.EchoRequest(message="hello"), t),
            "serverStream": server_stream(
                stub, pb2.EchoRequest(message="tick", count=3), t),
            "clientStream": client_stream(stub, ["a", "b", "c"], t),
            "bidi": bidi(stub, ["x", "y", "z"], t),
            "error": unary(stub, pb2.EchoRequest(message="boom", fail_code=9), t),
            "streamError": server_stream(
                stub, pb2.EchoRequest(message="part", count=2, fail_code=10), t),
        }
    print(json.dumps(out), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
