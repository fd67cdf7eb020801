"""A strict python-h2 server for the codec client's wire tests. Prints its port, serves until stdin closes."""
import selectors
import socket
import sys

import h2.config
import h2.connection
import h2.events

sel = selectors.DefaultSelector()
lsock = socket.socket()
lsock.bind(("127.0.0.1", 0))
lsock.listen()
lsock.setblocking(False)
print(lsock.getsockname()[1], flush=True)
sel.register(lsock, selectors.EVENT_READ, "listen")
sel.register(sys.stdin, selectors.EVENT_READ, "stdin")
conns = {}
log = []
refused = []


def d(pairs):
    return {k.decode(): v.decode() for k, v in pairs}


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=False))
        self.c.initiate_connection()
        self.bodies = {}
        self.paths = {}
        self.done = set()
        self.gone = False
        self.flush()

    def flush(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def respond(self, sid, trailers):
        if sid in self.done:
            return
        self.done.add(sid)
        path = self.paths[sid]
        body = b"".join(self.bodies.get(sid, []))
        log.append(path)
        if path == "/reset":
            self.c.reset_stream(sid, error_code=11)
        elif path == "/goaway" and not refused:
            # Once: refuse this stream and every later one (last_stream_id below it).
            refused.append(sid)
            self.c.close_connection(error_code=0, last_stream_id=sid - 2 if sid > 1 else 0)
            self.gone = True
        else:
            extra = [("x-req-trailer", trailers.get("x-t", "none")), ("x-req-len", str(len(body)))]
            self.c.send_headers(sid, [(":status", "200"), ("content-type", "text/plain"), *extra])
            payload = body if path == "/echo" else ("hello " + path).encode()
            while payload:
                n = min(len(payload), self.c.max_outbound_frame_size, self.c.local_flow_control_window(sid))
                if n == 0:
                    break
                self.c.send_data(sid, payload[:n])
                payload = payload[n:]
            self.c.send_headers(sid, [("grpc-status", "0"), ("x-trailer", "yes")], end_stream=True)
        self.flush()

    def on_data(self, data):
        if self.gone:
            return  # after our GOAWAY python-h2 refuses every frame; the client may still send some
        for ev in self.c.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                h = d(ev.headers)
                self.paths[ev.stream_id] = h[":path"]
                if ev.stream_ended:
                    self.respond(ev.stream_id, {})
            elif isinstance(ev, h2.events.DataReceived):
                self.bodies.setdefault(ev.stream_id, []).append(ev.data)
                self.c.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.TrailersReceived):
                self.respond(ev.stream_id, d(ev.headers))
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in self.paths and ev.stream_id in self.bodies:
                    self.respond(ev.stream_id, {})
        self.flush()


running = True
while running:
    for key, _ in sel.select(timeout=30):
        if key.data == "listen":
            s, _ = lsock.accept()
            conns[s] = Conn(s)
            sel.register(s, selectors.EVENT_READ, "conn")
        elif key.data == "stdin":
            if not sys.stdin.readline():
                running = False
        else:
            s = key.fileobj
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                sel.unregister(s)
                s.close()
                del conns[s]
                continue
            try:
                conns[s].on_data(data)
            except Exception as e:  # a protocol error of the client under test
                log.append("error: %r" % e)
                sel.unregister(s)
                s.close()
                del conns[s]
print("\n".join(log), flush=True)
