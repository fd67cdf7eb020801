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
  LABEL_NAME_REGEXP,
  type Labels,
  type Sample,
  splitTargetAddr,
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
  /** The logical authority of a client-side (`peer="dst"`) outbound connection. */
  authority?: string | undefined;
  /** Discovery metric labels of the endpoint, rendered as `dst_<name>`. */
  dstLabels?: Readonly<Record<string, string>> | undefined;
  /** Labels appended as given, e.g. the inbound server's `srv_*`. */
  extra?: Readonly<Record<string, string>> | undefined;
}

/** What {@linkcode TransportMetrics.track} reads from a socket. */
export interface TrackedSocket {
  readonly bytesRead: number;
  readonly bytesWritten: number;
  once(event: "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error & { code?: string }) => void): unknown;
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
  /**
   * A connection was opened on `socket`: counts it, and until it closes
   * adds its live `bytesRead`/`bytesWritten` at each scrape, so the byte
   * counters move as bytes flow at no per-read cost (linkerd's sensor
   * counts each read and write); at close, its errno.
   */
  track(socket: TrackedSocket): void;
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
  /** Open tracked sockets, whose bytes are read at scrape time. */
  #live: Set<TrackedSocket> | undefined;

  constructor(labels: Labels) {
    this.labels = labels;
  }

  track(socket: TrackedSocket): void {
    this.#opens++;
    const live = this.#live ??= new Set();
    live.add(socket);
    let errno = "";
    socket.on("error", (e) => errno ||= e.code ?? "");
    socket.once("close", () => {
      live.delete(socket);
      this.#readBytes += socket.bytesRead;
      this.#writeBytes += socket.bytesWritten;
      this.close(errno);
    });
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
    let n = this.#readBytes;
    if (this.#live) { for (const s of this.#live) n += s.bytesRead; }
    out.push({ labels: this.labels, value: n });
  }

  collectWrite(out: Sample[]): void {
    let n = this.#writeBytes;
    if (this.#live) { for (const s of this.#live) n += s.bytesWritten; }
    out.push({ labels: this.labels, value: n });
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
    // linkerd's order: direction, peer, [authority], target_*, tls, dst_*/srv_*.
    const { ip, port } = splitTargetAddr(labels.targetAddr);
    const l: Labels = { direction: labels.direction, peer: labels.peer };
    if (labels.authority !== undefined) l.authority = labels.authority;
    l.target_addr = labels.targetAddr;
    l.target_ip = ip;
    l.target_port = port;
    tlsLabels(
      labels.tls ??
        {
          noTlsReason: labels.peer === "src"
            ? "loopback"
            : "not_provided_by_service_discovery",
        },
      l,
    );
    if (labels.dstLabels) {
      for (const [k, v] of Object.entries(labels.dstLabels)) {
        l[`dst_${k.replace(LABEL_NAME_REGEXP, "_")}`] = v;
      }
    }
    if (labels.extra) Object.assign(l, labels.extra);
    const key = JSON.stringify(l);
    let series = this.#transports.get(key);
    if (series === undefined) {
      series = new TransportSeries(l);
      this.#transports.set(key, series);
    }
    return series;
  }
}
