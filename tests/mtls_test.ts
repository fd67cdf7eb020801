/**
 * Mesh TLS end to end over real sockets: client → outbound Petrel → (mTLS)
 * → inbound Petrel → application, for HTTP/1.1, HTTP/2 and gRPC (python
 * grpcio on both ends); the refusals (wrong SAN, expired, untrusted CA, no
 * client certificate, plaintext) with their reasons on the wire and in the
 * metrics; and certificate rotation under load with no failed request
 * (linkerd `app/integration/src/tests/identity.rs`, `transparency` with
 * TLS).
 */
import assert from "node:assert/strict";
import http2 from "node:http2";
import tls from "node:tls";
import { Buffer } from "node:buffer";
import { startH2Backend, startHttpBackend } from "./support/backend.ts";
import {
  type Leaf,
  makePki,
  meshIdentity,
  type TestPki,
  writeIdentityFiles,
} from "./support/certs.ts";
import { assertEchoResults, type GrpcResults } from "./support/grpc_echo.ts";
import { grpcPyCalls } from "./support/grpc_py.ts";
import {
  httpRequest,
  type RawResponse,
  startPetrel,
  type TestPetrel,
} from "./support/petrel.ts";
import { PYTHON, startPeer, SUPPORT_DIR } from "./support/proc.ts";

const CLIENT_ID = meshIdentity("client", "front");
const SERVER_ID = meshIdentity("server", "back");

/** Sum of the samples of `name` whose labels include `labels`. */
async function metric(
  p: TestPetrel,
  name: string,
  labels: Record<string, string> = {},
): Promise<number> {
  const text = await p.app.metrics.render();
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(name + "{") && !line.startsWith(name + " ")) continue;
    const want = Object.entries(labels).every(([k, v]) =>
      line.includes(`${k}="${v}"`)
    );
    if (want) sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}

/** The inbound Petrel (server side) for application port `appPort`. */
async function startServerSide(
  pki: TestPki,
  leaf: Leaf,
  appPort: number,
  policy = "all-authenticated",
): Promise<{ petrel: TestPetrel; port: number; dir: string }> {
  const dir = await pki.identityDir(leaf);
  const petrel = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
inbound: { listen: 127.0.0.1:0, appPort: ${appPort}, policy: ${policy} }
services: []
`,
  );
  return { petrel, port: petrel.app.inbound!.port, dir };
}

/** The outbound Petrel (client side) whose `name` goes to 127.0.0.1:`port` expecting `serverId`. */
async function startClientSide(
  pki: TestPki,
  leaf: Leaf,
  service: { name: string; port: number; serverId: string; protocol: string },
  extra = "",
): Promise<{ petrel: TestPetrel; dir: string }> {
  const dir = await pki.identityDir(leaf);
  const petrel = await startPetrel(
    `outbound: { listen: 127.0.0.1:0${extra} }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
services:
  - name: ${service.name}
    protocol: ${service.protocol}
    identity: ${service.serverId}
    endpoints: ["127.0.0.1:${service.port}"]
`,
  );
  return { petrel, dir };
}

/** One HTTP/2 GET through `port` with `:authority` = `authority`. */
async function h2Get(
  port: number,
  authority: string,
  path: string,
  headers: Record<string, string> = {},
): Promise<
  { status: number; headers: http2.IncomingHttpHeaders; body: string }
> {
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on("error", () => {});
  try {
    return await new Promise((resolve, reject) => {
      const req = session.request({
        ":path": path,
        ":authority": authority,
        ...headers,
      });
      const chunks: Buffer[] = [];
      let head: http2.IncomingHttpHeaders = {};
      req.on("response", (h) => head = h);
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () =>
        resolve({
          status: Number(head[":status"]),
          headers: head,
          body: Buffer.concat(chunks).toString(),
        }));
      req.on("error", reject);
      req.end();
    });
  } finally {
    session.close();
  }
}

Deno.test("mtls: HTTP/1.1 through outbound → mTLS → inbound; the app sees the client identity, a forged one is dropped", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const server = await startServerSide(
    pki,
    await pki.issue(SERVER_ID),
    app.port,
  );
  const client = await startClientSide(pki, await pki.issue(CLIENT_ID), {
    name: "web.test:8080",
    port: server.port,
    serverId: SERVER_ID,
    protocol: "http1",
  });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await httpRequest(
        client.petrel.port,
        "web.test:8080",
        "/headers",
        {
          headers: { "l5d-client-id": "forged.identity" },
        },
      );
      assert.equal(r.status, 200, JSON.stringify(r));
      const seen = JSON.parse(r.body) as Record<string, string>;
      assert.equal(seen["l5d-client-id"], CLIENT_ID);
    }
    // A plaintext client allowed by a permissive inbound gets no identity.
    const open = await startServerSide(
      pki,
      await pki.issue(SERVER_ID),
      app.port,
      "all-unauthenticated",
    );
    try {
      const r = await httpRequest(open.port, "app", "/headers", {
        headers: { "l5d-client-id": "forged.identity" },
      });
      assert.equal(r.status, 200);
      assert.equal(JSON.parse(r.body)["l5d-client-id"], undefined);
    } finally {
      await open.petrel.close();
    }
    assert.ok(
      await metric(client.petrel, "tls_handshakes_total", {
        direction: "outbound",
      }) >= 1,
    );
    assert.ok(
      await metric(server.petrel, "tls_handshakes_total", {
        direction: "inbound",
      }) >= 1,
    );
    assert.equal(
      await metric(client.petrel, "response_total", {
        tls: "true",
        server_id: SERVER_ID,
        status_code: "200",
      }),
      3,
    );
    // The server side's direction="inbound" series (viz stat, viz authz).
    assert.equal(
      await metric(server.petrel, "request_total", {
        direction: "inbound",
        tls: "true",
        client_id: CLIENT_ID,
      }),
      3,
    );
    assert.equal(
      await metric(server.petrel, "response_total", {
        direction: "inbound",
        client_id: CLIENT_ID,
        status_code: "200",
        classification: "success",
        srv_port: String(app.port),
      }),
      3,
    );
    assert.equal(
      await metric(server.petrel, "response_latency_ms_count", {
        direction: "inbound",
        client_id: CLIENT_ID,
      }),
      3,
    );
    assert.equal(
      await metric(server.petrel, "tls_local_identity_info", {
        local_identity: SERVER_ID,
      }),
      1,
    );
    assert.ok(
      await metric(
        server.petrel,
        "control_identity_cert_expiration_timestamp_seconds",
      ) >
        Date.now() / 1000,
    );
  } finally {
    await client.petrel.close();
    await server.petrel.close();
    await app.close();
  }
});

Deno.test("mtls: HTTP/2 through outbound → mTLS (ALPN h2) → inbound with the client identity", async () => {
  await using pki = await makePki();
  const app = await startH2Backend();
  const server = await startServerSide(
    pki,
    await pki.issue(SERVER_ID),
    app.port,
  );
  const client = await startClientSide(pki, await pki.issue(CLIENT_ID), {
    name: "web.test:8080",
    port: server.port,
    serverId: SERVER_ID,
    protocol: "http2",
  });
  try {
    for (let i = 0; i < 3; i++) {
      const r = await h2Get(client.petrel.port, "web.test:8080", "/headers", {
        "l5d-client-id": "forged.identity",
      });
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(JSON.parse(r.body)["l5d-client-id"], CLIENT_ID);
    }
    // One multiplexed session: one handshake for all requests (plus the
    // balancer's probe, a handshake of its own).
    assert.equal(
      await metric(server.petrel, "tls_handshakes_total", {
        direction: "inbound",
      }),
      2,
    );
  } finally {
    await client.petrel.close();
    await server.petrel.close();
    await app.close();
  }
});

/** The python Echo server, also sending the l5d-client-id it received as `x-client-id`. */
function startGrpcPyServerWithClientId() {
  const script = `
import sys
sys.path.insert(0, ${JSON.stringify(SUPPORT_DIR)})
sys.argv = ["grpc_py_server.py"]
import grpc_py_server as s

def start(context):
    md = dict(context.invocation_metadata())
    context.send_initial_metadata((("x-server", s.IMPL), ("x-client-id", md.get("l5d-client-id", "-"))))
    context.set_trailing_metadata((("x-trailer", s.IMPL),))

s.start = start
sys.exit(s.main())
`;
  return startPeer(PYTHON, ["-u", "-B", "-c", script], { cwd: SUPPORT_DIR });
}

Deno.test("mtls: gRPC, python grpcio client → outbound → mTLS → inbound → python grpcio server", async () => {
  await using pki = await makePki();
  const app = await startGrpcPyServerWithClientId();
  const server = await startServerSide(
    pki,
    await pki.issue(SERVER_ID),
    app.port,
  );
  const client = await startClientSide(pki, await pki.issue(CLIENT_ID), {
    name: "echo.test:50051",
    port: server.port,
    serverId: SERVER_ID,
    protocol: "http2",
  });
  try {
    const r: GrpcResults = await grpcPyCalls(client.petrel.addr, {
      authority: "echo.test:50051",
    });
    assertEchoResults(r, "python");
    for (
      const call of ["unary", "serverStream", "clientStream", "bidi"] as const
    ) {
      assert.equal(r[call].headers["x-client-id"], CLIENT_ID, call);
    }
  } finally {
    await client.petrel.close();
    await server.petrel.close();
    await app.stop();
  }
});

/** Asserts a 502 whose l5d-proxy-error names `text`. */
function assert502(r: RawResponse, text: RegExp): void {
  assert.equal(r.status, 502, JSON.stringify(r));
  assert.match(r.headers["l5d-proxy-error"] ?? "", text);
}

Deno.test("mtls: the outbound refuses a wrong SAN, an expired and an untrusted server certificate with 502 and the reason", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const cases: {
    leaf: Leaf;
    expect: string;
    reason: string;
    text: RegExp;
  }[] = [
    {
      leaf: await pki.issue(meshIdentity("impostor", "back")),
      expect: SERVER_ID,
      reason: "identity_mismatch",
      text: new RegExp(
        `certificate does not match TLS identity \\(expected ${SERVER_ID}, got ${
          meshIdentity("impostor", "back")
        }\\)`,
      ),
    },
    {
      leaf: await pki.issue(SERVER_ID, {
        notBefore: "20200101000000Z",
        notAfter: "20200102000000Z",
      }),
      expect: SERVER_ID,
      reason: "expired",
      text: /certificate expired \(notAfter 2020-01-02T00:00:00.000Z\)/,
    },
  ];
  const clientLeaf = await pki.issue(CLIENT_ID);
  const servers: TestPetrel[] = [];
  const clients: TestPetrel[] = [];
  try {
    for (const c of cases) {
      const s = await startServerSide(pki, c.leaf, app.port);
      servers.push(s.petrel);
      const cl = await startClientSide(pki, clientLeaf, {
        name: "web.test:8080",
        port: s.port,
        serverId: c.expect,
        protocol: "http1",
      });
      clients.push(cl.petrel);
      assert502(
        await httpRequest(cl.petrel.port, "web.test:8080", "/"),
        c.text,
      );
      // The balancer's probe and the request each tried once.
      assert.ok(
        await metric(cl.petrel, "tls_handshake_errors_total", {
          direction: "outbound",
          reason: c.reason,
        }) >= 1,
        c.reason,
      );
    }
    // Untrusted: the server's certificate comes from a CA nobody trusts.
    const rogueDir = await pki.identityDir(
      await pki.issue(SERVER_ID, { ca: "other" }),
    );
    await Deno.copyFile(pki.otherCaFile, `${rogueDir}/ca.crt`);
    const rogue = await startPetrel(
      `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${rogueDir} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port}, policy: all-unauthenticated }
services: []
`,
    );
    servers.push(rogue);
    const cl = await startClientSide(pki, clientLeaf, {
      name: "web.test:8080",
      port: rogue.app.inbound!.port,
      serverId: SERVER_ID,
      protocol: "http1",
    });
    clients.push(cl.petrel);
    assert502(
      await httpRequest(cl.petrel.port, "web.test:8080", "/"),
      /certificate not trusted/,
    );
    assert.ok(
      await metric(cl.petrel, "tls_handshake_errors_total", {
        direction: "outbound",
        reason: "untrusted",
      }) >= 1,
    );
    // Never a plaintext fallback: the application saw nothing.
    assert.equal(app.requests, 0);
  } finally {
    for (const p of clients) await p.close();
    for (const p of servers) await p.close();
    await app.close();
  }
});

Deno.test("mtls: an endpoint with the wrong identity is kept out of the balancer; requests go to the right one", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const good = await startServerSide(pki, await pki.issue(SERVER_ID), app.port);
  const bad = await startServerSide(
    pki,
    await pki.issue(meshIdentity("impostor", "back")),
    app.port,
  );
  const dir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(
    `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
services:
  - name: web.test:8080
    identity: ${SERVER_ID}
    endpoints: ["127.0.0.1:${good.port}", "127.0.0.1:${bad.port}"]
`,
  );
  try {
    for (let i = 0; i < 30; i++) {
      const r = await httpRequest(client.port, "web.test:8080", "/headers");
      assert.equal(r.status, 200, JSON.stringify(r));
      assert.equal(JSON.parse(r.body)["l5d-client-id"], CLIENT_ID);
    }
    // Refused at its probe, then backing off: tried a few times, not 30.
    const tries = await metric(client, "tls_handshake_errors_total", {
      reason: "identity_mismatch",
    });
    assert.ok(tries >= 1 && tries <= 5, `${tries} handshakes to the impostor`);
  } finally {
    await client.close();
    await good.petrel.close();
    await bad.petrel.close();
    await app.close();
  }
});

/** One HTTP/1.1 request over TLS straight to the inbound, as a foreign client. */
function tlsRequest(
  port: number,
  opts: tls.ConnectionOptions,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = tls.connect({
      host: "127.0.0.1",
      port,
      servername: SERVER_ID,
      rejectUnauthorized: false,
      checkServerIdentity: () => undefined,
      ...opts,
    });
    const chunks: Buffer[] = [];
    socket.on("secureConnect", () =>
      socket.write(
        "GET /headers HTTP/1.1\r\nhost: app\r\nconnection: close\r\n\r\n",
      ));
    socket.on("data", (c: Buffer) => chunks.push(c));
    socket.on("error", reject);
    socket.on("close", () => {
      const text = Buffer.concat(chunks).toString("latin1");
      const [head = "", body = ""] = text.split("\r\n\r\n");
      const lines = head.split("\r\n");
      const headers: Record<string, string> = {};
      for (const l of lines.slice(1)) {
        const i = l.indexOf(":");
        headers[l.slice(0, i).toLowerCase()] = l.slice(i + 1).trim();
      }
      resolve({
        status: Number(/^HTTP\/1\.1 (\d+)/.exec(lines[0] ?? "")?.[1] ?? 0),
        headers,
        body,
      });
    });
  });
}

Deno.test("mtls: a requiring inbound refuses plaintext, TLS without a client certificate, and an expired client with 403 and the reason", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const server = await startServerSide(
    pki,
    await pki.issue(SERVER_ID),
    app.port,
  );
  const expiredClient = await startClientSide(
    pki,
    await pki.issue(CLIENT_ID, {
      notBefore: "20200101000000Z",
      notAfter: "20200102000000Z",
    }),
    {
      name: "web.test:8080",
      port: server.port,
      serverId: SERVER_ID,
      protocol: "http1",
    },
  );
  try {
    const plain = await httpRequest(server.port, "app", "/headers");
    assert.equal(plain.status, 403);
    assert.match(
      plain.headers["l5d-proxy-error"] ?? "",
      /TLS required \(plaintext connection\)/,
    );

    const noCert = await tlsRequest(server.port, { ca: pki.anchorPem });
    assert.equal(noCert.status, 403, JSON.stringify(noCert));
    assert.match(
      noCert.headers["l5d-proxy-error"] ?? "",
      /client certificate required/,
    );

    // Through a Petrel whose own certificate expired: the inbound's 403
    // reaches the application's client with its reason.
    const viaExpired = await httpRequest(
      expiredClient.petrel.port,
      "web.test:8080",
      "/headers",
    );
    assert.equal(viaExpired.status, 403, JSON.stringify(viaExpired));
    assert.match(
      viaExpired.headers["l5d-proxy-error"] ?? "",
      /client certificate expired/,
    );

    for (const reason of ["plaintext", "no_client_cert", "expired"]) {
      assert.equal(
        await metric(server.petrel, "inbound_connections_denied_total", {
          reason,
        }),
        1,
        reason,
      );
    }
    // The request's connection and the client's probe.
    assert.ok(
      await metric(server.petrel, "tls_handshake_errors_total", {
        direction: "inbound",
        reason: "expired",
      }) >= 1,
    );
    assert.equal(app.requests, 0, "no refused request reached the app");
  } finally {
    await expiredClient.petrel.close();
    await server.petrel.close();
    await app.close();
  }
});

Deno.test("mtls: certificates rotate on both sides while requests run, with no failed request", async () => {
  await using pki = await makePki();
  const app = await startHttpBackend();
  const firstServer = await pki.issue(SERVER_ID);
  const firstClient = await pki.issue(CLIENT_ID);
  const server = await startServerSide(pki, firstServer, app.port);
  // No idle upstream connections: every request makes a fresh mTLS
  // handshake, so rotations land between handshakes all the time.
  const client = await startClientSide(
    pki,
    firstClient,
    {
      name: "web.test:8080",
      port: server.port,
      serverId: SERVER_ID,
      protocol: "http1",
    },
    ", maxIdleConnsPerEndpoint: 0",
  );
  const h2app = await startH2Backend();
  const h2server = await startServerSide(pki, firstServer, h2app.port);
  const h2client = await startClientSide(pki, firstClient, {
    name: "h2.test:8080",
    port: h2server.port,
    serverId: SERVER_ID,
    protocol: "http2",
  });
  try {
    // A long-lived HTTP/2 session made before any rotation.
    assert.equal(
      (await h2Get(h2client.petrel.port, "h2.test:8080", "/")).status,
      200,
    );

    let stop = false;
    const failures: string[] = [];
    let done = 0;
    const worker = async () => {
      while (!stop) {
        try {
          const r = await httpRequest(
            client.petrel.port,
            "web.test:8080",
            "/headers",
          );
          if (r.status !== 200) {
            failures.push(`${r.status} ${r.headers["l5d-proxy-error"]}`);
          }
          done++;
        } catch (err) {
          failures.push(String(err));
        }
      }
    };
    const workers = [worker(), worker(), worker()];
    const serials = new Set<string>();
    for (let i = 0; i < 3; i++) {
      await new Promise((r) => setTimeout(r, 300));
      const s = await pki.issue(SERVER_ID);
      const c = await pki.issue(CLIENT_ID);
      serials.add(s.serial);
      // Written in place, key first: a reader may see a mismatched pair.
      await writeIdentityFiles(server.dir, s);
      await writeIdentityFiles(client.dir, c);
      await writeIdentityFiles(h2server.dir, s);
    }
    await new Promise((r) => setTimeout(r, 400));
    stop = true;
    await Promise.all(workers);
    assert.deepEqual(failures, []);
    assert.ok(done > 20, `only ${done} requests`);
    const lastServer = [...serials].at(-1)!;
    // New handshakes use the newest certificates.
    assert.equal(server.petrel.app.identity?.current?.serial, lastServer);
    assert.ok(
      await metric(server.petrel, "tls_handshakes_total", {
        direction: "inbound",
      }) > 3,
    );
    // The session opened before the rotations is still the one in use.
    const before = await metric(h2server.petrel, "tls_handshakes_total", {
      direction: "inbound",
    });
    assert.equal(
      (await h2Get(h2client.petrel.port, "h2.test:8080", "/")).status,
      200,
    );
    assert.equal(
      await metric(h2server.petrel, "tls_handshakes_total", {
        direction: "inbound",
      }),
      before,
    );
    // The balancer's probe, then the one session, made before any rotation.
    assert.equal(before, 2);
  } finally {
    await h2client.petrel.close();
    await h2server.petrel.close();
    await client.petrel.close();
    await server.petrel.close();
    await h2app.close();
    await app.close();
  }
});
