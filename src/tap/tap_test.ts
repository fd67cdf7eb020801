import assert from "node:assert/strict";
import { bytesBody, type HttpRequest, readBody } from "../http/message.ts";
import { ipAddressOf } from "../api/net.ts";
import { compileMatch, MATCH_ALL } from "./match.ts";
import { newTapLayer, Tap, type TapEventObject, Taps } from "./tap.ts";

const request = (path: string): HttpRequest => ({
  method: "GET",
  scheme: "http",
  authority: "web:80",
  path,
  version: "HTTP/1.1",
  headers: { "x-a": "1" },
  body: null,
  ext: { client: { addr: "127.0.0.1:5000", close() {} } },
});

Deno.test("tap layer: no tap, the inner service's own promise; a tap reports up to its limit and then finishes", async () => {
  const taps = new Taps();
  let calls = 0;
  const inner = (_req: HttpRequest) => {
    calls++;
    return Promise.resolve({
      status: 200,
      headers: {},
      body: bytesBody("hello", { "grpc-status": "3" }),
    });
  };
  const svc = newTapLayer(taps, "outbound")(inner);
  const p = inner(request("/"));
  assert.equal(taps.active, false);
  assert.equal(newTapLayer(undefined, "outbound")(inner), inner);
  await p;
  const events: TapEventObject[] = [];
  let finished = 0;
  taps.add(
    new Tap({
      limit: 2,
      match: MATCH_ALL,
      extractHeaders: false,
      emit: (e) => events.push(e),
      onFinished: () => finished++,
    }),
  );
  assert.equal(taps.active, true);
  for (const path of ["/a", "/b", "/c"]) {
    const rsp = await svc(request(path));
    await readBody(rsp.body!);
  }
  assert.equal(calls, 4);
  assert.equal(taps.active, false);
  assert.equal(finished, 1);
  const kinds = events.map((e) =>
    Object.keys(e.http as Record<string, unknown>)[0]
  );
  assert.deepEqual(kinds, [
    "request_init",
    "response_init",
    "response_end",
    "request_init",
    "response_init",
    "response_end",
  ]);
  const end = (events[2]!.http as {
    response_end: { response_bytes: number; eos: unknown };
  }).response_end;
  assert.equal(end.response_bytes, 5);
  assert.deepEqual(end.eos, { grpc_status_code: 3 });
  assert.equal(
    (events[0]!.http as { request_init: { headers?: unknown } }).request_init
      .headers,
    undefined,
  );
});

Deno.test("tap layer: source and destination matches see the client address and the logical target", async () => {
  const taps = new Taps();
  const inner = () => Promise.resolve({ status: 204, headers: {}, body: null });
  const svc = newTapLayer(taps, "inbound")(inner);
  const seen: string[] = [];
  const tapOf = (name: string, match: Parameters<typeof compileMatch>[0]) =>
    taps.add(
      new Tap({
        limit: 10,
        match: compileMatch(match),
        extractHeaders: false,
        emit: (e) => {
          if ((e.http as Record<string, unknown>).request_init) seen.push(name);
        },
      }),
    );
  const loop = tapOf("loopback", {
    match: "source",
    source: {
      match: "netmask",
      netmask: { ip: ipAddressOf("127.0.0.0"), mask: 8 },
    },
  });
  const ten = tapOf("ten", {
    match: "source",
    source: {
      match: "netmask",
      netmask: { ip: ipAddressOf("10.0.0.0"), mask: 8 },
    },
  });
  const dst = tapOf("dst", {
    match: "destination",
    destination: { match: "ports", ports: { min: 8080, max: 0 } },
  });
  await svc(request("/a"));
  const r = request("/b");
  r.ext.logical = "10.0.0.9:8080";
  await svc(r);
  assert.deepEqual(seen, ["loopback", "loopback", "dst"]);
  for (const t of [loop, ten, dst]) t.close();
  assert.equal(taps.active, false);
});
