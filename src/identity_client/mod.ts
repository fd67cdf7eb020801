/**
 * The proxy's identity from the Linkerd identity service: a key and CSR
 * made in memory, `Identity.Certify`, refresh, and the PEM files the TLS
 * layer loads (linkerd `proxy/identity-client`, `proxy-identity`).
 *
 * @module
 */
export * from "./csr.ts";
export * from "./certify.ts";
