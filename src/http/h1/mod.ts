/**
 * Petrel's HTTP/1.1 codec on raw `node:net` sockets (hyper's `proto::h1` as
 * linkerd uses it): the server side ({@link serveH1}), the per-endpoint
 * client pool ({@link H1Pool}), and the head and chunked parsers they share.
 *
 * `node:http` serves one request per connection under Deno 2.9.6, hence a
 * codec of our own (DESIGN.md §2).
 *
 * @module
 */
export { type H1ServerConn, type H1ServerOptions, serveH1 } from "./server.ts";
export { H1Pool, type H1PoolOptions } from "./pool.ts";
export { H1ClientConn, type H1ConnOwner } from "./client.ts";
export {
  DEFAULT_MAX_HEADER_BYTES,
  findHeadEnd,
  type HeadError,
  type HeadOptions,
  parseRequestHead,
  parseResponseHead,
  type RequestHead,
  type ResponseHead,
  type TargetForm,
} from "./parse.ts";
export {
  CHUNK_END,
  ChunkedDecoder,
  type ChunkedDecoderOptions,
  chunkHead,
  type ChunkTarget,
  encodeChunk,
  LAST_CHUNK,
  lastChunk,
} from "./chunked.ts";
