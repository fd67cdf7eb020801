/**
 * `deno task demo`: two small local backends, Petrel in front of them, and
 * some traffic through it, printing what happened.
 */
import http from "node:http";
import { buildApp } from "../src/app.ts";
import { parseConfig } from "../src/config/env.ts";
import { createLogger } from "../src/log.ts";
import { startHttpBackend } from "../tests/support/backend.ts";

function get(
  port: number,
  host: string,
  path: string,
): Promise<
  { status: number; headers: http.IncomingHttpHeaders; body: string }
> {
  return new Promise((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      path,
      headers: { host },
    }, (res) => {
      let body = "";
      res.on("data", (c) => body += c);
      res.on(
        "end",
        () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body }),
      );
    });
    req.on("error", reject);
    req.end();
  });
}

const a = await startHttpBackend();
const b = await startHttpBackend();
const dir = await Deno.makeTempDir({ prefix: "petrel-demo-" });
const configPath = `${dir}/petrel.yaml`;
await Deno.writeTextFile(
  configPath,
  `outbound: { listen: 127.0.0.1:0 }
admin: { listen: 127.0.0.1:0 }
services:
  - name: web.test:8080
    protocol: http1
    endpoints: [127.0.0.1:${a.port}, 127.0.0.1:${b.port}]
`,
);
const app = await buildApp(parseConfig({}, ["--config", configPath]), {
  logger: createLogger({ level: "error" }),
});
const port = app.outbound.port;
console.log(`backends: ${a.name} and ${b.name}`);
console.log(
  `petrel:   outbound 127.0.0.1:${port}, admin 127.0.0.1:${app.admin.port}\n`,
);

const seen: Record<string, number> = {};
for (let i = 0; i < 10; i++) {
  const r = await get(port, "web.test:8080", `/hello/${i}`);
  seen[r.body] = (seen[r.body] ?? 0) + 1;
  console.log(`GET http://web.test:8080/hello/${i} -> ${r.status} ${r.body}`);
}
console.log(`\nspread over endpoints: ${JSON.stringify(seen)}`);

const u = await get(port, "nowhere.invalid", "/");
console.log(
  `\nGET http://nowhere.invalid/ -> ${u.status}, l5d-proxy-error: ${
    u.headers["l5d-proxy-error"]
  }`,
);

const metrics =
  await (await fetch(`http://127.0.0.1:${app.admin.port}/metrics`)).text();
console.log("\nfrom /metrics:");
for (const line of metrics.split("\n")) {
  if (
    /^(request_total|response_total|outbound_http_errors_total)\{/.test(line)
  ) console.log(`  ${line}`);
}

await app.shutdown();
await a.close();
await b.close();
await Deno.remove(dir, { recursive: true });
