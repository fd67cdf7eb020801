#!/usr/bin/python3
"""Sends an HTTP/2 request whose header value holds a forbidden byte, then a
good request on the same connection (RFC 9113 §8.2.1 malformed requests).

Run with Debian's interpreter (/usr/bin/python3, which has python3-h2).

  h2_bad_header.py HOST:PORT AUTHORITY BYTE [--timeout SECONDS]

BYTE is a decimal byte value (13 CR, 10 LF, 0 NUL) put in the middle of the
value of an `x-bad` field; python-h2's own header validation is turned off
so that the bytes reach the wire. Prints one JSON line:

  {"bad": {"status", "reset_code", "error"},
   "good": {"status", "reset_code", "error", "body"},
   "goaway": null | {"error_code", "last_stream_id"}}
"""

import argparse
import json
import socket
import time

import h2.config
import h2.connection
import h2.events


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("addr")
    ap.add_argument("authority")
    ap.add_argument("byte", type=int)
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()
    host, port = args.addr.rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=args.timeout)
    cfg = h2.config.H2Configuration(
        client_side=True,
        validate_outbound_headers=False,
        normalize_outbound_headers=False,
        validate_inbound_headers=False,
    )
    conn = h2.connection.H2Connection(config=cfg)
    conn.initiate_connection()
    sock.sendall(conn.data_to_send())

    deadline = time.monotonic() + args.timeout
    goaway = None
    results = {}

    def request(sid, extra):
        headers = [
            (b":method", b"GET"),
            (b":scheme", b"http"),
            (b":authority", args.authority.encode()),
            (b":path", b"/echo"),
        ] + extra
        conn.send_headers(sid, headers, end_stream=True)
        sock.sendall(conn.data_to_send())
        results[sid] = {"status": None, "reset_code": None, "error": None,
                        "body": ""}

    def pump(sid):
        nonlocal goaway
        body = bytearray()
        r = results[sid]
        while True:
            if time.monotonic() > deadline:
                r["error"] = "timeout"
                return
            try:
                data = sock.recv(65536)
            except socket.timeout:
                r["error"] = "timeout"
                return
            except OSError:
                data = b""
            if not data:
                r["error"] = "connection closed"
                return
            for ev in conn.receive_data(data):
                if isinstance(ev, h2.events.ResponseReceived) and \
                        ev.stream_id == sid:
                    for k, v in ev.headers:
                        if k == b":status":
                            r["status"] = int(v)
                elif isinstance(ev, h2.events.DataReceived):
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                    if ev.stream_id == sid:
                        body.extend(ev.data)
                elif isinstance(ev, h2.events.StreamReset) and \
                        ev.stream_id == sid:
                    r["reset_code"] = int(ev.error_code)
                    return
                elif isinstance(ev, h2.events.StreamEnded) and \
                        ev.stream_id == sid:
                    r["body"] = body.decode("utf-8", "replace")[:4096]
                    return
                elif isinstance(ev, h2.events.ConnectionTerminated):
                    goaway = {"error_code": int(ev.error_code),
                              "last_stream_id": ev.last_stream_id}
                    r["error"] = "goaway"
                    return
            out = conn.data_to_send()
            if out:
                sock.sendall(out)

    value = b"a" + bytes([args.byte]) + b"b"
    request(1, [(b"x-bad", value)])
    pump(1)
    if goaway is None:
        request(3, [(b"x-good", b"yes")])
        pump(3)
    print(json.dumps({
        "bad": results[1],
        "good": results.get(3),
        "goaway": goaway,
    }))
    sock.close()


if __name__ == "__main__":
    main()
