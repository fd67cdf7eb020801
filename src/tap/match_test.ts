import assert from "node:assert/strict";
import { ipAddressOf } from "../api/net.ts";
import { compileMatch, type TapRequestView } from "./match.ts";
import {
  type ObserveRequestMsg,
  TAP_SERVICE,
  tapPackage,
  tapSpecOf,
} from "./proto.ts";

const req = (over: Partial<TapRequestView> = {}): TapRequestView => ({
  method: "GET",
  scheme: "http",
  authority: "web.app.svc:80",
  path: "/api/users",
  source: "10.1.2.3:40000",
  destination: "[fd00::5]:8080",
  ...over,
});

Deno.test("tap match: http path, authority, method and scheme", () => {
  const path = compileMatch({
    match: "http",
    http: { match: "path", path: { match: "prefix", prefix: "/api/" } },
  });
  assert.equal(path(req()), true);
  assert.equal(path(req({ path: "/apix" })), false);
  const exact = compileMatch({
    match: "http",
    http: {
      match: "authority",
      authority: { match: "exact", exact: "web.app.svc:80" },
    },
  });
  assert.equal(exact(req()), true);
  assert.equal(exact(req({ authority: "web.app.svc:81" })), false);
  const post = compileMatch({
    match: "http",
    http: {
      match: "method",
      method: { type: "registered", registered: "POST" },
    },
  });
  assert.equal(post(req()), false);
  assert.equal(post(req({ method: "POST" })), true);
  const https = compileMatch({
    match: "http",
    http: {
      match: "scheme",
      scheme: { type: "registered", registered: "HTTPS" },
    },
  });
  assert.equal(https(req()), false);
  assert.equal(https(req({ scheme: "https" })), true);
});

Deno.test("tap match: all, any, not; netmask and ports over v4 and v6", () => {
  const v4 = compileMatch({
    match: "source",
    source: {
      match: "netmask",
      netmask: { ip: ipAddressOf("10.1.0.0"), mask: 16 },
    },
  });
  assert.equal(v4(req()), true);
  assert.equal(v4(req({ source: "10.2.2.3:1" })), false);
  assert.equal(v4(req({ source: undefined })), false);
  const v6 = compileMatch({
    match: "destination",
    destination: {
      match: "netmask",
      netmask: { ip: ipAddressOf("fd00::"), mask: 64 },
    },
  });
  assert.equal(v6(req()), true);
  assert.equal(v6(req({ destination: "[fd01::5]:8080" })), false);
  const ports = compileMatch({
    match: "destination",
    destination: { match: "ports", ports: { min: 8000, max: 8080 } },
  });
  assert.equal(ports(req()), true);
  assert.equal(ports(req({ destination: "[fd00::5]:8081" })), false);
  const one = compileMatch({
    match: "destination",
    destination: { match: "ports", ports: { min: 8080, max: 0 } },
  });
  assert.equal(one(req()), true);
  assert.equal(one(req({ destination: "1.1.1.1:8079" })), false);
  const all = compileMatch({
    match: "all",
    all: {
      matches: [{
        match: "not",
        not: {
          match: "http",
          http: { match: "method", method: { registered: "POST" } },
        },
      }, { match: "any", any: { matches: [] } }],
    },
  });
  assert.equal(all(req()), false, "any of nothing is false");
  assert.equal(
    compileMatch({ match: "all", all: { matches: [] } })(req()),
    true,
  );
  assert.equal(compileMatch(null)(req()), true);
  const label = compileMatch({
    match: "destination_label",
    destination_label: { key: "ns", value: "app" },
  });
  assert.equal(label(req()), false);
  assert.equal(label(req({ destinationLabels: { ns: "app" } })), true);
});

Deno.test("tap proto: an ObserveRequest from the wire becomes a tap spec; limit 0 is refused", () => {
  const m = (tapPackage()[TAP_SERVICE] as Record<
    string,
    {
      requestSerialize(v: unknown): Uint8Array;
      requestDeserialize(b: Uint8Array): unknown;
    }
  >).Observe!;
  const wire = m.requestSerialize({
    limit: 7,
    match: { http: { path: { prefix: "/x" } } },
    extract: { http: { headers: {} } },
  });
  const spec = tapSpecOf(m.requestDeserialize(wire) as ObserveRequestMsg);
  assert.equal(spec.limit, 7);
  assert.equal(spec.extractHeaders, true);
  assert.equal(spec.match(req({ path: "/xy" })), true);
  assert.equal(spec.match(req({ path: "/y" })), false);
  const plain = tapSpecOf(
    m.requestDeserialize(m.requestSerialize({ limit: 1 })) as ObserveRequestMsg,
  );
  assert.equal(plain.extractHeaders, false);
  assert.throws(
    () =>
      tapSpecOf(
        m.requestDeserialize(
          m.requestSerialize({ limit: 0 }),
        ) as ObserveRequestMsg,
      ),
    TypeError,
  );
});
