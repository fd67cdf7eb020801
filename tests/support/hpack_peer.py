"""HPACK peer for src/http/h2/hpack_test.ts: Python's `hpack` (Debian
python3-hpack) with one encoder and one decoder kept across lines.

Reads commands from stdin, one per line, and answers each with one line:
  decode <hex>         -> JSON [[name, value, never_indexed], ...] (latin1) or "error <Class>"
  encode <json>        -> hex of one block; json is [[name, value, never_indexed?], ...]
  encode-plain <json>  -> the same without Huffman coding
  dlimit <n>           -> "ok": the decoder's SETTINGS_HEADER_TABLE_SIZE (max_allowed_table_size)
  esize <n>            -> "ok": the encoder's table size (an update starts its next block)
"""
import json
import sys

import hpack
from hpack import HeaderTuple, NeverIndexedHeaderTuple

enc = hpack.Encoder()
dec = hpack.Decoder(max_header_list_size=1 << 30)


def fields(arg):
    out = []
    for f in json.loads(arg):
        name = f[0].encode("latin1")
        value = f[1].encode("latin1")
        sensitive = len(f) > 2 and f[2]
        out.append((NeverIndexedHeaderTuple if sensitive else HeaderTuple)(name, value))
    return out


for line in sys.stdin:
    cmd, _, arg = line.rstrip("\n").partition(" ")
    if cmd == "decode":
        try:
            out = dec.decode(bytes.fromhex(arg), raw=True)
            reply = json.dumps([
                [h[0].decode("latin1"), h[1].decode("latin1"), isinstance(h, NeverIndexedHeaderTuple)]
                for h in out
            ])
        except Exception as e:  # noqa: BLE001 - the test wants the class name
            reply = "error " + type(e).__name__
    elif cmd == "encode":
        reply = enc.encode(fields(arg), huffman=True).hex()
    elif cmd == "encode-plain":
        reply = enc.encode(fields(arg), huffman=False).hex()
    elif cmd == "dlimit":
        dec.max_allowed_table_size = int(arg)
        reply = "ok"
    elif cmd == "esize":
        enc.header_table_size = int(arg)
        reply = "ok"
    else:
        reply = "error unknown command " + cmd
    sys.stdout.write(reply + "\n")
    sys.stdout.flush()
