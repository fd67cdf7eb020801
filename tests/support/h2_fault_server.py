#!/usr/bin/python3
"""An h2c (prior knowledge) test server that injects HTTP/2 faults by path.

Run with Debian's interpreter (/usr/bin/python3, which has python3-h2).
It listens on 127.0.0.1 port 0 (or --port N) and prints `LISTENING <port>`.

Behaviour by request path:
  /ok          200, body "ok"
  /refuse      RST_STREAM REFUSED_STREAM (7) before any response
  /cancel      response headers and some data, then RST_STREAM CANCEL (8)
  /calm        RST_STREAM ENHANCE_YOUR_CALM (11)
  /slow?ms=N   200, body "slow", sent after N ms
  /trailers    200, body "trailers", then trailers `x-trailer: yes`
  /echo        200, the request body streamed back, then the request
               trailers as response trailers (if any)
  /goaway      200, body "goaway", then GOAWAY(NO_ERROR, last-stream-id =
               this stream); streams below it still complete, later ones are
               refused, and the socket closes once no stream is active
  /headers     200, JSON object of the request headers (pseudo-headers too)
  anything else 404, body "not found"

Every response carries `x-fault-server: h2`. Each connection runs in its own
thread; one lock guards the h2 state machine and the socket writes. Received
data is acknowledged at once (so large uploads never stall), and sends respect
the peer's flow-control windows.
"""

import argparse
import json
import socket
import sys
import threading
import time
from urllib.parse import parse_qs, urlsplit

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
from hyperframe.frame import GoAwayFrame

REFUSED_STREAM = 7
CANCEL = 8
ENHANCE_YOUR_CALM = 11


class Stream:
    def __init__(self, stream_id, headers):
        self.id = stream_id
        self.headers = headers
        h = dict(headers)
        self.path = h.get(":path", "/")
        self.pending = bytearray()  # data waiting for flow-control window
        self.end_after_pending = False
        self.trailers_after_pending = None
        self.closed = False
        self.echo = False
        self.timer = None


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.lock = threading.RLock()
        cfg = h2.config.H2Configuration(
            client_side=False, header_encoding="utf-8"
        )
        self.h2 = h2.connection.H2Connection(config=cfg)
        self.streams = {}
        self.goaway_last_id = None
        self.dead = False

    # ---- output -------------------------------------------------------

    def flush(self):
        """Writes whatever h2 has queued. Caller holds the lock."""
        data = self.h2.data_to_send()
        if data and not self.dead:
            try:
                self.sock.sendall(data)
            except OSError:
                self.dead = True

    def pump(self, st):
        """Sends pending data of one stream as far as the windows allow."""
        while st.pending and not st.closed:
            window = self.h2.local_flow_control_window(st.id)
            size = min(window, self.h2.max_outbound_frame_size, len(st.pending))
            if size <= 0:
                return
            chunk = bytes(st.pending[:size])
            del st.pending[:size]
            self.h2.send_data(st.id, chunk)
        if st.pending or st.closed:
            return
        if st.trailers_after_pending is not None:
            self.h2.send_headers(st.id, st.trailers_after_pending, end_stream=True)
            self.finish(st)
        elif st.end_after_pending:
            self.h2.end_stream(st.id)
            self.finish(st)

    def pump_all(self):
        for st in list(self.streams.values()):
            self.pump(st)

    def finish(self, st):
        st.closed = True
        if st.timer is not None:
            st.timer.cancel()
        self.streams.pop(st.id, None)
        self.maybe_close_after_goaway()

    def maybe_close_after_goaway(self):
        if self.goaway_last_id is None or self.streams:
            return
        self.flush()
        self.dead = True
        try:
            self.sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass

    # ---- responses ----------------------------------------------------

    def respond(self, st, status, body=b"", trailers=None, extra=()):
        extra = list(extra)
        headers = [(":status", str(status)), ("x-fault-server", "h2")]
        if not any(k == "content-type" for k, _ in extra):
            headers.append(("content-type", "text/plain"))
        headers.extend(extra)
        if trailers is None and not body:
            self.h2.send_headers(st.id, headers, end_stream=True)
            self.finish(st)
            return
        self.h2.send_headers(st.id, headers)
        st.pending.extend(body)
        if trailers is not None:
            st.trailers_after_pending = trailers
        else:
            st.end_after_pending = True
        self.pump(st)

    def reset(self, st, code):
        self.h2.reset_stream(st.id, error_code=code)
        self.finish(st)

    def send_goaway(self, last_id):
        """GOAWAY written as a raw frame: h2 would otherwise refuse to send
        anything more, and streams below last_id must still complete."""
        frame = GoAwayFrame(stream_id=0, last_stream_id=last_id, error_code=0)
        self.flush()
        self.goaway_last_id = last_id
        if not self.dead:
            try:
                self.sock.sendall(frame.serialize())
            except OSError:
                self.dead = True
        self.maybe_close_after_goaway()

    # ---- events -------------------------------------------------------

    def on_request(self, ev):
        st = Stream(ev.stream_id, ev.headers)
        if self.goaway_last_id is not None and st.id > self.goaway_last_id:
            self.h2.reset_stream(st.id, error_code=REFUSED_STREAM)
            return
        self.streams[st.id] = st
        path = urlsplit(st.path).path
        if path == "/refuse":
            self.reset(st, REFUSED_STREAM)
        elif path == "/calm":
            self.reset(st, ENHANCE_YOUR_CALM)
        elif path == "/cancel":
            self.h2.send_headers(
                st.id, [(":status", "200"), ("x-fault-server", "h2")]
            )
            self.h2.send_data(st.id, b"partial-")
            self.reset(st, CANCEL)
        elif path == "/echo":
            st.echo = True
            self.h2.send_headers(
                st.id,
                [(":status", "200"), ("x-fault-server", "h2"),
                 ("content-type", "application/octet-stream")],
            )
        if ev.stream_ended is not None:
            self.on_end(st)

    def on_end(self, st):
        if st.closed:
            return
        split = urlsplit(st.path)
        path = split.path
        if path == "/ok":
            self.respond(st, 200, b"ok")
        elif path == "/slow":
            try:
                ms = int(parse_qs(split.query).get("ms", ["0"])[0])
            except ValueError:
                ms = 0

            def later():
                with self.lock:
                    if not st.closed and not self.dead:
                        self.respond(st, 200, b"slow")
                        self.flush()

            st.timer = threading.Timer(ms / 1000.0, later)
            st.timer.daemon = True
            st.timer.start()
        elif path == "/trailers":
            self.respond(st, 200, b"trailers", trailers=[("x-trailer", "yes")])
        elif path == "/echo":
            if st.trailers_after_pending is None:
                st.end_after_pending = True
            self.pump(st)
        elif path == "/goaway":
            self.respond(st, 200, b"goaway")
            self.send_goaway(st.id)
        elif path == "/headers":
            obj = {}
            for k, v in st.headers:
                obj[k] = obj[k] + ", " + v if k in obj else v
            body = json.dumps(obj).encode()
            self.respond(st, 200, body, extra=[("content-type", "application/json")])
        else:
            self.respond(st, 404, b"not found")

    def handle(self, events):
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.on_request(ev)
            elif isinstance(ev, h2.events.DataReceived):
                if ev.flow_controlled_length:
                    self.h2.acknowledge_received_data(
                        ev.flow_controlled_length, ev.stream_id
                    )
                st = self.streams.get(ev.stream_id)
                if st is not None and st.echo and not st.closed:
                    st.pending.extend(ev.data)
                    self.pump(st)
                if ev.stream_ended is not None and st is not None:
                    self.on_end(st)
            elif isinstance(ev, h2.events.TrailersReceived):
                st = self.streams.get(ev.stream_id)
                if st is not None and st.echo:
                    st.trailers_after_pending = list(ev.headers)
                if ev.stream_ended is not None and st is not None:
                    self.on_end(st)
            elif isinstance(ev, h2.events.StreamEnded):
                pass  # handled through stream_ended on the events above
            elif isinstance(ev, h2.events.StreamReset):
                st = self.streams.get(ev.stream_id)
                if st is not None:
                    self.finish(st)
            elif isinstance(ev, (h2.events.WindowUpdated,
                                 h2.events.RemoteSettingsChanged)):
                self.pump_all()
            elif isinstance(ev, h2.events.ConnectionTerminated):
                self.dead = True

    def run(self):
        with self.lock:
            self.h2.initiate_connection()
            self.flush()
        try:
            while not self.dead:
                try:
                    data = self.sock.recv(65536)
                except OSError:
                    break
                if not data:
                    break
                with self.lock:
                    try:
                        events = self.h2.receive_data(data)
                        self.handle(events)
                    except h2.exceptions.ProtocolError:
                        self.flush()
                        break
                    self.flush()
            # After a GOAWAY the write side is shut; drain the read side briefly
            # so the peer's last frames do not turn the close into a TCP RST.
            if self.goaway_last_id is not None:
                self.sock.settimeout(1.0)
                deadline = time.monotonic() + 1.0
                while time.monotonic() < deadline:
                    try:
                        if not self.sock.recv(65536):
                            break
                    except OSError:
                        break
        finally:
            with self.lock:
                self.dead = True
                for st in list(self.streams.values()):
                    if st.timer is not None:
                        st.timer.cancel()
                self.streams.clear()
            try:
                self.sock.close()
            except OSError:
                pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=0)
    args = ap.parse_args()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind((args.host, args.port))
    srv.listen(128)
    print(f"LISTENING {srv.getsockname()[1]}", flush=True)
    try:
        while True:
            sock, _ = srv.accept()
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            t = threading.Thread(target=Conn(sock).run, daemon=True)
            t.start()
    except KeyboardInterrupt:
        pass
    finally:
        srv.close()


if __name__ == "__main__":
    sys.exit(main())
