import assert from "node:assert/strict";
import net from "node:net";
import { ProxyMetrics } from "./registry.ts";
import { findSamples, parsePromText } from "./_test_util.ts";

Deno.test("TransportMetrics.track() moves the byte counters while the connection is open", async () => {
  const m = new ProxyMetrics({ processMetrics: false });
  const t = m.transport({
    direction: "outbound",
    peer: "dst",
    authority: "web.ns.svc.cluster.local:80",
    targetAddr: "127.0.0.1:1",
    tls: { serverId: "web.ns.serviceaccount.identity.linkerd.cluster.local" },
    dstLabels: { namespace: "ns", deployment: "web" },
  });
  const server = net.createServer((s) => s.on("data", (d) => s.write(d)));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const port = (server.address() as net.AddressInfo).port;
  const socket = net.connect({ host: "127.0.0.1", port });
  await new Promise((r) => socket.once("connect", r));
  t.track(socket);
  socket.write("hello");
  await new Promise((r) => socket.once("data", r));
  const live = parsePromText(await m.render());
  const read = findSamples(live, "tcp_read_bytes_total")[0]!;
  assert.equal(read.value, 5, "counted while the connection is open");
  assert.equal(findSamples(live, "tcp_write_bytes_total")[0]?.value, 5);
  assert.equal(findSamples(live, "tcp_open_connections")[0]?.value, 1);
  assert.deepEqual(read.labels, {
    direction: "outbound",
    peer: "dst",
    authority: "web.ns.svc.cluster.local:80",
    target_addr: "127.0.0.1:1",
    target_ip: "127.0.0.1",
    target_port: "1",
    tls: "true",
    server_id: "web.ns.serviceaccount.identity.linkerd.cluster.local",
    dst_namespace: "ns",
    dst_deployment: "web",
  });
  const closed = new Promise((r) => socket.once("close", r));
  socket.end();
  await closed;
  server.close();
  const after = parsePromText(await m.render());
  assert.equal(findSamples(after, "tcp_read_bytes_total")[0]?.value, 5);
  assert.equal(findSamples(after, "tcp_open_connections")[0]?.value, 0);
  assert.equal(findSamples(after, "tcp_close_total")[0]?.value, 1);
});
