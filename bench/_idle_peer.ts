/**
 * The outside half of `footprint_heap.ts`, in its own process so its sockets
 * stay out of the heap being measured:
 *
 *   deno run -A bench/_idle_peer.ts backend          # prints LISTENING <port>
 *   deno run -A bench/_idle_peer.ts clients PORT N   # prints LISTENING N once
 *                                                    # keep-alive connections
 *                                                    # each completed a GET
 *
 * Both run until killed.
 *
 * @module
 */
import net from "node:net";

/** Keeps the process alive until it is killed. */
function untilKilled(): void {
  setInterval(() => {}, 1e9);
}

if (Deno.args[0] === "backend") {
  const ok = "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok";
  const srv = net.createServer({ noDelay: true }, (s) => {
    s.on("error", () => s.destroy());
    let buf = "";
    s.on("data", (c) => {
      buf += c.toString("latin1");
      let i;
      while ((i = buf.indexOf("\r\n\r\n")) >= 0) {
        buf = buf.slice(i + 4);
        s.write(ok);
      }
    });
  });
  srv.listen(0, "127.0.0.1", () => {
    console.log(`LISTENING ${(srv.address() as net.AddressInfo).port}`);
  });
  untilKilled();
} else if (Deno.args[0] === "clients") {
  const port = Number(Deno.args[1]);
  const n = Number(Deno.args[2]);
  const sockets: net.Socket[] = [];
  for (let i = 0; i < n; i += 100) {
    const part = await Promise.all(
      Array.from(
        { length: Math.min(100, n - i) },
        () =>
          new Promise<net.Socket>((resolve, reject) => {
            const s = net.connect({ host: "127.0.0.1", port }, () => {
              s.write("GET / HTTP/1.1\r\nHost: web.test:8080\r\n\r\n");
            });
            let got = "";
            const onData = (c: Uint8Array) => {
              got += new TextDecoder().decode(c);
              if (/\r\n\r\nok$/.test(got)) {
                s.off("data", onData);
                resolve(s);
              }
            };
            s.on("data", onData);
            s.once("error", reject);
          }),
      ),
    );
    sockets.push(...part);
  }
  console.log(`LISTENING ${n}`); // the ready line startPeer waits for
  untilKilled();
}
