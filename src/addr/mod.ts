/**
 * Names and socket addresses (linkerd `addr`, `dns/name`): the one home of
 * address parsing, formatting and DNS-name rules.
 *
 * @module
 */
export * from "./socket_addr.ts";
export * from "./dns_name.ts";
export * from "./http_authority.ts";
