/**
 * Peer-reported load on the wire (issue 20): three inbound Petrels with
 * mTLS in front of apps, one of them slow, and one client-side Petrel. The
 * `l5d-petrel-load` header never reaches an application (server app nor
 * client), and `loadBalancer: peer-load` moves load off the slow pod.
 */
import assert from "node:assert/strict";
import {
  closedLoop,
  EWMA_SERVICE,
  PEER_SERVICE,
  startPeerLoadMesh,
} from "./support/peer_load_mesh.ts";

Deno.test("peer-load: the load header never reaches the apps, and the slow pod gets little traffic", async () => {
  // Pod 0's app is 10× slower; 4 workers each.
  await using mesh = await startPeerLoadMesh([40, 4, 4]);
  const opts = {
    concurrency: 16,
    durationMs: 30_000,
    maxRequests: 1500,
    pods: 3,
  };
  // linkerd's Peak-EWMA over the same pods, for comparison, then peer-load.
  const ewma = await closedLoop(mesh.client.port, EWMA_SERVICE, opts);
  const run = await closedLoop(mesh.client.port, PEER_SERVICE, opts);
  assert.equal(run.errors + ewma.errors, 0);
  assert.equal(run.latenciesMs.length, 1500);
  assert.equal(
    run.sawLoadHeader + ewma.sawLoadHeader,
    0,
    "client saw l5d-petrel-load",
  );
  for (const pod of mesh.pods) {
    assert.equal(pod.sawLoadHeader, 0, "an app saw l5d-petrel-load");
  }
  // The inbounds reported and the balancer used it: the slow pod's share
  // is below Peak-EWMA's (~5 % here) and under 4 %.
  const share = run.perPod[0]! / 1500, ewmaShare = ewma.perPod[0]! / 1500;
  assert.ok(
    share < 0.04 && share < ewmaShare,
    `slow pod share ${share.toFixed(3)} (${run.perPod}); p2c-ewma ${
      ewmaShare.toFixed(3)
    } (${ewma.perPod})`,
  );
});
