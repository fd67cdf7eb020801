#!/usr/bin/python3
"""An InboundServerPolicies service (io.linkerd.proxy.inbound) on python grpcio.

Its message and service code is generated at start-up from Petrel's own
proto/ files with Debian's python3-grpc-tools, into --out (a temp folder the
caller removes): a second, independent implementation of the schema.

Usage: policy_py.py --proto DIR --out DIR --policies FILE

FILE is JSON {"<port>": <Server message as a dict with proto field names>},
re-read whenever it changes; every open WatchPort stream of a port gets the
new message. Prints `LISTENING <port>`, then `WATCH <workload> <port>` for
each stream opened; serves until killed.
"""

import argparse
import json
import os
import queue
import sys
import threading
import time
from concurrent import futures

sys.dont_write_bytecode = True  # keep __pycache__ out of the repo

import grpc  # noqa: E402
from grpc_tools import protoc  # noqa: E402

FILES = ["net.proto", "meta.proto", "http_types.proto", "http_route.proto",
         "grpc_route.proto", "inbound.proto"]


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


def fix_durations(d):
    """{seconds: N, nanos: M} → "N.Ms", the JSON form ParseDict wants."""
    if isinstance(d, dict):
        if set(d.keys()) <= {"seconds", "nanos"} and "seconds" in d:
            return "%d.%09ds" % (int(d["seconds"]), int(d.get("nanos", 0)))
        return {k: fix_durations(v) for k, v in d.items()}
    if isinstance(d, list):
        return [fix_durations(v) for v in d]
    return d


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--proto", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--policies", required=True)
    args = ap.parse_args()
    generate(args.proto, args.out)
    from google.protobuf import json_format  # noqa: E402
    import inbound_pb2 as inb  # noqa: E402
    import inbound_pb2_grpc as inb_grpc  # noqa: E402

    lock = threading.Lock()
    policies = {}
    watchers = {}  # port -> set of queues

    def load():
        try:
            with open(args.policies) as f:
                raw = json.load(f)
        except (OSError, ValueError):
            return
        with lock:
            for port, msg in raw.items():
                port = int(port)
                server = json_format.ParseDict(fix_durations(msg), inb.Server())
                if policies.get(port) == server:
                    continue
                policies[port] = server
                for q in watchers.get(port, ()):
                    q.put(server)

    def poll():
        last = None
        while True:
            try:
                m = os.stat(args.policies).st_mtime_ns
            except OSError:
                m = None
            if m != last:
                last = m
                load()
            time.sleep(0.02)

    class Policies(inb_grpc.InboundServerPoliciesServicer):
        def GetPort(self, request, context):
            with lock:
                p = policies.get(request.port)
            if p is None:
                context.abort(grpc.StatusCode.NOT_FOUND, "no policy")
            return p

        def WatchPort(self, request, context):
            q = queue.Queue()
            with lock:
                watchers.setdefault(request.port, set()).add(q)
                if request.port in policies:
                    q.put(policies[request.port])
            print("WATCH %s %d" % (request.workload, request.port), flush=True)
            try:
                while context.is_active():
                    try:
                        yield q.get(timeout=0.1)
                    except queue.Empty:
                        pass
            finally:
                with lock:
                    watchers[request.port].discard(q)

    load()
    threading.Thread(target=poll, daemon=True).start()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=16))
    inb_grpc.add_InboundServerPoliciesServicer_to_server(Policies(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    print("LISTENING %d" % port, flush=True)
    server.wait_for_termination()


if __name__ == "__main__":
    main()
