"""Shared by grpc_py_server.py and grpc_py_client.py: loads echo.proto.

The stubs are generated at run time with grpc_tools.protoc into a temporary
folder (Debian's grpcio-tools predates grpc.protos_and_services), imported,
and the folder removed again.
"""

import importlib
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))


def load_echo():
    """Returns (echo_pb2, echo_pb2_grpc)."""
    from grpc_tools import protoc

    out = tempfile.mkdtemp(prefix="petrel-echo-")
    try:
        rc = protoc.main([
            "protoc",
            "-I" + HERE,
            "--python_out=" + out,
            "--grpc_python_out=" + out,
            os.path.join(HERE, "echo.proto"),
        ])
        if rc != 0:
            raise RuntimeError("protoc failed on echo.proto: %d" % rc)
        sys.path.insert(0, out)
        try:
            pb2 = importlib.import_module("echo_pb2")
            pb2_grpc = importlib.import_module("echo_pb2_grpc")
        finally:
            sys.path.remove(out)
        return pb2, pb2_grpc
    finally:
        shutil.rmtree(out, ignore_errors=True)


def x_metadata(md):
    """The `x-` entries of a metadata sequence as a dict (values as text)."""
    out = {}
    for item in md or ():
        k, v = item[0], item[1]
        if not k.startswith("x-"):
            continue
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace")
        out[k] = out[k] + ", " + v if k in out else v
    return out
