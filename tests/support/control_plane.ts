/**
 * A test Linkerd control plane on grpc-js, built from Petrel's own `proto/`
 * files: Destination (Get, GetProfile), OutboundPolicies (Get, Watch) and
 * Identity (Certify, signing the CSR with a test CA through openssl).
 * Tests change endpoints, profiles and policies while Petrel watches, and
 * stop and restart the server on the same port.
 *
 * No linkerd counterpart in TypeScript; linkerd2-proxy's integration tests
 * use an in-process `controller` mock (`linkerd/app/integration/src/controller.rs`).
 *
 * @module
 */
import { Buffer } from "node:buffer";
import * as net from "node:net";
import * as tls from "node:tls";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import type { GetDestination } from "../../src/api/destination.ts";
import { timestampOf } from "../../src/api/duration.ts";
import type { CertifyRequest } from "../../src/api/identity.ts";
import { formatTcpAddress, tcpAddressOf } from "../../src/api/net.ts";
import type { TrafficSpec } from "../../src/api/outbound.ts";
import { controlPlaneServices } from "../../src/api/proto.ts";
import {
  createCsr,
  derToPem,
  generateLocalKey,
  privateKeyPem,
} from "../../src/identity_client/csr.ts";

/** One endpoint as a test describes it. */
export interface TestEndpoint {
  /** "ip:port". */
  readonly addr: string;
  /** `tls_identity.dns_like_identity.name`. */
  readonly identity?: string;
  /** `protocol_hint.h2`. */
  readonly h2?: boolean;
  /** @default {10000} (the controller's default) */
  readonly weight?: number;
  /** `protocol_hint.opaque_transport.inbound_port`: the peer proxy's inbound port. */
  readonly opaqueTransportPort?: number;
  /** `authority_override.authority_override` (a multicluster gateway). */
  readonly authorityOverride?: string;
  /** The address's `metric_labels` (the proxy's `dst_*` labels). */
  readonly labels?: Readonly<Record<string, string>>;
}

/** The WeightedAddr message of a test endpoint. */
export function weightedAddr(ep: TestEndpoint): Record<string, unknown> {
  return {
    addr: tcpAddressOf(ep.addr),
    weight: ep.weight ?? 10_000,
    ...(ep.identity === undefined
      ? {}
      : { tls_identity: { dns_like_identity: { name: ep.identity } } }),
    ...(ep.h2 || ep.opaqueTransportPort !== undefined
      ? {
        protocol_hint: {
          ...(ep.h2 ? { h2: {} } : {}),
          ...(ep.opaqueTransportPort === undefined ? {} : {
            opaque_transport: { inbound_port: ep.opaqueTransportPort },
          }),
        },
      }
      : {}),
    ...(ep.authorityOverride === undefined
      ? {}
      : { authority_override: { authority_override: ep.authorityOverride } }),
    ...(ep.labels === undefined ? {} : { metric_labels: ep.labels }),
  };
}

interface DstEntry {
  endpoints: Map<string, TestEndpoint> | undefined;
  /** Get fails with this status instead. */
  rejectCode: number | undefined;
  readonly streams: Set<grpc.ServerWritableStream<GetDestination, unknown>>;
  profile: Record<string, unknown> | undefined;
  readonly profileStreams: Set<
    grpc.ServerWritableStream<GetDestination, unknown>
  >;
  policy: Record<string, unknown> | undefined;
  readonly policyStreams: Set<
    grpc.ServerWritableStream<TrafficSpec, unknown>
  >;
}

/** Options of {@linkcode startControlPlane}. */
export interface ControlPlaneOptions {
  /** Serve Identity with this CA (see {@linkcode makeTestCa}). */
  ca?: TestCa;
  /** The token Certify accepts. @default {"test-token"} */
  token?: string;
  /** Lifetime of each certificate issued. @default {3_600_000} */
  certLifetimeMs?: number;
  /** Serve TLS with this certificate and key (PEM). @default {plaintext} */
  tls?: { certPem: string; keyPem: string };
  /** The address to listen on. @default {"127.0.0.1"} */
  host?: string;
}

/** A running test control plane. */
export interface TestControlPlane extends AsyncDisposable {
  /** "<host>:<port>". */
  readonly addr: string;
  readonly port: number;
  /** Every GetDestination of Get calls, in order. */
  readonly getRequests: GetDestination[];
  /** Every GetDestination of GetProfile calls. */
  readonly profileRequests: GetDestination[];
  /** Every TrafficSpec of Watch calls. */
  readonly policyRequests: TrafficSpec[];
  /** Every CertifyRequest, in order. */
  readonly certifyRequests: CertifyRequest[];
  /** Open Get streams for `authority`. */
  openStreams(authority: string): number;
  /**
   * Sets the whole endpoint set of `authority`: open streams get an `add`
   * of the new and changed endpoints and a `remove` of the gone ones
   * (`no_endpoints` when it becomes empty).
   */
  setEndpoints(authority: string, endpoints: readonly TestEndpoint[]): void;
  /** Makes Get (and profile/policy lookups) for `authority` fail with `code`. */
  reject(authority: string, code: number): void;
  /** Sets the profile message of `authority` (pushed to open GetProfile streams). */
  setProfile(authority: string, profile: Record<string, unknown>): void;
  /** Sets the OutboundPolicy message of `authority` (pushed to open Watch streams). */
  setPolicy(authority: string, policy: Record<string, unknown>): void;
  /** Goes away: every call and connection is cut, the port closes. */
  stop(): Promise<void>;
  /** Comes back on the same port, with the same state. */
  restart(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Starts the test control plane on 127.0.0.1 (or `host`), port 0. Names it has no
 * endpoints for are answered with InvalidArgument (the name is not served),
 * and their profile and policy lookups with NotFound.
 */
export async function startControlPlane(
  opts: ControlPlaneOptions = {},
): Promise<TestControlPlane> {
  const entries = new Map<string, DstEntry>();
  const entry = (authority: string): DstEntry => {
    let e = entries.get(authority);
    if (e === undefined) {
      e = {
        endpoints: undefined,
        rejectCode: undefined,
        streams: new Set(),
        profile: undefined,
        profileStreams: new Set(),
        policy: undefined,
        policyStreams: new Set(),
      };
      entries.set(authority, e);
    }
    return e;
  };
  const getRequests: GetDestination[] = [];
  const profileRequests: GetDestination[] = [];
  const policyRequests: TrafficSpec[] = [];
  const certifyRequests: CertifyRequest[] = [];
  const token = opts.token ?? "test-token";

  const track = <A, B>(
    set: Set<grpc.ServerWritableStream<A, B>>,
    call: grpc.ServerWritableStream<A, B>,
  ) => {
    set.add(call);
    const drop = () => set.delete(call);
    call.on("cancelled", drop);
    call.on("close", drop);
    call.on("error", drop);
  };
  const fail = (
    call: grpc.ServerWritableStream<unknown, unknown>,
    code: number,
    details: string,
  ) => call.emit("error", { code, details });

  const destination: grpc.UntypedServiceImplementation = {
    Get(call: grpc.ServerWritableStream<GetDestination, unknown>) {
      getRequests.push(call.request);
      const e = entries.get(call.request.path);
      if (e?.rejectCode !== undefined || e?.endpoints === undefined) {
        fail(
          call,
          e?.rejectCode ?? grpc.status.INVALID_ARGUMENT,
          "not a known service",
        );
        return;
      }
      track(e.streams, call);
      call.write(
        e.endpoints.size === 0
          ? { no_endpoints: { exists: true } }
          : { add: { addrs: [...e.endpoints.values()].map(weightedAddr) } },
      );
    },
    GetProfile(
      call: grpc.ServerWritableStream<GetDestination, unknown>,
    ) {
      profileRequests.push(call.request);
      const e = entries.get(call.request.path);
      if (e?.profile === undefined) {
        fail(call, grpc.status.NOT_FOUND, "no profile");
        return;
      }
      track(e.profileStreams, call);
      call.write(e.profile);
    },
  };
  const policies: grpc.UntypedServiceImplementation = {
    Get(
      call: grpc.ServerUnaryCall<TrafficSpec, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) {
      const p = entries.get(call.request.authority ?? "")?.policy;
      if (p === undefined) cb({ code: grpc.status.NOT_FOUND, details: "none" });
      else cb(null, p);
    },
    Watch(call: grpc.ServerWritableStream<TrafficSpec, unknown>) {
      policyRequests.push(call.request);
      // An original destination comes as `addr`: keyed by its "ip:port".
      const a = call.request.addr;
      const e = entries.get(
        a ? formatTcpAddress(a) : call.request.authority ?? "",
      );
      if (e?.policy === undefined) {
        fail(call, grpc.status.NOT_FOUND, "no policy");
        return;
      }
      track(e.policyStreams, call);
      call.write(e.policy);
    },
  };
  const identity: grpc.UntypedServiceImplementation = {
    Certify(
      call: grpc.ServerUnaryCall<CertifyRequest, unknown>,
      cb: grpc.sendUnaryData<unknown>,
    ) {
      const req = call.request;
      certifyRequests.push(req);
      if (Buffer.from(req.token).toString() !== token) {
        cb({ code: grpc.status.INVALID_ARGUMENT, details: "bad token" });
        return;
      }
      if (opts.ca === undefined) {
        cb({ code: grpc.status.UNIMPLEMENTED, details: "no CA" });
        return;
      }
      opts.ca.sign(
        req.certificate_signing_request,
        req.identity,
        opts.certLifetimeMs ?? 3_600_000,
      ).then(
        ({ der, notAfterMs }) =>
          cb(null, {
            leaf_certificate: der,
            intermediate_certificates: [],
            valid_until: timestampOf(notAfterMs),
          }),
        (err: Error) =>
          cb({ code: grpc.status.INVALID_ARGUMENT, details: err.message }),
      );
    },
  };

  const services = controlPlaneServices();
  const host = opts.host ?? "127.0.0.1";
  let server: grpc.Server | undefined;
  const listen = (port: number) =>
    new Promise<number>((resolve, reject) => {
      const s = new grpc.Server();
      s.addService(services.Destination.service, destination);
      s.addService(services.OutboundPolicies.service, policies);
      s.addService(services.Identity.service, identity);
      s.bindAsync(
        `${opts.tls === undefined ? host : "127.0.0.1"}:${port}`,
        grpc.ServerCredentials.createInsecure(),
        (err, bound) => {
          if (err) {
            s.forceShutdown();
            reject(err);
            return;
          }
          server = s;
          resolve(bound);
        },
      );
    });
  const port = await listen(0);
  // grpc-js's own TLS server does not work under Deno 2.9.6 (it answers
  // the handshake in plaintext): a node:tls front terminates TLS instead.
  const front = opts.tls === undefined
    ? undefined
    : await tlsFront(host, port, opts.tls);

  const forEachStream = (
    set: Set<grpc.ServerWritableStream<never, unknown>>,
    msg: unknown,
  ) => {
    for (const call of set) call.write(msg);
  };

  const stop = async () => {
    await front?.pause();
    const s = server;
    server = undefined;
    if (s === undefined) return;
    for (const e of entries.values()) {
      e.streams.clear();
      e.profileStreams.clear();
      e.policyStreams.clear();
    }
    s.forceShutdown();
    // let grpc-js finish closing its listener and sockets
    await new Promise((r) => setTimeout(r, 20));
  };

  return {
    addr: `${host}:${front?.port ?? port}`,
    port,
    getRequests,
    profileRequests,
    policyRequests,
    certifyRequests,
    openStreams: (authority) => entries.get(authority)?.streams.size ?? 0,
    setEndpoints(authority, endpoints) {
      const e = entry(authority);
      e.rejectCode = undefined;
      const before = e.endpoints ?? new Map<string, TestEndpoint>();
      const next = new Map(endpoints.map((ep) => [ep.addr, ep]));
      e.endpoints = next;
      const added = [...next.values()].filter((ep) => {
        const old = before.get(ep.addr);
        return old === undefined ||
          JSON.stringify(old) !== JSON.stringify(ep);
      });
      const removed = [...before.keys()].filter((a) => !next.has(a));
      const s = e.streams as Set<grpc.ServerWritableStream<never, unknown>>;
      if (next.size === 0) {
        forEachStream(s, { no_endpoints: { exists: true } });
        return;
      }
      if (removed.length > 0) {
        forEachStream(s, { remove: { addrs: removed.map(tcpAddressOf) } });
      }
      if (added.length > 0) {
        forEachStream(s, { add: { addrs: added.map(weightedAddr) } });
      }
    },
    reject(authority, code) {
      entry(authority).rejectCode = code;
    },
    setProfile(authority, profile) {
      const e = entry(authority);
      e.profile = profile;
      forEachStream(
        e.profileStreams as Set<grpc.ServerWritableStream<never, unknown>>,
        profile,
      );
    },
    setPolicy(authority, policy) {
      const e = entry(authority);
      e.policy = policy;
      forEachStream(
        e.policyStreams as Set<grpc.ServerWritableStream<never, unknown>>,
        policy,
      );
    },
    stop,
    async restart() {
      if (server !== undefined) return;
      await listen(port);
      front?.resume();
    },
    close: async () => {
      await stop();
      await front?.close();
    },
    async [Symbol.asyncDispose]() {
      await stop();
      await front?.close();
    },
  };
}

// ------------------------------------------------------------- test CA

/** A test CA that signs CSRs with `openssl ca`. */
export interface TestCa extends AsyncDisposable {
  /** The CA certificate (PEM): the trust anchor. */
  readonly certPem: string;
  /**
   * Signs a DER CSR for `identity` (its one DNS SAN must be `identity`),
   * valid from a minute ago for `lifetimeMs`; returns the DER certificate.
   */
  sign(
    csrDer: Uint8Array,
    identity: string,
    lifetimeMs: number,
  ): Promise<{ der: Uint8Array; notAfterMs: number }>;
  close(): Promise<void>;
}

const CA_CONF = `[ ca ]
default_ca = test_ca
[ test_ca ]
dir = .
database = ./index.txt
new_certs_dir = ./issued
serial = ./serial
default_md = sha256
policy = any
copy_extensions = copy
unique_subject = no
[ any ]
commonName = optional
[ leaf ]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,clientAuth
`;

async function openssl(
  args: string[],
  cwd: string,
  stdin?: Uint8Array,
): Promise<Uint8Array> {
  const child = new Deno.Command("openssl", {
    args,
    cwd,
    stdin: stdin === undefined ? "null" : "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  if (stdin !== undefined) {
    const w = child.stdin.getWriter();
    await w.write(stdin);
    await w.close();
  }
  const out = await child.output();
  if (out.code !== 0) {
    throw new Error(
      `openssl ${args[0]} failed: ${new TextDecoder().decode(out.stderr)}`,
    );
  }
  return out.stdout;
}

/** openssl's `YYYYMMDDHHMMSSZ` time. */
function opensslTime(ms: number): string {
  return new Date(ms).toISOString().replace(/[-:T]/g, "").replace(
    /\.\d+/,
    "",
  );
}

/** Makes a P-256 test CA in a temp folder (removed by `close()`). */
export async function makeTestCa(): Promise<TestCa> {
  const dir = await Deno.makeTempDir({ prefix: "petrel-test-ca-" });
  await Deno.mkdir(join(dir, "issued"));
  await Deno.writeTextFile(join(dir, "ca.cnf"), CA_CONF);
  await Deno.writeTextFile(join(dir, "index.txt"), "");
  await Deno.writeTextFile(join(dir, "serial"), "2000\n");
  await openssl([
    "ecparam",
    "-name",
    "prime256v1",
    "-genkey",
    "-noout",
    "-out",
    "ca.key",
  ], dir);
  await openssl([
    "req",
    "-x509",
    "-new",
    "-key",
    "ca.key",
    "-subj",
    "/CN=identity.linkerd.cluster.local",
    "-days",
    "30",
    "-sha256",
    "-addext",
    "basicConstraints=critical,CA:TRUE",
    "-addext",
    "keyUsage=critical,keyCertSign,cRLSign",
    "-out",
    "ca.crt",
  ], dir);
  const certPem = await Deno.readTextFile(join(dir, "ca.crt"));
  let n = 0;
  let queue: Promise<unknown> = Promise.resolve();
  const signNow = async (
    csrDer: Uint8Array,
    identity: string,
    lifetimeMs: number,
  ) => {
    const base = `csr-${++n}`;
    await Deno.writeFile(join(dir, `${base}.der`), csrDer);
    const text = new TextDecoder().decode(
      await openssl([
        "req",
        "-in",
        `${base}.der`,
        "-inform",
        "DER",
        "-verify",
        "-noout",
        "-text",
      ], dir),
    );
    const sans = /X509v3 Subject Alternative Name:\s*\n\s*(.*)/.exec(text)?.[1]
      ?.trim();
    if (sans !== `DNS:${identity}`) {
      throw new Error(
        `the CSR must name exactly DNS:${identity}, got ${sans ?? "none"}`,
      );
    }
    await openssl([
      "req",
      "-in",
      `${base}.der`,
      "-inform",
      "DER",
      "-out",
      `${base}.csr`,
    ], dir);
    const now = Date.now();
    // openssl keeps whole seconds.
    const notAfterMs = Math.floor((now + lifetimeMs) / 1000) * 1000;
    await openssl([
      "ca",
      "-batch",
      "-config",
      "ca.cnf",
      "-cert",
      "ca.crt",
      "-keyfile",
      "ca.key",
      "-in",
      `${base}.csr`,
      "-out",
      `${base}.crt`,
      "-extensions",
      "leaf",
      "-startdate",
      opensslTime(now - 60_000),
      "-enddate",
      opensslTime(notAfterMs),
      "-notext",
    ], dir);
    const der = await openssl([
      "x509",
      "-in",
      `${base}.crt`,
      "-outform",
      "DER",
    ], dir);
    return { der, notAfterMs };
  };
  const close = async () => {
    await queue.catch(() => {});
    await Deno.remove(dir, { recursive: true }).catch(() => {});
  };
  return {
    certPem,
    sign(csrDer, identity, lifetimeMs) {
      const p = queue.then(() => signNow(csrDer, identity, lifetimeMs));
      queue = p.catch(() => {});
      return p;
    },
    close,
    [Symbol.asyncDispose]: close,
  };
}

/** A server certificate and key for `name`, issued by `ca`. */
export async function serverCertificate(
  ca: TestCa,
  name: string,
): Promise<{ certPem: string; keyPem: string }> {
  const key = generateLocalKey();
  const { der } = await ca.sign(createCsr(name, key), name, 3_600_000);
  return { certPem: derToPem(der, "CERTIFICATE"), keyPem: privateKeyPem(key) };
}

/** A TLS listener on `host` that pipes each connection to 127.0.0.1:`port`. */
async function tlsFront(
  host: string,
  port: number,
  cert: { certPem: string; keyPem: string },
) {
  const sockets = new Set<net.Socket>();
  let paused = false;
  const server = tls.createServer(
    { cert: cert.certPem, key: cert.keyPem, ALPNProtocols: ["h2"] },
    (client) => {
      if (paused) {
        client.destroy();
        return;
      }
      const upstream = net.connect({ host: "127.0.0.1", port });
      for (const s of [client, upstream]) {
        sockets.add(s);
        s.on("error", () => {});
        s.on("close", () => {
          sockets.delete(s);
          client.destroy();
          upstream.destroy();
        });
      }
      client.pipe(upstream);
      upstream.pipe(client);
    },
  );
  await new Promise<void>((r) => server.listen(0, host, () => r()));
  const cut = () => {
    for (const s of sockets) s.destroy();
  };
  return {
    port: (server.address() as net.AddressInfo).port,
    pause() {
      paused = true;
      cut();
      return Promise.resolve();
    },
    resume() {
      paused = false;
    },
    close: () =>
      new Promise<void>((r) => {
        cut();
        server.close(() => r());
      }),
  };
}
