/**
 * A network namespace joined to this one by a veth pair, so a test can be a
 * non-loopback client of a local server: the host side gets `hostAddr`, the
 * namespace `nsAddr` (both in 10.213.0.0/16, chosen per process so parallel
 * tests do not collide). Traffic stays between the two ends of the pair.
 *
 * Needs root and `ip` (iproute2); `netnsAvailable()` says whether it can work.
 *
 * @module
 */

/** A created namespace; dispose it to delete the namespace and the veth pair. */
export interface TestNetns extends AsyncDisposable {
  readonly name: string;
  /** The host-side address (servers bind here). */
  readonly hostAddr: string;
  /** The namespace-side address (the client's address as servers see it). */
  readonly nsAddr: string;
  /** Runs `cmd args` inside the namespace; resolves with its exit code and output. */
  exec(
    cmd: string,
    args: string[],
  ): Promise<{ code: number; stdout: string; stderr: string }>;
}

/** Whether this process can create namespaces (root, with `ip` on the PATH). */
export function netnsAvailable(): boolean {
  if (Deno.build.os !== "linux" || Deno.uid() !== 0) return false;
  try {
    return Deno.statSync("/usr/sbin/ip").isFile ||
      Deno.statSync("/sbin/ip").isFile;
  } catch {
    return false;
  }
}

let counter = 0;

async function ip(args: string[]): Promise<void> {
  const out = await new Deno.Command("ip", {
    args,
    stdout: "null",
    stderr: "piped",
  })
    .output();
  if (!out.success) {
    throw new Error(
      `ip ${args.join(" ")}: ${new TextDecoder().decode(out.stderr).trim()}`,
    );
  }
}

/** Creates a namespace and a veth pair with a /30 between them. */
export async function createNetns(): Promise<TestNetns> {
  const n = counter++;
  const id = `${Deno.pid % 10_000}x${n}`;
  const name = `petrel-t${id}`;
  const hostIf = `pt${id}a`;
  const nsIf = `pt${id}b`;
  // 10.213.A.B/30 per (pid, n): 64 subnets per third octet.
  const slot = (Deno.pid * 8 + n) % (256 * 64);
  const third = Math.floor(slot / 64);
  const base = (slot % 64) * 4;
  const hostAddr = `10.213.${third}.${base + 1}`;
  const nsAddr = `10.213.${third}.${base + 2}`;
  const cleanup = async () => {
    await ip(["link", "del", hostIf]).catch(() => {});
    await ip(["netns", "del", name]).catch(() => {});
  };
  try {
    await ip(["netns", "add", name]);
    await ip(["link", "add", hostIf, "type", "veth", "peer", "name", nsIf]);
    await ip(["link", "set", nsIf, "netns", name]);
    await ip(["addr", "add", `${hostAddr}/30`, "dev", hostIf]);
    await ip(["link", "set", hostIf, "up"]);
    await ip(["-n", name, "addr", "add", `${nsAddr}/30`, "dev", nsIf]);
    await ip(["-n", name, "link", "set", nsIf, "up"]);
    await ip(["-n", name, "link", "set", "lo", "up"]);
  } catch (err) {
    await cleanup();
    throw err;
  }
  return {
    name,
    hostAddr,
    nsAddr,
    async exec(cmd, args) {
      const out = await new Deno.Command("ip", {
        args: ["netns", "exec", name, cmd, ...args],
        stdout: "piped",
        stderr: "piped",
      }).output();
      const dec = new TextDecoder();
      return {
        code: out.code,
        stdout: dec.decode(out.stdout),
        stderr: dec.decode(out.stderr),
      };
    },
    [Symbol.asyncDispose]: cleanup,
  };
}
