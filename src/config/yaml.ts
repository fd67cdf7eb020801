/**
 * The YAML config file: parsing and validation with precise errors (the
 * file-based stand-in for linkerd's Destination/Policy discovery).
 *
 * Every error names the file, line and column and the field path, e.g.
 * `petrel.yaml:7:11: services[0].endpoints[1]: Cannot parse endpoint: current value is "127.0.0.1"`.
 * Unknown keys are errors. The schema is a table of fields per object: to add
 * a field, add a row to its table (see `SERVICE_FIELDS`).
 *
 * @module
 */
import { isMap, isScalar, LineCounter, parseDocument } from "yaml";
import type { FailureAccrualSpec } from "../balance/breaker.ts";
import type { RetryBudget } from "../http/route/model.ts";
import {
  backoff,
  bool,
  checkUnique,
  count,
  type Ctx,
  deref,
  describe,
  duration,
  type Field,
  identity,
  listenAddr,
  listOf,
  type Loc,
  locAt,
  located,
  objectOf,
  offsetOf,
  type Parser,
  protocol,
  scalar,
  serviceName,
  str,
  target,
} from "./_schema.ts";
import type {
  EndpointConfig,
  FileConfig,
  ForwardConfig,
  ServiceConfig,
} from "./config.ts";
import { formatSocketAddr, parseSocketAddr } from "../addr/mod.ts";
import { identitySection, inboundSection } from "./yaml_identity.ts";
import {
  buildRoutes,
  failureAccrual,
  retryBudget,
  type RouteDraft,
  routeDraft,
} from "./yaml_routes.ts";

// ---------------------------------------------------------------------------
// The schema, one table per object.

const FORWARD_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", required: true, parse: listenAddr },
  { key: "target", required: true, parse: target("forward target") },
];

const forwards: Parser<ForwardConfig[]> = (raw, loc, ctx) => {
  const list = listOf(objectOf<ForwardConfig>(FORWARD_FIELDS))(raw, loc, ctx);
  const seen = new Map<string, Loc>();
  list.forEach((f, i) => {
    const at = locAt(raw, loc, ctx, [i, "listen"]);
    checkUnique(seen, f.listenAddr, "forward listen address", at, ctx);
  });
  return list;
};

const OUTBOUND_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", parse: listenAddr },
  { key: "opaqueTarget", parse: target("opaque target") },
  { key: "forwards", parse: forwards },
  { key: "connectTimeout", into: "connectTimeoutMs", parse: duration },
  { key: "connectBackoff", parse: backoff },
  { key: "detectTimeout", into: "detectTimeoutMs", parse: duration },
  {
    key: "http1PoolIdleTimeout",
    into: "http1PoolIdleTimeoutMs",
    parse: duration,
  },
  {
    key: "maxIdleConnsPerEndpoint",
    parse: count("maxIdleConnsPerEndpoint"),
  },
  { key: "maxInFlight", parse: count("maxInFlight") },
  { key: "httpQueueCapacity", parse: count("httpQueueCapacity") },
  {
    key: "httpFailfastTimeout",
    into: "httpFailfastTimeoutMs",
    parse: duration,
  },
  {
    key: "discoveryIdleTimeout",
    into: "discoveryIdleTimeoutMs",
    parse: duration,
  },
  { key: "disableInformationalHeaders", parse: bool },
  { key: "http1MaxHeaders", parse: count("http1MaxHeaders") },
  {
    key: "http1HeaderReadTimeout",
    into: "http1HeaderReadTimeoutMs",
    parse: duration,
  },
];

const ADMIN_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", parse: listenAddr },
  { key: "shutdownEnabled", parse: bool },
];

function endpointOf(addr: string): EndpointConfig {
  const parsed = parseSocketAddr(addr, "endpoint");
  return {
    addr: formatSocketAddr(parsed),
    host: parsed.host,
    port: parsed.port,
  };
}

const endpointAddr = scalar("string", (v) => endpointOf(v as string));

/** An "ip:port" a service answers for (sidecar mode), canonical text. */
const serviceAddress = scalar("string", (v) => {
  const a = parseSocketAddr(v as string, "address", { ip: true });
  // One spelling per IPv6 address, as the kernel's (RFC 5952).
  const host = a.host.includes(":")
    ? new URL(`http://[${a.host}]/`).hostname.slice(1, -1)
    : a.host;
  return formatSocketAddr({ host, port: a.port });
});

const ENDPOINT_FIELDS: readonly Field[] = [
  { key: "addr", required: true, parse: endpointAddr },
  { key: "identity", parse: identity },
  { key: "weight", parse: count("weight", 0xffff_ffff) },
  { key: "meshed", parse: bool },
];

const endpointObject = objectOf<EndpointConfig>(ENDPOINT_FIELDS, (obj) => {
  const { addr, ...rest } = obj;
  return { ...(addr as EndpointConfig), ...rest } as EndpointConfig;
});

/** An endpoint: "ip:port" / "host:port", or `{ addr, identity?, weight? }`. */
const endpoint: Parser<EndpointConfig> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  if (isMap(node)) return endpointObject(node, loc, ctx);
  if (isScalar(node) && typeof node.value === "string") {
    return endpointAddr(node, loc, ctx);
  }
  throw located(
    ctx,
    loc,
    `Expected an endpoint address or mapping, got ${describe(node)}`,
  );
};

/** A service's balancer: "p2c-ewma" (linkerd's) or "peer-load" (bench/RESULTS.md). */
const loadBalancer = scalar("string", (v) => {
  if (v === "p2c-ewma" || v === "peer-load") return v;
  throw new TypeError(
    `Cannot parse loadBalancer: current value is "${v}" (expected "p2c-ewma" or "peer-load")`,
  );
});

const SERVICE_FIELDS: readonly Field[] = [
  { key: "name", required: true, parse: serviceName },
  { key: "protocol", parse: protocol },
  { key: "endpoints", required: true, parse: listOf(endpoint) },
  { key: "addresses", parse: listOf(serviceAddress) },
  { key: "opaque", parse: bool },
  { key: "identity", parse: identity },
  { key: "routes", parse: listOf(routeDraft) },
  { key: "failureAccrual", parse: failureAccrual },
  { key: "retryBudget", parse: retryBudget },
  { key: "meshed", parse: bool },
  { key: "loadBalancer", parse: loadBalancer },
];

const service = objectOf<ServiceConfig>(
  SERVICE_FIELDS,
  (obj, loc, ctx, node) => {
    const defaultIdentity = obj.identity as string | undefined;
    const seen = new Map<string, Loc>();
    const endpoints = (obj.endpoints as EndpointConfig[]).map((ep, i) => {
      const at = locAt(node, loc, ctx, ["endpoints", i]);
      checkUnique(seen, ep.addr, "endpoint", at, ctx);
      const out = ep.identity === undefined && defaultIdentity !== undefined
        ? { ...ep, identity: defaultIdentity }
        : ep;
      // `meshed: true` on the service applies to endpoints that say nothing.
      return obj.meshed === true && ep.meshed === undefined
        ? { ...out, meshed: true }
        : out;
    });
    const name = obj.name as string;
    let routes = buildRoutes(
      (obj.routes as RouteDraft[] | undefined) ?? [],
      name,
      node,
      loc,
      ctx,
    );
    const budget = obj.retryBudget as RetryBudget | undefined;
    if (budget !== undefined) {
      if (routes === undefined) {
        throw located(
          ctx,
          locAt(node, loc, ctx, ["retryBudget"]),
          "Cannot use retryBudget: it bounds route retries and the service has no routes",
        );
      }
      routes = { ...routes, retryBudget: budget };
    }
    const out: ServiceConfig = {
      name,
      protocol: (obj.protocol as ServiceConfig["protocol"] | undefined) ??
        "http1",
      endpoints,
      ...(defaultIdentity === undefined ? {} : { identity: defaultIdentity }),
      ...(obj.addresses === undefined
        ? {}
        : { addresses: obj.addresses as string[] }),
      ...(obj.opaque === true ? { opaque: true } : {}),
      ...(routes === undefined ? {} : { routes }),
      ...(obj.failureAccrual === undefined
        ? {}
        : { failureAccrual: obj.failureAccrual as FailureAccrualSpec }),
      ...(obj.loadBalancer === undefined ? {} : {
        loadBalancer: obj.loadBalancer as "p2c-ewma" | "peer-load",
      }),
    };
    return out;
  },
);

const services: Parser<ServiceConfig[]> = (raw, loc, ctx) => {
  const node = deref(raw, loc, ctx);
  const list = listOf(service)(node, loc, ctx);
  const seen = new Map<string, Loc>();
  const addrs = new Map<string, Loc>();
  list.forEach((svc, i) => {
    const at = locAt(node, loc, ctx, [i, "name"]);
    checkUnique(seen, svc.name, "service name", at, ctx);
    svc.addresses?.forEach((a, j) => {
      const at = locAt(node, loc, ctx, [i, "addresses", j]);
      checkUnique(addrs, a, "service address", at, ctx);
    });
  });
  return list;
};

const ROOT_FIELDS: readonly Field[] = [
  { key: "outbound", parse: objectOf(OUTBOUND_FIELDS) },
  { key: "admin", parse: objectOf(ADMIN_FIELDS) },
  { key: "identity", parse: identitySection },
  { key: "inbound", parse: inboundSection },
  { key: "services", parse: services },
  {
    key: "shutdownGracePeriod",
    into: "shutdownGracePeriodMs",
    parse: duration,
  },
  { key: "logLevel", parse: str },
];

const root = objectOf<FileConfig>(
  ROOT_FIELDS,
  (obj) => ({ ...obj, services: obj.services ?? [] }) as FileConfig,
);

/**
 * Parses and validates a Petrel YAML config file (`source` names it in
 * errors). Throws `SyntaxError` for malformed YAML and `TypeError` /
 * `RangeError` for schema errors, each message starting `source:line:col:`.
 */
export function parseConfigYaml(text: string, source: string): FileConfig {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, {
    lineCounter,
    prettyErrors: false,
    uniqueKeys: true,
  });
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem !== undefined) {
    const { line, col } = lineCounter.linePos(problem.pos[0]);
    const message = problem.code === "MULTIPLE_DOCS"
      ? "Source contains multiple documents; a config file holds one"
      : problem.message.split("\n")[0];
    throw new SyntaxError(
      `${source}:${line}:${col}: Cannot parse YAML: ${message}`,
      { cause: problem },
    );
  }
  const ctx: Ctx = { source, lineCounter, doc };
  return root(
    doc.contents,
    { path: "", offset: offsetOf(doc.contents, 0) },
    ctx,
  );
}
