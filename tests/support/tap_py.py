#!/usr/bin/python3
"""A tap client (io.linkerd.proxy.tap.Tap/Observe) on python grpcio.

Its message and service code is generated at start-up from Petrel's own
proto/tap.proto with Debian's python3-grpc-tools, into --out (a temp folder
the caller removes): a second, independent implementation of the schema.

Usage: tap_py.py --proto DIR --out DIR --addr HOST:PORT --ca FILE
                 --cert FILE --key FILE --server-name NAME
                 [--path-prefix P] [--limit N] [--headers] [--timeout S]

Connects over mTLS (the client certificate --cert/--key, the server checked
against --ca for --server-name), calls Observe with an HTTP path-prefix
match, prints `CALLED` once the call is sent, then one JSON line per event
(the event flattened: kind, id, direction, method, path, authority, status,
bytes, grpc_status, headers), then `END <code name>` when the stream ends.
"""

import argparse
import json
import os
import sys

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo

import grpc  # noqa: E402
from grpc_tools import protoc  # noqa: E402

FILES = ["net.proto", "http_types.proto", "tap.proto"]


def generate(proto_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    # grpc_tools ships the google/protobuf well-known types.
    import grpc_tools
    wkt = os.path.join(os.path.dirname(grpc_tools.__file__), "_proto")
    code = protoc.main([
        "grpc_tools.protoc",
        "-I" + proto_dir,
        "-I" + wkt,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
        *FILES,
    ])
    if code != 0:
        raise SystemExit("protoc failed with %d" % code)
    sys.path.insert(0, out_dir)


def headers_of(h):
    return [[x.name, x.value.decode("latin-1")] for x in h.headers]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--addr", required=True)
    ap.add_argument("--ca", required=True)
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--server-name", required=True)
    ap.add_argument("--path-prefix", default="/")
    ap.add_argument("--limit", type=int, default=10)
    ap.add_argument("--headers", action="store_true")
    ap.add_argument("--timeout", type=float, default=30)
    args = ap.parse_args()
    generate(args.proto, args.out)
    import tap_pb2 as tap  # noqa: E402
    import tap_pb2_grpc as tap_grpc  # noqa: E402
    import http_types_pb2 as http_types  # noqa: E402

    def read(p):
        with open(p, "rb") as f:
            return f.read()

    creds = grpc.ssl_channel_credentials(
        root_certificates=read(args.ca),
        private_key=read(args.key),
        certificate_chain=read(args.cert),
    )
    channel = grpc.secure_channel(args.addr, creds, options=[
        ("grpc.ssl_target_name_override", args.server_name),
    ])
    stub = tap_grpc.TapStub(channel)
    M = tap.ObserveRequest.Match
    req = tap.ObserveRequest(
        limit=args.limit,
        match=M(http=M.Http(path=M.Http.StringMatch(prefix=args.path_prefix))),
    )
    if args.headers:
        X = tap.ObserveRequest.Extract
        req.extract.CopyFrom(X(http=X.Http(headers=X.Http.Headers())))
    directions = {0: "unknown", 1: "inbound", 2: "outbound"}
    try:
        stream = stub.Observe(req, timeout=args.timeout)
        print("CALLED", flush=True)
        for ev in stream:
            kind = ev.http.WhichOneof("event")
            body = getattr(ev.http, kind)
            out = {
                "kind": kind,
                "id": [body.id.base, body.id.stream],
                "direction": directions.get(ev.proxy_direction, "?"),
                "source": ev.source.port,
            }
            if kind == "request_init":
                out["method"] = (
                    http_types.HttpMethod.Registered.Name(
                        body.method.registered)
                    if body.method.WhichOneof("type") == "registered"
                    else body.method.unregistered)
                out["path"] = body.path
                out["authority"] = body.authority
                out["headers"] = headers_of(body.headers)
            elif kind == "response_init":
                out["status"] = body.http_status
                out["since_request_init_ns"] = (
                    body.since_request_init.seconds * 10**9
                    + body.since_request_init.nanos)
                out["headers"] = headers_of(body.headers)
            else:
                out["bytes"] = body.response_bytes
                eos = body.eos.WhichOneof("end")
                out["eos"] = eos
                out["grpc_status"] = (body.eos.grpc_status_code
                                      if eos == "grpc_status_code" else None)
                out["since_request_init_ns"] = (
                    body.since_request_init.seconds * 10**9
                    + body.since_request_init.nanos)
            print(json.dumps(out), flush=True)
        print("END OK", flush=True)
    except grpc.RpcError as e:
        print("END " + e.code().name + " " + (e.details() or ""), flush=True)
    finally:
        channel.close()


if __name__ == "__main__":
    main()
