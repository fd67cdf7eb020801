/**
 * What a running proxy listener offers its owner (`app.ts`): the outbound
 * and inbound listeners have this one shape.
 *
 * @module
 */

/** A running listener (outbound or inbound). */
export interface ProxyListener {
  readonly port: number;
  readonly host: string;
  /** Open downstream connections. */
  readonly connections: number;
  /** Stops accepting and asks every connection to finish gracefully. */
  drain(): Promise<void>;
  /** Destroys every connection now (the inbound also closes its application clients). */
  close(): void;
}
