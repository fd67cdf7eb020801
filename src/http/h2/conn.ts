/**
 * One HTTP/2 connection on a raw socket, for either role (h2 crate
 * `proto::Connection` with its `Streams`): preface, SETTINGS with ACK and
 * timeout, PING and keep-alive, GOAWAY both ways with graceful drain, the
 * stream table and its states (RFC 9113 §5.1), RST_STREAM, CONTINUATION
 * assembly, flow control both ways, and the limits that defend against
 * abusive peers (rapid reset, CONTINUATION and control-frame floods).
 *
 * The roles on top (codec_server.ts, codec_client.ts) only see streams:
 * decoded, validated heads, an incoming `Body` whose consumption opens the
 * peer's window, and `sendHeaders()` / `sendBody()` for the other way.
 *
 * @module
 */
import { StreamResetError } from "../../errors.ts";
import type { Body, HeaderMap } from "../message.ts";
import { codeFor, H2Body } from "./body.ts";
import {
  DEFAULT_MAX_FRAME_SIZE,
  DEFAULT_WINDOW,
  ErrorCode,
  Flag,
  FrameReader,
  FrameType,
  FrameWriter,
  H2ProtocolError,
  MAX_MAX_FRAME_SIZE,
  MAX_WINDOW,
  PREFACE,
  readU31,
  readU32,
  SettingId,
  unpad,
} from "./frame.ts";
import {
  encodeFields,
  type H2Head,
  HeadCollector,
  headListSize,
  statusHead,
} from "./fields.ts";
import {
  HeaderListTooLarge,
  HpackDecoder,
  HpackEncoder,
  HpackError,
  HpackWriter,
} from "./hpack.ts";

export { H2Body } from "./body.ts";
export { type H2Head, statusHead } from "./fields.ts";

/** Which end of the connection we are. */
export type H2Role = "client" | "server";

/** What a connection's socket must offer (a `node:net` or `node:tls` socket). */
export interface H2Socket {
  write(chunk: Uint8Array, cb: (err?: Error | null) => void): boolean;
  readonly writableLength: number;
  readonly destroyed: boolean;
  end(): void;
  destroy(): void;
  on(event: "data", fn: (chunk: Uint8Array) => void): unknown;
  on(event: "drain" | "end" | "close", fn: () => void): unknown;
  on(event: "error", fn: (err: Error) => void): unknown;
  resume(): unknown;
}

/** Options for {@linkcode H2Conn}. */
export interface H2ConnOptions {
  /** Our receive window per stream (SETTINGS_INITIAL_WINDOW_SIZE). @default 65535 */
  initialStreamWindowSize?: number;
  /** Our receive window for the connection. @default 1048576 */
  initialConnectionWindowSize?: number;
  /** SETTINGS_MAX_CONCURRENT_STREAMS we advertise; streams above get REFUSED_STREAM. @default 1000 */
  maxConcurrentStreams?: number;
  /** SETTINGS_MAX_HEADER_LIST_SIZE we advertise and enforce. @default 16384 */
  maxHeaderListSize?: number;
  /** SETTINGS_MAX_FRAME_SIZE we advertise (largest frame we accept). @default 16384 */
  maxFrameSize?: number;
  /**
   * Largest field block (HEADERS + CONTINUATION bytes) buffered before it is
   * decoded; beyond it the connection is closed with ENHANCE_YOUR_CALM
   * (CVE-2024-27316). @default maxHeaderListSize + 16384
   */
  maxHeaderBlockBytes?: number;
  /** SETTINGS_HEADER_TABLE_SIZE we advertise. @default 4096 */
  headerTableSize?: number;
  /** Time the peer has to acknowledge our SETTINGS. @default 10000 */
  settingsTimeoutMs?: number;
  /** Send a PING after this long; 0 disables keep-alive. @default 0 */
  keepAliveIntervalMs?: number;
  /** Close the connection when a keep-alive PING is not answered in time. @default 20000 */
  keepAliveTimeoutMs?: number;
  /**
   * Stream resets (by the peer, or by us for its protocol errors) tolerated
   * per `abuseWindowMs` before GOAWAY ENHANCE_YOUR_CALM (CVE-2023-44487).
   * @default 200
   */
  maxResetsPerWindow?: number;
  /**
   * SETTINGS, PING, PRIORITY, empty DATA/CONTINUATION and unknown frames
   * tolerated per `abuseWindowMs` before GOAWAY ENHANCE_YOUR_CALM.
   * @default 1000
   */
  maxControlFramesPerWindow?: number;
  /** @default 1000 */
  abuseWindowMs?: number;
  /** Monotonic clock in ms. @default performance.now */
  now?: () => number;
}

// Stream states (RFC 9113 §5.1; no reserved states: push is refused).
const OPEN = 1;
const HALF_CLOSED_LOCAL = 2; // we sent END_STREAM
const HALF_CLOSED_REMOTE = 3; // the peer sent END_STREAM
const CLOSED = 4;

/** Stream state numbers, for tests and debugging. */
export const StreamState = {
  OPEN,
  HALF_CLOSED_LOCAL,
  HALF_CLOSED_REMOTE,
  CLOSED,
} as const;

/** Queued outgoing bytes per stream above which its body is paused. */
const OUT_HIGH_WATER = 65536;
/** Bytes waiting for the socket above which DATA waits for 'drain'. */
const SOCKET_HIGH_WATER = 131072;
/** After GOAWAY on an error, how long the peer gets before the socket is destroyed. */
const LINGER_MS = 1000;
/** Recently closed streams remembered with how they closed (RFC 9113 §5.1 "closed"). */
const CLOSED_MEMORY = 256;
/** How a remembered stream closed. */
const RESET_LOCALLY = 1; // its late frames are ignored
const RESET_BY_PEER = 2; // further frames: stream error STREAM_CLOSED
const ENDED = 3; // both END_STREAMs: further frames are a connection error

const EMPTY = new Uint8Array(0);
const DRAIN_PING = new Uint8Array([0x64, 0x72, 0x61, 0x69, 0x6e, 0, 0, 0]);
const KEEPALIVE_PING = new Uint8Array([0x6b, 0x65, 0x65, 0x70, 0, 0, 0, 0]);

/** One stream of an {@linkcode H2Conn} (h2 `proto::streams::Stream`). */
export class H2Stream {
  /** Stream identifier. */
  readonly id: number;
  /** Set by the role: the response head arrived (client role). */
  onHead: ((head: H2Head, endStream: boolean) => void) | null = null;
  /**
   * Set by the role: the stream closed. `code` is the reset code (ours or
   * the peer's), or undefined for a clean close; `refused` marks a stream
   * the peer's GOAWAY says it never processed.
   */
  onClose: ((code: number | undefined, refused: boolean) => void) | null = null;
  /** The incoming message body; null when the message had none. */
  body: H2Body<H2Stream> | null = null;
  /** @internal */ state: number = OPEN;
  /** @internal */ sendWindow: number;
  /** @internal */ recvWindow: number;
  /** @internal unacknowledged consumed bytes */ unacked = 0;
  /** @internal */ headSeen = false;
  /** @internal content-length left, or -1 */ lengthLeft = -1;
  /** @internal the request was HEAD (client role: no body check) */ isHead =
    false;
  /** @internal */ peerReset = false;
  // Outgoing body.
  /** @internal */ outQ: Uint8Array[] = [];
  /** @internal */ outHead = 0;
  /** @internal */ outOff = 0;
  /** @internal */ outBytes = 0;
  /** @internal */ outEnd = false;
  /** @internal */ outTrailers: HeaderMap | undefined = undefined;
  /** @internal */ outSource: Body | null = null;
  /** @internal */ outPaused = false;
  /** @internal */ outDirty = false;

  constructor(id: number, sendWindow: number, recvWindow: number) {
    this.id = id;
    this.sendWindow = sendWindow;
    this.recvWindow = recvWindow;
  }

  /** True once both sides ended or the stream was reset. */
  get closed(): boolean {
    return this.state === CLOSED;
  }

  /** True once we sent END_STREAM (or the stream closed). */
  get localEnded(): boolean {
    return this.state === HALF_CLOSED_LOCAL || this.state === CLOSED;
  }
}

/** A connection error raised inside the connection: GOAWAY, then close. */
class ConnError extends H2ProtocolError {}

/**
 * An HTTP/2 connection over a socket (h2 `proto::Connection`). The role
 * decides the preface, stream id parity and which heads are valid.
 */
export class H2Conn {
  readonly role: H2Role;
  /** Resolves when the socket has closed. */
  readonly closed: Promise<void>;
  /** Server role: a request head arrived on a new stream. */
  onStream:
    | ((stream: H2Stream, head: H2Head, endStream: boolean) => void)
    | null = null;
  /** The peer sent GOAWAY. */
  onGoaway: ((lastStreamId: number, code: number) => void) | null = null;
  /** The connection closed; `err` says why when it was not a clean close. */
  onClose: ((err: Error | undefined) => void) | null = null;

  readonly #socket: H2Socket;
  readonly #reader: FrameReader;
  readonly #writer: FrameWriter;
  readonly #decoder: HpackDecoder;
  readonly #encoder: HpackEncoder;
  readonly #hw = new HpackWriter(1024);
  readonly #now: () => number;
  readonly #streams = new Map<number, H2Stream>();
  #resolveClosed!: () => void;

  // Our settings.
  readonly #localStreamWindow: number;
  readonly #localConnWindow: number;
  readonly #maxConcurrent: number;
  readonly #maxHeaderList: number;
  readonly #maxBlock: number;
  #localAcked = false;
  // Peer settings.
  #peerMaxFrame = DEFAULT_MAX_FRAME_SIZE;
  #peerStreamWindow = DEFAULT_WINDOW;
  #peerMaxConcurrent = Infinity;
  #peerMaxHeaderList = Infinity;
  #peerSettingsSeen = false;
  #peerSettingsResolve: (() => void) | null = null;
  /** Resolves once the peer's first SETTINGS arrived. */
  readonly ready: Promise<void>;

  // Flow control.
  #connSendWindow = DEFAULT_WINDOW;
  #connRecvWindow = DEFAULT_WINDOW;
  #connUnacked = 0;
  #blocked = new Set<H2Stream>();
  #dirty: H2Stream[] = [];

  // Streams.
  #nextStreamId: number;
  #lastPeerStreamId = 0;
  #peerActive = 0;
  #localActive = 0;
  #recentIds = new Int32Array(CLOSED_MEMORY);
  #recentHow = new Uint8Array(CLOSED_MEMORY);
  #recentPos = 0;
  #pendingDispatch: Array<[H2Stream, H2Head, boolean]> = [];

  // Header block being assembled.
  #blockStream = 0;
  #blockFlags = 0;
  #blockParts: Uint8Array[] = [];
  #blockBytes = 0;
  #blockFrames = 0;
  // The head being decoded.
  readonly #fields: HeadCollector;

  // Lifecycle.
  #goawaySent = -1;
  #goawayRecv = -1;
  #drainPhase = 0; // 0 none, 1 first GOAWAY + PING sent, 2 final GOAWAY sent
  #closing = false;
  #isClosed = false;
  #closeError: Error | undefined = undefined;
  #timers = new Set<ReturnType<typeof setTimeout>>();
  #settingsTimer: ReturnType<typeof setTimeout> | undefined;
  #keepAliveTimer: ReturnType<typeof setTimeout> | undefined;
  #keepAliveIntervalMs: number;
  #keepAliveTimeoutMs: number;

  // Abuse accounting.
  readonly #maxResets: number;
  readonly #maxControl: number;
  readonly #abuseWindowMs: number;
  #abuseWindowStart = 0;
  #resets = 0;
  #control = 0;
  #completed = 0;

  constructor(socket: H2Socket, role: H2Role, opts: H2ConnOptions = {}) {
    this.#socket = socket;
    this.role = role;
    this.#now = opts.now ?? (() => performance.now());
    this.#localStreamWindow = opts.initialStreamWindowSize ?? DEFAULT_WINDOW;
    this.#localConnWindow = opts.initialConnectionWindowSize ?? 1048576;
    this.#maxConcurrent = opts.maxConcurrentStreams ?? 1000;
    this.#maxHeaderList = opts.maxHeaderListSize ?? 16384;
    this.#maxBlock = opts.maxHeaderBlockBytes ?? this.#maxHeaderList + 16384;
    this.#maxResets = opts.maxResetsPerWindow ?? 200;
    this.#maxControl = opts.maxControlFramesPerWindow ?? 1000;
    this.#abuseWindowMs = opts.abuseWindowMs ?? 1000;
    this.#keepAliveIntervalMs = opts.keepAliveIntervalMs ?? 0;
    this.#keepAliveTimeoutMs = opts.keepAliveTimeoutMs ?? 20000;
    const maxFrame = opts.maxFrameSize ?? DEFAULT_MAX_FRAME_SIZE;
    const tableSize = opts.headerTableSize ?? 4096;
    if (
      this.#localStreamWindow > MAX_WINDOW || this.#localConnWindow > MAX_WINDOW
    ) {
      throw new RangeError("Cannot use a window above 2^31-1");
    }
    this.#nextStreamId = role === "client" ? 1 : 2;
    this.#fields = new HeadCollector(role);
    this.#decoder = new HpackDecoder(tableSize, this.#maxHeaderList);
    this.#encoder = new HpackEncoder();
    this.#reader = new FrameReader(
      (t, f, s, p) => this.#onFrame(t, f, s, p),
      { preface: role === "server", maxFrameSize: maxFrame },
    );
    this.#writer = new FrameWriter(socket);
    this.#writer.beforeFlush = () => this.#sendDirty();
    // DATA held back because this turn's frames filled the buffer goes on
    // once they are written, unless the socket itself is backed up ('drain'
    // then resumes it): without this a stream whose window is larger than
    // the buffer would wait for a 'drain' that never comes.
    this.#writer.afterFlush = () => {
      if (
        this.#blocked.size > 0 &&
        this.#socket.writableLength <= SOCKET_HIGH_WATER
      ) this.#unblock();
    };
    this.closed = new Promise((r) => (this.#resolveClosed = r));
    this.ready = new Promise((r) => (this.#peerSettingsResolve = r));

    // Our preface: (client magic,) SETTINGS, the connection window.
    if (role === "client") this.#writer.raw(PREFACE);
    const settings: Array<[number, number]> = [
      [SettingId.ENABLE_PUSH, 0],
      [SettingId.MAX_CONCURRENT_STREAMS, this.#maxConcurrent],
      [SettingId.MAX_HEADER_LIST_SIZE, this.#maxHeaderList],
    ];
    if (this.#localStreamWindow !== DEFAULT_WINDOW) {
      settings.push([SettingId.INITIAL_WINDOW_SIZE, this.#localStreamWindow]);
    }
    if (maxFrame !== DEFAULT_MAX_FRAME_SIZE) {
      settings.push([SettingId.MAX_FRAME_SIZE, maxFrame]);
    }
    if (tableSize !== 4096) {
      settings.push([SettingId.HEADER_TABLE_SIZE, tableSize]);
    }
    this.#writer.settings(settings);
    if (this.#localConnWindow > DEFAULT_WINDOW) {
      this.#writer.windowUpdate(0, this.#localConnWindow - DEFAULT_WINDOW);
      this.#connRecvWindow = this.#localConnWindow;
    }
    this.#settingsTimer = this.#timer(opts.settingsTimeoutMs ?? 10000, () => {
      this.#settingsTimer = undefined;
      this.#connectionError(
        new ConnError(ErrorCode.SETTINGS_TIMEOUT, "SETTINGS not acknowledged"),
      );
    });
    if (this.#keepAliveIntervalMs > 0) this.#armKeepAlive();

    socket.on("data", (c) => this.push(c));
    socket.on("drain", () => this.#onDrain());
    socket.on("end", () => this.#onEnd());
    socket.on("error", (e) => {
      this.#closeError ??= e;
    });
    socket.on("close", () => this.#onSocketClose());
    if (socket.destroyed) queueMicrotask(() => this.#onSocketClose());
  }

  /** Streams currently open. */
  get activeStreams(): number {
    return this.#streams.size;
  }

  /** True while new streams may be opened (no GOAWAY either way, not closing). */
  get usable(): boolean {
    return !this.#closing && this.#goawayRecv < 0 && this.#goawaySent < 0 &&
      !this.#isClosed && this.#nextStreamId <= MAX_WINDOW;
  }

  /** True while a new local stream fits the peer's MAX_CONCURRENT_STREAMS. */
  get canOpenStream(): boolean {
    return this.usable && this.#localActive < this.#peerMaxConcurrent;
  }

  /** The last stream id of the peer's GOAWAY, or -1. */
  get goawayLastStreamId(): number {
    return this.#goawayRecv;
  }

  /** Feeds socket bytes (also bytes read ahead by protocol detection). */
  push(chunk: Uint8Array): void {
    if (this.#closing) return;
    try {
      this.#reader.push(chunk);
    } catch (e) {
      this.#handleError(e);
    }
    if (this.#pendingDispatch.length > 0) this.#dispatch();
  }

  /**
   * Opens a stream and sends its request head (client role). Throws
   * RangeError when no stream may be opened now.
   */
  openStream(
    head: H2Head,
    endStream: boolean,
  ): H2Stream {
    if (!this.usable) {
      throw new RangeError("Cannot open a stream: connection is closing");
    }
    if (!this.#fits(head)) {
      throw new RangeError(
        `Cannot send a header list of ${
          headListSize(head)
        } bytes: the peer's SETTINGS_MAX_HEADER_LIST_SIZE is ${this.#peerMaxHeaderList}`,
      );
    }
    const id = this.#nextStreamId;
    this.#nextStreamId += 2;
    const s = new H2Stream(id, this.#peerStreamWindow, this.#recvWindowInit());
    s.isHead = head.method === "HEAD";
    this.#streams.set(id, s);
    this.#localActive++;
    this.#writeHead(s, head, endStream, true);
    if (endStream) this.#localEnd(s);
    return s;
  }

  /** Sends a response head (server role). */
  sendHeaders(stream: H2Stream, head: H2Head, endStream: boolean): void {
    if (stream.localEnded) return;
    // A head the peer said it would refuse is not sent (h2 `send_headers`).
    if (!this.#fits(head)) return this.reset(stream, ErrorCode.INTERNAL_ERROR);
    this.#writeHead(stream, head, endStream, true);
    if (endStream) this.#localEnd(stream);
  }

  /** Whether `head` fits the peer's SETTINGS_MAX_HEADER_LIST_SIZE. */
  #fits(head: H2Head): boolean {
    return this.#peerMaxHeaderList === Infinity ||
      headListSize(head) <= this.#peerMaxHeaderList;
  }

  /**
   * Streams `body` as DATA with flow control, then trailers or END_STREAM.
   * A body error resets the stream with its code unless `errorTrailers`
   * turns it into trailers (gRPC status after the head).
   */
  sendBody(
    stream: H2Stream,
    body: Body,
    errorTrailers?: (err: Error) => HeaderMap | undefined,
  ): void {
    if (stream.localEnded) {
      body.cancel(new StreamResetError(ErrorCode.CANCEL));
      return;
    }
    stream.outSource = body;
    body.start({
      data: (chunk) => {
        if (stream.outEnd || stream.state === CLOSED || chunk.length === 0) {
          return;
        }
        stream.outQ.push(chunk);
        stream.outBytes += chunk.length;
        this.#markDirty(stream);
        if (stream.outBytes > OUT_HIGH_WATER && !stream.outPaused) {
          stream.outPaused = true;
          body.pause();
        }
      },
      end: (trailers) => {
        if (stream.outEnd || stream.state === CLOSED) return;
        stream.outEnd = true;
        stream.outTrailers = trailers;
        this.#markDirty(stream);
      },
      error: (err) => {
        if (stream.outEnd || stream.state === CLOSED) return;
        const t = err instanceof StreamResetError
          ? undefined
          : errorTrailers?.(err);
        if (t !== undefined) {
          stream.outEnd = true;
          stream.outTrailers = t;
          this.#markDirty(stream);
          return;
        }
        stream.outSource = null;
        this.reset(stream, codeFor(err));
      },
    });
  }

  /** Resets `stream` with `code` (RST_STREAM), unless it is closed. */
  reset(stream: H2Stream, code: number): void {
    if (stream.state === CLOSED || this.#isClosed) return;
    this.#writer.rstStream(stream.id, code);
    this.#rememberReset(stream.id);
    this.#closeStream(stream, code, false);
  }

  /**
   * Graceful shutdown (RFC 9113 §6.8): GOAWAY, the streams in flight
   * finish, then the socket closes. A server first announces 2^31-1 with a
   * PING and only then the real last stream id, so requests already on the
   * wire are not lost.
   */
  drain(): void {
    if (this.#closing || this.#goawaySent >= 0 || this.#drainPhase > 0) {
      return;
    }
    if (this.role === "server" && !this.#isClosed) {
      this.#drainPhase = 1;
      this.#writer.goaway(MAX_WINDOW, ErrorCode.NO_ERROR);
      this.#writer.ping(DRAIN_PING, false);
      this.#timer(1000, () => this.#finalGoaway());
      return;
    }
    this.#drainPhase = 2;
    this.#goawaySent = this.#lastPeerStreamId;
    this.#writer.goaway(this.#lastPeerStreamId, ErrorCode.NO_ERROR);
    this.#maybeFinish();
  }

  /** Closes now: GOAWAY with `code`, every stream fails, the socket closes. */
  close(code: number = ErrorCode.NO_ERROR): void {
    if (this.#closing) return;
    this.#connectionError(new ConnError(code, "connection closed locally"));
  }

  /** Destroys the socket at once. */
  destroy(): void {
    this.#socket.destroy();
  }

  /** @internal The consumer took `n` bytes of `stream`'s DATA: reopen the windows. */
  consumed(stream: H2Stream, n: number, streamOpen: boolean): void {
    if (n === 0 || this.#isClosed) return;
    this.#connUnacked += n;
    if (this.#connUnacked >= this.#localConnWindow >>> 1) {
      this.#writer.windowUpdate(0, this.#connUnacked);
      this.#connRecvWindow += this.#connUnacked;
      this.#connUnacked = 0;
    }
    if (!streamOpen || stream.state === CLOSED) return;
    if (stream.state === HALF_CLOSED_REMOTE) return;
    stream.unacked += n;
    if (stream.unacked >= this.#localStreamWindow >>> 1) {
      this.#writer.windowUpdate(stream.id, stream.unacked);
      stream.recvWindow += stream.unacked;
      stream.unacked = 0;
    }
  }

  // ---------------------------------------------------------------------
  // Frames in

  #onFrame(type: number, flags: number, sid: number, p: Uint8Array): void {
    if (this.#closing) return;
    if (this.#blockStream !== 0 && type !== FrameType.CONTINUATION) {
      throw new ConnError(
        ErrorCode.PROTOCOL_ERROR,
        "expected CONTINUATION",
      );
    }
    if (!this.#peerSettingsSeen && type !== FrameType.SETTINGS) {
      throw new ConnError(
        ErrorCode.PROTOCOL_ERROR,
        "first frame is not SETTINGS",
      );
    }
    switch (type) {
      case FrameType.DATA:
        return this.#onData(flags, sid, p);
      case FrameType.HEADERS:
        return this.#onHeaders(flags, sid, p);
      case FrameType.PRIORITY:
        return this.#onPriority(sid, p);
      case FrameType.RST_STREAM:
        return this.#onRstStream(sid, p);
      case FrameType.SETTINGS:
        return this.#onSettings(flags, sid, p);
      case FrameType.PUSH_PROMISE:
        throw new ConnError(
          ErrorCode.PROTOCOL_ERROR,
          "PUSH_PROMISE is disabled",
        );
      case FrameType.PING:
        return this.#onPing(flags, sid, p);
      case FrameType.GOAWAY:
        return this.#onGoawayFrame(sid, p);
      case FrameType.WINDOW_UPDATE:
        return this.#onWindowUpdate(sid, p);
      case FrameType.CONTINUATION:
        return this.#onContinuation(flags, sid, p);
      default:
        this.#countControl(); // unknown frame types are ignored (§4.1)
    }
  }

  /** Whether `sid` is initiated by the peer. */
  #peerInitiated(sid: number): boolean {
    return (sid & 1) === (this.role === "server" ? 1 : 0);
  }

  /** A stream id that names no open stream: idle or closed? */
  #isIdle(sid: number): boolean {
    return this.#peerInitiated(sid)
      ? sid > this.#lastPeerStreamId
      : sid >= this.#nextStreamId;
  }

  #onData(flags: number, sid: number, payload: Uint8Array): void {
    if (sid === 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "DATA on stream 0");
    }
    const len = payload.length;
    if (len > this.#connRecvWindow) {
      throw new ConnError(
        ErrorCode.FLOW_CONTROL_ERROR,
        "DATA exceeds the connection window",
      );
    }
    this.#connRecvWindow -= len;
    const data = unpad(payload, flags);
    const endStream = (flags & Flag.END_STREAM) !== 0;
    if (len === 0 && !endStream) this.#countControl();
    const s = this.#streams.get(sid);
    if (s === undefined || s.state === HALF_CLOSED_REMOTE) {
      this.consumed(EMPTY_STREAM, len, false);
      if (s !== undefined) {
        return this.#streamError(s, ErrorCode.STREAM_CLOSED);
      }
      if (this.#isIdle(sid)) {
        throw new ConnError(ErrorCode.PROTOCOL_ERROR, "DATA on an idle stream");
      }
      const how = this.#howClosed(sid);
      if (how === ENDED) {
        throw new ConnError(ErrorCode.STREAM_CLOSED, "DATA on a closed stream");
      }
      // Reset by us: late frames are ignored; else (reset by the peer, or
      // closed too long ago to tell) a stream error.
      if (how !== RESET_LOCALLY) {
        this.#resetUnknown(sid, ErrorCode.STREAM_CLOSED);
      }
      return;
    }
    if (!s.headSeen) {
      this.consumed(EMPTY_STREAM, len, false);
      return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
    }
    if (len > s.recvWindow) {
      this.consumed(EMPTY_STREAM, len, false);
      return this.#streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
    }
    s.recvWindow -= len;
    // Padding counts against the windows but is never delivered.
    if (data.length < len) this.consumed(s, len - data.length, true);
    if (s.lengthLeft >= 0) {
      s.lengthLeft -= data.length;
      if (s.lengthLeft < 0 || (endStream && s.lengthLeft !== 0)) {
        this.consumed(EMPTY_STREAM, data.length, false);
        return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      }
    }
    const body = s.body;
    if (data.length > 0) {
      if (body !== null) body.push(data);
      else this.consumed(s, data.length, false);
    }
    if (endStream) {
      this.#remoteEnd(s);
      body?.finish(undefined);
    }
  }

  #onHeaders(flags: number, sid: number, payload: Uint8Array): void {
    if (sid === 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "HEADERS on stream 0");
    }
    let block = unpad(payload, flags);
    if ((flags & Flag.PRIORITY) !== 0) {
      if (block.length < 5) {
        throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "HEADERS too short");
      }
      if (readU31(block, 0) === sid) {
        // Decoded below all the same, to keep HPACK in step; then reset.
        this.#blockSelfDep = true;
      }
      block = block.subarray(5);
    }
    if (block.length === 0 && (flags & Flag.END_HEADERS) === 0) {
      this.#countControl();
    }
    this.#blockStream = sid;
    this.#blockFlags = flags;
    this.#blockFrames = 1;
    if ((flags & Flag.END_HEADERS) !== 0) {
      this.#blockStream = 0;
      this.#onBlock(sid, flags, block);
      return;
    }
    this.#checkBlockSize(block.length);
    this.#blockParts.push(block);
  }

  #blockSelfDep = false;

  #checkBlockSize(n: number): void {
    this.#blockBytes += n;
    if (this.#blockBytes > this.#maxBlock || this.#blockFrames > 512) {
      throw new ConnError(
        ErrorCode.ENHANCE_YOUR_CALM,
        "header block too large",
      );
    }
  }

  #onContinuation(flags: number, sid: number, payload: Uint8Array): void {
    if (this.#blockStream === 0 || sid !== this.#blockStream) {
      throw new ConnError(
        ErrorCode.PROTOCOL_ERROR,
        "unexpected CONTINUATION",
      );
    }
    this.#blockFrames++;
    if (payload.length === 0 && (flags & Flag.END_HEADERS) === 0) {
      this.#countControl();
    }
    this.#checkBlockSize(payload.length);
    this.#blockParts.push(payload);
    if ((flags & Flag.END_HEADERS) === 0) return;
    const parts = this.#blockParts;
    const block = new Uint8Array(this.#blockBytes);
    let off = 0;
    for (const p of parts) {
      block.set(p, off);
      off += p.length;
    }
    this.#blockParts = [];
    this.#blockBytes = 0;
    this.#blockStream = 0;
    this.#onBlock(sid, this.#blockFlags, block);
  }

  /** A complete field block for stream `sid`. */
  #onBlock(sid: number, flags: number, block: Uint8Array): void {
    const selfDep = this.#blockSelfDep;
    this.#blockSelfDep = false;
    const endStream = (flags & Flag.END_STREAM) !== 0;
    let s = this.#streams.get(sid);
    const isNew = s === undefined && this.#peerInitiated(sid) &&
      sid > this.#lastPeerStreamId && this.role === "server";
    const trailers = s !== undefined && s.headSeen;
    // Decode first, always: the HPACK state is shared by every stream.
    const head = this.#decode(block, trailers);
    if (s === undefined && !isNew) {
      if (this.#isIdle(sid)) {
        throw new ConnError(
          ErrorCode.PROTOCOL_ERROR,
          `HEADERS on idle stream ${sid}`,
        );
      }
      const how = this.#howClosed(sid);
      if (how === RESET_LOCALLY) return;
      if (how === RESET_BY_PEER) {
        return this.#resetUnknown(sid, ErrorCode.STREAM_CLOSED);
      }
      // A stream that ended, or an id below one already used that was
      // never opened (§5.1.1: PROTOCOL_ERROR).
      throw new ConnError(
        how === ENDED ? ErrorCode.STREAM_CLOSED : ErrorCode.PROTOCOL_ERROR,
        `HEADERS on closed stream ${sid}`,
      );
    }
    if (s === undefined) {
      this.#lastPeerStreamId = sid;
      if (this.#goawaySent >= 0 && sid > this.#goawaySent) return;
      s = new H2Stream(sid, this.#peerStreamWindow, this.#recvWindowInit());
      this.#streams.set(sid, s);
      this.#peerActive++;
      if (this.#peerActive > this.#maxConcurrent) {
        return this.#streamError(s, ErrorCode.REFUSED_STREAM);
      }
    }
    if (s.state === HALF_CLOSED_REMOTE) {
      return this.#streamError(s, ErrorCode.STREAM_CLOSED);
    }
    if (selfDep) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
    if (head === null) {
      // Too large: a server answers 431 (hyper), a client resets.
      if (this.role === "server" && !s.headSeen) {
        s.headSeen = true;
        this.#writeHead(s, statusHead(431), true, false);
        this.#localEnd(s);
        if (s.state !== CLOSED) this.#streamError(s, ErrorCode.NO_ERROR);
        return;
      }
      return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
    }
    if (this.#fields.error !== "") {
      return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
    }
    if (trailers) {
      if (!endStream) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      if (s.lengthLeft > 0) {
        return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      }
      this.#remoteEnd(s);
      s.body?.finish(head.headers);
      return;
    }
    // A response head: 1xx are interim (§8.1), skipped.
    if (this.role === "client" && head.status < 200) {
      if (endStream) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      return;
    }
    s.headSeen = true;
    const cl = this.#fields.contentLength;
    const noBody = this.role === "client" &&
      (s.isHead || head.status === 204 || head.status === 304);
    if (cl >= 0 && !noBody) {
      s.lengthLeft = cl;
      if (endStream && cl !== 0) {
        return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      }
    }
    if (!endStream) s.body = new H2Body(this, s, cl >= 0 ? cl : undefined);
    if (isNew) this.#pendingDispatch.push([s, head, endStream]);
    else s.onHead?.(head, endStream);
    // After the head is handed on: a trailers-only response closes the stream.
    if (endStream) this.#remoteEnd(s);
  }

  /** Hands new requests to the server role once the chunk is parsed: a stream reset in the same chunk never reaches it. */
  #dispatch(): void {
    const list = this.#pendingDispatch;
    this.#pendingDispatch = [];
    for (const [s, head, endStream] of list) {
      if (s.state === CLOSED || this.#isClosed) continue;
      this.onStream?.(s, head, endStream);
    }
  }

  /**
   * Decodes a field block into an H2Head; null when the list is too large.
   * Validation problems leave `#fields.error` set (a stream PROTOCOL_ERROR).
   */
  #decode(block: Uint8Array, trailers: boolean): H2Head | null {
    const f = this.#fields;
    const head = f.start(trailers);
    try {
      this.#decoder.decode(block, f.emit);
    } catch (e) {
      if (e instanceof HeaderListTooLarge) return null;
      if (e instanceof HpackError) {
        throw new ConnError(ErrorCode.COMPRESSION_ERROR, e.message);
      }
      throw e;
    }
    f.finish();
    return head;
  }

  #onPriority(sid: number, p: Uint8Array): void {
    if (sid === 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "PRIORITY on stream 0");
    }
    this.#countControl();
    const s = this.#streams.get(sid);
    if (p.length !== 5) {
      if (s !== undefined) {
        return this.#streamError(s, ErrorCode.FRAME_SIZE_ERROR);
      }
      return this.#resetUnknown(sid, ErrorCode.FRAME_SIZE_ERROR);
    }
    if (readU31(p, 0) === sid) {
      if (s !== undefined) {
        return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
      }
      return this.#resetUnknown(sid, ErrorCode.PROTOCOL_ERROR);
    }
    // Otherwise ignored: RFC 9113 deprecates the priority scheme (§5.3.2).
  }

  #onRstStream(sid: number, p: Uint8Array): void {
    if (sid === 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "RST_STREAM on stream 0");
    }
    if (p.length !== 4) {
      throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "RST_STREAM length");
    }
    const s = this.#streams.get(sid);
    if (s === undefined) {
      if (this.#isIdle(sid)) {
        throw new ConnError(
          ErrorCode.PROTOCOL_ERROR,
          "RST_STREAM on an idle stream",
        );
      }
      return;
    }
    const code = readU32(p, 0);
    s.peerReset = true;
    // Rapid reset (CVE-2023-44487) is a client's attack on a server: a
    // server resetting our streams is only counted by the caller's retries.
    if (this.role === "server") this.#countReset();
    this.#closeStream(s, code, true);
    this.#remember(sid, RESET_BY_PEER);
  }

  #onSettings(flags: number, sid: number, p: Uint8Array): void {
    if (sid !== 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "SETTINGS on a stream");
    }
    if ((flags & Flag.ACK) !== 0) {
      if (p.length !== 0) {
        throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS ACK length");
      }
      if (!this.#localAcked) {
        this.#localAcked = true;
        if (this.#settingsTimer !== undefined) {
          this.#clearTimer(this.#settingsTimer);
          this.#settingsTimer = undefined;
        }
      }
      return;
    }
    if (p.length % 6 !== 0) {
      throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "SETTINGS length");
    }
    if (this.#peerSettingsSeen) this.#countControl();
    for (let off = 0; off < p.length; off += 6) {
      const id = (p[off]! << 8) | p[off + 1]!;
      const v = readU32(p, off + 2);
      switch (id) {
        case SettingId.HEADER_TABLE_SIZE:
          this.#encoder.setPeerMaxTableSize(v);
          break;
        case SettingId.ENABLE_PUSH:
          if (v > 1 || (v === 1 && this.role === "client")) {
            throw new ConnError(ErrorCode.PROTOCOL_ERROR, "ENABLE_PUSH");
          }
          break;
        case SettingId.MAX_CONCURRENT_STREAMS:
          this.#peerMaxConcurrent = v;
          break;
        case SettingId.INITIAL_WINDOW_SIZE:
          if (v > MAX_WINDOW) {
            throw new ConnError(
              ErrorCode.FLOW_CONTROL_ERROR,
              "INITIAL_WINDOW_SIZE above 2^31-1",
            );
          }
          this.#setPeerStreamWindow(v);
          break;
        case SettingId.MAX_FRAME_SIZE:
          if (v < DEFAULT_MAX_FRAME_SIZE || v > MAX_MAX_FRAME_SIZE) {
            throw new ConnError(ErrorCode.PROTOCOL_ERROR, "MAX_FRAME_SIZE");
          }
          this.#peerMaxFrame = v;
          break;
        case SettingId.MAX_HEADER_LIST_SIZE:
          this.#peerMaxHeaderList = v; // advisory, honoured when sending
          break;
        default:
          break; // unknown ids are ignored
      }
    }
    this.#writer.settingsAck();
    if (!this.#peerSettingsSeen) {
      this.#peerSettingsSeen = true;
      this.#peerSettingsResolve?.();
      this.#peerSettingsResolve = null;
    }
  }

  /** SETTINGS_INITIAL_WINDOW_SIZE changed: shift every stream's send window (§6.9.2). */
  #setPeerStreamWindow(v: number): void {
    const delta = v - this.#peerStreamWindow;
    this.#peerStreamWindow = v;
    if (delta === 0) return;
    for (const s of this.#streams.values()) {
      s.sendWindow += delta;
      if (s.sendWindow > MAX_WINDOW) {
        throw new ConnError(
          ErrorCode.FLOW_CONTROL_ERROR,
          "stream window above 2^31-1",
        );
      }
    }
    if (delta > 0) {
      for (const s of this.#streams.values()) {
        if (s.outBytes > 0 || s.outEnd) this.#sendData(s);
      }
    }
  }

  #onPing(flags: number, sid: number, p: Uint8Array): void {
    if (sid !== 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "PING on a stream");
    }
    if (p.length !== 8) {
      throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "PING length");
    }
    if ((flags & Flag.ACK) === 0) {
      this.#countControl();
      this.#writer.ping(p, true);
      return;
    }
    if (equal8(p, DRAIN_PING)) this.#finalGoaway();
    else if (equal8(p, KEEPALIVE_PING)) this.#armKeepAlive();
  }

  #onGoawayFrame(sid: number, p: Uint8Array): void {
    if (sid !== 0) {
      throw new ConnError(ErrorCode.PROTOCOL_ERROR, "GOAWAY on a stream");
    }
    if (p.length < 8) {
      throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "GOAWAY length");
    }
    const last = readU31(p, 0);
    const code = readU32(p, 4);
    if (this.#goawayRecv >= 0 && last > this.#goawayRecv) {
      throw new ConnError(
        ErrorCode.PROTOCOL_ERROR,
        "GOAWAY last-stream-id increased",
      );
    }
    this.#goawayRecv = last;
    // Our streams above `last` were never processed: they may be retried.
    for (const s of [...this.#streams.values()]) {
      if (!this.#peerInitiated(s.id) && s.id > last) {
        this.#closeStream(s, ErrorCode.REFUSED_STREAM, true, true);
      }
    }
    this.onGoaway?.(last, code);
    this.#maybeFinish();
  }

  #onWindowUpdate(sid: number, p: Uint8Array): void {
    if (p.length !== 4) {
      throw new ConnError(ErrorCode.FRAME_SIZE_ERROR, "WINDOW_UPDATE length");
    }
    const inc = readU31(p, 0);
    if (sid === 0) {
      if (inc === 0) {
        throw new ConnError(ErrorCode.PROTOCOL_ERROR, "WINDOW_UPDATE of 0");
      }
      this.#connSendWindow += inc;
      if (this.#connSendWindow > MAX_WINDOW) {
        throw new ConnError(
          ErrorCode.FLOW_CONTROL_ERROR,
          "connection window above 2^31-1",
        );
      }
      this.#unblock();
      return;
    }
    const s = this.#streams.get(sid);
    if (s === undefined) {
      if (this.#isIdle(sid)) {
        throw new ConnError(
          ErrorCode.PROTOCOL_ERROR,
          "WINDOW_UPDATE on an idle stream",
        );
      }
      return; // closed: may arrive after our END_STREAM (§6.9)
    }
    if (inc === 0) return this.#streamError(s, ErrorCode.PROTOCOL_ERROR);
    s.sendWindow += inc;
    if (s.sendWindow > MAX_WINDOW) {
      return this.#streamError(s, ErrorCode.FLOW_CONTROL_ERROR);
    }
    if (s.outBytes > 0 || s.outEnd) this.#sendData(s);
  }

  // ---------------------------------------------------------------------
  // Frames out

  #recvWindowInit(): number {
    return this.#localAcked
      ? this.#localStreamWindow
      : Math.max(this.#localStreamWindow, DEFAULT_WINDOW);
  }

  /** Encodes a head (pseudo-headers first) and writes HEADERS/CONTINUATION. */
  #writeHead(
    s: H2Stream,
    head: H2Head,
    endStream: boolean,
    regular: boolean,
  ): void {
    const w = this.#hw;
    const enc = this.#encoder;
    w.reset();
    enc.startBlock(w);
    if (head.status !== 0) enc.encodeField(":status", String(head.status), w);
    else if (head.method !== "") {
      enc.encodeField(":method", head.method, w);
      if (head.method !== "CONNECT") {
        enc.encodeField(":scheme", head.scheme, w);
        enc.encodeField(":path", head.path, w);
      }
      if (head.authority !== "") {
        enc.encodeField(":authority", head.authority, w);
      }
    }
    if (regular) encodeFields(enc, head.headers, w);
    this.#writer.headers(s.id, w.subarray(), endStream, this.#peerMaxFrame);
  }

  /** Sends what the windows allow of `s`'s queued body, then its end. */
  #sendData(s: H2Stream): void {
    if (s.state === CLOSED || s.localEnded) return;
    const w = this.#writer;
    while (s.outBytes > 0) {
      let n = s.sendWindow < this.#connSendWindow
        ? s.sendWindow
        : this.#connSendWindow;
      if (n > this.#peerMaxFrame) n = this.#peerMaxFrame;
      if (n <= 0 || w.buffered > SOCKET_HIGH_WATER) {
        // Waiting for a WINDOW_UPDATE, or for the socket to drain.
        if (this.#connSendWindow <= 0 || w.buffered > SOCKET_HIGH_WATER) {
          this.#blocked.add(s);
        }
        break;
      }
      const chunk = s.outQ[s.outHead]!;
      const avail = chunk.length - s.outOff;
      if (n > avail) n = avail;
      const payload = s.outOff === 0 && n === chunk.length
        ? chunk
        : chunk.subarray(s.outOff, s.outOff + n);
      s.outOff += n;
      if (s.outOff === chunk.length) {
        s.outQ[s.outHead++] = EMPTY;
        s.outOff = 0;
        if (s.outHead === s.outQ.length) {
          s.outQ = [];
          s.outHead = 0;
        }
      }
      s.outBytes -= n;
      s.sendWindow -= n;
      this.#connSendWindow -= n;
      const last = s.outBytes === 0 && s.outEnd && s.outTrailers === undefined;
      w.data(s.id, payload, last);
      if (last) {
        s.outSource = null;
        this.#localEnd(s);
        return;
      }
    }
    if (s.outBytes === 0 && s.outEnd) {
      const t = s.outTrailers;
      s.outSource = null;
      if (t !== undefined && hasFields(t)) {
        const th = TRAILERS_HEAD(t);
        if (!this.#fits(th)) return this.reset(s, ErrorCode.INTERNAL_ERROR);
        this.#writeHead(s, th, true, true);
      } else w.data(s.id, EMPTY, true);
      this.#localEnd(s);
      return;
    }
    if (s.outPaused && s.outBytes <= OUT_HIGH_WATER >>> 1) {
      s.outPaused = false;
      s.outSource?.resume();
    }
  }

  /**
   * Body data or its end arrived: it is sent when the turn's frames are
   * written, so a body's last chunk and its end share one DATA frame.
   */
  #markDirty(s: H2Stream): void {
    if (s.outDirty) return;
    s.outDirty = true;
    this.#dirty.push(s);
    this.#writer.schedule();
  }

  #sendDirty(): void {
    const list = this.#dirty;
    if (list.length === 0) return;
    this.#dirty = [];
    for (const s of list) {
      s.outDirty = false;
      this.#sendData(s);
    }
  }

  #unblock(): void {
    if (this.#blocked.size === 0) return;
    const list = [...this.#blocked];
    this.#blocked.clear();
    for (const s of list) this.#sendData(s);
  }

  #onDrain(): void {
    this.#unblock();
  }

  // ---------------------------------------------------------------------
  // Stream lifecycle

  /** We sent END_STREAM. */
  #localEnd(s: H2Stream): void {
    if (s.state === OPEN) s.state = HALF_CLOSED_LOCAL;
    else if (s.state === HALF_CLOSED_REMOTE) {
      this.#closeStream(s, undefined, false);
    }
    // A server that answered in full stops reading the request (§8.1).
    if (
      this.role === "server" && s.state === HALF_CLOSED_LOCAL && s.headSeen
    ) {
      this.#writer.rstStream(s.id, ErrorCode.NO_ERROR);
      this.#rememberReset(s.id);
      this.#closeStream(s, ErrorCode.NO_ERROR, false);
    }
  }

  /** The peer sent END_STREAM. */
  #remoteEnd(s: H2Stream): void {
    if (s.state === OPEN) s.state = HALF_CLOSED_REMOTE;
    else if (s.state === HALF_CLOSED_LOCAL) {
      this.#closeStream(s, undefined, false);
    }
  }

  /** A stream error: RST_STREAM with `code`; abusive peers get GOAWAY. */
  #streamError(s: H2Stream, code: number): void {
    this.reset(s, code);
    if (code !== ErrorCode.NO_ERROR && code !== ErrorCode.REFUSED_STREAM) {
      this.#countReset();
    }
  }

  /** A stream error on a stream we do not track. */
  #resetUnknown(sid: number, code: number): void {
    this.#writer.rstStream(sid, code);
    this.#rememberReset(sid);
    this.#countReset();
  }

  #rememberReset(sid: number): void {
    this.#remember(sid, RESET_LOCALLY);
  }

  #remember(sid: number, how: number): void {
    this.#recentIds[this.#recentPos] = sid;
    this.#recentHow[this.#recentPos] = how;
    this.#recentPos = (this.#recentPos + 1) % CLOSED_MEMORY;
  }

  /** How a recently closed stream closed, or 0 when it is not remembered. */
  #howClosed(sid: number): number {
    const i = this.#recentIds.lastIndexOf(sid);
    return i < 0 ? 0 : this.#recentHow[i]!;
  }

  #wasReset(sid: number): boolean {
    return this.#howClosed(sid) === RESET_LOCALLY;
  }

  #closeStream(
    s: H2Stream,
    code: number | undefined,
    byPeer: boolean,
    refused = false,
  ): void {
    if (s.state === CLOSED) return;
    const wasRemoteOpen = s.state === OPEN || s.state === HALF_CLOSED_LOCAL;
    s.state = CLOSED;
    if (code === undefined || (code === ErrorCode.NO_ERROR && !byPeer)) {
      this.#rollWindow();
      this.#completed++;
      if (code === undefined) this.#remember(s.id, ENDED);
    }
    this.#streams.delete(s.id);
    this.#blocked.delete(s);
    if (this.#peerInitiated(s.id)) this.#peerActive--;
    else this.#localActive--;
    // Bytes the peer sent that nobody will read still count for the connection.
    if (wasRemoteOpen && s.body !== null && code !== undefined) {
      s.body.fail(
        new StreamResetError(
          code === ErrorCode.NO_ERROR ? ErrorCode.CANCEL : code,
          byPeer ? undefined : "stream reset locally",
        ),
      );
    }
    const src = s.outSource;
    if (src !== null) {
      s.outSource = null;
      s.outQ = [];
      s.outBytes = 0;
      src.cancel(new StreamResetError(code || ErrorCode.CANCEL));
    }
    s.onClose?.(code, refused);
    this.#maybeFinish();
  }

  // ---------------------------------------------------------------------
  // Connection lifecycle

  #finalGoaway(): void {
    if (this.#drainPhase !== 1 || this.#closing) return;
    this.#drainPhase = 2;
    this.#goawaySent = this.#lastPeerStreamId;
    this.#writer.goaway(this.#lastPeerStreamId, ErrorCode.NO_ERROR);
    this.#maybeFinish();
  }

  /** After a GOAWAY either way, close once no stream is left. */
  #maybeFinish(): void {
    if (this.#streams.size > 0 || this.#closing) return;
    if (this.#goawaySent < 0 && this.#goawayRecv < 0) return;
    if (this.#goawaySent < 0) {
      this.#goawaySent = this.#lastPeerStreamId;
      this.#writer.goaway(this.#lastPeerStreamId, ErrorCode.NO_ERROR);
    }
    this.#shutdown(undefined);
  }

  #handleError(e: unknown): void {
    if (e instanceof H2ProtocolError) this.#connectionError(e);
    else {
      this.#connectionError(
        new ConnError(
          ErrorCode.INTERNAL_ERROR,
          e instanceof Error ? e.message : String(e),
          0,
        ),
      );
      // A bug of ours, not the peer's: keep it visible without crashing.
      console.error("h2 connection failed internally:", e);
    }
  }

  #connectionError(e: H2ProtocolError): void {
    if (this.#closing) return;
    const debug = new TextEncoder().encode(e.message.slice(0, 256));
    this.#writer.goaway(this.#lastPeerStreamId, e.code, debug);
    this.#goawaySent = this.#lastPeerStreamId;
    this.#shutdown(e);
  }

  /** Stops reading, fails every stream, flushes and ends the socket. */
  #shutdown(err: Error | undefined): void {
    this.#closing = true;
    this.#closeError ??= err;
    this.#reader.stop();
    const code = err instanceof H2ProtocolError ? err.code : ErrorCode.CANCEL;
    for (const s of [...this.#streams.values()]) {
      this.#closeStream(s, code || ErrorCode.CANCEL, true);
    }
    this.#clearTimers();
    this.#writer.flush();
    this.#socket.end();
    this.#timer(LINGER_MS, () => this.#socket.destroy());
  }

  #onEnd(): void {
    // The peer closed its side: nothing more will arrive.
    if (!this.#closing) {
      this.#shutdown(
        this.#streams.size > 0
          ? new Error("connection closed by peer")
          : undefined,
      );
    }
  }

  #onSocketClose(): void {
    if (this.#isClosed) return;
    this.#isClosed = true;
    this.#closing = true;
    this.#writer.close();
    for (const s of [...this.#streams.values()]) {
      this.#closeStream(s, ErrorCode.CANCEL, true);
    }
    this.#clearTimers();
    this.onClose?.(this.#closeError);
    this.#resolveClosed();
  }

  #armKeepAlive(): void {
    if (this.#keepAliveTimer !== undefined) {
      this.#clearTimer(this.#keepAliveTimer);
    }
    if (this.#closing) return;
    this.#keepAliveTimer = this.#timer(this.#keepAliveIntervalMs, () => {
      this.#writer.ping(KEEPALIVE_PING, false);
      this.#keepAliveTimer = this.#timer(this.#keepAliveTimeoutMs, () => {
        this.#keepAliveTimer = undefined;
        // GOAWAY first, then close (hyper: abrupt_shutdown(NO_ERROR)).
        this.#connectionError(
          new ConnError(ErrorCode.NO_ERROR, "keep-alive PING timed out"),
        );
      });
    });
  }

  #countReset(): void {
    this.#rollWindow();
    // Each stream that completed in the window buys one reset: a busy
    // connection whose clients cancel a burst is not an attacker.
    if (++this.#resets > this.#maxResets + this.#completed) {
      throw new ConnError(
        ErrorCode.ENHANCE_YOUR_CALM,
        "too many stream resets",
      );
    }
  }

  #countControl(): void {
    this.#rollWindow();
    if (++this.#control > this.#maxControl) {
      throw new ConnError(
        ErrorCode.ENHANCE_YOUR_CALM,
        "too many control frames",
      );
    }
  }

  #rollWindow(): void {
    const now = this.#now();
    if (now - this.#abuseWindowStart >= this.#abuseWindowMs) {
      this.#abuseWindowStart = now;
      this.#resets = 0;
      this.#control = 0;
      this.#completed = 0;
    }
  }

  #timer(ms: number, fn: () => void): ReturnType<typeof setTimeout> {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    this.#timers.add(t);
    return t;
  }

  #clearTimer(t: ReturnType<typeof setTimeout>): void {
    clearTimeout(t);
    this.#timers.delete(t);
  }

  #clearTimers(): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#settingsTimer = this.#keepAliveTimer = undefined;
  }
}

/** A placeholder stream for consumed() calls that only credit the connection. */
const EMPTY_STREAM = new H2Stream(0, 0, 0);
EMPTY_STREAM.state = CLOSED;

function equal8(a: Uint8Array, b: Uint8Array): boolean {
  for (let i = 0; i < 8; i++) if (a[i] !== b[i]) return false;
  return true;
}

function hasFields(h: HeaderMap): boolean {
  for (const _ in h) return true;
  return false;
}

function TRAILERS_HEAD(headers: HeaderMap): H2Head {
  return {
    method: "",
    scheme: "",
    authority: "",
    path: "",
    status: 0,
    headers,
  };
}
