/**
 * The YAML schema of the `identity:` section (the local TLS identity,
 * linkerd `LINKERD2_PROXY_IDENTITY_*`) and of the `inbound:` section (the
 * inbound proxy, linkerd `LINKERD2_PROXY_INBOUND_*`).
 *
 * ```yaml
 * identity:
 *   dir: /var/run/linkerd/identity/end-entity  # tls.crt, tls.key | key.p8, ca.crt
 *   certFile: ./web.crt          # instead of <dir>/tls.crt
 *   keyFile: ./web.key           # instead of <dir>/tls.key
 *   trustAnchorsFile: ./ca.crt   # instead of <dir>/ca.crt
 *   # trustAnchors: "-----BEGIN CERTIFICATE-----..."  (PEM text)
 *   localName: web.ns.serviceaccount.identity.linkerd.cluster.local
 * inbound:
 *   listen: 0.0.0.0:4143
 *   appPort: 8080                # the local application (required)
 *   appHost: 127.0.0.1
 *   policy: all-authenticated    # | all-unauthenticated | deny
 *   detectTimeout: 10s
 *   connectTimeout: 300ms
 * ```
 *
 * @module
 */
import { INBOUND_POLICIES, type InboundPolicy } from "../inbound/policy.ts";
import {
  duration,
  type Field,
  identity,
  listenAddr,
  located,
  objectOf,
  type Parser,
  scalar,
} from "./_schema.ts";
import type { IdentityConfig, InboundConfig } from "./config.ts";
import { formatSocketAddr, isIpAddr } from "../addr/mod.ts";
import { parsePort } from "./parse.ts";

/** A non-empty path. */
const path = scalar("string", (v) => {
  const s = v as string;
  if (s.trim() === "") throw new TypeError("Cannot parse path: it is empty");
  return s;
});

/** PEM text holding at least one certificate. */
const pemText = scalar("string", (v) => {
  const s = v as string;
  if (!s.includes("-----BEGIN CERTIFICATE-----")) {
    throw new TypeError(
      "Cannot parse trust anchors: expected PEM text with at least one certificate",
    );
  }
  return s;
});

const IDENTITY_FIELDS: readonly Field[] = [
  { key: "dir", parse: path },
  { key: "certFile", parse: path },
  { key: "keyFile", parse: path },
  { key: "trustAnchorsFile", parse: path },
  { key: "trustAnchors", into: "trustAnchorsPem", parse: pemText },
  { key: "localName", parse: identity },
];

/**
 * The `identity:` section: a directory, or both `certFile` and `keyFile`;
 * trust anchors from a file, PEM text, or `ca.crt` in the directory.
 */
export const identitySection: Parser<IdentityConfig> = objectOf<
  IdentityConfig
>(IDENTITY_FIELDS, (obj, loc, ctx) => {
  const c = obj as IdentityConfig;
  if (
    c.dir === undefined && (c.certFile === undefined || c.keyFile === undefined)
  ) {
    throw located(
      ctx,
      loc,
      'Cannot parse identity: give "dir", or both "certFile" and "keyFile"',
    );
  }
  if (c.trustAnchorsFile !== undefined && c.trustAnchorsPem !== undefined) {
    throw located(
      ctx,
      loc,
      'Cannot parse identity: give "trustAnchorsFile" or "trustAnchors", not both',
    );
  }
  if (
    c.dir === undefined && c.trustAnchorsFile === undefined &&
    c.trustAnchorsPem === undefined
  ) {
    throw located(
      ctx,
      loc,
      'Cannot parse identity: no trust anchors ("trustAnchorsFile", "trustAnchors", or ca.crt in "dir")',
    );
  }
  return c;
});

/** An inbound policy name. */
export const inboundPolicy = scalar("string", (v): InboundPolicy => {
  const s = v as string;
  if ((INBOUND_POLICIES as readonly string[]).includes(s)) {
    return s as InboundPolicy;
  }
  throw new TypeError(
    `Cannot parse inbound policy: current value is "${s}" (expected one of: ${
      INBOUND_POLICIES.join(", ")
    })`,
  );
});

const appPort = scalar("string|number", (v) => {
  const port = parsePort(String(v), "appPort");
  if (port === 0) {
    throw new RangeError('Cannot parse appPort: current value is "0"');
  }
  return port;
});

const appHost = scalar("string", (v) => {
  const lower = (v as string).toLowerCase();
  const s = lower.startsWith("[") && lower.endsWith("]")
    ? lower.slice(1, -1)
    : lower;
  if (!isIpAddr(s) && s !== "localhost") {
    throw new TypeError(
      `Cannot parse appHost: current value is "${v}" (expected an IP address or localhost)`,
    );
  }
  return s;
});

const INBOUND_FIELDS: readonly Field[] = [
  { key: "listen", into: "listenAddr", parse: listenAddr },
  { key: "appPort", parse: appPort },
  { key: "appHost", parse: appHost },
  { key: "policy", parse: inboundPolicy },
  { key: "detectTimeout", into: "detectTimeoutMs", parse: duration },
  { key: "connectTimeout", into: "connectTimeoutMs", parse: duration },
];

/** The `inbound:` section; every field optional here (the port may come from the environment). */
export const inboundSection: Parser<
  { readonly [K in keyof InboundConfig]?: InboundConfig[K] }
> = objectOf(INBOUND_FIELDS);

/** "ip:port" of the application, for logs. */
export function appAddr(c: Pick<InboundConfig, "appHost" | "appPort">): string {
  return formatSocketAddr({ host: c.appHost, port: c.appPort ?? 0 });
}
