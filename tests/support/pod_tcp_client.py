"""Raw TCP clients for the pod tests (run inside the app namespace).

  pod_tcp_client.py echo HOST PORT NBYTES   send NBYTES, half-close, read to EOF
  pod_tcp_client.py banner HOST PORT        read the server's first line, then echo one
  pod_tcp_client.py raw HOST PORT TEXT      send TEXT (\\r\\n escapes), read to EOF

Prints one JSON line with what happened.
"""
import hashlib
import json
import socket
import sys
import time


def connect(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect((host, int(port)))
    return s


def echo(host, port, n):
    payload = bytes((i * 7 + 3) % 251 for i in range(n))
    s = connect(host, port)
    s.sendall(payload)
    s.shutdown(socket.SHUT_WR)  # half-close: the reply must still arrive
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    print(json.dumps({
        "sent": len(payload),
        "received": len(got),
        "same": hashlib.sha256(payload).hexdigest() == hashlib.sha256(got).hexdigest(),
    }))


def banner(host, port):
    s = connect(host, port)
    t0 = time.monotonic()
    line = b""
    while not line.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        line += chunk
    elapsed = (time.monotonic() - t0) * 1000
    s.sendall(b"ping\n")
    back = b""
    while len(back) < 5:
        chunk = s.recv(5 - len(back))
        if not chunk:
            break
        back += chunk
    s.close()
    print(json.dumps({
        "banner": line.decode().strip(),
        "elapsedMs": round(elapsed),
        "echo": back.decode(),
    }))


def raw(host, port, text):
    s = connect(host, port)
    s.sendall(text.encode().decode("unicode_escape").encode("latin-1"))
    got = bytearray()
    while True:
        chunk = s.recv(65536)
        if not chunk:
            break
        got += chunk
    s.close()
    print(json.dumps({"response": got.decode("latin-1")}))


if __name__ == "__main__":
    if sys.argv[1] == "raw":
        raw(sys.argv[2], sys.argv[3], sys.argv[4])
    elif sys.argv[1] == "echo":
        echo(sys.argv[2], sys.argv[3], int(sys.argv[4]))
    else:
        banner(sys.argv[2], sys.argv[3])
