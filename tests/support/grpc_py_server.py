#!/usr/bin/python3
"""The petrel.test.Echo service on python grpcio (see echo.proto).

Run with Debian's interpreter (/usr/bin/python3). Listens on 127.0.0.1 port 0
(or --port N), prints `LISTENING <port>`, serves until killed.
"""

import argparse
import signal
import sys
import threading
from concurrent import futures

import grpc

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo
from grpc_py_common import load_echo  # noqa: E402

IMPL = "python"
FAIL_MESSAGE = "failed on purpose"

pb2, pb2_grpc = load_echo()


def code_of(n):
    for c in grpc.StatusCode:
        if c.value[0] == n:
            return c
    return grpc.StatusCode.UNKNOWN


def start(context):
    context.send_initial_metadata((("x-server", IMPL),))
    context.set_trailing_metadata((("x-trailer", IMPL),))


def fail(context, n):
    context.set_trailing_metadata((("x-trailer", IMPL), ("x-fail-detail", "yes")))
    context.abort(code_of(n), FAIL_MESSAGE)


class Echo(pb2_grpc.EchoServicer):
    def Unary(self, request, context):
        if request.fail_code:
            # no initial metadata: the failure goes out trailers-only, as most
            # gRPC errors do
            fail(context, request.fail_code)
        start(context)
        return pb2.EchoReply(message=request.message, index=0)

    def ServerStream(self, request, context):
        start(context)
        for i in range(request.count):
            yield pb2.EchoReply(message=request.message, index=i)
        if request.fail_code:
            fail(context, request.fail_code)

    def ClientStream(self, request_iterator, context):
        start(context)
        messages = []
        fail_code = 0
        for req in request_iterator:
            messages.append(req.message)
            fail_code = fail_code or req.fail_code
        if fail_code:
            fail(context, fail_code)
        return pb2.EchoReply(message=",".join(messages), index=0)

    def Bidi(self, request_iterator, context):
        start(context)
        for i, req in enumerate(request_iterator):
            if req.fail_code:
                fail(context, req.fail_code)
            yield pb2.EchoReply(message=req.message, index=i)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=32))
    pb2_grpc.add_EchoServicer_to_server(Echo(), server)
    port = server.add_insecure_port("%s:%d" % (args.host, args.port))
    server.start()
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    print("LISTENING %d" % port, flush=True)
    done.wait()
    server.stop(0).wait(2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
