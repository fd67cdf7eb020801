/**
 * HTTP/1 requests per second across a meshed hop (client → outbound Petrel
 * → mTLS → inbound Petrel → HTTP/1 app), upgraded to HTTP/2 with
 * `l5d-orig-proto` vs plain HTTP/1 between the proxies. Both Petrels run in
 * this process.
 *
 *   deno run -A bench/orig_proto_bench.ts [requests=4000] [connections=32]
 */
import { Buffer } from "node:buffer";
import net from "node:net";
import { startHttpBackend } from "../tests/support/backend.ts";
import { makePki, meshIdentity } from "../tests/support/certs.ts";
import { startPetrel } from "../tests/support/petrel.ts";

const total = Number(Deno.args[0] ?? 4000);
const conns = Number(Deno.args[1] ?? 32);
const SERVER_ID = meshIdentity("server", "back");

/** `n` keep-alive GETs on one connection, one at a time. */
function keepAlive(port: number, host: string, n: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host: "127.0.0.1", port });
    const req = `GET /x HTTP/1.1\r\nHost: ${host}\r\n\r\n`;
    let left = n;
    let buf = "";
    s.on("connect", () => s.write(req));
    s.on("data", (c: Buffer) => {
      buf += c.toString("latin1");
      // The backend's default route: a small fixed-length body.
      const end = buf.indexOf("\r\n\r\n");
      if (end < 0) return;
      const len = Number(/content-length: (\d+)/i.exec(buf)?.[1] ?? 0);
      if (buf.length < end + 4 + len) return;
      buf = buf.slice(end + 4 + len);
      if (--left === 0) {
        s.destroy();
        resolve();
      } else s.write(req);
    });
    s.on("error", reject);
  });
}

await using pki = await makePki();
const app = await startHttpBackend();
const sdir = await pki.identityDir(await pki.issue(SERVER_ID));
const server = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${sdir} }
inbound: { listen: 127.0.0.1:0, appPort: ${app.port}, policy: all-authenticated }
services: []
`);
const port = server.app.inbound!.port;
const cdir = await pki.identityDir(
  await pki.issue(meshIdentity("client", "front")),
);
const client = await startPetrel(`outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
identity: { dir: ${cdir} }
services:
  - { name: "web.test:8080", identity: ${SERVER_ID}, meshed: true, endpoints: ["127.0.0.1:${port}"] }
  - { name: "plain.test:8080", identity: ${SERVER_ID}, endpoints: ["127.0.0.1:${port}"] }
`);
const run = async (host: string) => {
  await keepAlive(client.port, host, 200); // warm-up
  const t0 = performance.now();
  await Promise.all(
    Array.from(
      { length: conns },
      () => keepAlive(client.port, host, Math.ceil(total / conns)),
    ),
  );
  return (Math.ceil(total / conns) * conns) / ((performance.now() - t0) / 1000);
};
for (let round = 0; round < 2; round++) {
  const plain = await run("plain.test:8080");
  const upgraded = await run("web.test:8080");
  console.log(
    `round ${round + 1}: plain HTTP/1 hop ${plain.toFixed(0)} req/s, ` +
      `upgraded (HTTP/2 + l5d-orig-proto) ${upgraded.toFixed(0)} req/s ` +
      `(${conns} client connections, ${total} requests each)`,
  );
}
await client.close();
await server.close();
await app.close();
