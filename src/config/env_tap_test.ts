import assert from "node:assert/strict";
import { parseConfig } from "./env.ts";

Deno.test("parseConfig() LINKERD2_PROXY_TAP_SVC_NAME: the tap server on LINKERD2_PROXY_CONTROL_LISTEN_ADDR, [::]:4190 by default; unset = no tap", () => {
  const name = "tap.linkerd-viz.serviceaccount.identity.linkerd.cluster.local";
  assert.deepEqual(parseConfig({ LINKERD2_PROXY_TAP_SVC_NAME: name }, []).tap, {
    svcName: name,
    listenAddr: "[::]:4190",
  });
  assert.deepEqual(
    parseConfig({
      LINKERD2_PROXY_TAP_SVC_NAME: name,
      LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "127.0.0.1:0",
    }, []).tap,
    { svcName: name, listenAddr: "127.0.0.1:0" },
  );
  assert.equal(
    parseConfig({ LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "127.0.0.1:4190" }, [])
      .tap,
    undefined,
  );
  assert.equal(
    parseConfig({ LINKERD2_PROXY_TAP_SVC_NAME: " " }, []).tap,
    undefined,
  );
  assert.throws(() =>
    parseConfig({
      LINKERD2_PROXY_TAP_SVC_NAME: name,
      LINKERD2_PROXY_CONTROL_LISTEN_ADDR: "nope",
    }, [])
  );
});
