import assert from "node:assert/strict";
import { REAL_CLOCK } from "../../balance/clock.ts";
import { bytesBody } from "../message.ts";
import { collect, flush, PushBody } from "./_test_util.ts";
import { peekTrailers } from "./peek_trailers.ts";

Deno.test("peekTrailers() sees the trailers of a one-message answer and replays it whole", async () => {
  const rsp = {
    status: 200,
    headers: {},
    body: bytesBody("msg", { "grpc-status": "14" }),
  };
  const { response, trailers } = await peekTrailers(rsp, REAL_CLOCK);
  assert.deepEqual(trailers, { "grpc-status": "14" });
  const got = collect(response.body!);
  await flush();
  assert.equal(got.text(), "msg");
  assert.deepEqual(got.trailers, { "grpc-status": "14" });
});

Deno.test("peekTrailers() lets a streaming answer go on after its first frame", async () => {
  const src = new PushBody();
  const p = peekTrailers({ status: 200, headers: {}, body: src }, REAL_CLOCK);
  await flush();
  src.push("m1");
  const { response, trailers } = await p;
  assert.equal(trailers, undefined);
  const got = collect(response.body!);
  src.push("m2");
  src.end({ "grpc-status": "0" });
  assert.equal(got.text(), "m1m2");
  assert.deepEqual(got.trailers, { "grpc-status": "0" });
});

Deno.test("peekTrailers() gives up at an abort and cancels the body", async () => {
  const src = new PushBody();
  const ctl = new AbortController();
  const p = peekTrailers(
    { status: 200, headers: {}, body: src },
    REAL_CLOCK,
    ctl.signal,
  );
  ctl.abort(new Error("client gone"));
  await assert.rejects(p, /client gone/);
  assert.ok(src.canceled instanceof Error);
});
