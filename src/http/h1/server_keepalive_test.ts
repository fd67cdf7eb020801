import assert from "node:assert/strict";
import { bytesBody } from "../message.ts";
import { RawClient, startServer } from "./_test_util.ts";

Deno.test("serveH1() answers 10 000 keep-alive requests on one connection", async () => {
  const srv = await startServer((req) =>
    Promise.resolve({
      status: 200,
      headers: { "x-n": req.path.slice(1) },
      body: bytesBody(req.path),
    })
  );
  const c = await RawClient.connect(srv.port);
  try {
    const total = 10_000;
    const batch = 100;
    let ok = 0;
    for (let i = 0; i < total; i += batch) {
      // Each batch goes out in one write (pipelined), answers are read in order.
      let out = "";
      for (let j = i; j < i + batch; j++) {
        out += `GET /${j} HTTP/1.1\r\nHost: a\r\nUser-Agent: t\r\n\r\n`;
      }
      c.write(out);
      for (let j = i; j < i + batch; j++) {
        const r = await c.readResponse();
        assert.equal(r.status, 200);
        assert.equal(r.headers["x-n"], String(j));
        assert.equal(r.body, `/${j}`);
        ok++;
      }
    }
    assert.equal(ok, total);
    assert.equal(srv.conns.length, 1);
  } finally {
    await c.close();
    await srv.close();
  }
});

Deno.test("serveH1() answers sequential keep-alive requests one by one", async () => {
  const srv = await startServer((req) =>
    Promise.resolve({ status: 200, headers: {}, body: bytesBody(req.path) })
  );
  const c = await RawClient.connect(srv.port);
  try {
    for (let i = 0; i < 1000; i++) {
      c.write(`GET /${i} HTTP/1.1\r\nHost: a\r\n\r\n`);
      assert.equal((await c.readResponse()).body, `/${i}`);
    }
    assert.equal(srv.conns.length, 1);
  } finally {
    await c.close();
    await srv.close();
  }
});
