import assert from "node:assert/strict";
import { ProxyMetrics } from "./registry.ts";
import { TlsMetrics } from "./tls.ts";

Deno.test("TlsMetrics records handshakes, failures by reason, refusals and the local certificate", async () => {
  const proxy = new ProxyMetrics({ processMetrics: false });
  const m = new TlsMetrics(proxy.registry);
  m.handshake("outbound");
  m.handshake("outbound");
  m.handshake("inbound");
  m.failure("outbound", "identity_mismatch");
  m.failure("inbound", "expired");
  m.denied("plaintext");
  m.reloadError();
  const creds = {
    name: "a.ns.serviceaccount.identity.linkerd.cluster.local",
    certPem: "",
    keyPem: "",
    anchorsPem: "",
    notBeforeMs: 0,
    notAfterMs: 2_000_000_000_000,
    serial: "10",
    generation: 1,
    loadedAtMs: 1_700_000_000_000,
  };
  m.identity(creds);
  m.identity({
    ...creds,
    name: "b.ns.serviceaccount.identity.linkerd.cluster.local",
  });
  const text = await proxy.render();
  for (
    const line of [
      'tls_handshakes_total{direction="outbound"} 2',
      'tls_handshakes_total{direction="inbound"} 1',
      'tls_handshake_errors_total{direction="outbound",reason="identity_mismatch"} 1',
      'tls_handshake_errors_total{direction="inbound",reason="expired"} 1',
      'inbound_connections_denied_total{reason="plaintext"} 1',
      "control_identity_cert_expiration_timestamp_seconds 2000000000",
      "control_identity_cert_refresh_timestamp_seconds 1700000000",
      'control_identity_cert_refreshes_total{result="ok"} 2',
      'control_identity_cert_refreshes_total{result="error"} 1',
      'tls_local_identity_info{local_identity="b.ns.serviceaccount.identity.linkerd.cluster.local"} 1',
    ]
  ) {
    assert.ok(text.includes(line + "\n"), `missing: ${line}\n${text}`);
  }
  assert.ok(!text.includes('local_identity="a.ns'), "the old identity is gone");
});
