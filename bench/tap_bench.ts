/**
 * `deno bench -A bench/tap_bench.ts`: the cost of the tap layer per request
 * with a tap server but no active tap (one boolean check), and with an
 * active tap that does not match the request.
 */
import type { HttpRequest, HttpResponse } from "../src/http/message.ts";
import { compileMatch } from "../src/tap/match.ts";
import { newTapLayer, Tap, Taps } from "../src/tap/tap.ts";

const RSP: HttpResponse = { status: 200, headers: {}, body: null };
const RSP_P = Promise.resolve(RSP);
const inner = (_req: HttpRequest) => RSP_P;
const req: HttpRequest = {
  method: "GET",
  scheme: "http",
  authority: "web:80",
  path: "/api",
  version: "HTTP/1.1",
  headers: {},
  body: null,
  ext: {},
};

const idle = newTapLayer(new Taps(), "outbound")(inner);
const busyTaps = new Taps();
busyTaps.add(
  new Tap({
    limit: 1,
    match: compileMatch({
      match: "http",
      http: { match: "path", path: { match: "prefix", prefix: "/other" } },
    }),
    extractHeaders: false,
    emit() {},
  }),
);
const busy = newTapLayer(busyTaps, "outbound")(inner);

Deno.bench("no tap layer (baseline)", { group: "tap", baseline: true }, () => {
  void inner(req);
});
Deno.bench("tap layer, no active tap", { group: "tap" }, () => {
  void idle(req);
});
Deno.bench("tap layer, one active tap not matching", { group: "tap" }, () => {
  void busy(req);
});
