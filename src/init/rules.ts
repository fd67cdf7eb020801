/**
 * The firewall rules of `petrel init`, linkerd2-proxy-init's (the
 * `linkerd-init` container, `iptables/iptables.go`) written as one
 * nftables table: outbound TCP from the app is redirected to the proxy's
 * outbound port except traffic from the proxy's own uid/gid, over loopback
 * and to ignored ports; inbound TCP is redirected to the proxy's inbound
 * port except ignored ports and source subnets.
 *
 * @module
 */

/** The nftables table `petrel init` owns (replaced as a whole on each run). */
export const NFT_TABLE = "petrel_proxy_init";

/** What `petrel init` installs (linkerd2-proxy-init `FirewallConfiguration`). */
export interface InitConfig {
  /** `--incoming-proxy-port`. @default 4143 */
  inboundProxyPort: number;
  /** `--outgoing-proxy-port`. @default 4140 */
  outboundProxyPort: number;
  /** `--proxy-uid`: its traffic is not redirected (only when > 0, as linkerd). */
  proxyUid?: number;
  /** `--proxy-gid`: its traffic is not redirected. */
  proxyGid?: number;
  /** `--inbound-ports-to-ignore` ("4190", "8000-8010"). */
  inboundPortsToIgnore: readonly string[];
  /** `--outbound-ports-to-ignore`. */
  outboundPortsToIgnore: readonly string[];
  /** `--ports-to-redirect`: redirect only these inbound ports (else all). */
  portsToRedirect: readonly number[];
  /** `--subnets-to-ignore`: inbound connections from these sources are not redirected. */
  subnetsToIgnore: readonly string[];
  /** `--ipv6`: also redirect IPv6. @default true */
  ipv6: boolean;
}

/**
 * The nftables script for `config`, for `nft -f -`: one transaction that
 * replaces the table if it exists. Chain and comment names follow
 * linkerd2-proxy-init's (`PROXY_INIT_REDIRECT`, `PROXY_INIT_OUTPUT`,
 * `ignore-proxy-user-id`, ...).
 */
export function nftRules(config: InitConfig): string {
  const family = config.ipv6 ? "inet" : "ip";
  const t = `${family} ${NFT_TABLE}`;
  const lines: string[] = [
    `table ${t}`,
    `delete table ${t}`,
    `table ${t} {`,
    "  chain proxy_init_redirect {",
  ];
  const inIgnored = config.inboundPortsToIgnore;
  if (inIgnored.length > 0) {
    lines.push(
      `    tcp dport ${nftSet(inIgnored)} return comment "ignore-port-${
        inIgnored.join(",")
      }"`,
    );
  }
  for (const subnet of config.subnetsToIgnore) {
    const v6 = subnet.includes(":");
    if (v6 && !config.ipv6) continue;
    lines.push(
      `    ${
        v6 ? "ip6" : "ip"
      } saddr ${subnet} return comment "ignore-subnet-${subnet}"`,
    );
  }
  if (config.portsToRedirect.length === 0) {
    lines.push(
      `    meta l4proto tcp redirect to :${config.inboundProxyPort} comment "redirect-all-incoming-to-proxy-port"`,
    );
  } else {
    for (const port of config.portsToRedirect) {
      lines.push(
        `    tcp dport ${port} redirect to :${config.inboundProxyPort} comment "redirect-port-${port}-to-proxy-port"`,
      );
    }
  }
  lines.push(
    "  }",
    "  chain prerouting {",
    "    type nat hook prerouting priority dstnat; policy accept;",
    '    jump proxy_init_redirect comment "install-proxy-init-prerouting"',
    "  }",
    "  chain proxy_init_output {",
  );
  if (config.proxyUid !== undefined && config.proxyUid > 0) {
    lines.push(
      `    meta skuid ${config.proxyUid} return comment "ignore-proxy-user-id"`,
    );
  }
  if (config.proxyGid !== undefined && config.proxyGid > 0) {
    lines.push(
      `    meta skgid ${config.proxyGid} return comment "ignore-proxy-group-id"`,
    );
  }
  lines.push('    oifname "lo" return comment "ignore-loopback"');
  const outIgnored = config.outboundPortsToIgnore;
  if (outIgnored.length > 0) {
    lines.push(
      `    tcp dport ${nftSet(outIgnored)} return comment "ignore-port-${
        outIgnored.join(",")
      }"`,
    );
  }
  lines.push(
    `    meta l4proto tcp redirect to :${config.outboundProxyPort} comment "redirect-all-outgoing-to-proxy-port"`,
    "  }",
    "  chain output {",
    "    type nat hook output priority -100; policy accept;",
    '    jump proxy_init_output comment "install-proxy-init-output"',
    "  }",
    "}",
  );
  return lines.join("\n") + "\n";
}

/** `{ 4190, 4191, 8000-8010 }` (a single port needs no braces). */
function nftSet(ports: readonly string[]): string {
  return ports.length === 1 ? ports[0]! : `{ ${ports.join(", ")} }`;
}
