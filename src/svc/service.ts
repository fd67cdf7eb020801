/**
 * Service, NewService and Layer: the composition vocabulary of the proxy
 * (tower `Service`/`Layer`, linkerd `NewService`).
 *
 * @module
 */

/** A request handler: one request in, one response out (tower `Service`). */
export type Service<Req, Rsp> = (req: Req) => Promise<Rsp>;

/** Builds a service for a target (linkerd `NewService`). Must not do I/O. */
export type NewService<T, S> = (target: T) => S;

/** Wraps an inner stack in behaviour (tower `Layer`). */
export type Layer<In, Out> = (inner: In) => Out;

/** Applies `layer` to every service an inner NewService builds (linkerd `push_on_service`). */
export function onService<T, S, O>(
  layer: Layer<S, O>,
): Layer<NewService<T, S>, NewService<T, O>> {
  return (inner) => (target) => layer(inner(target));
}

/** Maps a target before the inner stack sees it (linkerd `push_map_target`). */
export function mapTarget<T, U, S>(
  f: (t: T) => U,
): Layer<NewService<U, S>, NewService<T, S>> {
  return (inner) => (target) => inner(f(target));
}
