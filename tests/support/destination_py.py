#!/usr/bin/python3
"""A Destination service (io.linkerd.proxy.destination) on python grpcio.

Its message and service code is generated at start-up from Petrel's own
proto/ files with Debian's python3-grpc-tools, into --out (a temp folder the
caller removes): a second, independent implementation of the schema.

Usage: destination_py.py --proto DIR --out DIR --script FILE

The script is JSON: {"<authority>": [step, ...]}, each step
{"after_ms": N, "add": [{"addr": "ip:port", "h2": bool, "identity": str}],
 "remove": ["ip:port"], "no_endpoints": bool}, sent in order on every Get
stream of that authority, each `after_ms` after the stream opened. Names
not in the script get INVALID_ARGUMENT; GetProfile answers NOT_FOUND.
Listens on 127.0.0.1 port 0, prints `LISTENING <port>`, serves until killed.
"""

import argparse
import ipaddress
import json
import os
import signal
import sys
import threading
import time
from concurrent import futures

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo

import grpc  # noqa: E402
from grpc_tools import protoc  # noqa: E402

FILES = ["net.proto", "meta.proto", "http_types.proto", "destination.proto"]


def generate(proto_dir, out_dir):
    os.makedirs(out_dir, exist_ok=True)
    code = protoc.main([
        "grpc_tools.protoc",
        "-I" + proto_dir,
        "--python_out=" + out_dir,
        "--grpc_python_out=" + out_dir,
        *FILES,
    ])
    if code != 0:
        raise SystemExit("protoc failed with %d" % code)
    sys.path.insert(0, out_dir)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--script", required=True)
    args = ap.parse_args()
    generate(args.proto, args.out)
    import destination_pb2 as dst  # noqa: E402
    import destination_pb2_grpc as dst_grpc  # noqa: E402
    import net_pb2 as net  # noqa: E402

    with open(args.script) as f:
        script = json.load(f)

    def tcp(addr):
        host, port = addr.rsplit(":", 1)
        ip = ipaddress.ip_address(host.strip("[]"))
        if ip.version == 4:
            ipmsg = net.IPAddress(ipv4=int(ip))
        else:
            n = int(ip)
            ipmsg = net.IPAddress(ipv6=net.IPv6(first=n >> 64, last=n & (2**64 - 1)))
        return net.TcpAddress(ip=ipmsg, port=int(port))

    def weighted(ep):
        wa = dst.WeightedAddr(addr=tcp(ep["addr"]), weight=ep.get("weight", 10000))
        if ep.get("h2"):
            wa.protocol_hint.h2.SetInParent()
        if ep.get("identity"):
            wa.tls_identity.dns_like_identity.name = ep["identity"]
        return wa

    def update(step):
        if step.get("no_endpoints"):
            return [dst.Update(no_endpoints=dst.NoEndpoints(exists=True))]
        out = []
        if step.get("remove"):
            out.append(dst.Update(remove=dst.AddrSet(addrs=[tcp(a) for a in step["remove"]])))
        if step.get("add"):
            out.append(dst.Update(add=dst.WeightedAddrSet(addrs=[weighted(e) for e in step["add"]])))
        return out

    class Destination(dst_grpc.DestinationServicer):
        def Get(self, request, context):
            steps = script.get(request.path)
            if steps is None:
                context.abort(grpc.StatusCode.INVALID_ARGUMENT, "unknown name " + request.path)
            print(json.dumps({"get": request.path, "context": request.context_token}), flush=True)
            start = time.monotonic()
            for step in steps:
                wait = start + step.get("after_ms", 0) / 1000 - time.monotonic()
                while wait > 0 and context.is_active():
                    time.sleep(min(wait, 0.05))
                    wait = start + step.get("after_ms", 0) / 1000 - time.monotonic()
                if not context.is_active():
                    return
                for u in update(step):
                    yield u
            while context.is_active():
                time.sleep(0.05)

        def GetProfile(self, request, context):
            context.abort(grpc.StatusCode.NOT_FOUND, "no profiles here")

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    dst_grpc.add_DestinationServicer_to_server(Destination(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("LISTENING %d" % port, flush=True)
    done = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: done.set())
    signal.signal(signal.SIGINT, lambda *_: done.set())
    done.wait()
    server.stop(0)


if __name__ == "__main__":
    main()
