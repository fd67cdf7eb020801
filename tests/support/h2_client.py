#!/usr/bin/python3
"""A python-h2 client: ONE h2c connection, several concurrent streams.

Run with Debian's interpreter (/usr/bin/python3, which has python3-h2).

  h2_client.py HOST:PORT PATH [PATH ...] [--authority NAME] [--method M]
               [--body TEXT | --body-bytes N] [--trailer NAME:VALUE ...]
               [--timeout SECONDS]

All streams are opened before any response is read, so they are in flight on
the same connection at once. When every stream has finished (or the
connection ended, or the timeout passed) it prints one JSON line per stream,
in argument order:

  {"path", "stream_id", "status", "headers", "body_len", "body",
   "reset_code", "trailers", "error", "goaway_last_stream_id"}

status is an int or null; headers and trailers are objects (trailers null if
none came); body is the body as text (cut at 4096 chars); reset_code is the
RST_STREAM code the peer sent or null; error is null, "goaway" (stream above
the peer's GOAWAY last-stream-id), "connection closed" or "timeout".
"""

import argparse
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.exceptions


class Result:
    def __init__(self, path):
        self.path = path
        self.stream_id = None
        self.status = None
        self.headers = {}
        self.body = bytearray()
        self.body_len = 0
        self.reset_code = None
        self.trailers = None
        self.error = None
        self.done = False
        self.pending = b""
        self.end_sent = False

    def to_json(self, goaway):
        return {
            "path": self.path,
            "stream_id": self.stream_id,
            "status": self.status,
            "headers": self.headers,
            "body_len": self.body_len,
            "body": self.body.decode("utf-8", "replace")[:4096],
            "reset_code": self.reset_code,
            "trailers": self.trailers,
            "error": self.error,
            "goaway_last_stream_id": goaway,
        }


class GracefulH2Connection(h2.connection.H2Connection):
    """python-h2 treats any received GOAWAY as the end of the connection;
    HTTP/2 lets the streams up to last-stream-id finish, so a NO_ERROR GOAWAY
    leaves the state machine open here."""

    def _receive_goaway_frame(self, frame):
        state = self.state_machine.state
        frames, events = super()._receive_goaway_frame(frame)
        if frame.error_code == 0:
            self.state_machine.state = state
        return frames, events


def header_dict(headers):
    out = {}
    for k, v in headers:
        out[k] = out[k] + ", " + v if k in out else v
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("target", help="HOST:PORT")
    ap.add_argument("paths", nargs="+")
    ap.add_argument("--authority")
    ap.add_argument("--method")
    ap.add_argument("--body")
    ap.add_argument("--body-bytes", type=int)
    ap.add_argument("--trailer", action="append", default=[])
    ap.add_argument("--timeout", type=float, default=10.0)
    args = ap.parse_args()

    host, _, port = args.target.rpartition(":")
    authority = args.authority or args.target
    body = b""
    if args.body is not None:
        body = args.body.encode()
    elif args.body_bytes is not None:
        body = bytes(i % 251 for i in range(args.body_bytes))
    trailers = []
    for t in args.trailer:
        name, _, value = t.partition(":")
        trailers.append((name.strip().lower(), value.strip()))
    method = args.method or ("POST" if body or trailers else "GET")

    sock = socket.create_connection((host.strip("[]"), int(port)))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = GracefulH2Connection(
        config=h2.config.H2Configuration(client_side=True, header_encoding="utf-8")
    )
    conn.initiate_connection()

    results = [Result(p) for p in args.paths]
    by_id = {}
    goaway = None

    def pump(r):
        while r.pending and not r.done:
            size = min(conn.local_flow_control_window(r.stream_id),
                       conn.max_outbound_frame_size, len(r.pending))
            if size <= 0:
                return
            conn.send_data(r.stream_id, r.pending[:size])
            r.pending = r.pending[size:]
        if not r.pending and not r.end_sent and not r.done:
            r.end_sent = True
            if trailers:
                conn.send_headers(r.stream_id, trailers, end_stream=True)
            else:
                conn.end_stream(r.stream_id)

    for r in results:
        sid = conn.get_next_available_stream_id()
        r.stream_id = sid
        by_id[sid] = r
        req = [(":method", method), (":scheme", "http"),
               (":authority", authority), (":path", r.path),
               ("user-agent", "petrel-test-h2-client")]
        no_body = not body and not trailers
        conn.send_headers(sid, req, end_stream=no_body)
        r.end_sent = no_body
        r.pending = body
        if not no_body:
            pump(r)
    sock.sendall(conn.data_to_send())

    deadline = time.monotonic() + args.timeout
    closed = False
    while not all(r.done for r in results):
        left = deadline - time.monotonic()
        if left <= 0:
            break
        sock.settimeout(left)
        try:
            data = sock.recv(65536)
        except socket.timeout:
            break
        except OSError:
            data = b""
        if not data:
            closed = True
            break
        try:
            events = conn.receive_data(data)
        except h2.exceptions.ProtocolError as e:
            for r in results:
                if not r.done:
                    r.error = "protocol error: " + str(e)
                    r.done = True
            break
        for ev in events:
            r = by_id.get(getattr(ev, "stream_id", None) or -1)
            if isinstance(ev, h2.events.ResponseReceived) and r:
                r.headers = header_dict(ev.headers)
                try:
                    r.status = int(r.headers.get(":status"))
                except (TypeError, ValueError):
                    r.status = None
            elif isinstance(ev, h2.events.DataReceived):
                if ev.flow_controlled_length:
                    conn.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id)
                if r:
                    r.body_len += len(ev.data)
                    if len(r.body) < 65536:
                        r.body.extend(ev.data)
            elif isinstance(ev, h2.events.TrailersReceived) and r:
                r.trailers = header_dict(ev.headers)
            elif isinstance(ev, h2.events.StreamEnded) and r:
                r.done = True
            elif isinstance(ev, h2.events.StreamReset) and r:
                r.reset_code = int(ev.error_code)
                r.done = True
            elif isinstance(ev, h2.events.WindowUpdated) or isinstance(
                    ev, h2.events.RemoteSettingsChanged):
                for x in results:
                    pump(x)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                goaway = ev.last_stream_id
                for x in results:
                    if not x.done and x.stream_id > (goaway or 0):
                        x.error = "goaway"
                        x.done = True
        out = conn.data_to_send()
        if out:
            try:
                sock.sendall(out)
            except OSError:
                closed = True
                break

    for r in results:
        if not r.done:
            r.error = "connection closed" if closed else "timeout"
    try:
        conn.close_connection()
        sock.sendall(conn.data_to_send())
    except (OSError, h2.exceptions.ProtocolError):
        pass
    sock.close()
    for r in results:
        print(json.dumps(r.to_json(goaway)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
