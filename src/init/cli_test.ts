import assert from "node:assert/strict";
import { parseInitArgs } from "./cli.ts";
import { nftRules } from "./rules.ts";

Deno.test("parseInitArgs() takes linkerd2-proxy-init's flags", () => {
  const a = parseInitArgs([
    "--incoming-proxy-port",
    "4143",
    "--outgoing-proxy-port=4140",
    "--proxy-uid",
    "2102",
    "--inbound-ports-to-ignore",
    "4190,4191,9000",
    "--outbound-ports-to-ignore",
    "25, 8000:8010",
    "--subnets-to-ignore",
    "10.0.0.0/8,fd00::/8",
    "--dry-run",
  ]);
  assert.equal(a.inboundProxyPort, 4143);
  assert.equal(a.outboundProxyPort, 4140);
  assert.equal(a.proxyUid, 2102);
  assert.deepEqual(a.inboundPortsToIgnore, ["4190", "4191", "9000"]);
  assert.deepEqual(a.outboundPortsToIgnore, ["25", "8000-8010"]);
  assert.deepEqual(a.subnetsToIgnore, ["10.0.0.0/8", "fd00::/8"]);
  assert.equal(a.dryRun, true);
  assert.equal(a.ipv6, true);
  // The proxy's control and admin ports are never redirected inbound.
  assert.deepEqual(parseInitArgs([]).inboundPortsToIgnore, ["4190", "4191"]);
  assert.equal(parseInitArgs(["--ipv6=false"]).ipv6, false);
  assert.equal(parseInitArgs(["--simulate"]).dryRun, true);
});

Deno.test("parseInitArgs() refuses bad values in std's message style", () => {
  assert.throws(
    () => parseInitArgs(["--proxy-uid", "x"]),
    new TypeError('Cannot parse --proxy-uid: current value is "x"'),
  );
  assert.throws(
    () => parseInitArgs(["--outbound-ports-to-ignore", "70000"]),
    /Cannot parse --outbound-ports-to-ignore: current value is "70000"/,
  );
  assert.throws(() => parseInitArgs(["--subnets-to-ignore", "nope"]));
  assert.throws(() => parseInitArgs(["--nope"]), /Unknown flag/);
  assert.throws(() => parseInitArgs(["--proxy-uid"]), /Missing value/);
});

Deno.test("nftRules() writes proxy-init's chains as one replaceable table", () => {
  const rules = nftRules(parseInitArgs([
    "--proxy-uid",
    "2102",
    "--proxy-gid",
    "2102",
    "--outbound-ports-to-ignore",
    "25",
  ]));
  const lines = rules.split("\n").map((l) => l.trim());
  // Replaces any earlier table in the same transaction.
  assert.deepEqual(lines.slice(0, 3), [
    "table inet petrel_proxy_init",
    "delete table inet petrel_proxy_init",
    "table inet petrel_proxy_init {",
  ]);
  const out = lines.indexOf("chain proxy_init_output {");
  // Order matters: proxy uid/gid, loopback and ignored ports return first.
  assert.deepEqual(lines.slice(out + 1, out + 6), [
    'meta skuid 2102 return comment "ignore-proxy-user-id"',
    'meta skgid 2102 return comment "ignore-proxy-group-id"',
    'oifname "lo" return comment "ignore-loopback"',
    'tcp dport 25 return comment "ignore-port-25"',
    'meta l4proto tcp redirect to :4140 comment "redirect-all-outgoing-to-proxy-port"',
  ]);
  assert.ok(
    lines.includes("type nat hook output priority -100; policy accept;"),
  );
  const inb = lines.indexOf("chain proxy_init_redirect {");
  assert.deepEqual(lines.slice(inb + 1, inb + 3), [
    'tcp dport { 4190, 4191 } return comment "ignore-port-4190,4191"',
    'meta l4proto tcp redirect to :4143 comment "redirect-all-incoming-to-proxy-port"',
  ]);
  // --ports-to-redirect: only the listed inbound ports; IPv4 only.
  const listed = nftRules(
    parseInitArgs(["--ports-to-redirect", "8080,9090", "--ipv6=false"]),
  );
  assert.match(listed, /^table ip petrel_proxy_init$/m);
  assert.match(listed, /tcp dport 8080 redirect to :4143/);
  assert.match(listed, /tcp dport 9090 redirect to :4143/);
  assert.doesNotMatch(listed, /redirect-all-incoming/);
  // No uid given (or 0): nothing skips by owner, as proxy-init.
  assert.doesNotMatch(nftRules(parseInitArgs([])), /skuid/);
});
