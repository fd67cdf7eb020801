/**
 * Petrel's outbound towards linkerd2-proxy peers (linkerd
 * `out/tcp/tagged_transport.rs`, `http/concrete.rs`, `require_id_header.rs`):
 * an endpoint with `opaque_transport` gets HTTP through the tagged transport
 * (ALPN `transport.l5d.io/v1`, the header with port and session protocol,
 * then the HTTP session on the same connection), checked by an independent
 * python decoder (support/tagged_peer.py) and end to end through Petrel's
 * inbound; a plain meshed connection offers no ALPN; `l5d-require-id` is
 * enforced and never forwarded; a peer's `l5d-proxy-connection` never
 * reaches the app (its `l5d-proxy-error` is passed on); `l5d-dst-canonical` names the logical
 * service; `authority_override` rewrites the authority and names the gateway
 * in the header.
 */
import assert from "node:assert/strict";
import { type BackendRequest, startHttpBackend } from "./support/backend.ts";
import { makePki, meshIdentity } from "./support/certs.ts";
import { startControlPlane } from "./support/control_plane.ts";
import { startPythonPeer } from "./support/proc.ts";
import { startWsEchoBackend, wsEcho } from "./support/ws.ts";
import {
  freePort,
  httpRequest,
  startPetrel,
  waitFor,
} from "./support/petrel.ts";

const CLIENT_ID = meshIdentity("client", "front");
const SERVER_ID = meshIdentity("server", "back");

interface Seen {
  alpn: string | null;
  header: { port: number; name: string; session_protocol: string | null };
  authority: string;
  path: string;
  headers: Record<string, string>;
}

function clientYaml(dir: string): string {
  return `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${dir} }
services: []
`;
}

Deno.test("outbound tagged transport: an independent decoder reads the header (port, session protocol, gateway name) and serves HTTP/2 and HTTP/1 after it; plain meshed connections offer no ALPN", async () => {
  await using pki = await makePki();
  const leaf = await pki.issue(SERVER_ID);
  const peer = await startPythonPeer("tagged_peer.py", [
    "--cert",
    leaf.certFile,
    "--key",
    leaf.keyFile,
    "--ca",
    pki.anchorFile,
  ]);
  const cp = await startControlPlane();
  // The endpoint's app port (never dialed: the peer proxy listens on the
  // opaque transport port and reads the app port from the header).
  const APP = "127.0.0.1:18080";
  cp.setEndpoints("web.test:8080", [{
    addr: APP,
    identity: SERVER_ID,
    h2: true,
    opaqueTransportPort: peer.port,
  }]);
  cp.setEndpoints("h1.test:8080", [{
    addr: APP,
    identity: SERVER_ID,
    opaqueTransportPort: peer.port,
  }]);
  cp.setEndpoints("plain.test:8080", [{
    addr: `127.0.0.1:${peer.port}`,
    identity: SERVER_ID,
    h2: true,
  }]);
  cp.setEndpoints("gw.test:8080", [{
    addr: `127.0.0.1:${peer.port}`,
    identity: SERVER_ID,
    h2: true,
    authorityOverride: "web.remote.test:8443",
  }]);
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const petrel = await startPetrel(clientYaml(cdir), {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
  });
  const get = async (
    authority: string,
    headers: Record<string, string> = {},
  ) => {
    const r = await httpRequest(petrel.port, authority, "/p?q=1", { headers });
    assert.equal(r.status, 200, `${authority}: ${r.status} ${r.body}`);
    return JSON.parse(r.body) as Seen;
  };
  try {
    await waitFor(
      async () =>
        (await httpRequest(petrel.port, "web.test:8080", "/")).status === 200,
      "web.test ready",
      10_000,
    );
    // Meshed (h2 hint): the HTTP/1 request crosses as HTTP/2 (orig-proto).
    const h2 = await get("web.test:8080");
    assert.equal(h2.alpn, "transport.l5d.io/v1");
    assert.deepEqual(h2.header, {
      port: 18080,
      name: "",
      session_protocol: "http2",
    });
    assert.equal(h2.authority, "web.test:8080");
    assert.equal(h2.path, "/p?q=1");
    assert.equal(h2.headers["l5d-orig-proto"], "HTTP/1.1");
    assert.equal(h2.headers["l5d-dst-canonical"], "web.test:8080");

    // No h2 hint: HTTP/1 session after the header.
    const h1 = await get("h1.test:8080");
    assert.equal(h1.alpn, "transport.l5d.io/v1");
    assert.deepEqual(h1.header, {
      port: 18080,
      name: "",
      session_protocol: "http1",
    });
    assert.equal(h1.authority, "h1.test:8080");
    assert.equal(h1.headers["l5d-dst-canonical"], "h1.test:8080");

    // Plain meshed: no ALPN offered (the peer offers h2 and would take it),
    // no header, HTTP/2 straight away.
    const plain = await get("plain.test:8080");
    assert.equal(plain.alpn, null);
    assert.equal(plain.header, null);
    assert.equal(plain.authority, "plain.test:8080");

    // A gateway: the header names the override's host and port, and the
    // request's authority and l5d-dst-canonical are the override.
    const gw = await get("gw.test:8080");
    assert.equal(gw.alpn, "transport.l5d.io/v1");
    assert.deepEqual(gw.header, {
      port: 8443,
      name: "web.remote.test",
      session_protocol: "http2",
    });
    assert.equal(gw.authority, "web.remote.test:8443");
    assert.equal(gw.headers["l5d-dst-canonical"], "web.remote.test:8443");

    // A peer proxy's l5d-proxy-connection never reaches the application;
    // its l5d-proxy-error is passed on (informational headers are on), as
    // linkerd's outbound does (HTTP/2 and HTTP/1 sessions).
    for (const name of ["web.test:8080", "h1.test:8080"]) {
      const r = await httpRequest(petrel.port, name, "/proxy-error");
      assert.equal(r.status, 200, r.body);
      assert.notEqual(r.headers["l5d-proxy-error"], undefined, name);
      assert.equal(r.headers["l5d-proxy-connection"], undefined, name);
    }

    // l5d-require-id: the endpoint's identity passes (and the header is
    // removed), another one is a 502 and nothing is sent.
    const ok = await get("web.test:8080", { "l5d-require-id": SERVER_ID });
    assert.equal(ok.headers["l5d-require-id"], undefined);
    const bad = await httpRequest(petrel.port, "web.test:8080", "/", {
      headers: { "l5d-require-id": meshIdentity("other", "back") },
    });
    assert.equal(bad.status, 502);
    assert.match(bad.headers["l5d-proxy-error"] ?? "", /required id/);
    assert.match(
      await petrel.app.metrics.render(),
      /outbound_http_errors_total\{[^}]*error="identity required"[^}]*\} 1/,
    );
  } finally {
    await petrel.close();
    await cp.close();
    await peer.stop();
  }
});

Deno.test("outbound tagged transport end to end: Petrel's inbound serves the HTTP/2 session after the header to the app port it names, with the client's identity", async () => {
  await using pki = await makePki();
  const seen: BackendRequest[] = [];
  const app = await startHttpBackend((req) => {
    seen.push(req);
    return { status: 200, body: `app ${req.path}` };
  });
  const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
  // appPort names another port: the header's port must win.
  const server = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: 9, policy: all-authenticated }
services: []
`);
  const inboundPort = server.app.inbound!.port;
  const cp = await startControlPlane();
  cp.setEndpoints("web.test:8080", [{
    addr: `127.0.0.1:${app.port}`,
    identity: SERVER_ID,
    h2: true,
    opaqueTransportPort: inboundPort,
  }]);
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(clientYaml(cdir), {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
  });
  try {
    await waitFor(
      async () =>
        (await httpRequest(client.port, "web.test:8080", "/ready")).status ===
          200,
      "web.test ready",
      10_000,
    );
    for (let i = 0; i < 5; i++) {
      const r = await httpRequest(client.port, "web.test:8080", `/n${i}`, {
        headers: { "l5d-require-id": SERVER_ID },
      });
      assert.equal(r.status, 200, r.body);
      assert.equal(r.body, `app /n${i}`);
    }
    const last = seen[seen.length - 1]!;
    assert.equal(last.header("l5d-client-id"), CLIENT_ID);
    assert.equal(last.header("l5d-dst-canonical"), "web.test:8080");
    assert.equal(last.header("host"), "web.test:8080");
    assert.equal(last.header("l5d-require-id"), undefined);
    assert.equal(last.header("l5d-orig-proto"), undefined);
  } finally {
    await client.close();
    await cp.close();
    await server.close();
    await app.close();
  }
});

Deno.test("outbound opaque forward to a gateway (authority_override): the header names the override's port and host, the bytes follow", async () => {
  await using pki = await makePki();
  const leaf = await pki.issue(SERVER_ID);
  const peer = await startPythonPeer("tagged_peer.py", [
    "--cert",
    leaf.certFile,
    "--key",
    leaf.keyFile,
    "--ca",
    pki.anchorFile,
  ]);
  const cp = await startControlPlane();
  cp.setEndpoints("gw.test:7000", [{
    addr: `127.0.0.1:${peer.port}`,
    identity: SERVER_ID,
    authorityOverride: "db.remote.test:5432",
  }]);
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const forwardPort = freePort();
  const petrel = await startPetrel(
    `outbound:
  listen: 127.0.0.1:0
  forwards: [{ listen: 127.0.0.1:${forwardPort}, target: gw.test:7000 }]
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services: []
`,
    {
      LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
      LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
    },
  );
  try {
    // The opaque bytes happen to be an HTTP/1 request the peer answers.
    const r = await httpRequest(forwardPort, "opaque.test", "/raw");
    assert.equal(r.status, 200, r.body);
    const seen = JSON.parse(r.body) as Seen;
    assert.equal(seen.alpn, "transport.l5d.io/v1");
    assert.deepEqual(seen.header, {
      port: 5432,
      name: "db.remote.test",
      session_protocol: null,
    });
    // Opaque: the bytes are untouched (no authority rewrite).
    assert.equal(seen.authority, "opaque.test");
    assert.equal(seen.path, "/raw");
  } finally {
    await petrel.close();
    await cp.close();
    await peer.stop();
  }
});

Deno.test("outbound tagged transport: a WebSocket upgrade crosses in an HTTP/1 session to Petrel's inbound and echoes", async () => {
  await using pki = await makePki();
  const ws = await startWsEchoBackend();
  const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
  const server = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: 9, policy: all-authenticated }
services: []
`);
  const cp = await startControlPlane();
  cp.setEndpoints("ws.test:8080", [{
    addr: `127.0.0.1:${ws.port}`,
    identity: SERVER_ID,
    h2: true,
    opaqueTransportPort: server.app.inbound!.port,
  }]);
  const cdir = await pki.identityDir(await pki.issue(CLIENT_ID));
  const client = await startPetrel(clientYaml(cdir), {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
  });
  try {
    await waitFor(
      async () =>
        (await httpRequest(client.port, "ws.test:8080", "/")).status === 200,
      "ws.test ready",
      10_000,
    );
    assert.equal(
      await wsEcho(`127.0.0.1:${client.port}`, "ws.test:8080", "over tagged"),
      "over tagged",
    );
    assert.deepEqual(ws.upgradeHosts, ["ws.test:8080"]);
  } finally {
    await client.close();
    await cp.close();
    await server.close();
    await ws.close();
  }
});
