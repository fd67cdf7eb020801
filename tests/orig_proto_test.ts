/**
 * Proxy to proxy over real sockets: client (curl, raw sockets) → outbound
 * Petrel → mTLS → inbound Petrel → HTTP/1 application. HTTP/1 requests to
 * a meshed endpoint cross the hop as HTTP/2 streams with `l5d-orig-proto`
 * on one connection, and arrive at the application exactly as over plain
 * HTTP/1; Upgrade requests keep HTTP/1 (linkerd `orig_proto.rs`,
 * `app/integration` `transparency` `http1_*` with orig-proto).
 */
import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import net from "node:net";
import tls from "node:tls";
import {
  encodeTransportHeader,
  TRANSPORT_ALPN,
} from "../src/transport/transport_header.ts";
import { type BackendRequest, startHttpBackend } from "./support/backend.ts";
import { makePki, meshIdentity, type TestPki } from "./support/certs.ts";
import { newOpaqueDialer } from "../src/outbound/opaque.ts";
import type { OutboundCtx } from "../src/outbound/runtime.ts";
import { Watch } from "../src/svc/watch.ts";
import { freePort, startPetrel, type TestPetrel } from "./support/petrel.ts";
import { startWsEchoBackend, wsEcho } from "./support/ws.ts";

const CLIENT_ID = meshIdentity("client", "front");
const SERVER_ID = meshIdentity("server", "back");

/** The app: echoes what it received; /chunked answers chunked, else fixed-length; /hold waits for `release`. */
async function startApp() {
  const seen: { host: string; text: string }[] = [];
  let held: (() => void)[] = [];
  let holdUntil = Infinity;
  const app = await startHttpBackend(async (req: BackendRequest) => {
    const body = Buffer.from(await req.readBody()).toString();
    const headers = req.headers.filter(([k]) =>
      k !== "host" && k !== "l5d-client-id"
    );
    const text = JSON.stringify({
      method: req.method,
      target: req.target,
      headers,
      body,
    });
    seen.push({ host: req.header("host") ?? "", text });
    if (req.path === "/hold") {
      await new Promise<void>((r) => {
        held.push(r);
        if (held.length >= holdUntil) {
          for (const h of held) h();
          held = [];
        }
      });
    }
    return {
      status: 200,
      headers: {
        "x-resp": "r1",
        "x-proto": req.header("l5d-orig-proto") ?? "-",
      },
      body: text,
      chunked: req.path === "/chunked",
    };
  });
  return {
    app,
    seen,
    holdFor(n: number) {
      holdUntil = n;
    },
  };
}

interface Hop extends AsyncDisposable {
  client: TestPetrel;
  server: TestPetrel;
  inboundPort: number;
}

/** Client Petrel with `web.test:8080` (meshed) and `plain.test:8080` (not), both → the server Petrel's inbound. */
async function startHop(pki: TestPki, appPort: number): Promise<Hop> {
  const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
  const server = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: ${appPort}, policy: all-authenticated }
services: []
`,
    {
      // 1000 application connections opened at once on a loaded machine may
      // take longer than the 300 ms default to connect (then a 504).
      LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT: "10s",
    },
  );
  const inboundPort = server.app.inbound!.port;
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services:
  - name: web.test:8080
    identity: ${SERVER_ID}
    meshed: true
    endpoints: ["127.0.0.1:${inboundPort}"]
  - name: plain.test:8080
    identity: ${SERVER_ID}
    endpoints: ["127.0.0.1:${inboundPort}"]
`);
  return {
    client,
    server,
    inboundPort,
    async [Symbol.asyncDispose]() {
      await client.close();
      await server.close();
    },
  };
}

/** Established TCP connections whose local port is `port` (the server side), from `ss`. */
async function established(port: number): Promise<number> {
  const out = await new Deno.Command("ss", {
    args: ["-Htn", "state", "established", `( sport = :${port} )`],
  }).output();
  return new TextDecoder().decode(out.stdout).split("\n").filter((l) =>
    l.trim() !== ""
  ).length;
}

async function curl(args: string[]): Promise<string> {
  const out = await new Deno.Command("curl", {
    args: ["-sS", "-i", "--max-time", "10", ...args],
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  return new TextDecoder().decode(out.stdout);
}

/** A curl -i response without the fields that differ by hop (date). */
function normalize(raw: string): string {
  return raw.split("\r\n").filter((l) => !/^date:/i.test(l)).join("\r\n");
}

/** Sends `data` on a fresh connection and reads until `done(text)` or EOF. */
function rawExchange(
  port: number,
  data: string[],
  done: (text: string) => boolean = () => false,
): Promise<{ text: string; closedByPeer: boolean }> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let text = "";
    let i = 0;
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error(`timeout: ${JSON.stringify(text)}`));
    }, 10_000);
    s.on("connect", () => s.write(data[i++]!));
    s.on("data", (c: Buffer) => {
      text += c.toString("latin1");
      if (done(text)) {
        clearTimeout(timer);
        s.destroy();
        resolve({ text, closedByPeer: false });
      }
    });
    s.on("error", reject);
    s.on("end", () => {
      clearTimeout(timer);
      s.destroy();
      resolve({ text, closedByPeer: true });
    });
    // Further requests on the same connection, once each response arrived.
    s.on("data", () => {
      if (i < data.length && text.split("HTTP/1.").length - 1 >= i) {
        s.write(data[i++]!);
      }
    });
  });
}

async function metric(p: TestPetrel, name: string): Promise<number> {
  const text = await p.app.metrics.render();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (line.startsWith(name + "{")) {
      sum += Number(line.slice(line.lastIndexOf(" ") + 1));
    }
  }
  return sum;
}

Deno.test("orig-proto: 1000 concurrent HTTP/1 requests cross the meshed hop on one HTTP/2 connection", async () => {
  await using pki = await makePki();
  const a = await startApp();
  await using hop = await startHop(pki, a.app.port);
  try {
    const N = 1000;
    a.holdFor(N); // the app answers only once all N are in flight at once
    const port = hop.client.port;
    const results = await Promise.all(
      Array.from({ length: N }, (_, i) =>
        rawExchange(port, [
          `POST /hold?i=${i} HTTP/1.1\r\nHost: web.test:8080\r\nx-i: ${i}\r\n` +
          `Content-Length: ${
            String(i).length
          }\r\nConnection: close\r\n\r\n${i}`,
        ])),
    );
    // Every request crossed while the others were in flight, on one connection.
    assert.equal(await established(hop.inboundPort), 1);
    for (let i = 0; i < N; i++) {
      const { text } = results[i]!;
      assert.match(text, /^HTTP\/1\.1 200 OK\r\n/);
      assert.ok(text.includes(`"body":"${i}"`), text);
      assert.ok(!/l5d-orig-proto/i.test(text.split("\r\n\r\n")[0]!));
    }
    assert.equal(await metric(hop.client, "http_orig_proto_requests_total"), N);
  } finally {
    await a.app.close();
  }
});

Deno.test("orig-proto: curl HTTP/1.1 and HTTP/1.0 see the same bytes as over plain HTTP/1, chunked and fixed-length kept", async () => {
  await using pki = await makePki();
  const a = await startApp();
  await using hop = await startHop(pki, a.app.port);
  try {
    const port = hop.client.port;
    const cases: string[][] = [
      ["--http1.1", "/fixed?a=1"],
      ["--http1.1", "/chunked"],
      ["--http1.0", "/fixed"],
      ["--http1.0", "/chunked"],
      ["--http1.1", "-d", "fixed-length body", "/fixed"],
      [
        "--http1.1",
        "-H",
        "Transfer-Encoding: chunked",
        "-d",
        "a chunked body",
        "/chunked",
      ],
    ];
    for (const c of cases) {
      const path = c[c.length - 1]!;
      const opts = c.slice(0, -1);
      const url = (host: string) => [
        ...opts,
        "-H",
        "x-req: q1",
        "--connect-to",
        `${host}:8080:127.0.0.1:${port}`,
        `http://${host}:8080${path}`,
      ];
      a.seen.length = 0;
      const meshed = await curl(url("web.test"));
      const plain = await curl(url("plain.test"));
      assert.equal(a.seen.length, 2);
      // The app received the same request both ways (Host and the logical
      // name in l5d-dst-canonical aside).
      const canonical = (t: string) =>
        t.replace(/"l5d-dst-canonical","[^"]*"/, '"l5d-dst-canonical",-');
      assert.match(a.seen[0]!.text, /"l5d-dst-canonical","web\.test:8080"/);
      assert.equal(
        canonical(a.seen[0]!.text),
        canonical(a.seen[1]!.text),
        c.join(" "),
      );
      assert.equal(a.seen[0]!.host, "web.test:8080");
      // The client received the same response both ways.
      const echoed = (t: string) =>
        canonical(normalize(t)).replace(
          /content-length: \d+/,
          "content-length: n",
        );
      assert.equal(
        echoed(meshed).replace(/x-proto: HTTP\/1\.[01]/, "x-proto: -"),
        echoed(plain),
        c.join(" "),
      );
      const head = meshed.split("\r\n\r\n")[0]!.toLowerCase();
      assert.ok(!head.includes("l5d-orig-proto"), head);
      const h10 = opts.includes("--http1.0");
      assert.ok(head.startsWith(h10 ? "http/1.0 200" : "http/1.1 200"), head);
      if (path.startsWith("/fixed")) assert.match(head, /content-length: \d+/);
      else if (!h10) {
        assert.match(head, /transfer-encoding: chunked/, c.join(" "));
      } else assert.doesNotMatch(head, /transfer-encoding|content-length/);
      // The app's HTTP/1 request did not carry the header either.
      assert.ok(!a.seen[0]!.text.includes("l5d-orig-proto"));
    }
    assert.equal(await established(hop.inboundPort), 2); // one HTTP/2 + one HTTP/1 (plain)
  } finally {
    await a.app.close();
  }
});

Deno.test("orig-proto: HTTP/1.0 keep-alive rules across the hop", async () => {
  await using pki = await makePki();
  const a = await startApp();
  await using hop = await startHop(pki, a.app.port);
  try {
    const port = hop.client.port;
    // HTTP/1.0 with keep-alive: two fixed-length responses on one connection.
    const req = (i: number) =>
      `GET /fixed?k=${i} HTTP/1.0\r\nHost: web.test:8080\r\nConnection: keep-alive\r\n\r\n`;
    const ka = await rawExchange(
      port,
      [req(1), req(2)],
      (t) => t.split("HTTP/1.0 200").length === 3 && t.endsWith("}"),
    );
    assert.equal(ka.closedByPeer, false);
    assert.equal(ka.text.match(/connection: keep-alive/gi)?.length, 2);
    // HTTP/1.0 without keep-alive: the proxy closes after the response.
    const once = await rawExchange(port, [
      "GET /fixed HTTP/1.0\r\nHost: web.test:8080\r\n\r\n",
    ]);
    assert.equal(once.closedByPeer, true);
    assert.match(once.text, /^HTTP\/1\.0 200 OK\r\n/);
    assert.doesNotMatch(once.text, /keep-alive/i);
    // HTTP/1.0 and a chunked upstream response: close-delimited, no chunking.
    const ch = await rawExchange(port, [
      "GET /chunked HTTP/1.0\r\nHost: web.test:8080\r\nConnection: keep-alive\r\n\r\n",
    ]);
    assert.equal(ch.closedByPeer, true);
    assert.doesNotMatch(ch.text, /transfer-encoding/i);
    assert.ok(ch.text.endsWith("}"), ch.text);
    assert.ok(a.seen.every((s) => s.text.includes('"method":"GET"')));
  } finally {
    await a.app.close();
  }
});

Deno.test("orig-proto: a WebSocket upgrade to a meshed endpoint keeps HTTP/1 across the hop", async () => {
  await using pki = await makePki();
  const ws = await startWsEchoBackend();
  await using hop = await startHop(pki, ws.port);
  try {
    const reply = await wsEcho(
      `127.0.0.1:${hop.client.port}`,
      "web.test:8080",
      "hello over the hop",
    );
    assert.equal(reply, "hello over the hop");
    assert.deepEqual(ws.upgradeHosts, ["web.test:8080"]);
    assert.equal(await metric(hop.client, "http_orig_proto_requests_total"), 0);
  } finally {
    await ws.close();
  }
});

/** A line-echo TCP server that records every byte it received. */
async function startLineEcho() {
  let received = "";
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    sockets.add(s);
    s.on("error", () => {});
    s.on("close", () => sockets.delete(s));
    s.on("data", (c: Buffer) => {
      received += c.toString();
      s.write(c);
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as net.AddressInfo).port,
    get received() {
      return received;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  };
}

/** mTLS to `port` as `leaf`, offering `alpn`; writes `pre` then `line`, resolves with the echoed line and the negotiated ALPN. */
function tlsEcho(
  port: number,
  pki: TestPki,
  leaf: { certPem: string; keyPem: string },
  alpn: string[],
  pre: Uint8Array,
  line: string,
): Promise<{ echoed: string; alpn: string | false }> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({
      host: "127.0.0.1",
      port,
      servername: SERVER_ID,
      ca: pki.anchorPem,
      cert: leaf.certPem,
      key: leaf.keyPem,
      checkServerIdentity: () => undefined,
      ...(alpn.length > 0 ? { ALPNProtocols: alpn } : {}),
    });
    let echoed = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(new Error("no echo"));
    }, 5000);
    s.on("secureConnect", () => {
      if (pre.length > 0) s.write(pre);
      s.write(line);
    });
    s.on("data", (c: Buffer) => {
      echoed += c.toString();
      if (echoed.endsWith("\n")) {
        clearTimeout(timer);
        const negotiated = s.alpnProtocol ?? false;
        s.destroy();
        resolve({ echoed, alpn: negotiated });
      }
    });
    s.on("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}

Deno.test("transport header: opaque TCP with ALPN transport.l5d.io/v1 reaches the port it names; a peer without the ALPN sends plain bytes", async () => {
  await using pki = await makePki();
  const echo = await startLineEcho();
  const other = await startLineEcho();
  await using hop = await startHop(pki, other.port);
  try {
    const leaf = await pki.issue(CLIENT_ID);
    const tagged = await tlsEcho(
      hop.inboundPort,
      pki,
      leaf,
      [TRANSPORT_ALPN],
      encodeTransportHeader({ port: echo.port }),
      "tagged line\n",
    );
    assert.deepEqual(tagged, { echoed: "tagged line\n", alpn: TRANSPORT_ALPN });
    // The application saw the bytes only, never the header.
    assert.equal(echo.received, "tagged line\n");
    assert.equal(other.received, "");

    const plain = await tlsEcho(
      hop.inboundPort,
      pki,
      leaf,
      [],
      new Uint8Array(0),
      "plain line\n",
    );
    assert.deepEqual(plain, { echoed: "plain line\n", alpn: false });
    assert.equal(other.received, "plain line\n");
  } finally {
    await echo.close();
    await other.close();
  }
});

/** Sends `line` to 127.0.0.1:`port` and resolves with what comes back. */
function lineRoundTrip(port: number, line: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    let got = "";
    s.on("data", (c: Buffer) => {
      got += c.toString();
      if (got.length >= line.length) {
        s.end();
        resolve(got);
      }
    });
    s.on("error", reject);
    s.write(line);
  });
}

Deno.test("transport header across the hop: opaque forwards to a meshed endpoint go over mTLS with the header", async () => {
  await using pki = await makePki();
  const app = await startLineEcho(); // the inbound's application port
  const named = await startLineEcho(); // a port a transport header names
  const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
  await using server = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port}, policy: all-authenticated }
services: []
`);
  const inboundPort = server.app.inbound!.port;
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const forwardPort = freePort();
  await using client = await startPetrel(`outbound:
  listen: 127.0.0.1:0
  opaqueTarget: echo.test:7000
  forwards: [{ listen: 127.0.0.1:${forwardPort}, target: echo.test:7000 }]
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services:
  - name: echo.test:7000
    identity: ${SERVER_ID}
    meshed: true
    endpoints: ["127.0.0.1:${inboundPort}"]
`);
  try {
    // A per-port forward, and non-HTTP bytes on the outbound listener: the
    // YAML endpoint is the peer proxy itself, so the header names port 0
    // (its application port).
    assert.equal(
      await lineRoundTrip(forwardPort, "via forward\n"),
      "via forward\n",
    );
    assert.equal(
      await lineRoundTrip(client.port, "PING opaque\n"),
      "PING opaque\n",
    );
    assert.equal(
      app.received,
      "via forward\nPING opaque\n",
      "bytes only, no header",
    );
    const m =
      await (await fetch(`http://127.0.0.1:${server.adminPort}/metrics`))
        .text();
    assert.match(m, /tls_handshakes_total\{direction="inbound"\} [2-9]/);

    // A Destination-style endpoint (app port + opaque_transport.inbound_port):
    // the dialer connects to the proxy port and the header names the app
    // port, which the inbound honours.
    const dial = newOpaqueDialer({
      settings: { connectTimeoutMs: 1000 },
      discovery: {
        resolve: () =>
          Promise.resolve(
            new Watch({
              name: "named.test:1",
              protocol: "http1",
              source: "test",
              endpoints: [{
                addr: `127.0.0.1:${named.port}`,
                host: "127.0.0.1",
                port: named.port,
                identity: SERVER_ID,
                opaqueTransportPort: inboundPort,
              }],
            }),
          ),
      },
      random: () => 0,
      tls: { identity: client.app.identity },
    } as unknown as OutboundCtx);
    const socket = await dial("named.test:1");
    const echoed = await new Promise<string>((resolve, reject) => {
      let got = "";
      socket.on("data", (c: Buffer) => {
        got += c.toString();
        if (got.endsWith("\n")) resolve(got);
      });
      socket.on("error", reject);
      socket.write("tagged\n");
    });
    socket.destroy();
    assert.equal(echoed, "tagged\n");
    assert.equal(named.received, "tagged\n", "the header's port got the bytes");
    assert.equal(app.received, "via forward\nPING opaque\n");
  } finally {
    await app.close();
    await named.close();
  }
});
