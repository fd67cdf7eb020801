import assert from "node:assert/strict";
import { parseConfig } from "./env.ts";

Deno.test("parseConfig() LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: one listener per address, v4 and v6", () => {
  const c = parseConfig({
    LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: "127.0.0.1:4140, [::1]:4140",
    LINKERD2_PROXY_OUTBOUND_LISTEN_ADDR: "127.0.0.1:9999",
  }, []);
  assert.equal(c.outbound.listenAddr, "127.0.0.1:4140");
  assert.deepEqual(c.outbound.extraListenAddrs, ["[::1]:4140"]);
  assert.throws(
    () => parseConfig({ LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: "x" }, []),
    /LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS/,
  );
  assert.equal(parseConfig({}, []).outbound.extraListenAddrs, undefined);
});

Deno.test("parseConfig() LINKERD2_PROXY_INGRESS_MODE", () => {
  assert.equal(
    parseConfig({ LINKERD2_PROXY_INGRESS_MODE: "true" }, []).outbound
      .ingressMode,
    true,
  );
  assert.equal(parseConfig({}, []).outbound.ingressMode, undefined);
  assert.throws(() =>
    parseConfig({ LINKERD2_PROXY_INGRESS_MODE: "maybe" }, [])
  );
});
