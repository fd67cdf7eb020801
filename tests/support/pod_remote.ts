/**
 * The servers of a pod test's remote namespace (see `pod.ts`), all in one
 * process: `deno run -A pod_remote.ts [--cert-dir=DIR] '<json servers>'`.
 * Prints `{"port": <first port>, "ready": true}` once every server listens.
 *
 * - http / https / h2c (HTTP/2 prior knowledge): answer every request with
 *   JSON `{servedBy: "host:port", method, path, headers}`.
 * - echo: TCP echo; the client's FIN ends our side after the last byte
 *   (half-close kept).
 * - banner: speaks first (`220 <host:port>\r\n`), then echoes like echo.
 *
 * @module
 */
import http from "node:http";
import http2 from "node:http2";
import https from "node:https";
import net from "node:net";

interface Server {
  kind: "http" | "https" | "h2c" | "echo" | "banner";
  host: string;
  port: number;
}

const certArg = Deno.args.find((a) => a.startsWith("--cert-dir="));
const specs = JSON.parse(
  Deno.args.find((a) => !a.startsWith("--")) ?? "[]",
) as Server[];

function label(s: Server): string {
  return s.host.includes(":") ? `[${s.host}]:${s.port}` : `${s.host}:${s.port}`;
}

function answer(s: Server) {
  return (
    req: http.IncomingMessage | http2.Http2ServerRequest,
    res: http.ServerResponse | http2.Http2ServerResponse,
  ) => {
    req.resume();
    req.on("end", () => {
      const body = JSON.stringify({
        servedBy: label(s),
        method: req.method,
        httpVersion: req.httpVersion,
        path: req.url,
        headers: req.headers,
      });
      res.writeHead(200, {
        "content-type": "application/json",
        "content-length": Buffer.byteLength(body),
      });
      res.end(body);
    });
  };
}

function echo(socket: net.Socket): void {
  socket.on("error", () => {});
  socket.pipe(socket);
}

const servers: net.Server[] = [];
for (const s of specs) {
  let server: net.Server;
  switch (s.kind) {
    case "http":
      server = http.createServer(answer(s));
      break;
    case "https": {
      const dir = certArg!.slice("--cert-dir=".length);
      server = https.createServer({
        cert: Deno.readTextFileSync(`${dir}/cert.pem`),
        key: Deno.readTextFileSync(`${dir}/key.pem`),
      }, answer(s));
      break;
    }
    case "h2c":
      server = http2.createServer(answer(s)) as unknown as net.Server;
      break;
    case "echo":
      server = net.createServer({ allowHalfOpen: true }, echo);
      break;
    case "banner":
      server = net.createServer({ allowHalfOpen: true }, (socket) => {
        socket.write(`220 ${label(s)}\r\n`);
        echo(socket);
      });
      break;
  }
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen({ host: s.host, port: s.port }, () => resolve());
  });
  servers.push(server);
}
console.log(JSON.stringify({ port: specs[0]?.port ?? 0, ready: true }));
Deno.addSignalListener("SIGTERM", () => Deno.exit(0));
