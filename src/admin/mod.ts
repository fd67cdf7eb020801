/**
 * The admin server: `/live`, `/ready`, `/metrics`, `/proxy-log-level`,
 * `/env.json`, `/shutdown` (linkerd `linkerd/app/admin`).
 *
 * @module
 */
export * from "./server.ts";
