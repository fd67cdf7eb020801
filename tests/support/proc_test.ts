import assert from "node:assert/strict";
import { PYTHON, run, startPeer } from "./proc.ts";

Deno.test("proc: startPeer reads LISTENING or a JSON ready line, keeps later stdout", async () => {
  const a = await startPeer(PYTHON, [
    "-u",
    "-c",
    "import time; print('booting'); print('LISTENING 4321'); print('after'); time.sleep(30)",
  ]);
  try {
    assert.equal(a.port, 4321);
    assert.equal(a.readyLine, "LISTENING 4321");
    // The child prints "after" right away, but the pipe may deliver it later.
    for (let i = 0; i < 150 && !a.stdoutLines().includes("after"); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
  } finally {
    await a.stop();
  }
  assert.deepEqual(a.stdoutLines(), ["booting", "after"]);

  const b = await startPeer(PYTHON, [
    "-u",
    "-c",
    'import time; print(\'{"port": 99, "impl": "x"}\'); time.sleep(30)',
  ]);
  await b.stop();
  assert.equal(b.port, 99);
  assert.deepEqual(b.info, { port: 99, impl: "x" });
});

Deno.test("proc: startPeer fails with the child's stderr when it exits or hangs", async () => {
  await assert.rejects(
    startPeer(PYTHON, [
      "-c",
      "import sys; sys.stderr.write('no such thing\\n'); sys.exit(3)",
    ]),
    /exited with code 3 before it was ready\nstderr:\nno such thing/,
  );
  await assert.rejects(
    startPeer(PYTHON, [
      "-c",
      "import sys, time; sys.stderr.write('stuck\\n'); sys.stderr.flush(); time.sleep(30)",
    ], {
      startTimeoutMs: 300,
    }),
    /did not print its ready line within 300 ms\nstderr:\nstuck/,
  );
});

Deno.test("proc: run passes stdin, returns code and output, kills on timeout", async () => {
  const r = await run(PYTHON, [
    "-c",
    "import sys; d = sys.stdin.buffer.read(); print(len(d)); sys.exit(2)",
  ], {
    stdin: new Uint8Array(1_000_000),
  });
  assert.equal(r.code, 2);
  assert.equal(r.stdout, "1000000\n");
  assert.equal(r.timedOut, false);

  const slow = await run(PYTHON, ["-c", "import time; time.sleep(30)"], {
    timeoutMs: 200,
  });
  assert.equal(slow.timedOut, true);
  assert.notEqual(slow.code, 0);
});
