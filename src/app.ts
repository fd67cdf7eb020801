/**
 * Builds the running proxy from a Config: discovery, the outbound stack and
 * listener, per-port forwards, the admin server, config reloads and drain
 * (linkerd `linkerd/app/src/lib.rs`).
 *
 * @module
 */
import { InboundHttpMetrics } from "./metrics/inbound.ts";
import { accessLogOf, type AccessLogWrite } from "./access_log.ts";
import { startAdmin } from "./admin/server.ts";
import { DashboardStateBuilder, ErrorRing } from "./admin/state.ts";
import type { Config, FileConfig, H2KeepAliveConfig } from "./config/config.ts";
import { watchConfigFile } from "./config/watch.ts";
import { CompositeDiscovery } from "./discovery/composite.ts";
import type { ControlPlaneDiscovery } from "./discovery/destination.ts";
import type { IdentityCertifier } from "./identity_client/certify.ts";
import { originalDst } from "./transport/orig_dst.ts";
import { createLogger, type Logger } from "./log.ts";
import { ProxyMetrics } from "./metrics/registry.ts";
import { TlsMetrics } from "./metrics/tls.ts";
import { startOutboundListener, startTcpForward } from "./outbound/listener.ts";
import type { LiveBalancer, OutboundCtx } from "./outbound/runtime.ts";
import type { HttpServerExtras } from "./outbound/http/server.ts";
import { newOpaqueDialer } from "./outbound/opaque.ts";
import { mkHttpSidecar } from "./outbound/sidecar.ts";
import { LocalIdentity } from "./tls/identity.ts";
import { Taps } from "./tap/tap.ts";
import type { ProxyListener } from "./transport/listener.ts";
import { tcpUserTimeoutSupported } from "./transport/sockopt.ts";

/** Options for {@linkcode buildApp}. */
export interface AppOptions {
  /** The process environment (for `/env.json`). @default {} */
  env?: Record<string, string>;
  /** A logger to use instead of one built from `config.logLevel`. */
  logger?: Logger;
  /** Where access-log lines go when `config.accessLog` is set. @default {stderr} */
  accessLogWrite?: AccessLogWrite;
}

/** A running Petrel. */
export interface App {
  /** The bound outbound listener address. */
  readonly outbound: { readonly host: string; readonly port: number };
  /** The bound admin address. */
  readonly admin: { readonly hostname: string; readonly port: number };
  /** The bound inbound listener address, when the inbound proxy runs. */
  readonly inbound?: { readonly host: string; readonly port: number };
  /** The local TLS identity, when one is configured. */
  readonly identity?: LocalIdentity;
  /** The tap server's bound address and registry, when it runs. */
  readonly tap?: {
    readonly host: string;
    readonly port: number;
    readonly taps: Taps;
  };
  readonly metrics: ProxyMetrics;
  /** Resolves once the proxy has stopped (after `shutdown()`). */
  readonly done: Promise<void>;
  /**
   * Drains: stop accepting, let in-flight requests finish, then close
   * everything; forced after `shutdownGracePeriodMs` (linkerd drain).
   */
  shutdown(): Promise<void>;
}

/** Starts Petrel with `config` (linkerd `App::spawn`). */
export async function buildApp(
  config: Config,
  opts: AppOptions = {},
): Promise<App> {
  const log = opts.logger ?? createLogger({
    level: config.logLevel,
    format: config.logFormat,
  });
  const metrics = new ProxyMetrics();
  const tlsMetrics = config.identity || config.inbound
    ? new TlsMetrics(metrics.registry)
    : undefined;
  // Identity.Certify writes the certificate where startIdentity loads it.
  const certifier = await startCertifierOf(config, log.child("identity"));
  const identity = config.identity &&
    await startIdentity(config, log, tlsMetrics);
  const primary = await controlPlaneDiscoveryOf(config, log.child("dst"));
  const discovery = new CompositeDiscovery({
    file: config.file,
    idleTimeoutMs: config.outbound.discoveryIdleTimeoutMs,
    ...(primary === undefined ? {} : { primary }),
  });
  const o = config.outbound;
  warnUnsupportedSocketOptions(config, log);
  const accessLog = accessLogOf(config.accessLog, opts.accessLogWrite);
  const errors = new ErrorRing();
  let currentFile = config.file;
  const balancers = new Set<LiveBalancer>();
  // The tap layers exist only with a tap server (linkerd: identity required).
  const taps = config.tap && identity ? new Taps() : undefined;
  if (config.tap && !identity) {
    log.warn("tap disabled: it needs a local identity", {
      tapSvcName: config.tap.svcName,
    });
  }
  const ctx: OutboundCtx & HttpServerExtras = {
    accessLog,
    onRescue: (e) => errors.push(e),
    settings: {
      connectTimeoutMs: o.connectTimeoutMs,
      connectSocket: config.sockets.outboundConnect,
      connectBackoff: o.connectBackoff,
      http1PoolIdleTimeoutMs: o.http1PoolIdleTimeoutMs,
      maxIdleConnsPerEndpoint: o.maxIdleConnsPerEndpoint,
      httpQueueCapacity: o.httpQueueCapacity,
      httpFailfastTimeoutMs: o.httpFailfastTimeoutMs,
      discoveryIdleTimeoutMs: o.discoveryIdleTimeoutMs,
      maxInFlight: o.maxInFlight,
      informationalHeaders: !o.disableInformationalHeaders,
    },
    discovery,
    metrics,
    log: log.child("outbound"),
    random: Math.random,
    balancers,
    tls: { identity, observer: tlsMetrics },
    taps,
  };
  const sidecar = mkHttpSidecar(ctx, { ingressMode: o.ingressMode ?? false });
  const listeners: ProxyListener[] = [];
  const cleanup: (() => void)[] = [
    () => sidecar[Symbol.dispose](),
    () => discovery.dispose(),
    () => identity?.[Symbol.dispose](),
    () => certifier?.[Symbol.dispose](),
  ];
  let inbound: { host: string; port: number } | undefined;
  const dialOpaque = newOpaqueDialer(ctx);
  try {
    // LINKERD2_PROXY_OUTBOUND_LISTEN_ADDRS: one listener per address.
    for (const listenAddr of [o.listenAddr, ...(o.extraListenAddrs ?? [])]) {
      listeners.push(
        await startOutboundListener({
          listenAddr,
          service: sidecar.service,
          origDst: true,
          serviceFor: (target) => sidecar.forOrigDst(target),
          opaqueFor: (target) =>
            discovery.resolve(target).then(
              (w) => w.get().opaque === true,
              () => false,
            ),
          transportFor: (target) =>
            metrics.transport({
              direction: "outbound",
              peer: "src",
              targetAddr: target,
            }),
          log: ctx.log,
          detectTimeoutMs: o.detectTimeoutMs,
          connectTimeoutMs: o.connectTimeoutMs,
          informationalHeaders: !o.disableInformationalHeaders,
          h1: {
            maxHeaders: o.http1MaxHeaders,
            headerReadTimeoutMs: o.http1HeaderReadTimeoutMs,
          },
          onDetect: (r) => metrics.detect(detectLabel(r)),
          acceptSocket: config.sockets.outboundAccept,
          h2: h2ServerOptions(config.h2KeepAlive?.outbound),
          dial: dialOpaque,
          transport: metrics.transport({
            direction: "outbound",
            peer: "src",
            targetAddr: listenAddr,
          }),
          ...(o.opaqueTarget ? { opaqueTarget: o.opaqueTarget } : {}),
        }),
      );
    }
    for (const f of o.forwards) {
      listeners.push(
        await startTcpForward({
          listenAddr: f.listenAddr,
          target: f.target,
          connectTimeoutMs: o.connectTimeoutMs,
          log: ctx.log,
          dial: dialOpaque,
        }),
      );
    }
    if (config.inbound) {
      const i = config.inbound;
      const cp = config.controlPlane;
      const {
        startInboundListener,
        InboundAuthzMetrics,
        inboundPolicyStoreOf,
      } = await loadInbound();
      const { controlChannel, trustAnchorsPemOf } = await loadControlApi();
      const store = inboundPolicyStoreOf(i, {
        ...(cp?.policy === undefined ? {} : {
          policyAddr: cp.policy.addr,
          policyChannel: controlChannel(cp.policy.addr, {
            name: cp.policy.name,
            trustAnchorsPem: trustAnchorsPemOf(config.identity),
          }),
          workload: cp.policyWorkload,
          backoff: cp.backoff,
        }),
        log: log.child("inbound"),
      });
      cleanup.push(() => store[Symbol.dispose]());
      const listener = await startInboundListener({
        listenAddr: i.listenAddr,
        appHost: i.appHost,
        appPort: i.appPort,
        policy: i.policy,
        store,
        origDst: originalDst,
        metrics: new InboundAuthzMetrics(metrics.registry),
        httpMetrics: new InboundHttpMetrics(metrics),
        transportFor: (labels) => metrics.transport(labels),
        // With an identity service, connections wait for the first
        // certificate (linkerd serves once identity is ready).
        ready: cp?.identity !== undefined && identity !== undefined
          ? identityReady(identity)
          : undefined,
        identity,
        detectTimeoutMs: i.detectTimeoutMs,
        connectTimeoutMs: i.connectTimeoutMs,
        informationalHeaders: !o.disableInformationalHeaders,
        h1: {
          maxHeaders: o.http1MaxHeaders,
          headerReadTimeoutMs: o.http1HeaderReadTimeoutMs,
        },
        log: log.child("inbound"),
        observer: tlsMetrics,
        accessLog,
        taps,
        h2: h2ServerOptions(config.h2KeepAlive?.inbound),
        sockets: {
          accept: config.sockets.inboundAccept,
          connect: config.sockets.inboundConnect,
        },
      });
      listeners.push(listener);
      inbound = { host: listener.host, port: listener.port };
    }
  } catch (err) {
    for (const l of listeners) l.close();
    for (const c of cleanup) c();
    throw err;
  }

  if (config.configPath) {
    const path = config.configPath;
    const watcher = watchConfigFile(path, {
      initial: config.file,
      ...(config.configText === undefined
        ? {}
        : { initialText: config.configText }),
      maxBytes: config.configMaxBytes,
      onConfig: (file: FileConfig) => {
        discovery.update(file);
        currentFile = file;
        log.info("config reloaded", { path, services: file.services.length });
      },
      onError: (err: Error) => {
        log.error("config rejected; keeping the last good config", {
          path,
          error: err.message,
        });
      },
    });
    cleanup.push(() => watcher[Symbol.dispose]());
  }

  let resolveDone!: () => void;
  const done = new Promise<void>((r) => resolveDone = r);
  let shuttingDown: Promise<void> | undefined;

  const shutdown = () =>
    shuttingDown ??= (async () => {
      log.info("shutting down: draining connections");
      const drained = Promise.all(listeners.map((l) => waitDrained(l)));
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise<void>((r) => {
        timer = setTimeout(() => {
          log.warn("grace period over: closing remaining connections");
          r();
        }, config.shutdownGracePeriodMs);
      });
      await Promise.race([drained, deadline]);
      clearTimeout(timer);
      for (const l of listeners) l.close();
      for (const c of cleanup) c();
      await tapServer?.close();
      await identity?.[Symbol.asyncDispose]();
      await admin.close();
      log.info("shutdown complete");
      resolveDone();
    })();

  const admin = await startAdmin({
    listenAddr: config.admin.listenAddr,
    metrics,
    logger: log,
    isReady: () => shuttingDown === undefined && (certifier?.isReady ?? true),
    shutdownEnabled: config.admin.shutdownEnabled,
    dashboardPublic: config.admin.dashboardPublic,
    onShutdown: () => void shutdown(),
    env: opts.env ?? {},
    state: new DashboardStateBuilder(metrics, {
      services: () =>
        currentFile.services.map((s) => ({
          name: s.name,
          protocol: s.protocol,
          endpoints: s.endpoints.map((e) => e.addr),
        })),
      recentErrors: () => errors.list(),
      endpoints: function* () {
        for (const b of balancers) {
          for (const ep of b.pool.endpoints()) {
            yield {
              backend: b.logical,
              addr: ep.key,
              state: ep.state.kind,
              inFlight: ep.inFlight,
              costMs: ep.load(),
            };
          }
        }
      },
    }),
  });

  // LINKERD2_PROXY_TAP_SVC_NAME: Tap/Observe on the control port over mTLS.
  let tapServer: import("./tap/server.ts").TapServer | undefined;
  if (taps !== undefined && identity !== undefined && config.tap) {
    const { startTapServer } = await import("./tap/server.ts");
    try {
      tapServer = await startTapServer({
        listenAddr: config.tap.listenAddr,
        svcName: config.tap.svcName,
        identity,
        taps,
        log: log.child("tap"),
      });
    } catch (err) {
      await shutdown();
      throw err;
    }
  }

  const main = listeners[0]!;
  return {
    outbound: { host: main.host, port: main.port },
    admin: admin.addr,
    ...(inbound === undefined ? {} : { inbound }),
    ...(identity === undefined ? {} : { identity }),
    ...(tapServer === undefined || taps === undefined ? {} : {
      tap: { host: tapServer.host, port: tapServer.port, taps },
    }),
    metrics,
    done,
    shutdown,
  };
}

/**
 * Loads the local identity and keeps it current; metrics and logs follow
 * each change (linkerd waits for its first certificate; Petrel starts at
 * once and refuses mesh TLS until the files are there).
 */
async function startIdentity(
  config: Config,
  log: Logger,
  tlsMetrics: TlsMetrics | undefined,
): Promise<LocalIdentity> {
  const c = config.identity!;
  const id = await LocalIdentity.watch(c, {
    onError: (err) => {
      tlsMetrics?.reloadError();
      log.warn("identity not loaded; keeping the last good certificate", {
        error: err.message,
      });
    },
  });
  const loaded = (creds: NonNullable<LocalIdentity["current"]>) => {
    tlsMetrics?.identity(creds);
    log.info("identity loaded", {
      identity: creds.name,
      serial: creds.serial,
      expires: new Date(creds.notAfterMs).toISOString(),
    });
  };
  if (id.current) loaded(id.current);
  else log.warn("waiting for identity: no certificate yet", { dir: c.dir });
  id.onChange(loaded);
  return id;
}

/** Resolves once `id` has a certificate. */
function identityReady(id: LocalIdentity): Promise<void> {
  if (id.current) return Promise.resolve();
  return new Promise((resolve) => {
    const sub = id.onChange(() => {
      sub[Symbol.dispose]();
      resolve();
    });
  });
}

/** Logs once when a TCP user timeout is configured but cannot be set (no FFI). */
function warnUnsupportedSocketOptions(config: Config, log: Logger): void {
  const wanted = Object.values(config.sockets).some((s) =>
    s.userTimeoutMs !== undefined
  );
  if (wanted && !tcpUserTimeoutSupported()) {
    log.warn(
      "TCP user timeout not set: needs --allow-ffi on Linux; keepalive still applies",
    );
  }
}

/** Stops accepting, then resolves once the listener has no connections left. */
async function waitDrained(l: ProxyListener): Promise<void> {
  await l.drain();
  while (l.connections > 0) {
    await new Promise((r) => setTimeout(r, 20));
  }
}

function detectLabel(result: string): string {
  switch (result) {
    case "http1":
      return "http/1";
    case "h2":
      return "http/2";
    case "timeout":
      return "read_timeout";
    case "eof":
      return "error";
    default:
      return "not_http";
  }
}

/**
 * The control-plane client (`@grpc/grpc-js`, `@grpc/proto-loader`: about
 * 10 MB of RSS and 150 ms of start-up), loaded only when the config names a
 * control-plane service or the inbound proxy (issue 19).
 */
function loadControlApi(): Promise<typeof import("./api/proto.ts")> {
  return import("./api/proto.ts");
}

/** The inbound proxy's modules, loaded only when it runs (issue 19). */
async function loadInbound(): Promise<
  & Pick<typeof import("./inbound/listener.ts"), "startInboundListener">
  & Pick<typeof import("./inbound/metrics.ts"), "InboundAuthzMetrics">
  & Pick<typeof import("./inbound/mod.ts"), "inboundPolicyStoreOf">
> {
  const [listener, metrics, mod] = await Promise.all([
    import("./inbound/listener.ts"),
    import("./inbound/metrics.ts"),
    import("./inbound/mod.ts"),
  ]);
  return {
    startInboundListener: listener.startInboundListener,
    InboundAuthzMetrics: metrics.InboundAuthzMetrics,
    inboundPolicyStoreOf: mod.inboundPolicyStoreOf,
  };
}

/**
 * The control-plane discovery `config` asks for (`LINKERD2_PROXY_DESTINATION_SVC_ADDR`
 * and friends), or undefined when no Destination service is configured.
 */
async function controlPlaneDiscoveryOf(
  config: Config,
  log?: Logger,
): Promise<ControlPlaneDiscovery | undefined> {
  const cp = config.controlPlane;
  if (cp?.destination === undefined) return undefined;
  const [{ controlChannel, trustAnchorsPemOf }, { ControlPlaneDiscovery }] =
    await Promise.all([loadControlApi(), import("./discovery/destination.ts")]);
  const trustAnchorsPem = trustAnchorsPemOf(config.identity);
  return new ControlPlaneDiscovery({
    destinationAddr: cp.destination.addr,
    destinationChannel: controlChannel(cp.destination.addr, {
      name: cp.destination.name,
      trustAnchorsPem,
    }),
    policyAddr: cp.policy?.addr,
    policyChannel: cp.policy === undefined
      ? undefined
      : controlChannel(cp.policy.addr, {
        name: cp.policy.name,
        trustAnchorsPem,
      }),
    contextToken: cp.destinationContext,
    workload: cp.policyWorkload,
    profileSuffixes: cp.profileSuffixes,
    profileNetworks: cp.profileNetworks,
    backoff: cp.backoff,
    initialTimeoutMs: cp.streamInitialTimeoutMs,
    log,
  });
}

/**
 * The certifier `config` asks for (`LINKERD2_PROXY_IDENTITY_SVC_ADDR` with
 * the token file, local name and identity directory), started; undefined
 * when no identity service is configured.
 */
async function startCertifierOf(
  config: Config,
  log?: Logger,
): Promise<IdentityCertifier | undefined> {
  const cp = config.controlPlane;
  const svc = cp?.identity;
  const id = config.identity;
  if (
    cp === undefined || svc === undefined || id?.dir === undefined ||
    id.localName === undefined || cp.identityTokenFile === undefined
  ) {
    return undefined;
  }
  const [{ controlChannel, trustAnchorsPemOf }, { IdentityCertifier }] =
    await Promise.all([
      loadControlApi(),
      import("./identity_client/certify.ts"),
    ]);
  const trustAnchorsPem = trustAnchorsPemOf(id);
  const channel = controlChannel(svc.addr, { name: svc.name, trustAnchorsPem });
  return new IdentityCertifier({
    addr: svc.addr,
    localName: id.localName,
    tokenFile: cp.identityTokenFile,
    dir: id.dir,
    trustAnchorsPem,
    minRefreshMs: cp.identityMinRefreshMs,
    maxRefreshMs: cp.identityMaxRefreshMs,
    credentials: channel.credentials,
    channelOptions: channel.options,
    log,
  });
}

/** The HTTP/2 server's keep-alive PINGs, when configured (linkerd `ServerKeepAlive`). */
function h2ServerOptions(
  ka: H2KeepAliveConfig | undefined,
): { keepAliveIntervalMs?: number; keepAliveTimeoutMs?: number } {
  return ka === undefined
    ? {}
    : { keepAliveIntervalMs: ka.intervalMs, keepAliveTimeoutMs: ka.timeoutMs };
}
