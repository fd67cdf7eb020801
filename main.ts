/**
 * Petrel: a service-mesh sidecar proxy. `deno run -A main.ts [--config FILE]`.
 *
 * parseConfig(env, args) → buildApp(config) → serve; SIGTERM/SIGINT drain.
 *
 * @module
 */
import { buildApp } from "./src/app.ts";
import { parseConfig } from "./src/config/env.ts";
import { runInit } from "./src/init/cli.ts";

const HELP = `Petrel: a service-mesh sidecar proxy (linkerd2-proxy compatible)

Usage:
  deno run -A main.ts [--config FILE]          run the proxy
  deno run -A main.ts check [--config FILE]    validate a config (and the environment);
                                               exit 0 "config OK: N services", else 1
  deno run -A main.ts init [flags]             install the pod's redirect rules (nftables),
                                               as linkerd2-proxy-init; init --help for flags
  deno run -A main.ts --help                   this text

Flags:
  --config FILE   YAML config (also PETREL_CONFIG); default: the embedded petrel.yaml
  -h, --help      this text

Environment (linkerd names; they win over the file):
  LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR            127.0.0.1:4140
  LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS           a comma list (127.0.0.1:4140,[::1]:4140): a listener each
  LINKERD2_PROXY_INGRESS_MODE                    false; true: l5d-dst-override routes redirected connections
  LINKERD2_PROXY_ADMIN_LISTEN_ADDR               127.0.0.1:4191 (dashboard at /, /metrics, /state.json)
  LINKERD2_PROXY_INBOUND_LISTEN_ADDR             inbound listener (with PETREL_INBOUND_APP_PORT)
  LINKERD2_PROXY_INBOUND_DEFAULT_POLICY          all-unauthenticated | all-authenticated | deny
  LINKERD2_PROXY_INBOUND_CONNECT_TIMEOUT, LINKERD2_PROXY_INBOUND_DETECT_TIMEOUT
  LINKERD2_PROXY_OUTBOUND_CONNECT_TIMEOUT        1s
  LINKERD2_PROXY_OUTBOUND_CONNECT_EXP_BACKOFF_{MIN,MAX,JITTER}  100ms, 60s, 0.1
  LINKERD2_PROXY_OUTBOUND_DETECT_TIMEOUT         10s
  LINKERD2_PROXY_OUTBOUND_HTTP1_CONNECTION_POOL_IDLE_TIMEOUT  3s
  LINKERD2_PROXY_OUTBOUND_MAX_IDLE_CONNS_PER_ENDPOINT  10000
  LINKERD2_PROXY_OUTBOUND_MAX_IN_FLIGHT          100000
  LINKERD2_PROXY_OUTBOUND_HTTP_QUEUE_CAPACITY    10000
  LINKERD2_PROXY_OUTBOUND_HTTP_FAILFAST_TIMEOUT  3s
  LINKERD2_PROXY_OUTBOUND_DISCOVERY_IDLE_TIMEOUT 5s
  LINKERD2_PROXY_OUTBOUND_DISABLE_INFORMATIONAL_HEADERS  false
  LINKERD2_PROXY_SHUTDOWN_GRACE_PERIOD           120s
  LINKERD2_PROXY_SHUTDOWN_ENDPOINT_ENABLED       false (POST /shutdown off, as in linkerd)
  LINKERD2_PROXY_LOG                             warn,linkerd=info
  LINKERD2_PROXY_LOG_FORMAT                      plain | json
  LINKERD2_PROXY_ACCESS_LOG                      off | apache | json (one line per request, stderr)
  LINKERD2_PROXY_IDENTITY_DIR, LINKERD2_PROXY_IDENTITY_TRUST_ANCHORS,
  LINKERD2_PROXY_IDENTITY_LOCAL_NAME             local mTLS identity
  LINKERD2_PROXY_DESTINATION_SVC_ADDR/_NAME, LINKERD2_PROXY_POLICY_SVC_ADDR/_NAME,
  LINKERD2_PROXY_IDENTITY_SVC_ADDR/_NAME, LINKERD2_PROXY_IDENTITY_TOKEN_FILE
                                                 the Linkerd control plane
  LINKERD2_PROXY_DESTINATION_PROFILE_NETWORKS    CIDRs whose original destinations get GetProfile
  PETREL_CONFIG                                  the YAML config file (like --config)
  PETREL_CONFIG_MAX_BYTES                        1048576 (larger config files are refused)
  PETREL_ADMIN_DASHBOARD_PUBLIC                  false (dashboard and /state.json: loopback clients only)
  PETREL_INBOUND_APP_PORT                        the application port behind the inbound proxy
See README.md for every variable and the config reference.`;

/**
 * `main.ts check`: parses the config and the environment as start-up does,
 * without starting anything. 0 and "config OK: N services", or 1 and the
 * error (file:line:col: path: message).
 */
function check(args: string[]): number {
  let config;
  try {
    config = parseConfig(Deno.env.toObject(), args);
  } catch (err) {
    console.error(`petrel: ${err instanceof Error ? err.message : err}`);
    return 1;
  }
  const n = config.file.services.length;
  console.log(
    `config OK: ${n} service${n === 1 ? "" : "s"} (${
      config.configPath ?? "embedded petrel.yaml"
    })`,
  );
  return 0;
}

async function main(args: string[]): Promise<number> {
  if (args[0] === "init") return await runInit(args.slice(1));
  if (args.includes("--help") || args.includes("-h")) {
    console.log(HELP);
    return 0;
  }
  if (args[0] === "check") return check(args.slice(1));
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
