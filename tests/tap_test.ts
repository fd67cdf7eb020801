/**
 * Tap end to end (linkerd `app/integration/src/tests/tap.rs`): a python
 * grpcio client generated at test time from `proto/tap.proto` with
 * Debian's grpc_tools, presenting the tap service's certificate, observes
 * live requests through Petrel's outbound and inbound stacks with a path
 * match, gRPC calls with their grpc-status; a client with another
 * identity is refused; without
 * `LINKERD2_PROXY_TAP_SVC_NAME` nothing listens on the control port.
 */
import assert from "node:assert/strict";
import * as net from "node:net";
import { startHttpBackend } from "./support/backend.ts";
import { grpcJsCalls, startGrpcJsServer } from "./support/grpc_js.ts";
import {
  type Leaf,
  makePki,
  meshIdentity,
  type TestPki,
} from "./support/certs.ts";
import {
  freePort,
  httpRequest,
  startPetrel,
  type TestPetrel,
  waitFor,
} from "./support/petrel.ts";
import { PYTHON, SUPPORT_DIR } from "./support/proc.ts";

const PETREL_ID = meshIdentity("web", "app");
const TAP_ID = meshIdentity("tap", "linkerd-viz");
const OTHER_ID = meshIdentity("intruder", "app");
const PROTO_DIR = decodeURIComponent(
  new URL("../proto/", import.meta.url).pathname,
);

interface TapLine {
  kind: string;
  id: [number, number];
  direction: string;
  path?: string;
  method?: string;
  status?: number;
  bytes?: number;
  eos?: string | null;
  grpc_status?: number | null;
  headers?: [string, string][];
}

/** The python tap client, running; `lines` fills as it prints. */
interface TapClient {
  readonly lines: string[];
  readonly done: Promise<void>;
  close(): Promise<void>;
}

function startTapClient(
  pki: TestPki,
  leaf: Leaf,
  port: number,
  args: string[],
): Promise<TapClient> {
  return (async () => {
    const out = await Deno.makeTempDir({ prefix: "petrel-tap-py-" });
    const proc = new Deno.Command(PYTHON, {
      args: [
        "-u",
        "-B",
        SUPPORT_DIR + "tap_py.py",
        "--proto",
        PROTO_DIR,
        "--out",
        out,
        "--addr",
        `127.0.0.1:${port}`,
        "--ca",
        pki.anchorFile,
        "--cert",
        leaf.certFile,
        "--key",
        leaf.keyFile,
        "--server-name",
        PETREL_ID,
        "--timeout",
        "20",
        ...args,
      ],
      stdout: "piped",
      stderr: "inherit",
      env: { GRPC_VERBOSITY: "NONE" },
    }).spawn();
    const lines: string[] = [];
    const done = (async () => {
      let buf = "";
      for await (
        const chunk of proc.stdout.pipeThrough(new TextDecoderStream())
      ) {
        buf += chunk;
        let i;
        while ((i = buf.indexOf("\n")) >= 0) {
          lines.push(buf.slice(0, i));
          buf = buf.slice(i + 1);
        }
      }
      await proc.status;
    })();
    return {
      lines,
      done,
      async close() {
        try {
          proc.kill("SIGKILL");
        } catch {
          // already exited
        }
        await done;
        await Deno.remove(out, { recursive: true });
      },
    };
  })();
}

async function startTappedPetrel(
  pki: TestPki,
  backendPort: number,
  env: Record<string, string>,
): Promise<TestPetrel> {
  const dir = await pki.identityDir(await pki.issue(PETREL_ID));
  return await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
inbound: { listen: 127.0.0.1:0, appPort: ${backendPort}, policy: all-unauthenticated }
services:
  - name: web
    protocol: http1
    endpoints: ["127.0.0.1:${backendPort}"]
`,
    env,
  );
}

function backendHandler(req: { path: string }) {
  // /tap/<status>/<n>: `status` with n bytes.
  const m = /^\/tap\/(\d+)\/(\d+)$/.exec(req.path);
  if (m) {
    return {
      status: Number(m[1]),
      headers: { "x-tapped": "yes" },
      body: "b".repeat(Number(m[2])),
    };
  }
  return { status: 200, body: "other" };
}

Deno.test("tap: a client with the tap identity observes exactly the matching requests of both stacks, with status, bytes and ids", async () => {
  await using pki = await makePki();
  const backend = await startHttpBackend(backendHandler);
  const petrel = await startTappedPetrel(pki, backend.port, {
    LINKERD2_PROXY_TAP_SVC_NAME: TAP_ID,
    LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "127.0.0.1:0",
  });
  const tap = petrel.app.tap!;
  // Before any tap: not reported.
  assert.equal(tap.taps.active, false);
  assert.equal(
    (await httpRequest(petrel.port, "web", "/tap/200/1")).status,
    200,
  );
  const tapLeaf = await pki.issue(TAP_ID);
  const client = await startTapClient(pki, tapLeaf, tap.port, [
    "--path-prefix",
    "/tap/",
    "--limit",
    "3",
    "--headers",
  ]);
  try {
    await waitFor(() => tap.taps.active, "the tap to be registered", 15_000);
    const out1 = await httpRequest(petrel.port, "web", "/tap/200/11", {
      headers: { "x-req": "/tap/200/11" },
    });
    const other = await httpRequest(petrel.port, "web", "/other");
    const in1 = await httpRequest(
      petrel.app.inbound!.port,
      "web",
      "/tap/201/22",
      { headers: { "x-req": "/tap/201/22" } },
    );
    const out2 = await httpRequest(petrel.port, "web", "/tap/404/0", {
      headers: { "x-req": "/tap/404/0" },
    });
    assert.deepEqual(
      [out1.status, other.status, in1.status, out2.status],
      [200, 200, 201, 404],
    );
    // The limit (3) reached: the stream ends by itself.
    await client.done;
    assert.equal(tap.taps.active, false);
    const after = await httpRequest(petrel.port, "web", "/tap/200/3");
    assert.equal(after.status, 200);
    assert.equal(client.lines.at(-1), "END OK", client.lines.join("\n"));
    const events = client.lines.filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as TapLine
    );
    assert.equal(events.length, 9, client.lines.join("\n"));
    const byId = new Map<string, TapLine[]>();
    for (const e of events) {
      const k = e.id.join("/");
      byId.set(k, [...(byId.get(k) ?? []), e]);
    }
    assert.equal(byId.size, 3);
    const seen = [...byId.values()].map((evs) => {
      assert.deepEqual(evs.map((e) => e.kind), [
        "request_init",
        "response_init",
        "response_end",
      ]);
      const [req, rsp, end] = evs as [TapLine, TapLine, TapLine];
      assert.equal(req.method, "GET");
      assert.ok(
        req.headers!.some(([n, v]) => n === "x-req" && v === req.path),
        client.lines.join("\n"),
      );
      assert.ok(rsp.headers!.some(([n, v]) => n === "x-tapped" && v === "yes"));
      assert.equal(end.eos, null);
      return `${req.direction} ${req.path} ${rsp.status} ${end.bytes}`;
    });
    assert.deepEqual(seen, [
      "outbound /tap/200/11 200 11",
      "inbound /tap/201/22 201 22",
      "outbound /tap/404/0 404 0",
    ]);
    // One base per process, a new stream per request.
    const ids = [...byId.keys()].map((k) => k.split("/").map(Number));
    assert.equal(new Set(ids.map((i) => i[0])).size, 1);
    assert.equal(new Set(ids.map((i) => i[1])).size, 3);
  } finally {
    await client.close();
    await petrel.close();
    await backend.close();
  }
});

Deno.test("tap: a client with another identity, or without headers extract, is refused / gets no headers", async () => {
  await using pki = await makePki();
  const backend = await startHttpBackend(backendHandler);
  const petrel = await startTappedPetrel(pki, backend.port, {
    LINKERD2_PROXY_TAP_SVC_NAME: TAP_ID,
    LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "127.0.0.1:0",
  });
  const tap = petrel.app.tap!;
  try {
    const intruder = await startTapClient(
      pki,
      await pki.issue(OTHER_ID),
      tap.port,
      [
        "--limit",
        "1",
      ],
    );
    try {
      await intruder.done;
      const last = intruder.lines.at(-1) ?? "";
      assert.match(last, /^END UNAVAILABLE/, intruder.lines.join("\n"));
      assert.equal(tap.taps.active, false);
    } finally {
      await intruder.close();
    }
    // The right identity, no extract: events without headers.
    const ok = await startTapClient(pki, await pki.issue(TAP_ID), tap.port, [
      "--limit",
      "1",
    ]);
    try {
      await waitFor(() => tap.taps.active, "the tap to be registered", 15_000);
      assert.equal(
        (await httpRequest(petrel.port, "web", "/tap/200/5")).status,
        200,
      );
      await ok.done;
      const events = ok.lines.filter((l) => l.startsWith("{")).map((l) =>
        JSON.parse(l) as TapLine
      );
      assert.deepEqual(events.map((e) => e.kind), [
        "request_init",
        "response_init",
        "response_end",
      ]);
      assert.deepEqual(events[0]!.headers, []);
      assert.deepEqual(events[1]!.headers, []);
      assert.equal(events[2]!.bytes, 5);
    } finally {
      await ok.close();
    }
  } finally {
    await petrel.close();
    await backend.close();
  }
});

Deno.test("tap: without LINKERD2_PROXY_TAP_SVC_NAME nothing listens on the control port", async () => {
  await using pki = await makePki();
  const backend = await startHttpBackend(backendHandler);
  const port = freePort();
  const petrel = await startTappedPetrel(pki, backend.port, {
    LINKERD2_PROXY_CONTROL_LISTEN_ADDR: `127.0.0.1:${port}`,
  });
  try {
    assert.equal(petrel.app.tap, undefined);
    assert.equal(
      (await httpRequest(petrel.port, "web", "/tap/200/2")).status,
      200,
    );
    const err = await new Promise<string>((resolve) => {
      const s = net.connect({ host: "127.0.0.1", port });
      s.once("connect", () => {
        s.destroy();
        resolve("connected");
      });
      s.once(
        "error",
        (e: NodeJS.ErrnoException) => resolve(e.code ?? e.message),
      );
    });
    assert.equal(err, "ECONNREFUSED");
  } finally {
    await petrel.close();
    await backend.close();
  }
});

Deno.test("tap: gRPC calls through the outbound end with their grpc-status (0 and 9) and their response bytes", async () => {
  await using pki = await makePki();
  const grpcServer = await startGrpcJsServer();
  const dir = await pki.identityDir(await pki.issue(PETREL_ID));
  const petrel = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
services:
  - name: echo.test:50051
    protocol: http2
    endpoints: ["127.0.0.1:${grpcServer.port}"]
`,
    {
      LINKERD2_PROXY_TAP_SVC_NAME: TAP_ID,
      LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "127.0.0.1:0",
    },
  );
  const tap = petrel.app.tap!;
  const client = await startTapClient(pki, await pki.issue(TAP_ID), tap.port, [
    "--path-prefix",
    "/petrel.test.Echo/Unary",
    "--limit",
    "2",
  ]);
  try {
    await waitFor(() => tap.taps.active, "the tap to be registered", 15_000);
    const r = await grpcJsCalls(petrel.addr, { authority: "echo.test:50051" });
    assert.equal(r.unary.code, 0);
    assert.equal(r.error.code, 9);
    await client.done;
    assert.equal(client.lines.at(-1), "END OK", client.lines.join("\n"));
    const ends = client.lines.filter((l) => l.startsWith("{")).map((l) =>
      JSON.parse(l) as TapLine
    ).filter((e) => e.kind === "response_end");
    assert.deepEqual(
      ends.map((e) => [e.eos, e.grpc_status]),
      [["grpc_status_code", 0], ["grpc_status_code", 9]],
      client.lines.join("\n"),
    );
    // The unary reply is one length-prefixed message; the error has none.
    assert.ok(ends[0]!.bytes! > 5, String(ends[0]!.bytes));
    assert.equal(ends[1]!.bytes, 0);
  } finally {
    await client.close();
    await petrel.close();
    await grpcServer.close();
  }
});
