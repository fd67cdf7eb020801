/**
 * A minimal, fast HTTP/1.1 keep-alive responder for load benchmarks: answers
 * every request with 200 and a short body. Prints `LISTENING <port>`.
 */
import net from "node:net";

const body = "hello from the bench backend\n";
const response = new TextEncoder().encode(
  `HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: ${body.length}\r\n\r\n${body}`,
);

const server = net.createServer({ noDelay: true }, (socket) => {
  let pending = "";
  socket.on("data", (chunk) => {
    pending += chunk.toString("latin1");
    let n = 0;
    let idx;
    while ((idx = pending.indexOf("\r\n\r\n")) >= 0) {
      pending = pending.slice(idx + 4);
      n++;
    }
    for (let i = 0; i < n; i++) socket.write(response);
  });
  socket.on("error", () => socket.destroy());
});
server.listen(Number(Deno.args[0] ?? 0), "127.0.0.1", () => {
  console.log(`LISTENING ${(server.address() as net.AddressInfo).port}`);
});
