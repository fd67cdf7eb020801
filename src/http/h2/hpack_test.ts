import assert from "node:assert/strict";
import {
  HeaderListTooLarge,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  HpackWriter,
  isValidFieldName,
  isValidFieldValue,
} from "./hpack.ts";
import {
  HUFFMAN_CODES,
  HUFFMAN_EOS,
  HUFFMAN_LENGTHS,
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
  huffmanMaxDecoded,
} from "./huffman.ts";

type Field = [string, string];

function hex(s: string): Uint8Array {
  const clean = s.replace(/\s+/g, "");
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) {
    out[i] = parseInt(clean.slice(i * 2, i * 2 + 2), 16);
  }
  return out;
}

/** A prefixed integer (RFC 7541 §5.1), written independently of hpack.ts. */
function prefixInt(first: number, bits: number, value: number): Uint8Array {
  const max = (1 << bits) - 1;
  if (value < max) return new Uint8Array([first | value]);
  const out = [first | max];
  for (value -= max; value >= 128; value = Math.floor(value / 128)) {
    out.push((value % 128) | 0x80);
  }
  out.push(value);
  return new Uint8Array(out);
}

function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, "0")).join("");
}

function decodeAll(d: HpackDecoder, block: Uint8Array): Field[] {
  const out: Field[] = [];
  d.decode(block, (n, v) => out.push([n, v]));
  return out;
}

function encodeAll(e: HpackEncoder, fields: Field[]): Uint8Array {
  const w = new HpackWriter(16);
  e.encode(fields, w);
  return w.subarray().slice();
}

/** Deterministic PRNG (mulberry32). */
function prng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = seed;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

// ---------------------------------------------------------------------------
// Huffman (RFC 7541 Appendix B)

Deno.test("HUFFMAN_CODES match RFC 7541 Appendix B samples and form a complete code", () => {
  // A few rows of the table, by symbol: code and length.
  const samples: Array<[number, number, number]> = [
    [0, 0x1ff8, 13],
    [32, 0x14, 6], // ' '
    [48, 0x0, 5], // '0'
    [97, 0x3, 5], // 'a'
    [127, 0xffffffc, 28],
    [255, 0x3ffffee, 26],
    [HUFFMAN_EOS, 0x3fffffff, 30],
  ];
  for (const [sym, code, len] of samples) {
    assert.equal(HUFFMAN_CODES[sym], code, `code of ${sym}`);
    assert.equal(HUFFMAN_LENGTHS[sym], len, `length of ${sym}`);
  }
  // Kraft sum of a complete prefix code is exactly 1.
  let kraft = 0;
  for (let s = 0; s <= 256; s++) kraft += 2 ** (30 - HUFFMAN_LENGTHS[s]!);
  assert.equal(kraft, 2 ** 30);
});

const HUFFMAN_VECTORS: Array<[string, string]> = [
  ["www.example.com", "f1e3 c2e5 f23a 6ba0 ab90 f4ff"],
  ["no-cache", "a8eb 1064 9cbf"],
  ["custom-key", "25a8 49e9 5ba9 7d7f"],
  ["custom-value", "25a8 49e9 5bb8 e8b4 bf"],
  ["302", "6402"],
  ["307", "640e ff"],
  ["private", "aec3 771a 4b"],
  [
    "Mon, 21 Oct 2013 20:13:21 GMT",
    "d07a be94 1054 d444 a820 0595 040b 8166 e082 a62d 1bff",
  ],
  ["https://www.example.com", "9d29 ad17 1863 c78f 0b97 c8e9 ae82 ae43 d3"],
  ["gzip", "9bd9 ab"],
  [
    "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1",
    "94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
  ],
];

Deno.test("huffmanEncode()/huffmanDecode() reproduce the RFC 7541 Appendix C strings", () => {
  for (const [text, code] of HUFFMAN_VECTORS) {
    const want = hex(code);
    assert.equal(huffmanLength(text), want.length, text);
    const out = new Uint8Array(want.length + 4);
    assert.equal(huffmanEncode(text, out, 2), 2 + want.length);
    assert.equal(toHex(out.subarray(2, 2 + want.length)), toHex(want), text);
    const dec = new Uint8Array(huffmanMaxDecoded(want.length));
    const n = huffmanDecode(want, 0, want.length, dec);
    assert.equal(new TextDecoder().decode(dec.subarray(0, n)), text);
    assert.equal(huffmanDecode(want, 0, want.length, null), text.length);
  }
});

Deno.test("huffmanEncode()/huffmanDecode() round-trip every byte and random latin1 strings", () => {
  const rnd = prng(7);
  const strings = [String.fromCharCode(...Array(256).keys())];
  for (let i = 0; i < 500; i++) {
    const n = Math.floor(rnd() * 40);
    let s = "";
    for (let j = 0; j < n; j++) {
      s += String.fromCharCode(Math.floor(rnd() * 256));
    }
    strings.push(s);
  }
  for (const s of strings) {
    const len = huffmanLength(s);
    const out = new Uint8Array(len);
    assert.equal(huffmanEncode(s, out, 0), len);
    const dec = new Uint8Array(huffmanMaxDecoded(len));
    const n = huffmanDecode(out, 0, len, dec);
    assert.equal(String.fromCharCode(...dec.subarray(0, n)), s);
  }
  assert.equal(huffmanLength("\u20ac"), -1);
});

Deno.test("huffmanDecode() rejects EOS, long padding and padding with zero bits", () => {
  const bad = [
    "ffff ffff", // 30 one bits: EOS
    "1f ff", // 'a' (00011) then 11 bits of padding
    "00", // '0' (00000) then padding 000
    "ff", // 8 bits of padding, no symbol
    "fe", // padding 1111111 0
  ];
  for (const h of bad) {
    const b = hex(h);
    assert.equal(huffmanDecode(b, 0, b.length, null), -1, h);
  }
  const ok = hex("1f"); // 'a' + 3 bits of padding
  assert.equal(huffmanDecode(ok, 0, 1, null), 1);
});

// ---------------------------------------------------------------------------
// RFC 7541 Appendix C, decoding

Deno.test("HpackDecoder decodes the RFC 7541 C.1 integers (table size updates)", () => {
  const d = new HpackDecoder();
  decodeAll(d, hex("2a")); // 10 in a 5-bit prefix
  assert.equal(d.maxTableSize, 10);
  decodeAll(d, hex("3f9a0a")); // 1337 in a 5-bit prefix
  assert.equal(d.maxTableSize, 1337);
});

Deno.test("HpackDecoder decodes RFC 7541 C.2.1-C.2.4 with the table after each", () => {
  let d = new HpackDecoder();
  assert.deepEqual(
    decodeAll(
      d,
      hex("400a 6375 7374 6f6d 2d6b 6579 0d63 7573 746f 6d2d 6865 6164 6572"),
    ),
    [["custom-key", "custom-header"]],
  );
  assert.deepEqual(d.tableEntries(), [["custom-key", "custom-header"]]);
  assert.equal(d.tableSize, 55);

  d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, hex("040c 2f73 616d 706c 652f 7061 7468")), [[
    ":path",
    "/sample/path",
  ]]);
  assert.deepEqual(d.tableEntries(), []);

  d = new HpackDecoder();
  const never: boolean[] = [];
  const got: Field[] = [];
  d.decode(hex("1008 7061 7373 776f 7264 0673 6563 7265 74"), (n, v, ni) => {
    got.push([n, v]);
    never.push(ni);
  });
  assert.deepEqual(got, [["password", "secret"]]);
  assert.deepEqual(never, [true]);
  assert.deepEqual(d.tableEntries(), []);

  d = new HpackDecoder();
  assert.deepEqual(decodeAll(d, hex("82")), [[":method", "GET"]]);
  assert.equal(d.tableSize, 0);
});

const REQ1: Field[] = [
  [":method", "GET"],
  [":scheme", "http"],
  [":path", "/"],
  [":authority", "www.example.com"],
];
const REQ2: Field[] = [...REQ1, ["cache-control", "no-cache"]];
const REQ3: Field[] = [
  [":method", "GET"],
  [":scheme", "https"],
  [":path", "/index.html"],
  [":authority", "www.example.com"],
  ["custom-key", "custom-value"],
];
const REQ_TABLES: Array<[Field[], number]> = [
  [[[":authority", "www.example.com"]], 57],
  [[["cache-control", "no-cache"], [":authority", "www.example.com"]], 110],
  [[
    ["custom-key", "custom-value"],
    ["cache-control", "no-cache"],
    [":authority", "www.example.com"],
  ], 164],
];
const C3 = [
  "8286 8441 0f77 7777 2e65 7861 6d70 6c65 2e63 6f6d",
  "8286 84be 5808 6e6f 2d63 6163 6865",
  "8287 85bf 400a 6375 7374 6f6d 2d6b 6579 0c63 7573 746f 6d2d 7661 6c75 65",
];
const C4 = [
  "8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff",
  "8286 84be 5886 a8eb 1064 9cbf",
  "8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf",
];

const DATE1 = "Mon, 21 Oct 2013 20:13:21 GMT";
const DATE2 = "Mon, 21 Oct 2013 20:13:22 GMT";
const LOC = "https://www.example.com";
const COOKIE = "foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1";
const RSP1: Field[] = [
  [":status", "302"],
  ["cache-control", "private"],
  ["date", DATE1],
  ["location", LOC],
];
const RSP2: Field[] = [
  [":status", "307"],
  ["cache-control", "private"],
  ["date", DATE1],
  ["location", LOC],
];
const RSP3: Field[] = [
  [":status", "200"],
  ["cache-control", "private"],
  ["date", DATE2],
  ["location", LOC],
  ["content-encoding", "gzip"],
  ["set-cookie", COOKIE],
];
const RSP_TABLES: Array<[Field[], number]> = [
  [[["location", LOC], ["date", DATE1], ["cache-control", "private"], [
    ":status",
    "302",
  ]], 222],
  [[[":status", "307"], ["location", LOC], ["date", DATE1], [
    "cache-control",
    "private",
  ]], 222],
  [
    [["set-cookie", COOKIE], ["content-encoding", "gzip"], ["date", DATE2]],
    215,
  ],
];
const C5 = [
  "4803 3330 3258 0770 7269 7661 7465 611d 4d6f 6e2c 2032 3120 4f63 7420 3230" +
  "3133 2032 303a 3133 3a32 3120 474d 546e 1768 7474 7073 3a2f 2f77 7777 2e65" +
  "7861 6d70 6c65 2e63 6f6d",
  "4803 3330 37c1 c0bf",
  "88c1 611d 4d6f 6e2c 2032 3120 4f63 7420 3230 3133 2032 303a 3133 3a32 3220" +
  "474d 54c0 5a04 677a 6970 7738 666f 6f3d 4153 444a 4b48 514b 425a 584f 5157" +
  "454f 5049 5541 5851 5745 4f49 553b 206d 6178 2d61 6765 3d33 3630 303b 2076" +
  "6572 7369 6f6e 3d31",
];
const C6 = [
  "4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0" +
  "82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3",
  "4883 640e ffc1 c0bf",
  "88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b" +
  "d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27" +
  "0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07",
];

function checkSequence(
  d: HpackDecoder,
  blocks: string[],
  lists: Field[][],
  tables: Array<[Field[], number]>,
): void {
  blocks.forEach((b, i) => {
    assert.deepEqual(decodeAll(d, hex(b)), lists[i], `block ${i + 1}`);
    assert.deepEqual(d.tableEntries(), tables[i]![0], `table ${i + 1}`);
    assert.equal(d.tableSize, tables[i]![1], `table size ${i + 1}`);
  });
}

Deno.test("HpackDecoder decodes RFC 7541 C.3 (requests, no Huffman)", () => {
  checkSequence(new HpackDecoder(), C3, [REQ1, REQ2, REQ3], REQ_TABLES);
});

Deno.test("HpackDecoder decodes RFC 7541 C.4 (requests, Huffman)", () => {
  checkSequence(new HpackDecoder(), C4, [REQ1, REQ2, REQ3], REQ_TABLES);
});

Deno.test("HpackDecoder decodes RFC 7541 C.5 (responses, table size 256, evictions)", () => {
  checkSequence(new HpackDecoder(256), C5, [RSP1, RSP2, RSP3], RSP_TABLES);
});

Deno.test("HpackDecoder decodes RFC 7541 C.6 (responses, Huffman, table size 256)", () => {
  checkSequence(new HpackDecoder(256), C6, [RSP1, RSP2, RSP3], RSP_TABLES);
});

// ---------------------------------------------------------------------------
// Encoder

Deno.test("HpackEncoder reproduces RFC 7541 C.3 and C.4 byte for byte", () => {
  const plain = new HpackEncoder(4096, { huffman: false });
  const huff = new HpackEncoder();
  [REQ1, REQ2, REQ3].forEach((list, i) => {
    assert.equal(
      toHex(encodeAll(plain, list)),
      toHex(hex(C3[i]!)),
      `C.3.${i + 1}`,
    );
    assert.equal(
      toHex(encodeAll(huff, list)),
      toHex(hex(C4[i]!)),
      `C.4.${i + 1}`,
    );
  });
  assert.equal(huff.tableSize, 164);
});

Deno.test("HpackEncoder with table size 256 round-trips the C.5 responses with evictions", () => {
  const e = new HpackEncoder(256);
  const d = new HpackDecoder();
  const first = encodeAll(e, RSP1);
  assert.equal(toHex(first.subarray(0, 3)), "3fe101"); // size update to 256
  assert.deepEqual(decodeAll(d, first), RSP1);
  assert.equal(d.maxTableSize, 256);
  for (const list of [RSP2, RSP3, RSP1]) {
    assert.deepEqual(decodeAll(d, encodeAll(e, list)), list);
    assert.equal(d.tableSize, e.tableSize);
    assert.ok(d.tableSize <= 256);
  }
});

Deno.test("HpackEncoder sends sensitive fields never indexed and keeps them out of the table", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const list: Field[] = [
    ["authorization", "Bearer abc.def.ghi"],
    ["cookie", "sid=1"],
    ["set-cookie", "a=b; Path=/"],
    ["proxy-authorization", "Basic Zm9vOmJhcg=="],
    ["x-secret", "s3cr3t"],
  ];
  for (let round = 0; round < 2; round++) {
    const w = new HpackWriter();
    e.encode(list.map(([n, v]) => [n, v, n === "x-secret"] as const), w);
    const flags: boolean[] = [];
    const got: Field[] = [];
    d.decode(w.subarray(), (n, v, ni) => {
      got.push([n, v]);
      flags.push(ni);
    });
    assert.deepEqual(got, list);
    assert.deepEqual(flags, [true, true, true, true, true]);
    assert.equal(e.tableSize, 0);
    assert.equal(d.tableSize, 0);
  }
  // A long cookie is indexed: the second block refers to it in one byte.
  const cookie: Field[] = [[
    "cookie",
    "session=0123456789abcdef0123456789abcdef",
  ]];
  assert.ok(encodeAll(e, cookie).length > 20);
  assert.equal(toHex(encodeAll(e, cookie)), "be");
});

Deno.test("HpackEncoder indexes repeated fields but not per-message values or paths with a query", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const list = (n: number): Field[] => [
    [":method", "POST"],
    [":scheme", "http"],
    [":path", "/petrel.Echo/Unary"],
    [":authority", "echo.default.svc.cluster.local:8080"],
    ["content-type", "application/grpc"],
    ["te", "trailers"],
    ["grpc-timeout", `${n}m`],
    ["content-length", String(n * 17)],
    ["user-agent", "grpc-node-js/1.14.7"],
  ];
  const first = encodeAll(e, list(1));
  assert.deepEqual(decodeAll(d, first), list(1));
  const second = encodeAll(e, list(2));
  assert.deepEqual(decodeAll(d, second), list(2));
  // 7 one-byte indexes + grpc-timeout and content-length literals.
  // 7 indexes, grpc-timeout and content-length with indexed names.
  assert.ok(second.length <= 7 + 5 + 5, `second block ${second.length} bytes`);
  assert.ok(first.length > 60);
  // grpc-timeout went in once (for its name), content-length never.
  const names = d.tableEntries().map(([n]) => n);
  assert.equal(names.filter((n) => n === "grpc-timeout").length, 1);
  assert.ok(!names.includes("content-length"));
  assert.deepEqual(decodeAll(d, encodeAll(e, list(3))), list(3));
  assert.equal(d.tableEntries().length, names.length);
  assert.deepEqual(decodeAll(d, encodeAll(e, [[":path", "/a?b=1"]])), [[
    ":path",
    "/a?b=1",
  ]]);
  assert.ok(!d.tableEntries().some(([, v]) => v === "/a?b=1"));
  assert.equal(d.tableSize, e.tableSize);
});

Deno.test("HpackEncoder writes latin1 values as bytes and non-latin1 ones as UTF-8", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  const latin: Field[] = [["x-name", "caf\u00e9 \u00ff\u0080"]];
  assert.deepEqual(decodeAll(d, encodeAll(e, latin)), latin);
  const euro = encodeAll(e, [["x-price", "5\u20ac"]]);
  assert.deepEqual(decodeAll(d, euro), [["x-price", "5\u00e2\u0082\u00ac"]]);
  assert.equal(d.tableSize, e.tableSize); // sizes count UTF-8 octets on both sides
  // The entry is found again by its JS string.
  assert.deepEqual(decodeAll(d, encodeAll(e, [["x-price", "5\u20ac"]])), [[
    "x-price",
    "5\u00e2\u0082\u00ac",
  ]]);
});

Deno.test("HpackEncoder/HpackDecoder round-trip random lists through table size changes and evictions", () => {
  const rnd = prng(42);
  const names = [
    "x-a",
    "x-bb",
    "accept",
    "user-agent",
    "cookie",
    "x-request-id",
    ":path",
    "x-long-header-name-for-the-table",
    "grpc-status",
  ];
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)]!;
  const value = (): string => {
    const n = Math.floor(rnd() * (rnd() < 0.1 ? 3000 : 30));
    let s = "";
    for (let i = 0; i < n; i++) {
      s += String.fromCharCode(
        rnd() < 0.9 ? 32 + Math.floor(rnd() * 95) : Math.floor(rnd() * 256),
      );
    }
    return s;
  };
  const e = new HpackEncoder(8192);
  const d = new HpackDecoder();
  const w = new HpackWriter(8);
  const values = Array.from({ length: 20 }, value);
  let evictions = 0;
  for (let block = 0; block < 400; block++) {
    if (rnd() < 0.05) {
      const n = pick([0, 64, 256, 1000, 4096, 16384]);
      // The framing layer: our SETTINGS acked → decoder limit; the peer's → encoder.
      d.setMaxTableSize(n);
      e.setPeerMaxTableSize(n);
    }
    const list: Field[] = [];
    const count = Math.floor(rnd() * 12);
    for (let i = 0; i < count; i++) {
      list.push([pick(names), rnd() < 0.7 ? pick(values) : value()]);
    }
    const before = d.tableEntries().length;
    w.reset();
    e.encode(list, w);
    assert.deepEqual(decodeAll(d, w.subarray()), list, `block ${block}`);
    assert.equal(d.tableSize, e.tableSize, `table size after block ${block}`);
    assert.equal(d.maxTableSize, e.maxTableSize);
    if (d.tableEntries().length < before) evictions++;
  }
  assert.ok(evictions > 10, `evictions ${evictions}`);
});

Deno.test("HpackEncoder announces a shrink-then-grow as two size updates", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder();
  decodeAll(d, encodeAll(e, [["x-a", "1"], ["x-b", "2"]]));
  e.setPeerMaxTableSize(0);
  e.setPeerMaxTableSize(4096);
  d.setMaxTableSize(4096);
  const block = encodeAll(e, [["x-a", "1"]]);
  assert.equal(toHex(block.subarray(0, 3)), "203fe1"); // 0, then 4096
  assert.deepEqual(decodeAll(d, block), [["x-a", "1"]]);
  assert.equal(d.tableEntries().length, 1);
  assert.equal(e.tableSize, d.tableSize);
});

Deno.test("HpackWriter grows and appends after what it holds", () => {
  const w = new HpackWriter(2);
  w.push(1);
  w.pushBytes(new Uint8Array([2, 3, 4]));
  new HpackEncoder().encode([[":method", "GET"]], w);
  assert.deepEqual([...w.subarray()], [1, 2, 3, 4, 0x82]);
  w.reset();
  assert.equal(w.subarray().length, 0);
});

// ---------------------------------------------------------------------------
// Malformed input

Deno.test("HpackDecoder rejects malformed blocks with HpackError", () => {
  const cases: Array<[string, string]> = [
    ["80", "index 0"],
    ["be", "dynamic index on an empty table"],
    ["c0", "index 64 past the table"],
    ["7f00 0161", "literal name index out of range"],
    ["ff", "truncated integer"],
    ["ff80", "integer ending mid-continuation"],
    ["ffff ffff ff0f", "integer above 2^32"],
    ["ff80 8080 8080 00", "integer with too many continuation bytes"],
    ["4085 6162", "string longer than the block"],
    ["40", "missing string"],
    ["4001 61", "missing value string"],
    ["0081 ff01 61", "Huffman name of padding only"],
    ["0001 6184 ffff ffff", "Huffman value with EOS"],
    ["0001 6182 1fff", "Huffman padding longer than 7 bits"],
    ["0001 6181 00", "Huffman padding not all ones"],
    ["3fe2 1f", "size update to 4097 above the limit 4096"],
    ["8220", "size update after a field"],
  ];
  for (const [h, what] of cases) {
    const d = new HpackDecoder();
    assert.throws(() => d.decode(hex(h), () => {}), HpackError, what);
  }
});

Deno.test("HpackDecoder requires a size update after its limit went below the table size", () => {
  const d = new HpackDecoder();
  decodeAll(d, hex("4001 6101 62")); // a: b, indexed
  d.setMaxTableSize(0);
  assert.throws(() => d.decode(hex("82"), () => {}), HpackError);
  const d2 = new HpackDecoder();
  decodeAll(d2, hex("4001 6101 62"));
  d2.setMaxTableSize(100);
  assert.throws(() => d2.decode(hex("3f46"), () => {}), HpackError); // 101 > 100
  decodeAll(d2, hex("3f45 82")); // 100, then a field
  assert.equal(d2.maxTableSize, 100);
  assert.deepEqual(decodeAll(d2, hex("be")), [["a", "b"]]);
  // A larger limit needs no update.
  d2.setMaxTableSize(8192);
  assert.deepEqual(decodeAll(d2, hex("82")), [[":method", "GET"]]);
  decodeAll(d2, hex("3fe1 3f")); // 8192
  assert.equal(d2.maxTableSize, 8192);
});

Deno.test("HpackDecoder throws HeaderListTooLarge after decoding the whole block, table in step", () => {
  const e = new HpackEncoder();
  const d = new HpackDecoder(4096, 200);
  const big = "v".repeat(300); // over the list limit, fits the table
  const list: Field[] = [
    [":method", "GET"],
    ["x-first", "1"],
    ["x-big", big],
    ["x-after", "2"],
  ];
  const got: Field[] = [];
  assert.throws(
    () => d.decode(encodeAll(e, list), (n, v) => got.push([n, v])),
    (err: unknown) =>
      err instanceof HeaderListTooLarge && !(err instanceof HpackError),
  );
  assert.deepEqual(got, list.slice(0, 2));
  assert.equal(d.tableSize, e.tableSize);
  // The next block refers to the entries added while over the limit.
  const next: Field[] = [["x-after", "2"], ["x-first", "1"]];
  const block = encodeAll(e, next);
  assert.equal(block.length, 2); // two indexes
  assert.deepEqual(decodeAll(d, block), next);
  // The limit counts name + value + 32 per field: 200 is exactly allowed.
  const exact: Field[] = [["x-k", "v".repeat(200 - 32 - 3)]];
  assert.deepEqual(decodeAll(d, encodeAll(e, exact)), exact);
  assert.throws(
    () => decodeAll(d, encodeAll(e, [["x-k", "v".repeat(166)]])),
    HeaderListTooLarge,
  );
  assert.equal(d.tableSize, e.tableSize);
});

Deno.test("HpackDecoder empties its table for a skipped literal larger than the table", () => {
  const d = new HpackDecoder(4096, 200);
  decodeAll(d, hex("4003 782d61 0131")); // x-a: 1, indexed
  // x-huge: 5000 chars, Huffman-coded, with incremental indexing.
  const huge = "h".repeat(5000);
  const w = new HpackWriter();
  w.push(0x40);
  w.pushBytes(hex("06 782d68756765"));
  const n = huffmanLength(huge);
  w.pushBytes(prefixInt(0x80, 7, n));
  w.ensure(n);
  w.length = huffmanEncode(huge, w.bytes, w.length);
  assert.throws(() => decodeAll(d, w.subarray()), HeaderListTooLarge);
  assert.equal(d.tableSize, 0);
  assert.throws(() => decodeAll(d, hex("be")), HpackError);
});

Deno.test("HpackDecoder still rejects a malformed string skipped over the list limit", () => {
  const d = new HpackDecoder(4096, 50);
  // x-a: 60 chars raw (over the limit), then a Huffman value with EOS.
  const block = hex(
    "00 03 782d61 3c" + "61".repeat(60) + "00 03 782d62 84 ffffffff",
  );
  assert.throws(() => d.decode(block, () => {}), HpackError);
});

// ---------------------------------------------------------------------------
// Field validation helpers

Deno.test("isValidFieldName() follows RFC 9113 §8.2.1", () => {
  for (
    const ok of [
      "a",
      "content-type",
      ":path",
      "x-b3-traceid",
      "!#$%&'*+-.^_`|~09",
    ]
  ) {
    assert.ok(isValidFieldName(ok), ok);
  }
  for (
    const bad of [
      "",
      ":",
      "Content-Type",
      "a b",
      "a:b",
      "::path",
      "a\x00",
      "\x7f",
      "caf\u00e9",
    ]
  ) {
    assert.ok(!isValidFieldName(bad), JSON.stringify(bad));
  }
});

Deno.test("isValidFieldValue() follows RFC 9113 §8.2.1", () => {
  for (const ok of ["", "a", "a b", "a\tb", "caf\u00e9", "\x01x"]) {
    assert.ok(isValidFieldValue(ok), JSON.stringify(ok));
  }
  for (
    const bad of [
      " a",
      "a ",
      "\ta",
      "a\t",
      "a\r\nb",
      "a\nb",
      "a\rb",
      "a\x00b",
      " ",
    ]
  ) {
    assert.ok(!isValidFieldValue(bad), JSON.stringify(bad));
  }
});

// ---------------------------------------------------------------------------
// Interop with Python's hpack (Debian python3-hpack)

const PEER =
  new URL("../../../tests/support/hpack_peer.py", import.meta.url).pathname;

async function pythonPeer(lines: string[]): Promise<string[]> {
  const child = new Deno.Command("/usr/bin/python3", {
    args: [PEER],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  // Read while writing: the replies would fill the pipe and stall the peer.
  const output = child.output();
  const writer = child.stdin.getWriter();
  await writer.write(
    new TextEncoder().encode(lines.map((l) => l + "\n").join("")),
  );
  await writer.close();
  const out = await output;
  const stderr = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, stderr);
  const replies = new TextDecoder().decode(out.stdout).split("\n");
  replies.pop();
  assert.equal(replies.length, lines.length, stderr);
  return replies;
}

function randomLists(
  seed: number,
  count: number,
): Array<Array<[string, string, boolean]>> {
  const rnd = prng(seed);
  const names = [
    ":method",
    ":path",
    ":authority",
    ":status",
    "content-type",
    "accept-encoding",
    "authorization",
    "cookie",
    "x-forwarded-for",
    "grpc-timeout",
    "x-custom-header-with-a-long-name",
  ];
  const lists: Array<Array<[string, string, boolean]>> = [];
  for (let i = 0; i < count; i++) {
    const list: Array<[string, string, boolean]> = [];
    const n = 1 + Math.floor(rnd() * 10);
    for (let j = 0; j < n; j++) {
      const len = Math.floor(rnd() * (rnd() < 0.05 ? 2000 : 40));
      let v = "";
      for (let k = 0; k < len; k++) {
        v += String.fromCharCode(
          rnd() < 0.95
            ? 33 + Math.floor(rnd() * 94)
            : 128 + Math.floor(rnd() * 128),
        );
      }
      if (rnd() < 0.3) {
        v = ["GET", "/", "200", "gzip, deflate", "application/grpc"][j % 5]!;
      }
      list.push([names[Math.floor(rnd() * names.length)]!, v, rnd() < 0.1]);
    }
    lists.push(list);
  }
  return lists;
}

Deno.test("HpackEncoder blocks decode in Python's hpack, through table size changes", async () => {
  const lists = randomLists(1, 300);
  const e = new HpackEncoder();
  const w = new HpackWriter();
  const lines: string[] = [];
  const sizes = [4096, 256, 0, 1024, 4096, 100];
  lists.forEach((list, i) => {
    if (i % 50 === 49) {
      const n = sizes[(i / 50) | 0]!;
      lines.push(`dlimit ${n}`);
      e.setPeerMaxTableSize(n);
    }
    w.reset();
    e.encode(list, w);
    lines.push("decode " + toHex(w.subarray()));
  });
  const replies = (await pythonPeer(lines)).filter((r) => r !== "ok");
  assert.equal(replies.length, lists.length);
  replies.forEach((r, i) => {
    // Python reports never-indexed only for fields we sent so; ours add the sensitive names.
    const got = JSON.parse(r) as Array<[string, string, boolean]>;
    assert.deepEqual(
      got.map(([n, v]) => [n, v]),
      lists[i]!.map(([n, v]) => [n, v]),
      `block ${i}`,
    );
    got.forEach(([n, , ni], j) => {
      if (lists[i]![j]![2] || n === "authorization") {
        assert.ok(ni, `${n} never indexed`);
      }
    });
  });
});

Deno.test("HpackDecoder decodes Python's hpack blocks, through table size changes", async () => {
  const lists = randomLists(2, 300);
  const lines: string[] = [];
  const sizes = [4096, 256, 0, 1024, 8192, 100];
  const limits: Array<number | undefined> = [];
  lists.forEach((list, i) => {
    let limit: number | undefined;
    if (i % 50 === 49) {
      limit = sizes[(i / 50) | 0]!;
      lines.push(`esize ${limit}`);
    }
    limits.push(limit);
    lines.push(
      (i % 3 === 0 ? "encode-plain " : "encode ") + JSON.stringify(list),
    );
  });
  const replies = (await pythonPeer(lines)).filter((r) => r !== "ok");
  const d = new HpackDecoder(4096, 1 << 20);
  let flagged = 0;
  replies.forEach((r, i) => {
    if (limits[i] !== undefined) d.setMaxTableSize(limits[i]!);
    const got: Array<[string, string, boolean]> = [];
    d.decode(hex(r), (n, v, ni) => got.push([n, v, ni]));
    assert.deepEqual(
      got.map(([n, v]) => [n, v]),
      lists[i]!.map(([n, v]) => [n, v]),
      `block ${i}`,
    );
    // Python sends an exact table match as an index even when sensitive.
    got.forEach(([, , ni], j) => {
      if (ni) assert.ok(lists[i]![j]![2], `never-indexed flag ${i}/${j}`);
    });
    flagged += got.filter(([, , ni]) => ni).length;
  });
  assert.ok(flagged > 50, `never-indexed fields ${flagged}`);
});

Deno.test("HpackDecoder and Python's hpack both reject the malformed blocks", async () => {
  const bad = [
    "80",
    "be",
    "ffff ffff ff0f",
    "4085 6162",
    "0001 6184 ffff ffff",
    "0001 6181 00",
    "3fe2 1f",
  ];
  const replies = await pythonPeer(
    bad.map((b) => "decode " + b.replace(/\s/g, "")),
  );
  replies.forEach((r, i) => {
    assert.match(r, /^error /, bad[i]!);
    assert.throws(
      () => new HpackDecoder().decode(hex(bad[i]!), () => {}),
      HpackError,
    );
  });
});
