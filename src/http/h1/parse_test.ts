import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import {
  DEFAULT_MAX_HEADERS,
  findHeadEnd,
  type HeadError,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
} from "./parse.ts";

const enc = (s: string) => Buffer.from(s, "latin1");

interface Case {
  name: string;
  head: string;
  /** Expected error status, or fields of the parsed head. */
  want: number | Partial<RequestHead>;
}

const H = "Host: a.example\r\n";

const CASES: Case[] = [
  // Accepted heads.
  {
    name: "origin-form GET",
    head: `GET /p?q=1 HTTP/1.1\r\n${H}\r\n`,
    want: {
      method: "GET",
      form: "origin",
      path: "/p?q=1",
      authority: "a.example",
      version: "HTTP/1.1",
      keepAlive: true,
      contentLength: -1,
      chunked: false,
    },
  },
  {
    name: "absolute-form sets authority, path and ignores Host",
    head: `GET http://svc.ns:8080/x?y HTTP/1.1\r\nHost: other\r\n\r\n`,
    want: {
      form: "absolute",
      authority: "svc.ns:8080",
      path: "/x?y",
      scheme: "http",
    },
  },
  {
    name: "absolute-form without Host on HTTP/1.1",
    head: `GET http://svc:80 HTTP/1.1\r\n\r\n`,
    want: { form: "absolute", authority: "svc:80", path: "/" },
  },
  {
    name: "absolute-form with query and no path",
    head: `GET http://svc?x=1 HTTP/1.1\r\n\r\n`,
    want: { authority: "svc", path: "/?x=1" },
  },
  {
    name: "CONNECT authority-form",
    head: `CONNECT db.example:5432 HTTP/1.1\r\nHost: db.example:5432\r\n\r\n`,
    want: {
      form: "authority",
      authority: "db.example:5432",
      path: "",
      upgrade: true,
    },
  },
  {
    name: "OPTIONS asterisk-form",
    head: `OPTIONS * HTTP/1.1\r\n${H}\r\n`,
    want: { form: "asterisk", path: "*", authority: "a.example" },
  },
  {
    name: "HTTP/1.0 without Host, no keep-alive",
    head: `GET / HTTP/1.0\r\n\r\n`,
    want: { version: "HTTP/1.0", authority: "", keepAlive: false },
  },
  {
    name: "HTTP/1.0 with Connection: keep-alive",
    head: `GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n`,
    want: { keepAlive: true },
  },
  {
    name: "HTTP/1.1 Connection: close",
    head: `GET / HTTP/1.1\r\n${H}Connection: close\r\n\r\n`,
    want: { keepAlive: false },
  },
  {
    name: "chunked request",
    head: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\n\r\n`,
    want: { chunked: true, contentLength: -1 },
  },
  {
    name: "identical repeated Content-Length is one value",
    head:
      `POST / HTTP/1.1\r\n${H}Content-Length: 5\r\nContent-Length: 5\r\n\r\n`,
    want: { contentLength: 5 },
  },
  {
    name: "Content-Length list of identical values",
    head: `POST / HTTP/1.1\r\n${H}Content-Length: 7, 7\r\n\r\n`,
    want: { contentLength: 7 },
  },
  {
    name: "bare LF line endings are accepted",
    head: `GET /lf HTTP/1.1\nHost: a\nX-A: b\n\n`,
    want: { path: "/lf", authority: "a" },
  },
  {
    name: "leading empty lines are skipped",
    head: `\r\n\r\nGET /x HTTP/1.1\r\n${H}\r\n`,
    want: { path: "/x" },
  },
  {
    name: "websocket upgrade",
    head:
      `GET /ws HTTP/1.1\r\n${H}Connection: Upgrade\r\nUpgrade: websocket\r\n\r\n`,
    want: { upgrade: true, upgradeValue: "websocket" },
  },
  {
    name: "h2c upgrade is not an upgrade",
    head:
      `GET / HTTP/1.1\r\n${H}Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\n\r\n`,
    want: { upgrade: false },
  },
  {
    name: "expect 100-continue",
    head:
      `PUT / HTTP/1.1\r\n${H}Expect: 100-continue\r\nContent-Length: 3\r\n\r\n`,
    want: { expectContinue: true, contentLength: 3 },
  },
  {
    name: "HTTP/1.2 is handled as HTTP/1.1",
    head: `GET / HTTP/1.2\r\n${H}\r\n`,
    want: { version: "HTTP/1.1" },
  },
  // Rejected heads.
  { name: "lower-case version", head: `GET / http/1.1\r\n${H}\r\n`, want: 400 },
  { name: "HTTP/2.0 version", head: `GET / HTTP/2.0\r\n${H}\r\n`, want: 505 },
  { name: "HTTP/3 version", head: `GET / HTTP/3\r\n${H}\r\n`, want: 505 },
  { name: "HTTP/0.9 version", head: `GET / HTTP/0.9\r\n${H}\r\n`, want: 505 },
  { name: "garbage version", head: `GET / HTTP/1.1x\r\n${H}\r\n`, want: 400 },
  { name: "missing target", head: `GET HTTP/1.1\r\n${H}\r\n`, want: 400 },
  { name: "double space", head: `GET  / HTTP/1.1\r\n${H}\r\n`, want: 400 },
  { name: "method with '@'", head: `G@T / HTTP/1.1\r\n${H}\r\n`, want: 400 },
  {
    name: "target with a CTL",
    head: `GET /a\x01b HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  {
    name: "target with non-ASCII",
    head: `GET /\xe9 HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  { name: "relative target", head: `GET foo HTTP/1.1\r\n${H}\r\n`, want: 400 },
  {
    name: "absolute-form with userinfo",
    head: `GET http://u:p@svc/ HTTP/1.1\r\n\r\n`,
    want: 400,
  },
  { name: "ftp scheme", head: `GET ftp://svc/ HTTP/1.1\r\n\r\n`, want: 400 },
  {
    name: "authority-form without CONNECT",
    head: `GET svc:80 HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  {
    name: "CONNECT with origin-form",
    head: `CONNECT / HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  {
    name: "CONNECT without port",
    head: `CONNECT svc HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  {
    name: "CONNECT on HTTP/1.0",
    head: `CONNECT svc:1 HTTP/1.0\r\n\r\n`,
    want: 400,
  },
  {
    name: "asterisk-form with GET",
    head: `GET * HTTP/1.1\r\n${H}\r\n`,
    want: 400,
  },
  {
    name: "missing Host on HTTP/1.1",
    head: `GET / HTTP/1.1\r\n\r\n`,
    want: 400,
  },
  {
    name: "two Host fields",
    head: `GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n`,
    want: 400,
  },
  {
    name: "Host with a slash",
    head: `GET / HTTP/1.1\r\nHost: a/b\r\n\r\n`,
    want: 400,
  },
  {
    name: "obs-fold",
    head: `GET / HTTP/1.1\r\n${H}X-A: b\r\n  c\r\n\r\n`,
    want: 400,
  },
  {
    name: "whitespace before the first field (obs-fold)",
    head: `GET / HTTP/1.1\r\n ${H}\r\n`,
    want: 400,
  },
  {
    name: "whitespace between name and colon",
    head: `GET / HTTP/1.1\r\n${H}Content-Length : 0\r\n\r\n`,
    want: 400,
  },
  {
    name: "invalid field-name character",
    head: `GET / HTTP/1.1\r\n${H}X(A): b\r\n\r\n`,
    want: 400,
  },
  {
    name: "field line without colon",
    head: `GET / HTTP/1.1\r\n${H}XA\r\n\r\n`,
    want: 400,
  },
  {
    name: "empty field name",
    head: `GET / HTTP/1.1\r\n${H}: x\r\n\r\n`,
    want: 400,
  },
  {
    name: "NUL in a value",
    head: `GET / HTTP/1.1\r\n${H}X-A: a\x00b\r\n\r\n`,
    want: 400,
  },
  {
    name: "bare CR in a value",
    head: `GET / HTTP/1.1\r\n${H}X-A: a\rb\r\n\r\n`,
    want: 400,
  },
  {
    name: "DEL in a value",
    head: `GET / HTTP/1.1\r\n${H}X-A: a\x7fb\r\n\r\n`,
    want: 400,
  },
  {
    name: "Content-Length and Transfer-Encoding (CL.TE)",
    head:
      `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n`,
    want: 400,
  },
  {
    name: "Transfer-Encoding and Content-Length (TE.CL)",
    head:
      `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n`,
    want: 400,
  },
  {
    name: "differing Content-Length values",
    head:
      `POST / HTTP/1.1\r\n${H}Content-Length: 4\r\nContent-Length: 5\r\n\r\n`,
    want: 400,
  },
  {
    name: "Content-Length list with differing values",
    head: `POST / HTTP/1.1\r\n${H}Content-Length: 4, 5\r\n\r\n`,
    want: 400,
  },
  {
    name: "non-digit Content-Length",
    head: `POST / HTTP/1.1\r\n${H}Content-Length: 1a\r\n\r\n`,
    want: 400,
  },
  {
    name: "signed Content-Length",
    head: `POST / HTTP/1.1\r\n${H}Content-Length: +4\r\n\r\n`,
    want: 400,
  },
  {
    name: "empty Content-Length",
    head: `POST / HTTP/1.1\r\n${H}Content-Length:\r\n\r\n`,
    want: 400,
  },
  {
    name: "huge Content-Length",
    head: `POST / HTTP/1.1\r\n${H}Content-Length: 99999999999999999999\r\n\r\n`,
    want: 400,
  },
  {
    name: "final coding not chunked",
    head: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, gzip\r\n\r\n`,
    want: 400,
  },
  {
    name: "unknown transfer coding",
    head: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: xchunked\r\n\r\n`,
    want: 400,
  },
  {
    name: "coding before chunked is not implemented",
    head: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: gzip, chunked\r\n\r\n`,
    want: 501,
  },
  {
    name: "chunked twice",
    head: `POST / HTTP/1.1\r\n${H}Transfer-Encoding: chunked, chunked\r\n\r\n`,
    want: 501,
  },
  {
    name: "Transfer-Encoding in HTTP/1.0",
    head: `POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n`,
    want: 400,
  },
];

for (const c of CASES) {
  Deno.test(`parseRequestHead() ${c.name}`, () => {
    const bytes = enc(c.head);
    const r = parseRequestHead(bytes);
    assert.notEqual(r, null, "head should be complete");
    if (typeof c.want === "number") {
      assert.equal(r!.kind, "error", `expected ${c.want}, got a head`);
      assert.equal((r as HeadError).status, c.want, (r as HeadError).message);
    } else {
      assert.equal(r!.kind, "request", (r as HeadError).message);
      const head = r as RequestHead;
      for (const [k, v] of Object.entries(c.want)) {
        assert.deepEqual(head[k as keyof RequestHead], v, k);
      }
      assert.equal(head.end, bytes.length);
    }
  });
}

Deno.test("parseRequestHead() needs more bytes at every split point", () => {
  const head = `POST /a HTTP/1.1\r\n${H}Content-Length: 2\r\n\r\nhi`;
  const bytes = enc(head);
  const headLen = bytes.length - 2;
  for (let i = 0; i < headLen; i++) {
    assert.equal(parseRequestHead(bytes.subarray(0, i)), null, `at ${i}`);
    assert.equal(findHeadEnd(bytes.subarray(0, i), 0), -1, `at ${i}`);
  }
  const r = parseRequestHead(bytes) as RequestHead;
  assert.equal(r.end, headLen);
  assert.equal(findHeadEnd(bytes, 0), headLen);
});

Deno.test("parseRequestHead() parses at an offset and leaves the next request", () => {
  const two = enc(`GET /1 HTTP/1.1\r\n${H}\r\nGET /2 HTTP/1.1\r\n${H}\r\n`);
  const a = parseRequestHead(two) as RequestHead;
  assert.equal(a.path, "/1");
  const b = parseRequestHead(two, a.end) as RequestHead;
  assert.equal(b.path, "/2");
  assert.equal(b.end, two.length);
});

Deno.test("parseRequestHead() lower-cases names and keeps repeats as arrays", () => {
  const r = parseRequestHead(
    enc(
      `GET / HTTP/1.1\r\n${H}X-Multi: 1\r\nx-multi: 2\r\nCookie: a=1\r\n` +
        `Cookie: b=2\r\nX-Trim:   v  \t\r\nX-Empty:\r\nConstructor: c\r\n\r\n`,
    ),
  ) as RequestHead;
  assert.deepEqual(r.headers["x-multi"], ["1", "2"]);
  assert.deepEqual(r.headers["cookie"], ["a=1", "b=2"]);
  assert.equal(r.headers["x-trim"], "v");
  assert.equal(r.headers["x-empty"], "");
  assert.equal(r.headers["host"], "a.example");
  assert.equal(Object.hasOwn(r.headers, "constructor"), true);
  assert.equal(r.headers["constructor"], "c");
});

Deno.test("parseRequestHead() with omitHopByHop leaves what stripHopByHop would", () => {
  const r = parseRequestHead(
    enc(
      `GET / HTTP/1.1\r\n${H}Connection: keep-alive\r\nKeep-Alive: 5\r\n` +
        `TE: trailers, deflate\r\nUpgrade: foo\r\nProxy-Connection: x\r\n` +
        `Trailer: x\r\nExpect: 100-continue\r\nX-Keep: 1\r\n\r\n`,
    ),
    0,
    { omitHopByHop: true },
  ) as RequestHead;
  assert.deepEqual(r.headers, { te: "trailers", "x-keep": "1" });
  assert.equal(r.authority, "a.example");
  assert.equal(r.expectContinue, true);
});

Deno.test("parseRequestHead() 431 above maxHeaderBytes, complete or not", () => {
  const big = `GET / HTTP/1.1\r\n${H}X-Big: ${"a".repeat(2000)}\r\n\r\n`;
  const r = parseRequestHead(enc(big), 0, { maxHeaderBytes: 1024 });
  assert.equal((r as HeadError).status, 431);
  const partial = enc(big.slice(0, 1500));
  const p = parseRequestHead(partial, 0, { maxHeaderBytes: 1024 });
  assert.equal((p as HeadError).status, 431);
  assert.equal(
    parseRequestHead(partial, 0, { maxHeaderBytes: 4096 }),
    null,
  );
  assert.equal(
    parseRequestHead(enc(big), 0, { maxHeaderBytes: 4096 })?.kind,
    "request",
  );
});

Deno.test("parseRequestHead() bare LF then CRLF ends the head", () => {
  const r = parseRequestHead(
    enc(`GET / HTTP/1.1\nHost: a\n\r\nBODY`),
  ) as RequestHead;
  assert.equal(r.kind, "request");
  assert.equal(r.end, 25);
  // A bare-LF empty line ends the head even when a CRLFCRLF follows in the body.
  const s = `GET / HTTP/1.1\nHost: a\n\nX\r\n\r\n`;
  const r2 = parseRequestHead(enc(s)) as RequestHead;
  assert.equal(r2.end, s.indexOf("X"));
});

Deno.test("parseRequestHead() accepts a plain Uint8Array", () => {
  const u = new Uint8Array(enc(`GET /u HTTP/1.1\r\n${H}\r\n`));
  assert.equal((parseRequestHead(u) as RequestHead).path, "/u");
});

Deno.test("parseResponseHead() reads status, framing and keep-alive", () => {
  const r = parseResponseHead(
    enc(
      "HTTP/1.1 200 OK\r\nContent-Length: 12\r\nConnection: keep-alive\r\nX-A: 1\r\n\r\n",
    ),
    0,
    { omitHopByHop: true },
  );
  assert.equal(r?.kind, "response");
  if (r?.kind !== "response") return;
  assert.equal(r.status, 200);
  assert.equal(r.reason, "OK");
  assert.equal(r.contentLength, 12);
  assert.equal(r.keepAlive, true);
  assert.deepEqual(r.headers, { "content-length": "12", "x-a": "1" });

  const c = parseResponseHead(enc("HTTP/1.0 404 Not Found\r\n\r\n"));
  assert.equal(c?.kind === "response" && c.keepAlive, false);
  const noReason = parseResponseHead(enc("HTTP/1.1 204\r\n\r\n"));
  assert.equal(noReason?.kind === "response" && noReason.status, 204);
  const chunked = parseResponseHead(
    enc("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"),
  );
  assert.equal(chunked?.kind === "response" && chunked.chunked, true);
});

Deno.test("parseResponseHead() rejects bad status lines and framing", () => {
  const bad = [
    "HTTP/1.1 20 OK\r\n\r\n",
    "HTTP/1.1 2000 OK\r\n\r\n",
    "HTTP/1.1 abc OK\r\n\r\n",
    "HTTP/1.1\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n",
    "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip\r\n\r\n",
    "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n",
    "ICY 200 OK\r\n\r\n",
  ];
  for (const b of bad) {
    assert.equal(parseResponseHead(enc(b))?.kind, "error", JSON.stringify(b));
  }
  assert.equal(
    (parseResponseHead(enc("HTTP/2 200 OK\r\n\r\n")) as HeadError).status,
    505,
  );
});

Deno.test("parseRequestHead() counts field lines against maxHeaders (hyper's 100 by default)", () => {
  const head = (n: number, name = (i: number) => `x-${i}`) => {
    let h = `GET / HTTP/1.1\r\n${H}`;
    for (let i = 1; i < n; i++) h += `${name(i)}: v\r\n`;
    return enc(h + "\r\n");
  };
  assert.equal(DEFAULT_MAX_HEADERS, 100);
  assert.equal(parseRequestHead(head(100))?.kind, "request");
  const e = parseRequestHead(head(101)) as HeadError;
  assert.equal(e.kind, "error");
  assert.equal(e.status, 431);
  assert.equal(e.message, "too many request header fields");
  // Repeated names and hop-by-hop fields count too.
  const same = parseRequestHead(head(101, () => "x-same"), 0, {
    omitHopByHop: true,
  });
  assert.equal((same as HeadError).status, 431);
  assert.equal(
    parseRequestHead(head(5), 0, { maxHeaders: 5 })?.kind,
    "request",
  );
  assert.equal(
    (parseRequestHead(head(6), 0, { maxHeaders: 5 }) as HeadError).status,
    431,
  );
  // 1 000 fields in 64 KiB are refused without raising maxHeaderBytes.
  assert.equal((parseRequestHead(head(1000)) as HeadError).status, 431);
});

Deno.test("parseResponseHead() refuses more than maxHeaders fields", () => {
  let h = "HTTP/1.1 200 OK\r\n";
  for (let i = 0; i < 101; i++) h += `x-${i}: v\r\n`;
  const e = parseResponseHead(enc(h + "\r\n")) as HeadError;
  assert.equal(e.kind, "error");
  assert.equal(e.status, 431);
  assert.equal(
    parseResponseHead(enc(h + "\r\n"), 0, { maxHeaders: 101 })?.kind,
    "response",
  );
});
