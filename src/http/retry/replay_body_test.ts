import assert from "node:assert/strict";
import type { Body } from "../message.ts";
import { collect, flush, PushBody } from "./_test_util.ts";
import { ReplayBody } from "./replay_body.ts";

Deno.test("ReplayBody replays what was read, then goes on with the original", async () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  const first = collect(replay.clone());
  src.push("ab", "cd");
  assert.equal(first.text(), "abcd");
  assert.ok(replay.inUse);
  const second = replay.clone();
  // The first attempt is cut off: it gets no more frames.
  assert.match(String(first.error), /taken over by a retry/);
  const got = collect(second);
  await flush();
  assert.equal(got.text(), "abcd");
  src.push("ef");
  src.end({ "x-t": "1" });
  assert.equal(got.text(), "abcdef");
  assert.ok(got.ended);
  assert.deepEqual(got.trailers, { "x-t": "1" });
  assert.equal(first.text(), "abcd");
  assert.equal(src.starts, 1);
  assert.ok(replay.complete && replay.replayable);
  // A third attempt after the end replays everything.
  const third = collect(replay.clone());
  await flush();
  assert.equal(third.text(), "abcdef");
  assert.ok(third.ended);
});

Deno.test("ReplayBody: a retry before the first attempt read anything sends the body once (linkerd2#15649)", async () => {
  const src = new PushBody(6);
  const replay = new ReplayBody(src, 1024);
  const never = replay.clone(); // e.g. failfast or REFUSED_STREAM before any read
  assert.ok(replay.replayable);
  const second = replay.clone();
  assert.equal(src.starts, 0);
  const got = collect(second);
  assert.equal(src.starts, 1);
  src.push("abc");
  src.push("def");
  src.end();
  await flush();
  assert.equal(got.text(), "abcdef");
  assert.equal(got.chunks.length, 2);
  assert.equal(second.length, 6);
  // The abandoned clone, started late, delivers nothing of the body.
  const late = collect(never);
  assert.equal(late.text(), "");
  assert.match(String(late.error), /taken over/);
});

Deno.test("ReplayBody: a body growing past maxBytes streams through and is not replayable", () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 4);
  const got = collect(replay.clone());
  src.push("abc");
  assert.ok(replay.replayable);
  src.push("de", "fgh");
  assert.ok(replay.capped);
  assert.equal(replay.replayable, false);
  src.end();
  assert.equal(got.text(), "abcdefgh");
  assert.ok(got.ended);
});

Deno.test("ReplayBody: a length above maxBytes passes through, replayable only until started", () => {
  const src = new PushBody(100);
  const replay = new ReplayBody(src, 10);
  assert.ok(replay.capped);
  assert.ok(replay.replayable, "never started: can go to another endpoint");
  const b = replay.clone();
  assert.equal(b.length, 100);
  const got = collect(b);
  assert.equal(replay.replayable, false);
  src.push("x".repeat(60), "y".repeat(40));
  src.end();
  assert.equal(got.text().length, 100);
});

Deno.test("ReplayBody: pausing the reading clone pauses the original, resuming resumes it", async () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  const body: Body = replay.clone();
  const seen: string[] = [];
  body.start({
    data(c) {
      seen.push(new TextDecoder().decode(c));
      body.pause();
    },
    end() {},
    error() {},
  });
  src.push("a");
  assert.ok(src.paused);
  src.push("b"); // a push source may still deliver one more
  assert.deepEqual(seen, ["a"]);
  body.resume();
  await flush();
  assert.deepEqual(seen, ["a", "b"]);
});

Deno.test("ReplayBody: a replay paused by its consumer gets the rest after resume", async () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  collect(replay.clone());
  src.push("1", "2", "3");
  const second = replay.clone();
  const seen: string[] = [];
  second.start({
    data(c) {
      seen.push(new TextDecoder().decode(c));
      if (seen.length === 1) second.pause();
    },
    end() {
      seen.push("END");
    },
    error() {},
  });
  assert.deepEqual(seen, ["1"]);
  src.end();
  second.resume();
  await flush();
  assert.deepEqual(seen, ["1", "2", "3", "END"]);
});

Deno.test("ReplayBody.release() cancels an original that no clone reads", () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  const b = replay.clone();
  collect(b);
  src.push("a");
  const err = new Error("upstream gone");
  b.cancel(err);
  assert.equal(src.canceled, undefined, "kept for a retry");
  assert.ok(src.paused, "not read further while nobody reads");
  replay.release();
  assert.equal(src.canceled, err);
});

Deno.test("ReplayBody.release() leaves the reading clone alone, and its cancel then reaches the original", () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  const b = replay.clone();
  const got = collect(b);
  src.push("a");
  replay.release();
  src.push("b");
  assert.equal(got.text(), "ab");
  assert.equal(src.canceled, undefined);
  b.cancel();
  assert.equal(src.canceled, true);
});

Deno.test("ReplayBody: an original that fails fails its reader and cannot be replayed", () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  const got = collect(replay.clone());
  src.push("a");
  src.fail(new Error("client reset"));
  assert.equal(got.text(), "a");
  assert.match(String(got.error), /client reset/);
  assert.equal(replay.replayable, false);
});

Deno.test("ReplayBody: an original never started is left alone by release()", () => {
  const src = new PushBody();
  const replay = new ReplayBody(src, 1024);
  replay.clone();
  replay.release();
  assert.equal(src.starts, 0);
  assert.equal(src.canceled, undefined);
});
