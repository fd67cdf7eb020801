/**
 * Peer-reported load on the wire (issue 20): three server pods (an inbound
 * Petrel with mTLS in front of an app with 4 workers) and one client-side
 * Petrel; pod 0's service time changes during each run (20 ms for the first
 * half, 60 ms for the second; the others 5 ms). A closed loop at
 * concurrency 16 and 64 runs once through the service with linkerd's P2C
 * over Peak-EWMA and once through the same pods with `loadBalancer:
 * peer-load`, in the same process, and prints client latency and the slow
 * pod's share.
 *
 *   deno run -A bench/peer_load_bench.ts [--seconds S]
 *
 * @module
 */
import {
  closedLoop,
  EWMA_SERVICE,
  PEER_SERVICE,
  quantile,
  startPeerLoadMesh,
} from "../tests/support/peer_load_mesh.ts";

const i = Deno.args.indexOf("--seconds");
const SECONDS = i >= 0 ? Number(Deno.args[i + 1]) : 6;
const FAST_MS = 5, SLOW_MS = [20, 60];

await using mesh = await startPeerLoadMesh([SLOW_MS[0]!, FAST_MS, FAST_MS]);
const slow = mesh.pods[0]!;
console.log(
  `pods: 3 × (inbound Petrel, mTLS → app with 4 workers); pod 0 ${
    SLOW_MS.join(" ms then ")
  } ms (switch at half time), pods 1–2 ${FAST_MS} ms; ${SECONDS} s per run\n`,
);
console.log(
  "| c | balancer | requests | p50 ms | p99 ms | p999 ms | slow pod share (1st half / 2nd half) |",
);
console.log("| --- | --- | ---: | ---: | ---: | ---: | ---: |");
for (const concurrency of [16, 64]) {
  for (
    const [name, host] of [["p2c-ewma", EWMA_SERVICE], [
      "peer-load",
      PEER_SERVICE,
    ]]
  ) {
    slow.serviceMs = SLOW_MS[0]!;
    const served = () => mesh.pods.map((p) => p.served);
    const start = served();
    let half: number[] | undefined;
    const run = await closedLoop(mesh.client.port, host!, {
      concurrency,
      durationMs: SECONDS * 1000,
      pods: 3,
      onProgress(f) {
        if (f >= 0.5 && half === undefined) {
          half = served();
          slow.serviceMs = SLOW_MS[1]!;
        }
      },
    });
    const end = served();
    const mid = half ?? end;
    const first = mid.map((n, k) => n - start[k]!);
    const second = end.map((n, k) => n - mid[k]!);
    const total1 = first.reduce((a, b) => a + b, 0);
    const total2 = second.reduce((a, b) => a + b, 0);
    const pct = (x: number, t: number) =>
      `${(100 * x / Math.max(1, t)).toFixed(1)} %`;
    console.log(
      `| ${concurrency} | ${name} | ${run.latenciesMs.length} | ${
        quantile(run.latenciesMs, 0.5).toFixed(1)
      } | ${quantile(run.latenciesMs, 0.99).toFixed(1)} | ${
        quantile(run.latenciesMs, 0.999).toFixed(1)
      } | ${pct(first[0]!, total1)} / ${pct(second[0]!, total2)} |` +
        (run.errors || run.sawLoadHeader
          ? ` errors ${run.errors}, header seen ${run.sawLoadHeader}`
          : ""),
    );
  }
}
const sawAtApps = mesh.pods.reduce((a, p) => a + p.sawLoadHeader, 0);
console.log(`\nl5d-petrel-load seen by the apps: ${sawAtApps}`);
