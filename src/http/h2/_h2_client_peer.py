"""A strict python-h2 client for the codec's wire tests: run a scenario, print JSON."""
import json
import socket
import sys
import time

import h2.config
import h2.connection
import h2.events
import h2.settings
from hyperframe.frame import ContinuationFrame, HeadersFrame, WindowUpdateFrame, RstStreamFrame

port = int(sys.argv[1])
scenario = sys.argv[2]


class Client:
    def __init__(self, validate=True, window=None):
        self.sock = socket.create_connection(("127.0.0.1", port))
        self.sock.settimeout(5)
        cfg = h2.config.H2Configuration(
            client_side=True,
            validate_outbound_headers=validate,
            normalize_outbound_headers=validate,
            validate_inbound_headers=True,
        )
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.initiate_connection()
        if window is not None:
            self.c.update_settings({h2.settings.SettingCodes.INITIAL_WINDOW_SIZE: window})
        self.flush()
        self.events = []
        self.closed = False

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def raw(self, frames):
        self.flush()
        self.sock.sendall(b"".join(f.serialize() for f in frames))

    def pump(self, until, timeout=5.0):
        """Reads until until(events) is true; returns False on timeout."""
        end = time.time() + timeout
        while not until(self.events):
            left = end - time.time()
            if left <= 0:
                return False
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                return False
            if not data:
                self.closed = True
                return until(self.events)
            self.events.extend(self.c.receive_data(data))
            self.flush()
        return True

    def of(self, kind, sid=None):
        return [e for e in self.events if isinstance(e, kind) and (sid is None or getattr(e, "stream_id", None) == sid)]

    def ended(self, sid):
        return lambda ev: any(
            (isinstance(e, (h2.events.StreamEnded, h2.events.StreamReset)) and e.stream_id == sid)
            for e in ev
        )

    def terminated(self):
        return lambda ev: any(isinstance(e, h2.events.ConnectionTerminated) for e in ev)

    def body(self, sid):
        return b"".join(e.data for e in self.of(h2.events.DataReceived, sid))


def hdrs(path, method="GET", extra=()):
    return [(":method", method), (":scheme", "http"), (":authority", "test"), (":path", path), *extra]


def d(pairs):
    return {k.decode() if isinstance(k, bytes) else k: v.decode() if isinstance(v, bytes) else v for k, v in pairs}


out = {}
if scenario == "basic":
    cl = Client()
    # Several concurrent requests, a POST with a body and trailers among them.
    for i in range(5):
        cl.c.send_headers(1 + 2 * i, hdrs(f"/hello/{i}"), end_stream=True)
    cl.c.send_headers(11, hdrs("/echo", "POST", [("te", "trailers")]))
    for _ in range(4):
        cl.c.send_data(11, b"x" * 15000)
    cl.c.send_headers(11, [("x-in", "trailer-value")], end_stream=True)
    cl.flush()
    ok = cl.pump(lambda ev: all(cl.ended(s)(ev) for s in (1, 3, 5, 7, 9, 11)))
    out["ok"] = ok
    out["hello"] = [cl.body(1 + 2 * i).decode() for i in range(5)]
    out["status"] = [d(e.headers)[":status"] for e in cl.of(h2.events.ResponseReceived)]
    out["echo_len"] = len(cl.body(11))
    out["echo_trailers"] = [d(e.headers) for e in cl.of(h2.events.TrailersReceived, 11)]
    out["resets"] = len(cl.of(h2.events.StreamReset))
    # Many requests in sequence on the same connection (dynamic table reuse).
    for i in range(50):
        sid = 13 + 2 * i
        cl.c.send_headers(sid, hdrs("/hello/x", extra=[("x-same", "v")]), end_stream=True)
        cl.flush()
        cl.pump(cl.ended(sid))
    out["seq"] = sum(1 for i in range(50) if cl.body(13 + 2 * i) == b"hello /hello/x\n")
    out["seq_heads"] = [d(e.headers) for e in cl.of(h2.events.ResponseReceived)][-1]
    # Graceful close from the client.
    cl.c.close_connection()
    cl.flush()
    cl.pump(lambda ev: cl.closed, 2)
    out["closed_by_server"] = cl.closed
elif scenario == "resets":
    cl = Client()
    cl.c.send_headers(1, hdrs("/reset/7"), end_stream=True)
    cl.c.send_headers(3, hdrs("/reset/8"), end_stream=True)
    cl.c.send_headers(5, hdrs("/hold"), end_stream=True)
    cl.flush()
    cl.pump(lambda ev: cl.ended(1)(ev) and cl.ended(3)(ev))
    out["codes"] = [int(e.error_code) for e in cl.of(h2.events.StreamReset)]
    time.sleep(0.1)
    cl.c.reset_stream(5, error_code=2)  # INTERNAL_ERROR towards the handler
    cl.flush()
    cl.c.send_headers(7, hdrs("/hello/after"), end_stream=True)
    cl.flush()
    out["after"] = cl.pump(cl.ended(7)) and cl.body(7).decode()
elif scenario == "slow_reader":
    # A response larger than the window and a client that does not ack.
    cl = Client()
    cl.c.send_headers(1, hdrs("/stream"), end_stream=True)
    cl.flush()
    cl.pump(lambda ev: len(cl.body(1)) >= 65535, 5)
    cl.pump(lambda ev: False, 0.2)
    out["before_ack"] = len(cl.body(1))
    # The test checks what the server's body produced meanwhile, then says go.
    sys.stderr.write("stalled\n")
    sys.stderr.flush()
    sys.stdin.readline()
    # Now read everything, acknowledging as we go.
    acked = 0
    end = time.time() + 20
    while not cl.ended(1)(cl.events) and time.time() < end:
        got = len(cl.body(1))
        if got > acked:
            cl.c.acknowledge_received_data(got - acked, 1)
            acked = got
            cl.flush()
        cl.pump(lambda ev, n=got: len(cl.body(1)) > n or cl.ended(1)(ev), 2)
    out["total"] = len(cl.body(1))
    out["ended"] = cl.ended(1)(cl.events)
elif scenario == "slow_upload":
    # The handler does not read: the client's window closes at 65535.
    cl = Client()
    cl.c.send_headers(1, hdrs("/slow-read", "POST"))
    sent = 0
    while cl.c.local_flow_control_window(1) > 0:
        n = min(16384, cl.c.local_flow_control_window(1))
        cl.c.send_data(1, b"u" * n)
        sent += n
    cl.flush()
    cl.pump(lambda ev: False, 0.3)
    out["sent"] = sent
    out["window_before"] = cl.c.local_flow_control_window(1)
    cl.c.send_headers(3, hdrs("/start-reading"), end_stream=True)
    cl.flush()
    cl.pump(lambda ev: cl.c.local_flow_control_window(1) > 0, 3)
    out["window_after"] = cl.c.local_flow_control_window(1)
elif scenario == "rapid_reset":
    cl = Client()
    n = 0
    for i in range(5000):
        sid = 1 + 2 * i
        try:
            cl.c.send_headers(sid, hdrs("/hold"), end_stream=True)
            cl.c.reset_stream(sid, error_code=8)
            n += 1
            if i % 20 == 19:
                cl.flush()
        except Exception:
            break
        if cl.c.state_machine.state.name == "CLOSED":
            break
    try:
        cl.flush()
    except OSError:
        pass
    cl.pump(cl.terminated(), 5)
    t = cl.of(h2.events.ConnectionTerminated)
    out["goaway"] = int(t[0].error_code) if t else None
    out["sent"] = n
elif scenario == "continuation_flood":
    cl = Client()
    block = cl.c.encoder.encode(hdrs("/"))
    frames = [HeadersFrame(1, data=block, flags=[])]
    for _ in range(200):
        frames.append(ContinuationFrame(1, data=b"\x00" * 16000))
    try:
        cl.raw(frames)
    except OSError:
        pass
    cl.pump(cl.terminated(), 5)
    t = cl.of(h2.events.ConnectionTerminated)
    out["goaway"] = int(t[0].error_code) if t else None
elif scenario == "window_overflow":
    cl = Client()
    cl.c.send_headers(1, hdrs("/hold"), end_stream=True)
    cl.flush()
    cl.raw([WindowUpdateFrame(1, window_increment=2**31 - 1)])
    cl.pump(cl.ended(1), 3)
    out["stream"] = [int(e.error_code) for e in cl.of(h2.events.StreamReset, 1)]
    cl.raw([WindowUpdateFrame(0, window_increment=2**31 - 1)])
    cl.pump(cl.terminated(), 3)
    t = cl.of(h2.events.ConnectionTerminated)
    out["goaway"] = int(t[0].error_code) if t else None
elif scenario == "bad_headers":
    cl = Client(validate=False)
    cases = [
        hdrs("/", extra=[("Upper-Case", "x")]),
        hdrs("/", extra=[("connection", "keep-alive")]),
        hdrs("/", extra=[("transfer-encoding", "chunked")]),
        hdrs("/", extra=[("te", "deflate")]),
        hdrs("/", extra=[("x-bad", "a\nb")]),
        [(":method", "GET"), (":authority", "test"), (":path", "/")],
        [("x-first", "1")] + hdrs("/"),
        hdrs("/", extra=[(":unknown", "1")]),
        hdrs("/") + [(":path", "/again")],
    ]
    codes = []
    sid = 1
    for fields in cases:
        cl.c.send_headers(sid, fields, end_stream=True)
        cl.flush()
        cl.pump(cl.ended(sid), 3)
        r = cl.of(h2.events.StreamReset, sid)
        codes.append(int(r[0].error_code) if r else None)
        sid += 2
    out["codes"] = codes
    cl.c.send_headers(sid, hdrs("/hello/ok"), end_stream=True)
    cl.flush()
    out["after"] = cl.pump(cl.ended(sid)) and cl.body(sid).decode()
print(json.dumps(out))
