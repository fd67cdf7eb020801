#!/usr/bin/python3
"""An independent decoder of linkerd's tagged transport (tests only).

Run with Debian's interpreter (/usr/bin/python3, which has python3-h2).
A TLS 1.3 server (--cert, --key, --ca: client certificates required) that
offers ALPN h2, http/1.1 and transport.l5d.io/v1. On each connection it
reads, when the bytes start with it, the transport header as upstream's
linkerd2-proxy-api `transport.l5d.io` lays it out, decoded here from the
bytes (not with Petrel's code):

  "transport.l5d.io/v1\\r\\n\\r\\n", a 4-byte big-endian length, then the
  protobuf Header { int32 port = 1; string name = 2;
  SessionProtocol session_protocol = 3 } with
  SessionProtocol { oneof kind { Http1 http1 = 1; Http2 http2 = 2; } }.

Then it serves HTTP on the same connection: HTTP/2 with python-h2 when the
bytes that follow are the HTTP/2 preface, else one HTTP/1.1 request per
exchange. /proxy-error responses carry l5d-proxy-error and
l5d-proxy-connection: close, as a peer proxy's error would. Every response is
200 with a JSON body: {"alpn", "header" (null
when none), "authority", "path", "headers" (the request's, lower case)}.
Prints `LISTENING <port>`.
"""

import argparse
import json
import socket
import ssl
import struct
import threading

import h2.config
import h2.connection
import h2.events

PREFACE = b"transport.l5d.io/v1\r\n\r\n"
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def varint(b, pos):
    v, shift = 0, 0
    while True:
        byte = b[pos]
        pos += 1
        v |= (byte & 0x7F) << shift
        if not byte & 0x80:
            return v, pos
        shift += 7


def fields(b):
    """(field number, wire type, value) of each field of a protobuf message."""
    pos = 0
    while pos < len(b):
        key, pos = varint(b, pos)
        num, wire = key >> 3, key & 7
        if wire == 0:
            v, pos = varint(b, pos)
        elif wire == 2:
            n, pos = varint(b, pos)
            v = bytes(b[pos:pos + n])
            pos += n
        elif wire == 5:
            v = b[pos:pos + 4]
            pos += 4
        elif wire == 1:
            v = b[pos:pos + 8]
            pos += 8
        else:
            raise ValueError("wire type %d" % wire)
        yield num, wire, v


def decode_header(msg):
    h = {"port": 0, "name": "", "session_protocol": None}
    for num, wire, v in fields(msg):
        if num == 1 and wire == 0:
            h["port"] = v
        elif num == 2 and wire == 2:
            h["name"] = v.decode()
        elif num == 3 and wire == 2:
            for n2, _, _ in fields(v):
                h["session_protocol"] = {1: "http1", 2: "http2"}.get(n2)
    return h


class Conn:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def need(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError
            self.buf += chunk

    def take(self, n):
        self.need(n)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def answer(alpn, header, authority, path, headers):
    return json.dumps({"alpn": alpn, "header": header, "authority": authority,
                       "path": path, "headers": headers}).encode()


def extra_headers(path):
    """/proxy-error answers like a peer proxy reporting its own error."""
    if path.startswith("/proxy-error"):
        return [("l5d-proxy-error", "peer proxy failed"),
                ("l5d-proxy-connection", "close")]
    return []


def serve_h2(c, alpn, header):
    conn = h2.connection.H2Connection(
        h2.config.H2Configuration(client_side=False, header_encoding="utf-8"))
    conn.initiate_connection()
    c.sock.sendall(conn.data_to_send())
    data, c.buf = c.buf, b""
    while True:
        if not data:
            data = c.sock.recv(65536)
            if not data:
                return
        for ev in conn.receive_data(data):
            if isinstance(ev, h2.events.RequestReceived):
                hs = {}
                for k, v in ev.headers:
                    hs[k] = v
                body = answer(alpn, header, hs.get(":authority", ""),
                              hs.get(":path", ""),
                              {k: v for k, v in hs.items()
                               if not k.startswith(":")})
                conn.send_headers(ev.stream_id, [
                    (":status", "200"), ("content-type", "application/json"),
                    ("content-length", str(len(body)))]
                    + extra_headers(hs.get(":path", "")))
                conn.send_data(ev.stream_id, body, end_stream=True)
            elif isinstance(ev, h2.events.DataReceived):
                conn.acknowledge_received_data(
                    ev.flow_controlled_length, ev.stream_id)
            elif isinstance(ev, h2.events.ConnectionTerminated):
                c.sock.sendall(conn.data_to_send())
                return
        c.sock.sendall(conn.data_to_send())
        data = b""


def serve_h1(c, alpn, header):
    while True:
        while b"\r\n\r\n" not in c.buf:
            try:
                c.need(len(c.buf) + 1)
            except EOFError:
                return
        head, c.buf = c.buf.split(b"\r\n\r\n", 1)
        lines = head.decode("latin1").split("\r\n")
        _, path, _ = lines[0].split(" ", 2)
        hs = {}
        for line in lines[1:]:
            k, v = line.split(":", 1)
            hs[k.strip().lower()] = v.strip()
        n = int(hs.get("content-length", "0"))
        c.take(n)
        body = answer(alpn, header, hs.get("host", ""), path, hs)
        extra = "".join("%s: %s\r\n" % kv for kv in extra_headers(path))
        c.sock.sendall(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                       + extra.encode() +
                       b"content-length: %d\r\n\r\n" % len(body) + body)
        if hs.get("connection", "").lower() == "close":
            return


def handle(raw, ctx):
    try:
        sock = ctx.wrap_socket(raw, server_side=True)
    except (ssl.SSLError, OSError):
        raw.close()
        return
    try:
        alpn = sock.selected_alpn_protocol()
        c = Conn(sock)
        header = None
        c.need(1)
        if c.buf[:1] == PREFACE[:1]:
            c.need(len(PREFACE) + 4)
            if c.buf.startswith(PREFACE):
                c.take(len(PREFACE))
                (n,) = struct.unpack(">I", c.take(4))
                header = decode_header(c.take(n))
        c.need(1)
        if c.buf[:1] == b"P":
            c.need(len(H2_PREFACE))
        if c.buf.startswith(H2_PREFACE):
            serve_h2(c, alpn, header)
        else:
            serve_h1(c, alpn, header)
    except (EOFError, OSError, ssl.SSLError):
        pass
    finally:
        try:
            sock.close()
        except OSError:
            pass


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cert", required=True)
    ap.add_argument("--key", required=True)
    ap.add_argument("--ca", required=True)
    a = ap.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.ca)
    ctx.verify_mode = ssl.CERT_REQUIRED
    ctx.set_alpn_protocols(["h2", "http/1.1", "transport.l5d.io/v1"])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", 0))
    srv.listen(64)
    print("LISTENING %d" % srv.getsockname()[1], flush=True)
    while True:
        raw, _ = srv.accept()
        threading.Thread(target=handle, args=(raw, ctx), daemon=True).start()


if __name__ == "__main__":
    main()
