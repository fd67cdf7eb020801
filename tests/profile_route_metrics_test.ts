/**
 * The ServiceProfile route families over real sockets (linkerd
 * `ProfileRouteLabels`, what `linkerd viz routes` reads): Petrel driven by
 * the grpc-js test control plane with a profile of two named routes, one
 * retryable, and the implicit catch-all; a real HTTP/1 backend.
 */
import assert from "node:assert/strict";
import { parsePromText, type PromSample } from "../src/metrics/_test_util.ts";
import { startHttpBackend } from "./support/backend.ts";
import { startControlPlane } from "./support/control_plane.ts";
import { httpRequest, startPetrel, waitFor } from "./support/petrel.ts";

const YAML =
  "outbound: { listen: 127.0.0.1:0 }\nadmin: { listen: 127.0.0.1:0 }\nservices: []\n";
const WEB = "web.test:8080";

/** Sum of the samples of `name` whose labels include `labels` (`undefined` = label absent). */
function metric(
  samples: PromSample[],
  name: string,
  labels: Record<string, string | undefined>,
): number {
  return samples
    .filter((s) =>
      s.name === name &&
      Object.entries(labels).every(([k, v]) => s.labels[k] === v)
    )
    .reduce((a, s) => a + s.value, 0);
}

Deno.test("profile routes: route_request_total, route_response_total, route_response_latency_ms by rt_route and dst; route_actual_* per attempt", async () => {
  let failAttempts = 0;
  const backend = await startHttpBackend((req) => {
    if (req.path === "/ok") return { status: 200, body: "ok" };
    if (req.path === "/fail") {
      failAttempts++;
      return { status: 500, body: "fail" };
    }
    if (req.path === "/other") return { status: 201, body: "other" };
    return undefined;
  });
  const cp = await startControlPlane();
  cp.setEndpoints(WEB, [{ addr: `127.0.0.1:${backend.port}` }]);
  cp.setProfile(WEB, {
    fully_qualified_name: "web.test",
    routes: [
      {
        condition: { path: { regex: "/ok" } },
        metrics_labels: { route: "ok-route" },
      },
      {
        condition: { path: { regex: "/fail" } },
        metrics_labels: { route: "fail-route" },
        is_retryable: true,
      },
    ],
    retry_budget: {
      retry_ratio: 0.2,
      min_retries_per_second: 10,
      ttl: { seconds: 10 },
    },
  });
  const petrel = await startPetrel(YAML, {
    LINKERD2_PROXY_DESTINATION_SVC_ADDR: cp.addr,
    LINKERD2_PROXY_DESTINATION_PROFILE_SUFFIXES: "test.",
  });
  const scrape = async () =>
    parsePromText(
      (await httpRequest(petrel.adminPort, "localhost", "/metrics")).body,
    ).samples;
  try {
    const route = (rt: string | undefined) => ({
      direction: "outbound",
      dst: WEB,
      rt_route: rt,
    });
    // The profile is in force once a request counts under its route.
    await waitFor(async () => {
      await httpRequest(petrel.port, WEB, "/ok");
      return metric(await scrape(), "route_request_total", route("ok-route")) >
        0;
    }, "the profile's routes");
    const before = await scrape();
    const nOk = 7, nFail = 3, nOther = 4;
    for (let i = 0; i < nOk; i++) {
      assert.equal((await httpRequest(petrel.port, WEB, "/ok")).status, 200);
    }
    const attemptsBefore = failAttempts;
    for (let i = 0; i < nFail; i++) {
      assert.equal((await httpRequest(petrel.port, WEB, "/fail")).status, 500);
    }
    const failSent = failAttempts - attemptsBefore;
    for (let i = 0; i < nOther; i++) {
      assert.equal(
        (await httpRequest(petrel.port, WEB, "/other")).status,
        201,
      );
    }
    const after = await scrape();
    const d = (name: string, labels: Record<string, string | undefined>) =>
      metric(after, name, labels) - metric(before, name, labels);
    const summary = {
      ok: d("route_request_total", route("ok-route")),
      fail: d("route_request_total", route("fail-route")),
      default: d("route_request_total", route(undefined)),
      failActual: d("route_actual_request_total", route("fail-route")),
      failSent,
    };
    console.log(`  ${JSON.stringify(summary)}`);
    assert.equal(summary.ok, nOk);
    assert.equal(summary.fail, nFail);
    assert.equal(summary.default, nOther);
    assert.equal(
      d("route_response_total", {
        ...route("ok-route"),
        status_code: "200",
        classification: "success",
      }),
      nOk,
    );
    assert.equal(
      d("route_response_total", {
        ...route("fail-route"),
        status_code: "500",
        classification: "failure",
      }),
      nFail,
    );
    assert.equal(
      d("route_response_total", {
        ...route(undefined),
        status_code: "201",
        classification: "success",
      }),
      nOther,
    );
    assert.equal(
      d("route_response_latency_ms_count", {
        ...route("ok-route"),
        status_code: "200",
      }),
      nOk,
    );
    // Retried: every attempt the backend saw is one actual request.
    assert.ok(failSent > nFail, `retries happened (${failSent} attempts)`);
    assert.equal(summary.failActual, failSent);
    assert.equal(
      d("route_actual_response_total", {
        ...route("fail-route"),
        status_code: "500",
        classification: "failure",
      }),
      failSent,
    );
    assert.equal(d("route_actual_request_total", route("ok-route")), nOk);
    // No latency family per attempt (linkerd `without_latencies`).
    assert.ok(
      !after.some((s) => s.name.startsWith("route_actual_response_latency")),
    );
    // Labels are exactly linkerd's: direction, dst, rt_* (+ status/class).
    const labelSets = new Set(
      after.filter((s) => s.name === "route_request_total").map((s) =>
        Object.keys(s.labels).sort().join(",")
      ),
    );
    assert.deepEqual(
      [...labelSets].sort(),
      ["direction,dst", "direction,dst,rt_route"],
    );
  } finally {
    await petrel.close();
    await cp.close();
    await backend.close();
  }
});
