/**
 * The transport families (linkerd `transport-metrics`): `tcp_open_total`,
 * `tcp_open_connections`, `tcp_read_bytes_total`, `tcp_write_bytes_total`,
 * `tcp_close_total` in per-target handles.
 *
 * @module
 */
import type { Registry } from "prom-client";
import {
  CollectedFamily,
  type Labels,
  type Sample,
  type TlsLabels,
  tlsLabels,
} from "./collected.ts";

/** Labels of one side of a connection (linkerd `transport-metrics` labels). */
export interface TransportLabels {
  /** `direction` label, "outbound" or "inbound". */
  direction: string;
  /** "src" for accepted connections, "dst" for connections we opened. */
  peer: "src" | "dst";
  /** The peer's socket address (`ip:port`). */
  targetAddr: string;
  /**
   * TLS of the connection.
   * @default {{ noTlsReason: "loopback" }} for "src",
   *   {{ noTlsReason: "not_provided_by_service_discovery" }} for "dst"
   */
  tls?: TlsLabels | undefined;
}

/** Per-connection-target transport handle (linkerd `transport-metrics` `Sensor`). */
export interface TransportMetrics {
  /** A connection was opened (`tcp_open_total`, `tcp_open_connections`). */
  open(): void;
  /** A connection closed; `errno` is the OS error name, "" or omitted when clean. */
  close(errno?: string): void;
  /** `n` bytes were read from the peer (`tcp_read_bytes_total`). */
  read(n: number): void;
  /** `n` bytes were written to the peer (`tcp_write_bytes_total`). */
  write(n: number): void;
}

/** Detection outcome label values (linkerd `detect` results). */
export type DetectResult =
  | "http/1"
  | "http/2"
  | "not_http"
  | "read_timeout"
  | "error";

/** The shared state behind every handle for one transport label set. */
class TransportSeries implements TransportMetrics {
  readonly labels: Labels;
  #opens = 0;
  #cleanCloses = 0;
  #errnoCloses: Map<string, number> | undefined;
  #readBytes = 0;
  #writeBytes = 0;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  open(): void {
    this.#opens++;
  }

  close(errno?: string): void {
    if (errno === undefined || errno === "") {
      this.#cleanCloses++;
      return;
    }
    const m = this.#errnoCloses ??= new Map();
    m.set(errno, (m.get(errno) ?? 0) + 1);
  }

  read(n: number): void {
    this.#readBytes += n;
  }

  write(n: number): void {
    this.#writeBytes += n;
  }

  #closes(): number {
    let n = this.#cleanCloses;
    if (this.#errnoCloses) {
      for (const c of this.#errnoCloses.values()) {
        n += c;
      }
    }
    return n;
  }

  collectOpens(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#opens });
  }

  collectOpenConnections(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#opens - this.#closes() });
  }

  collectCloses(out: Sample[]): void {
    if (this.#cleanCloses > 0 || this.#errnoCloses === undefined) {
      out.push({
        labels: { ...this.labels, errno: "" },
        value: this.#cleanCloses,
      });
    }
    if (this.#errnoCloses) {
      for (const [errno, n] of this.#errnoCloses) {
        out.push({ labels: { ...this.labels, errno }, value: n });
      }
    }
  }

  collectRead(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#readBytes });
  }

  collectWrite(out: Sample[]): void {
    out.push({ labels: this.labels, value: this.#writeBytes });
  }
}

/** The transport families of one proxy, registered on its registry. */
export class TransportFamilies {
  readonly #transports = new Map<string, TransportSeries>();

  constructor(registry: Registry) {
    const transports = this.#transports;
    const transportFamily = (
      name: string,
      help: string,
      type: "counter" | "gauge",
      pick: (t: TransportSeries, out: Sample[]) => void,
    ) =>
      new CollectedFamily(name, help, type, (out) => {
        for (const t of transports.values()) pick(t, out);
      }).register(registry);
    transportFamily(
      "tcp_open_total",
      "Total count of opened connections",
      "counter",
      (t, out) => t.collectOpens(out),
    );
    transportFamily(
      "tcp_open_connections",
      "Number of currently-open connections",
      "gauge",
      (t, out) => t.collectOpenConnections(out),
    );
    transportFamily(
      "tcp_read_bytes_total",
      "Total count of bytes read from peers",
      "counter",
      (t, out) => t.collectRead(out),
    );
    transportFamily(
      "tcp_write_bytes_total",
      "Total count of bytes written to peers",
      "counter",
      (t, out) => t.collectWrite(out),
    );
    transportFamily(
      "tcp_close_total",
      "Total count of closed connections",
      "counter",
      (t, out) => t.collectCloses(out),
    );
  }

  /**
   * Returns the handle for one connection target's transport metrics
   * (linkerd `transport-metrics` `Registry::metrics(labels)`).
   */
  transport(labels: TransportLabels): TransportMetrics {
    const l: Labels = {
      direction: labels.direction,
      peer: labels.peer,
      target_addr: labels.targetAddr,
    };
    tlsLabels(
      labels.tls ??
        {
          noTlsReason: labels.peer === "src"
            ? "loopback"
            : "not_provided_by_service_discovery",
        },
      l,
    );
    const key = JSON.stringify(l);
    let series = this.#transports.get(key);
    if (series === undefined) {
      series = new TransportSeries(l);
      this.#transports.set(key, series);
    }
    return series;
  }
}
