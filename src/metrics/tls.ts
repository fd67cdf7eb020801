/**
 * TLS and identity metrics: handshakes, their failures by reason, inbound
 * policy refusals, and the local certificate (linkerd
 * `control_identity_cert_expiration_timestamp_seconds`,
 * `…_refresh_timestamp_seconds`, `…_refreshes_total{result}`; the handshake and refusal
 * counters are Petrel's own, linkerd only labels connections with `tls`).
 *
 * Registered into a proxy's prom-client registry (`ProxyMetrics.registry`).
 * Handshakes happen per connection, not per request, so plain prom-client
 * children are cheap enough here.
 *
 * @module
 */
import { Counter, Gauge, type Registry } from "prom-client";
import type { TlsFailureReason, TlsObserver } from "../tls/errors.ts";
import type { Credentials } from "../tls/credentials.ts";

/** Which side of the handshake this proxy was on. */
export type TlsDirection = "outbound" | "inbound";

/** TLS metric families of one proxy (registered once). */
export class TlsMetrics implements TlsObserver {
  readonly #handshakes: Counter<"direction">;
  readonly #errors: Counter<"direction" | "reason">;
  readonly #denied: Counter<"reason">;
  readonly #expiry: Gauge;
  readonly #refresh: Gauge;
  readonly #refreshes: Counter<"result">;
  readonly #info: Gauge<"local_identity">;

  constructor(registry: Registry) {
    const registers = [registry];
    this.#handshakes = new Counter({
      name: "tls_handshakes_total",
      help:
        "TLS handshakes that finished with an accepted peer, by direction (outbound: this proxy was the client).",
      labelNames: ["direction"],
      registers,
    });
    this.#errors = new Counter({
      name: "tls_handshake_errors_total",
      help:
        "TLS handshakes that failed or whose peer certificate was refused, by direction and reason.",
      labelNames: ["direction", "reason"],
      registers,
    });
    this.#denied = new Counter({
      name: "inbound_connections_denied_total",
      help:
        "Inbound connections refused by the inbound policy (plaintext or no client identity where one is required), by reason.",
      labelNames: ["reason"],
      registers,
    });
    this.#expiry = new Gauge({
      name: "control_identity_cert_expiration_timestamp_seconds",
      help:
        "Time when this proxy's current mTLS identity certificate will expire (in seconds since the UNIX epoch)",
      registers,
    });
    this.#refresh = new Gauge({
      name: "control_identity_cert_refresh_timestamp_seconds",
      help:
        "Time when this proxy's current mTLS identity certificate was last loaded (in seconds since the UNIX epoch)",
      registers,
    });
    this.#refreshes = new Counter({
      name: "control_identity_cert_refreshes_total",
      help:
        'The total number of times this proxy\'s mTLS identity certificate has been refreshed by the Identity provider (result="error": a load refused; the last good certificate stays)',
      labelNames: ["result"],
      registers,
    });
    this.#refreshes.inc({ result: "ok" }, 0);
    this.#refreshes.inc({ result: "error" }, 0);
    this.#info = new Gauge({
      name: "tls_local_identity_info",
      help: "The local TLS identity (1 for the current one).",
      labelNames: ["local_identity"],
      registers,
    });
  }

  /** A handshake finished and the peer was accepted. */
  handshake(direction: TlsDirection): void {
    this.#handshakes.inc({ direction });
  }

  /** A handshake failed or its peer was refused. */
  failure(direction: TlsDirection, reason: TlsFailureReason): void {
    this.#errors.inc({ direction, reason });
  }

  /** The inbound policy refused a connection. */
  denied(reason: TlsFailureReason | "deny"): void {
    this.#denied.inc({ reason });
  }

  /** New local credentials are in use. */
  identity(creds: Credentials): void {
    this.#expiry.set(creds.notAfterMs / 1000);
    this.#refresh.set(creds.loadedAtMs / 1000);
    this.#refreshes.inc({ result: "ok" });
    this.#info.reset();
    this.#info.set({ local_identity: creds.name }, 1);
  }

  /** A reload of the local credentials was refused. */
  reloadError(): void {
    this.#refreshes.inc({ result: "error" });
  }
}
