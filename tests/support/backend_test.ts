import assert from "node:assert/strict";
import {
  patternBytes,
  patternSha256,
  sha256Hex,
  startH2Backend,
  startHttpBackend,
} from "./backend.ts";
import { jsonLines, run, runPython } from "./proc.ts";

const TEN_MIB = 10 * 1024 * 1024;

Deno.test("http backend: curl keeps one connection alive across requests", async () => {
  const backend = await startHttpBackend();
  try {
    const base = `http://127.0.0.1:${backend.port}`;
    const r = await run("curl", [
      "-sS",
      "-w",
      "\\n%{http_code}\\n",
      `${base}/`,
      "-H",
      "x-test: one",
      `${base}/echo?x=1`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [name, code1, echo, code2] = r.stdout.trim().split("\n");
    assert.equal(name, backend.name);
    assert.equal(code1, "200");
    assert.equal(code2, "200");
    const e = JSON.parse(echo ?? "{}");
    assert.equal(e.backend, backend.name);
    assert.equal(e.method, "GET");
    assert.equal(e.target, "/echo?x=1");
    assert.equal(e.path, "/echo");
    assert.equal(e.headers["x-test"], "one");
    assert.equal(e.headers.host, `127.0.0.1:${backend.port}`);
    assert.equal(backend.requests, 2);
    assert.equal(backend.connections, 1);
  } finally {
    await backend.close();
  }
});

Deno.test("http backend: chunked response trailers are on the wire (curl --raw)", async () => {
  const backend = await startHttpBackend();
  try {
    const r = await run("curl", [
      "-sS",
      "-i",
      "--raw",
      `http://127.0.0.1:${backend.port}/trailers`,
    ]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(r.stdout, /\r\ntransfer-encoding: chunked\r\n/);
    assert.match(r.stdout, /\r\ntrailer: x-trailer\r\n/);
    assert.match(
      r.stdout,
      /\r\n\r\nf\r\nhello trailers\n\r\n0\r\nx-trailer: yes\r\n\r\n$/,
    );
  } finally {
    await backend.close();
  }
});

Deno.test("http backend: a 10 MiB POST (Content-Length and chunked) hashes right", async () => {
  const backend = await startHttpBackend();
  try {
    const body = patternBytes(TEN_MIB);
    const want = sha256Hex(body);
    assert.equal(want, patternSha256(TEN_MIB));
    const url = `http://127.0.0.1:${backend.port}/upload`;
    // --data-binary sends Content-Length (and Expect: 100-continue)
    const fixed = await run("curl", ["-sS", "--data-binary", "@-", url], {
      stdin: body,
    });
    assert.equal(fixed.code, 0, fixed.stderr);
    assert.deepEqual(JSON.parse(fixed.stdout), {
      bytes: TEN_MIB,
      sha256: want,
      trailers: {},
    });
    // -T - sends it chunked
    const chunked = await run("curl", ["-sS", "-X", "POST", "-T", "-", url], {
      stdin: body,
    });
    assert.equal(chunked.code, 0, chunked.stderr);
    assert.deepEqual(JSON.parse(chunked.stdout), {
      bytes: TEN_MIB,
      sha256: want,
      trailers: {},
    });
  } finally {
    await backend.close();
  }
});

Deno.test("http backend: /big streams the pattern; a handler can override routes", async () => {
  const backend = await startHttpBackend((req) =>
    req.path === "/fail"
      ? { status: 503, body: "nope", headers: { "retry-after": "0" } }
      : undefined
  );
  try {
    const base = `http://127.0.0.1:${backend.port}`;
    const big = await run("curl", [
      "-sS",
      "-D",
      "/dev/stderr",
      `${base}/big?bytes=3000000`,
    ]);
    assert.equal(big.code, 0);
    assert.match(big.stderr, /transfer-encoding: chunked/);
    assert.equal(big.stdoutBytes.length, 3_000_000);
    assert.equal(sha256Hex(big.stdoutBytes), patternSha256(3_000_000));

    const fail = await run("curl", ["-sS", "-i", `${base}/fail`]);
    assert.match(fail.stdout, /^HTTP\/1\.1 503 /);
    assert.match(fail.stdout, /\r\nretry-after: 0\r\n/);
    assert.match(fail.stdout, /\r\nx-backend: backend-\d+\r\n/);
    assert.match(fail.stdout, /nope$/);

    const status = await run("curl", [
      "-sS",
      "-o",
      "/dev/null",
      "-w",
      "%{http_code}",
      `${base}/status?code=502`,
    ]);
    assert.equal(status.stdout, "502");
  } finally {
    await backend.close();
  }
});

Deno.test("h2 backend: nghttp sees trailers, a streamed echo with trailers and /big", async () => {
  const backend = await startH2Backend();
  const file = await Deno.makeTempFile();
  try {
    const base = `http://127.0.0.1:${backend.port}`;
    const t = await run("nghttp", ["-v", `${base}/trailers`]);
    assert.equal(t.code, 0, t.stderr);
    assert.match(t.stdout, /recv \(stream_id=\d+\) :status: 200/);
    assert.match(t.stdout, /hello trailers/);
    assert.match(
      t.stdout,
      /recv \(stream_id=\d+\) x-trailer: yes\n.*recv HEADERS frame.*\n\s*; END_STREAM/,
    );

    const body = patternBytes(1024 * 1024);
    await Deno.writeFile(file, body);
    const echo = await run("nghttp", [
      "-d",
      file,
      "--trailer",
      "x-req: 7",
      `${base}/echo`,
    ]);
    assert.equal(echo.code, 0, echo.stderr);
    assert.deepEqual(echo.stdoutBytes, body);
    const echoV = await run("nghttp", [
      "-nv",
      "-d",
      file,
      "--trailer",
      "x-req: 7",
      `${base}/echo`,
    ]);
    assert.match(echoV.stdout, /recv \(stream_id=\d+\) x-echo-trailers: 1/);
    assert.match(echoV.stdout, /recv \(stream_id=\d+\) x-req: 7/);

    const up = await run("nghttp", ["-d", file, `${base}/upload`]);
    assert.deepEqual(JSON.parse(up.stdout), {
      bytes: body.length,
      sha256: sha256Hex(body),
    });

    const big = await run("nghttp", [`${base}/big?bytes=2000000`]);
    assert.equal(big.stdoutBytes.length, 2_000_000);
    assert.equal(sha256Hex(big.stdoutBytes), patternSha256(2_000_000));
  } finally {
    await Deno.remove(file);
    await backend.close();
  }
});

Deno.test("h2 backend: a reset stream carries its code; siblings on the connection finish", async () => {
  const backend = await startH2Backend();
  try {
    const r = await runPython("h2_client.py", [
      `127.0.0.1:${backend.port}`,
      "/reset?code=7",
      "/",
      "/reset?code=11",
      "/headers",
      "--authority",
      "api.test.svc:80",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const [refused, root, calm, headers] = jsonLines<{
      status: number | null;
      reset_code: number | null;
      body: string;
    }>(r.stdout);
    assert.equal(refused?.reset_code, 7);
    assert.equal(calm?.reset_code, 11);
    assert.equal(root?.status, 200);
    assert.equal(root?.body, backend.name);
    assert.equal(
      JSON.parse(headers?.body ?? "{}")[":authority"],
      "api.test.svc:80",
    );
    assert.equal(backend.requests, 4);
    assert.equal(backend.connections, 1);
  } finally {
    await backend.close();
  }
});
