/**
 * `petrel init`: installs the pod's redirect rules, the job of
 * linkerd2-proxy-init (`linkerd-init`) when the CNI plugin is not used.
 * Flag names are proxy-init's; the rules are written with `nft -f -`
 * (`--dry-run`/`--simulate` prints them instead).
 *
 * @module
 */
import { type InitConfig, nftRules } from "./rules.ts";

/** Parsed `petrel init` arguments. */
export interface InitArgs extends InitConfig {
  /** `--dry-run` / `--simulate` (proxy-init's name): print, do not apply. */
  dryRun: boolean;
  /** `--firewall-bin-path`: the nft binary. @default "nft" */
  nftBin: string;
  /** `--netns`: run `nft` in this network namespace (`ip netns exec`). */
  netns?: string;
}

/** The control and admin ports, which the injector always skips inbound. */
const PROXY_PORTS_IGNORED = ["4190", "4191"];

const PORT_RANGE_REGEXP = /^(\d{1,5})(?:[-:](\d{1,5}))?$/;
const CIDR4_REGEXP = /^\d{1,3}(?:\.\d{1,3}){3}(?:\/\d{1,2})?$/;
const CIDR6_REGEXP = /^[0-9a-fA-F:]+(?:\/\d{1,3})?$/;

/** Usage text of `petrel init`. */
export const INIT_HELP =
  `Usage: deno run -A main.ts init [flags]   (linkerd2-proxy-init's flags)

  --incoming-proxy-port N       inbound proxy port (default 4143)
  --outgoing-proxy-port N       outbound proxy port (default 4140)
  --proxy-uid N                 the proxy's uid: its traffic is not redirected
  --proxy-gid N                 the proxy's gid: its traffic is not redirected
  --inbound-ports-to-ignore L   ports/ranges not redirected inbound (4190,4191 always)
  --outbound-ports-to-ignore L  ports/ranges not redirected outbound
  --ports-to-redirect L         redirect only these inbound ports (default: all)
  --subnets-to-ignore L         inbound source CIDRs not redirected
  --ipv6=false                  IPv4 rules only (default: IPv4 and IPv6)
  --firewall-bin-path PATH      the nft binary (default nft)
  --netns NAME                  apply in this network namespace
  --dry-run, --simulate         print the nftables rules instead of applying them`;

/** Parses `petrel init` flags (linkerd2-proxy-init `cmd/root.go` names). */
export function parseInitArgs(args: readonly string[]): InitArgs {
  const out: InitArgs = {
    inboundProxyPort: 4143,
    outboundProxyPort: 4140,
    inboundPortsToIgnore: [],
    outboundPortsToIgnore: [],
    portsToRedirect: [],
    subnetsToIgnore: [],
    ipv6: true,
    dryRun: false,
    nftBin: "nft",
  };
  let inboundIgnored: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const eq = arg.indexOf("=");
    const flag = eq > 0 ? arg.slice(0, eq) : arg;
    const inline = eq > 0 ? arg.slice(eq + 1) : undefined;
    const value = (): string => {
      if (inline !== undefined) return inline;
      const v = args[++i];
      if (v === undefined) throw new TypeError(`Missing value for ${flag}`);
      return v;
    };
    switch (flag) {
      case "--incoming-proxy-port":
      case "-p":
        out.inboundProxyPort = port(flag, value());
        break;
      case "--outgoing-proxy-port":
      case "-o":
        out.outboundProxyPort = port(flag, value());
        break;
      case "--proxy-uid":
      case "-u":
        out.proxyUid = id(flag, value());
        break;
      case "--proxy-gid":
      case "-g":
        out.proxyGid = id(flag, value());
        break;
      case "--inbound-ports-to-ignore":
        inboundIgnored = portList(flag, value());
        break;
      case "--outbound-ports-to-ignore":
        out.outboundPortsToIgnore = portList(flag, value());
        break;
      case "--ports-to-redirect":
      case "-r":
        out.portsToRedirect = list(value()).map((p) => port(flag, p));
        break;
      case "--subnets-to-ignore":
        out.subnetsToIgnore = list(value()).map((s) => subnet(flag, s));
        break;
      case "--ipv6":
        out.ipv6 = bool(flag, inline ?? "true");
        break;
      case "--firewall-bin-path":
        out.nftBin = value();
        break;
      case "--netns":
        out.netns = value();
        break;
      case "--dry-run":
      case "--simulate":
        out.dryRun = inline === undefined ? true : bool(flag, inline);
        break;
      default:
        throw new TypeError(`Unknown flag for petrel init: "${arg}"`);
    }
  }
  out.inboundPortsToIgnore = [
    ...new Set([...PROXY_PORTS_IGNORED, ...inboundIgnored]),
  ];
  return out;
}

/**
 * Runs `petrel init`: prints the rules (`--dry-run`) or applies them with
 * `nft -f -`. Returns the exit code.
 */
export async function runInit(args: readonly string[]): Promise<number> {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(INIT_HELP);
    return 0;
  }
  let parsed: InitArgs;
  try {
    parsed = parseInitArgs(args);
  } catch (err) {
    console.error(`petrel init: ${err instanceof Error ? err.message : err}`);
    return 2;
  }
  const rules = nftRules(parsed);
  if (parsed.dryRun) {
    console.log(rules.trimEnd());
    return 0;
  }
  const [cmd, cmdArgs] = parsed.netns === undefined
    ? [parsed.nftBin, ["-f", "-"]]
    : ["ip", ["netns", "exec", parsed.netns, parsed.nftBin, "-f", "-"]];
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(cmd, {
      args: cmdArgs,
      stdin: "piped",
      stdout: "inherit",
      stderr: "piped",
    }).spawn();
  } catch (err) {
    console.error(
      `petrel init: cannot run ${cmd}: ${
        err instanceof Error ? err.message : err
      }`,
    );
    return 1;
  }
  const writer = child.stdin.getWriter();
  await writer.write(new TextEncoder().encode(rules));
  await writer.close();
  const { code, stderr } = await child.output();
  if (code !== 0) {
    console.error(
      `petrel init: nft failed (exit ${code}): ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
    return 1;
  }
  console.error(
    `petrel init: rules installed (table ${
      parsed.ipv6 ? "inet" : "ip"
    } petrel_proxy_init): outbound → :${parsed.outboundProxyPort}, inbound → :${parsed.inboundProxyPort}`,
  );
  return 0;
}

function list(v: string): string[] {
  return v.split(",").map((s) => s.trim()).filter((s) => s !== "");
}

function port(flag: string, v: string): number {
  const n = Number(v);
  if (!/^\d{1,5}$/.test(v) || n < 1 || n > 65535) {
    throw new TypeError(`Cannot parse ${flag}: current value is "${v}"`);
  }
  return n;
}

function id(flag: string, v: string): number {
  if (!/^\d{1,10}$/.test(v)) {
    throw new TypeError(`Cannot parse ${flag}: current value is "${v}"`);
  }
  return Number(v);
}

/** "80", "8000-8010" or "8000:8010" → nft's "80" / "8000-8010". */
function portList(flag: string, v: string): string[] {
  return list(v).map((p) => {
    const m = PORT_RANGE_REGEXP.exec(p);
    const lo = Number(m?.[1]);
    const hi = m?.[2] === undefined ? lo : Number(m[2]);
    if (!m || lo < 1 || hi > 65535 || hi < lo) {
      throw new TypeError(`Cannot parse ${flag}: current value is "${p}"`);
    }
    return lo === hi ? String(lo) : `${lo}-${hi}`;
  });
}

function subnet(flag: string, v: string): string {
  if (!CIDR4_REGEXP.test(v) && !(v.includes(":") && CIDR6_REGEXP.test(v))) {
    throw new TypeError(`Cannot parse ${flag}: current value is "${v}"`);
  }
  return v;
}

function bool(flag: string, v: string): boolean {
  if (v === "true") return true;
  if (v === "false") return false;
  throw new TypeError(`Cannot parse ${flag}: current value is "${v}"`);
}
