/**
 * Test doubles for discovery: a scripted DNS.
 *
 * @module
 */
import { isIP } from "node:net";
import type { LookupAddress } from "./dns.ts";

/** A DNS whose answers the test sets; counts lookups per host. */
export class FakeDns {
  readonly #answers = new Map<string, readonly string[] | Error>();
  readonly #calls = new Map<string, number>();
  #waiters: (() => void)[] = [];

  /** Sets the answer for `host`: addresses, or an error to throw. */
  set(host: string, answer: readonly string[] | Error): void {
    this.#answers.set(host, answer);
  }

  /** How many lookups of `host` were made. */
  calls(host: string): number {
    return this.#calls.get(host) ?? 0;
  }

  /** The lookup function to inject. */
  readonly lookup = (host: string): Promise<readonly LookupAddress[]> => {
    this.#calls.set(host, this.calls(host) + 1);
    const waiters = this.#waiters;
    this.#waiters = [];
    const answer = this.#answers.get(host) ??
      Object.assign(new Error(`getaddrinfo ENOTFOUND ${host}`), {
        code: "ENOTFOUND",
      });
    // Answer asynchronously, like the real resolver.
    return new Promise((resolve, reject) => {
      queueMicrotask(() => {
        if (answer instanceof Error) reject(answer);
        else {
          resolve(
            answer.map((address) => ({ address, family: isIP(address) })),
          );
        }
        for (const w of waiters) w();
      });
    });
  };

  /** Resolves once `host` has been looked up at least `n` times and answered. */
  async waitCalls(host: string, n: number, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.calls(host) < n) {
      if (Date.now() > deadline) {
        throw new Error(`${host}: ${this.calls(host)} lookups, wanted ${n}`);
      }
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, 50);
        this.#waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    // Let the answer be applied.
    await new Promise((resolve) => setTimeout(resolve, 0));
  }
}
