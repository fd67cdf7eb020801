import type { Layer } from "./service.ts";

/** Inside-out stack builder (linkerd `svc::stack(..).push(..)`). */
export class Stack<S> {
  readonly #inner: S;
  constructor(inner: S) {
    this.#inner = inner;
  }
  /** Wraps the current stack with `layer`. */
  push<O>(layer: Layer<S, O>): Stack<O> {
    return new Stack(layer(this.#inner));
  }
  /** Returns the assembled stack. */
  into(): S {
    return this.#inner;
  }
}

/** Starts a stack from its innermost service (linkerd `svc::stack`). */
export function stack<S>(inner: S): Stack<S> {
  return new Stack(inner);
}
