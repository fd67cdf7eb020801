/**
 * Petrel: a service-mesh sidecar proxy. `deno run -A main.ts [--config FILE]`.
 *
 * parseConfig(env, args) → buildApp(config) → serve; SIGTERM/SIGINT drain.
 *
 * @module
 */
import { buildApp } from "./src/app.ts";
import { parseConfig } from "./src/config/env.ts";

const HELP = `Petrel: a service-mesh sidecar proxy (linkerd2-proxy compatible)

Usage: deno run -A main.ts [--config FILE]

  --config FILE   YAML config (also PETREL_CONFIG); default: the embedded petrel.yaml
  --help          this text

Environment (linkerd names): LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR,
LINKERD2_PROXY_ADMIN_LISTEN_ADDR, LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT,
LINKERD2_PROXY_OUTBOUND_DETECT_TIMEOUT, LINKERD2_PROXY_OUTBOUND_HTTP_FAILFAST_TIMEOUT,
LINKERD2_PROXY_OUTBOUND_MAX_IN_FLIGHT, LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD,
LINKERD2_PROXY_LOG, ... (see README).`;

async function main(args: string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  const env = Deno.env.toObject();
  let config;
  try {
    config = parseConfig(env, args);
  } catch (err) {
    console.error(`petrel: ${err instanceof Error ? err.message : err}`);
    return 2;
  }
  const app = await buildApp(config, { env });
  // One JSON line on stdout says where Petrel listens (supervisors, tests).
  console.log(JSON.stringify({
    msg: "petrel started",
    port: app.outbound.port,
    outbound: `${app.outbound.host}:${app.outbound.port}`,
    admin: `${app.admin.hostname}:${app.admin.port}`,
    adminPort: app.admin.port,
    pid: Deno.pid,
  }));
  const stop = () => void app.shutdown();
  Deno.addSignalListener("SIGTERM", stop);
  Deno.addSignalListener("SIGINT", stop);
  await app.done;
  return 0;
}

if (import.meta.main) {
  Deno.exit(await main(Deno.args));
}
