#!/usr/bin/python3
"""Decodes OutboundPolicy messages with python protobuf (tests only).

Run with Debian's interpreter (/usr/bin/python3, which has python3-grpc-tools).
Generates the python modules of Petrel's proto/ outbound files with
grpc_tools' protoc into a temp folder, reads one hex-encoded
`io.linkerd.proxy.outbound.OutboundPolicy` per stdin line and prints it as
one JSON line (protobuf field names). With --names, prints instead the full
name of every message the files define, one JSON list.
"""

import json
import os
import sys
import tempfile

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo

from grpc_tools import protoc  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
PROTO = os.path.join(HERE, "..", "..", "proto")
FILES = ["net.proto", "meta.proto", "http_types.proto", "http_route.proto",
         "grpc_route.proto", "destination.proto", "opaque_route.proto",
         "tls_route.proto", "outbound.proto"]


def main():
    with tempfile.TemporaryDirectory(prefix="petrel-outbound-py-") as out:
        run(out)


def run(out):
    code = protoc.main(["grpc_tools.protoc", "-I" + PROTO,
                        "-I" + os.path.dirname(protoc.__file__) + "/_proto",
                        "--python_out=" + out, *FILES])
    if code != 0:
        raise SystemExit("protoc failed with %d" % code)
    sys.path.insert(0, out)
    import outbound_pb2  # noqa: E402
    from google.protobuf import json_format  # noqa: E402

    if "--names" in sys.argv:
        names = []

        def walk(d):
            for m in d.nested_types:
                names.append(m.full_name)
                walk(m)
        for f in FILES:
            mod = __import__(f[:-len(".proto")] + "_pb2")
            for m in mod.DESCRIPTOR.message_types_by_name.values():
                names.append(m.full_name)
                walk(m)
        print(json.dumps(sorted(names)))
        return
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        msg = outbound_pb2.OutboundPolicy()
        msg.ParseFromString(bytes.fromhex(line))
        print(json.dumps(json_format.MessageToDict(
            msg, preserving_proto_field_name=True)), flush=True)


if __name__ == "__main__":
    main()
