/**
 * HTTP/1.1 through Petrel over real sockets with curl and raw sockets:
 * addressing (Host, absolute-form, l5d-dst-override), streamed bodies,
 * chunked trailers, keep-alive, WebSocket, malformed input, errors.
 */
import assert from "node:assert/strict";
import net from "node:net";
import {
  patternSha256,
  startH2Backend,
  startHangingH2Backend,
  startHttpBackend,
  until,
} from "./support/backend.ts";
import { servicesYaml, startPetrel } from "./support/petrel.ts";
import { run } from "./support/proc.ts";
import { startWsEchoBackend, wsEcho } from "./support/ws.ts";

function curl(args: string[], stdin?: Uint8Array) {
  return run("curl", ["-sS", ...args], {
    timeoutMs: 60_000,
    ...(stdin ? { stdin } : {}),
  });
}

Deno.test("http1: Host, absolute-form and l5d-dst-override all name the service", async () => {
  const a = await startHttpBackend();
  const b = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:8080": { endpoints: [`127.0.0.1:${a.port}`] },
    "api.test:80": { endpoints: [`127.0.0.1:${b.port}`] },
  }));
  try {
    const host = await curl([
      "-H",
      "Host: web.test:8080",
      `http://${petrel.addr}/`,
    ]);
    assert.equal(host.stdout, a.name);
    const proxy = await curl([
      "-x",
      `http://${petrel.addr}`,
      "http://web.test:8080/",
    ]);
    assert.equal(proxy.stdout, a.name);
    const over = await curl([
      "-H",
      "Host: web.test:8080",
      "-H",
      "l5d-dst-override: api.test",
      `http://${petrel.addr}/echo`,
    ]);
    const echoed = JSON.parse(over.stdout);
    assert.ok(
      !JSON.stringify(echoed).includes("l5d-dst-override"),
      "override is stripped",
    );
    assert.ok(
      JSON.stringify(echoed).includes("web.test:8080"),
      "Host is passed as sent",
    );
  } finally {
    await a.close();
    await b.close();
  }
});

Deno.test("http1: a 10 MiB streamed POST arrives intact, with and without chunking", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    const size = 10 * 1024 * 1024;
    const file = await Deno.makeTempFile();
    const data = new Uint8Array(size);
    for (let i = 0; i < size; i++) data[i] = i % 251;
    await Deno.writeFile(file, data);
    for (const extra of [[], ["-H", "Transfer-Encoding: chunked"]]) {
      const r = await curl([
        ...extra,
        "-H",
        "Host: web.test",
        "--data-binary",
        `@${file}`,
        `http://${petrel.addr}/upload`,
      ]);
      const got = JSON.parse(r.stdout);
      assert.equal(got.bytes, size);
      assert.equal(got.sha256, patternSha256(size));
    }
    await Deno.remove(file);
    // A 10 MiB chunked download.
    const d = await curl([
      "-H",
      "Host: web.test",
      "-o",
      "/dev/null",
      "-w",
      "%{size_download}",
      `http://${petrel.addr}/big?bytes=${size}`,
    ]);
    assert.equal(Number(d.stdout), size);
  } finally {
    await backend.close();
  }
});

Deno.test("http1: chunked responses keep their trailers", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    const r = await curl([
      "--raw",
      "-H",
      "Host: web.test",
      "-H",
      "TE: trailers",
      `http://${petrel.addr}/trailers`,
    ]);
    assert.match(r.stdout, /x-trailer: /i, r.stdout);
  } finally {
    await backend.close();
  }
});

/** Sends `n` keep-alive requests over one socket, `depth` pipelined at a time. */
async function keepAliveRun(
  addr: string,
  host: string,
  n: number,
  depth: number,
): Promise<number> {
  const [h, p] = addr.split(":");
  const socket = net.connect({ host: h!, port: Number(p) });
  await new Promise((r) => socket.once("connect", r));
  const req = `GET / HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
  let sent = 0;
  let answered = 0;
  let buf = "";
  return await new Promise((resolve, reject) => {
    const pump = () => {
      let batch = "";
      while (sent < n && sent - answered < depth) {
        batch += req;
        sent++;
      }
      if (batch) socket.write(batch);
    };
    socket.on("data", (chunk) => {
      buf += chunk.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) break;
        const head = buf.slice(0, end);
        const m = /content-length: (\d+)/i.exec(head);
        const len = m ? Number(m[1]) : 0;
        if (buf.length < end + 4 + len) break;
        if (!head.startsWith("HTTP/1.1 200")) {
          reject(new Error(`bad response ${head}`));
        }
        buf = buf.slice(end + 4 + len);
        answered++;
      }
      if (answered === n) {
        socket.end();
        resolve(answered);
      } else pump();
    });
    socket.on("error", reject);
    socket.on(
      "close",
      () => answered < n && reject(new Error(`closed after ${answered}`)),
    );
    pump();
  });
}

Deno.test("http1: 10 000 keep-alive requests over one connection", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    assert.equal(
      await keepAliveRun(petrel.addr, "web.test", 10_000, 16),
      10_000,
    );
    assert.ok(
      backend.connections <= 20,
      `upstream connections reused (${backend.connections})`,
    );
  } finally {
    await backend.close();
  }
});

Deno.test("http1: a WebSocket echo works through Petrel (Upgrade passthrough)", async () => {
  const ws = await startWsEchoBackend();
  await using petrel = await startPetrel(servicesYaml({
    "ws.test:80": { endpoints: [`127.0.0.1:${ws.port}`] },
  }));
  try {
    assert.equal(
      await wsEcho(petrel.addr, "ws.test", "hello through petrel"),
      "hello through petrel",
    );
  } finally {
    await ws.close();
  }
});

Deno.test("http1: an HTTP/1 client reaches an HTTP/2 endpoint", async () => {
  const backend = await startH2Backend();
  await using petrel = await startPetrel(servicesYaml({
    "h2.test:80": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http2",
    },
  }));
  try {
    const r = await curl([
      "-i",
      "-H",
      "Host: h2.test",
      `http://${petrel.addr}/status?code=201`,
    ]);
    assert.match(r.stdout, /^HTTP\/1\.1 201/);
    const up = await curl([
      "-H",
      "Host: h2.test",
      "--data-binary",
      "hello",
      `http://${petrel.addr}/upload`,
    ]);
    assert.equal(JSON.parse(up.stdout).bytes, 5);
  } finally {
    await backend.close();
  }
});

/** Writes raw bytes and returns everything the proxy answers until it closes. */
async function rawExchange(addr: string, bytes: string): Promise<string> {
  const [h, p] = addr.split(":");
  const socket = net.connect({ host: h!, port: Number(p) });
  let out = "";
  socket.on("data", (c) => out += c.toString("latin1"));
  socket.write(bytes);
  await new Promise((r) => socket.once("close", r));
  return out;
}

Deno.test("http1: malformed requests get 400/431 and the connection is closed", async () => {
  const backend = await startHttpBackend();
  await using petrel = await startPetrel(servicesYaml({
    "web.test:80": { endpoints: [`127.0.0.1:${backend.port}`] },
  }));
  try {
    const cases: [string, RegExp][] = [
      [
        "POST / HTTP/1.1\r\nHost: web.test\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        /^HTTP\/1\.1 400/,
      ],
      [
        "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        /^HTTP\/1\.1 400/,
      ],
      [
        "GET / HTTP/1.1\r\nHost: web.test\r\nX-A: 1\r\n folded\r\n\r\n",
        /^HTTP\/1\.1 400/,
      ],
      [
        `GET / HTTP/1.1\r\nHost: web.test\r\nX-Big: ${
          "a".repeat(70_000)
        }\r\n\r\n`,
        /^HTTP\/1\.1 431/,
      ],
      ["GET / HTTP/1.1\r\n\r\n", /^HTTP\/1\.1 400/],
    ];
    for (const [input, expected] of cases) {
      const out = await rawExchange(petrel.addr, input);
      assert.match(out, expected, JSON.stringify(input.slice(0, 60)));
    }
    assert.equal(backend.requests, 0, "nothing malformed reached the backend");
  } finally {
    await backend.close();
  }
});

Deno.test("http1: connection refused is a 502 with l5d-proxy-error; unknown names too", async () => {
  const backend = await startHttpBackend();
  const dead = backend.port;
  await backend.close();
  await using petrel = await startPetrel(servicesYaml({
    "dead.test:80": { endpoints: [`127.0.0.1:${dead}`] },
  }));
  const r = await curl([
    "-i",
    "-H",
    "Host: dead.test",
    `http://${petrel.addr}/`,
  ]);
  assert.match(r.stdout, /^HTTP\/1\.1 502/);
  assert.match(r.stdout, /l5d-proxy-error: /i);
  const u = await curl([
    "-i",
    "-H",
    "Host: nothing.invalid",
    `http://${petrel.addr}/`,
  ]);
  assert.match(u.stdout, /^HTTP\/1\.1 502/);
});

Deno.test("http1: a client that disconnects cancels its upstream HTTP/2 stream", async () => {
  const backend = await startHangingH2Backend();
  const petrel = await startPetrel(servicesYaml({
    "hang.test:80": {
      endpoints: [`127.0.0.1:${backend.port}`],
      protocol: "http2",
    },
  }));
  try {
    const socket = net.connect({ host: "127.0.0.1", port: petrel.port });
    socket.on("error", () => {});
    socket.write("GET /hang HTTP/1.1\r\nHost: hang.test\r\n\r\n");
    await until(() => backend.opened === 1);
    socket.destroy();
    await until(() => backend.closedCodes.length === 1);
    assert.deepEqual(
      backend.closedCodes,
      [8],
      "upstream stream reset with CANCEL",
    );
  } finally {
    await petrel.close();
    await backend.close();
  }
});
