/**
 * HPACK, the HTTP/2 header compression (RFC 7541): a decoder, an encoder and
 * the growable byte buffer the encoder writes into. No dependencies.
 *
 * Field values are latin1 strings in both directions, as in Node: each byte
 * on the wire is one char code 0-255. The encoder writes a string with any
 * char code above 255 as UTF-8 (so nothing is lost or thrown mid-block), and
 * the decoder always returns latin1, so such a value does not round-trip.
 * Field names are expected lowercase ASCII; neither side validates names or
 * values: the framing layer does, with {@link isValidFieldName} and
 * {@link isValidFieldValue} (RFC 9113 §8.2.1).
 *
 * @module
 */
import {
  huffmanDecode,
  huffmanEncode,
  huffmanLength,
  huffmanMaxDecoded,
} from "./huffman.ts";

/** Malformed header block: a connection error of type COMPRESSION_ERROR (RFC 9113 §4.3; h2 `DecoderError`). */
export class HpackError extends Error {
  override name = "HpackError";
}

/**
 * The decoded header list is larger than the decoder's `maxHeaderListSize`
 * (RFC 9113 §6.5.2). The block was still decoded to its end, so the dynamic
 * table stays in step with the peer: reset the stream, keep the connection
 * (h2 `Error::Reset(REFUSED_STREAM)` / hyper's 431).
 */
export class HeaderListTooLarge extends Error {
  override name = "HeaderListTooLarge";
  /** Size of the list (names + values + 32 per field) as far as it was counted. */
  readonly size: number;
  /** The limit it exceeded. */
  readonly limit: number;
  constructor(size: number, limit: number) {
    super(`Header list exceeds ${limit} bytes: at least ${size}`);
    this.size = size;
    this.limit = limit;
  }
}

// ---------------------------------------------------------------------------
// Static table (RFC 7541 Appendix A), 1-based.

const STATIC: ReadonlyArray<readonly [string, string]> = [
  ["", ""],
  [":authority", ""],
  [":method", "GET"],
  [":method", "POST"],
  [":path", "/"],
  [":path", "/index.html"],
  [":scheme", "http"],
  [":scheme", "https"],
  [":status", "200"],
  [":status", "204"],
  [":status", "206"],
  [":status", "304"],
  [":status", "400"],
  [":status", "404"],
  [":status", "500"],
  ["accept-charset", ""],
  ["accept-encoding", "gzip, deflate"],
  ["accept-language", ""],
  ["accept-ranges", ""],
  ["accept", ""],
  ["access-control-allow-origin", ""],
  ["age", ""],
  ["allow", ""],
  ["authorization", ""],
  ["cache-control", ""],
  ["content-disposition", ""],
  ["content-encoding", ""],
  ["content-language", ""],
  ["content-length", ""],
  ["content-location", ""],
  ["content-range", ""],
  ["content-type", ""],
  ["cookie", ""],
  ["date", ""],
  ["etag", ""],
  ["expect", ""],
  ["expires", ""],
  ["from", ""],
  ["host", ""],
  ["if-match", ""],
  ["if-modified-since", ""],
  ["if-none-match", ""],
  ["if-range", ""],
  ["if-unmodified-since", ""],
  ["last-modified", ""],
  ["link", ""],
  ["location", ""],
  ["max-forwards", ""],
  ["proxy-authenticate", ""],
  ["proxy-authorization", ""],
  ["range", ""],
  ["referer", ""],
  ["refresh", ""],
  ["retry-after", ""],
  ["server", ""],
  ["set-cookie", ""],
  ["strict-transport-security", ""],
  ["transfer-encoding", ""],
  ["user-agent", ""],
  ["vary", ""],
  ["via", ""],
  ["www-authenticate", ""],
];
const STATIC_COUNT = 61;
const STATIC_NAMES = STATIC.map((e) => e[0]);
const STATIC_VALUES = STATIC.map((e) => e[1]);
/** name → first static index with that name. */
const STATIC_NAME_INDEX = new Map<string, number>();
/** name → value → static index. */
const STATIC_EXACT_INDEX = new Map<string, Map<string, number>>();
for (let i = 1; i <= STATIC_COUNT; i++) {
  const [name, value] = STATIC[i]!;
  if (!STATIC_NAME_INDEX.has(name)) STATIC_NAME_INDEX.set(name, i);
  let values = STATIC_EXACT_INDEX.get(name);
  if (values === undefined) STATIC_EXACT_INDEX.set(name, values = new Map());
  values.set(value, i);
}

/** Per-entry overhead in the table size (RFC 7541 §4.1). */
const ENTRY_OVERHEAD = 32;
/** Default SETTINGS_HEADER_TABLE_SIZE (RFC 9113 §6.5.2). */
const DEFAULT_TABLE_SIZE = 4096;
/** Default header list limit of the decoder. */
const DEFAULT_MAX_HEADER_LIST_SIZE = 64 * 1024;

// ---------------------------------------------------------------------------
// Dynamic table: a ring of entries, newest first in index order.

class DynamicTable {
  names: string[] = [];
  values: string[] = [];
  sizes: number[] = [];
  /** Slot of the next insertion. */
  head = 0;
  count = 0;
  mask: number;
  /** Current size in octets (RFC 7541 §4.1). */
  size = 0;
  maxSize: number;
  /** Entries ever inserted (the encoder's insertion ids). */
  inserted = 0;

  constructor(maxSize: number) {
    this.maxSize = maxSize;
    // Small at first, grown by push(): a table sized for a full 4 KiB of
    // 32-byte entries kept 3 KB per table on every idle connection (issue 19).
    const cap = 16;
    this.mask = cap - 1;
    this.names.length = this.values.length = this.sizes.length = cap;
    this.names.fill("");
    this.values.fill("");
    this.sizes.fill(0);
  }

  /** Slot of the entry at dynamic position `i` (0 = newest); `i < count`. */
  slot(i: number): number {
    return (this.head - 1 - i) & this.mask;
  }

  /** Removes the oldest entry; returns its slot. */
  evictOldest(): number {
    const slot = (this.head - this.count) & this.mask;
    this.size -= this.sizes[slot]!;
    this.count--;
    return slot;
  }

  push(name: string, value: string, size: number): void {
    if (this.count > this.mask) this.#grow();
    const slot = this.head;
    this.names[slot] = name;
    this.values[slot] = value;
    this.sizes[slot] = size;
    this.head = (slot + 1) & this.mask;
    this.count++;
    this.size += size;
    this.inserted++;
  }

  #grow(): void {
    const cap = (this.mask + 1) * 2;
    const names: string[] = new Array(cap).fill("");
    const values: string[] = new Array(cap).fill("");
    const sizes: number[] = new Array(cap).fill(0);
    for (let i = this.count - 1, j = 0; i >= 0; i--, j++) {
      const s = this.slot(i);
      names[j] = this.names[s]!;
      values[j] = this.values[s]!;
      sizes[j] = this.sizes[s]!;
    }
    this.names = names;
    this.values = values;
    this.sizes = sizes;
    this.head = this.count;
    this.mask = cap - 1;
  }
}

// ---------------------------------------------------------------------------
// Decoder

/** Reads `bytes[start..end)` as latin1 (one char per byte). */
function latin1(bytes: Uint8Array, start: number, end: number): string {
  const n = end - start;
  if (n <= 24) {
    let s = "";
    for (let i = start; i < end; i++) s += String.fromCharCode(bytes[i]!);
    return s;
  }
  let s = "";
  for (let i = start; i < end; i += 8192) {
    s += String.fromCharCode.apply(
      null,
      bytes.subarray(i, Math.min(end, i + 8192)) as unknown as number[],
    );
  }
  return s;
}

/**
 * Decodes header blocks of one connection direction (RFC 7541 §3; h2
 * `hpack::Decoder`). Not reentrant: `emit` must not call `decode`.
 */
export class HpackDecoder {
  #table: DynamicTable;
  /** Our advertised SETTINGS_HEADER_TABLE_SIZE: the most an update may ask for. */
  #limit: number;
  /** The limit went below the table's size: the next block must start with an update. */
  #updateRequired = false;
  #maxListSize: number;
  #scratch = new Uint8Array(256);
  // State of the current decode() call.
  #block: Uint8Array = new Uint8Array(0);
  #pos = 0;
  #strEnd = 0;
  #strHuff = false;

  /**
   * @param maxTableSize SETTINGS_HEADER_TABLE_SIZE in force at the start: the
   * table's maximum size and the most an update may ask for. In HTTP/2 that
   * is 4096 until the peer acknowledges our SETTINGS, whatever they say (a
   * client's first HEADERS may come before); announce another value with
   * {@link setMaxTableSize} once acknowledged. @default 4096
   * @param maxHeaderListSize limit of a decoded list, counted as RFC 9113
   * §6.5.2 does (name + value + 32 per field). @default 65536
   */
  constructor(
    maxTableSize: number = DEFAULT_TABLE_SIZE,
    maxHeaderListSize: number = DEFAULT_MAX_HEADER_LIST_SIZE,
  ) {
    checkSize(maxTableSize, "maxTableSize");
    checkSize(maxHeaderListSize, "maxHeaderListSize");
    this.#table = new DynamicTable(maxTableSize);
    this.#limit = maxTableSize;
    this.#maxListSize = maxHeaderListSize;
  }

  /** Current dynamic table size in octets (RFC 7541 §4.1). */
  get tableSize(): number {
    return this.#table.size;
  }

  /** Current maximum size of the dynamic table, as last set by the peer's update. */
  get maxTableSize(): number {
    return this.#table.maxSize;
  }

  /** The dynamic table, newest entry first (index 62 first); for tests and debugging. */
  tableEntries(): Array<[string, string]> {
    const t = this.#table;
    const out: Array<[string, string]> = [];
    for (let i = 0; i < t.count; i++) {
      const s = t.slot(i);
      out.push([t.names[s]!, t.values[s]!]);
    }
    return out;
  }

  /**
   * Our advertised SETTINGS_HEADER_TABLE_SIZE changed, once the peer has
   * acknowledged it. Below the current table maximum, the peer's next block
   * must start with a size update to at most `n` (RFC 7541 §4.2).
   */
  setMaxTableSize(n: number): void {
    checkSize(n, "maxTableSize");
    this.#limit = n;
    if (n < this.#table.maxSize) this.#updateRequired = true;
  }

  /**
   * Decodes one complete header block (the HEADERS or PUSH_PROMISE fragment
   * and its CONTINUATIONs, concatenated), calling `emit` for each field in
   * order. `neverIndexed` is true for fields sent as never indexed, which an
   * intermediary must forward the same way (RFC 7541 §6.2.3).
   *
   * Throws HpackError on malformed input (the connection is then unusable),
   * and HeaderListTooLarge after the whole block was decoded when the list
   * exceeded the limit; fields up to the limit were emitted by then (discard
   * them). Past the limit no string is built unless the table needs it.
   * `emit` must not throw: a throw leaves the table out of step with the
   * peer, so treat it as a connection error.
   */
  decode(
    block: Uint8Array,
    emit: (name: string, value: string, neverIndexed: boolean) => void,
  ): void {
    this.#block = block;
    this.#pos = 0;
    const end = block.length;
    const table = this.#table;
    const maxList = this.#maxListSize;
    let listSize = 0;
    let tooLarge = false;
    let atStart = true;
    try {
      while (this.#pos < end) {
        const b = block[this.#pos]!;
        if (b & 0x80) {
          // Indexed field (§6.1).
          const index = this.#int(7);
          let name: string;
          let value: string;
          if (index <= STATIC_COUNT) {
            if (index === 0) throw new HpackError("Header index 0");
            name = STATIC_NAMES[index]!;
            value = STATIC_VALUES[index]!;
          } else {
            const i = index - STATIC_COUNT - 1;
            if (i >= table.count) throw indexError(index);
            const s = table.slot(i);
            name = table.names[s]!;
            value = table.values[s]!;
          }
          if (atStart) this.#checkStart(), atStart = false;
          if (!tooLarge) {
            listSize += name.length + value.length + ENTRY_OVERHEAD;
            if (listSize > maxList) tooLarge = true;
            else emit(name, value, false);
          }
          continue;
        }
        if ((b & 0xe0) === 0x20) {
          // Dynamic table size update (§6.3): only before the first field.
          if (!atStart) {
            throw new HpackError("Dynamic table size update after a field");
          }
          const n = this.#int(5);
          if (n > this.#limit) {
            throw new HpackError(
              `Dynamic table size update to ${n} above the limit ${this.#limit}`,
            );
          }
          table.maxSize = n;
          while (table.size > n) table.evictOldest();
          this.#updateRequired = false;
          continue;
        }
        // Literal field (§6.2): with incremental indexing (01), without
        // indexing (0000) or never indexed (0001).
        const indexing = (b & 0x40) !== 0;
        const neverIndexed = !indexing && (b & 0x10) !== 0;
        const index = this.#int(indexing ? 6 : 4);
        if (atStart) this.#checkStart(), atStart = false;

        let name = "";
        let nameLen: number;
        let nameStart = 0;
        let nameEnd = 0;
        let nameHuff = false;
        if (index !== 0) {
          if (index <= STATIC_COUNT) name = STATIC_NAMES[index]!;
          else {
            const i = index - STATIC_COUNT - 1;
            if (i >= table.count) throw indexError(index);
            name = table.names[table.slot(i)]!;
          }
          nameLen = name.length;
        } else {
          nameStart = this.#str();
          nameEnd = this.#strEnd;
          nameHuff = this.#strHuff;
          if (!tooLarge && !this.#mayExceed(nameEnd - nameStart, nameHuff)) {
            name = this.#text(nameStart, nameEnd, nameHuff);
            nameLen = name.length;
          } else {
            tooLarge = true;
            nameLen = this.#count(nameStart, nameEnd, nameHuff);
          }
        }
        const valueStart = this.#str();
        const valueEnd = this.#strEnd;
        const valueHuff = this.#strHuff;
        let value = "";
        let valueLen: number;
        if (!tooLarge && !this.#mayExceed(valueEnd - valueStart, valueHuff)) {
          value = this.#text(valueStart, valueEnd, valueHuff);
          valueLen = value.length;
        } else {
          tooLarge = true;
          valueLen = this.#count(valueStart, valueEnd, valueHuff);
        }
        const size = nameLen + valueLen + ENTRY_OVERHEAD;
        if (!tooLarge) {
          listSize += size;
          if (listSize > maxList) tooLarge = true;
          else emit(name, value, neverIndexed);
        }
        if (indexing) {
          if (size > table.maxSize) {
            // Too big for the table: it empties it (§4.4).
            while (table.count > 0) table.evictOldest();
          } else {
            // Strings skipped while over the list limit are needed now.
            if (index === 0 && name.length !== nameLen) {
              name = this.#text(nameStart, nameEnd, nameHuff);
            }
            if (value.length !== valueLen) {
              value = this.#text(valueStart, valueEnd, valueHuff);
            }
            while (table.size + size > table.maxSize) table.evictOldest();
            table.push(name, value, size);
          }
        }
      }
    } finally {
      this.#block = EMPTY;
    }
    if (tooLarge) {
      throw new HeaderListTooLarge(Math.max(listSize, maxList + 1), maxList);
    }
  }

  #checkStart(): void {
    if (this.#updateRequired) {
      throw new HpackError(
        `Expected a dynamic table size update to at most ${this.#limit}`,
      );
    }
  }

  /** Whether a string of `n` wire bytes is bound to exceed the list limit. */
  #mayExceed(n: number, huff: boolean): boolean {
    return (huff ? Math.ceil(n * 8 / 30) : n) > this.#maxListSize;
  }

  /** Reads a prefixed integer (§5.1) at #pos, at most 2^32 - 1. */
  #int(prefixBits: number): number {
    const block = this.#block;
    const mask = (1 << prefixBits) - 1;
    let value = block[this.#pos++]! & mask;
    if (value < mask) return value;
    let shift = 0;
    for (;;) {
      if (this.#pos >= block.length) {
        throw new HpackError("Truncated integer");
      }
      const b = block[this.#pos++]!;
      value += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) break;
      shift += 7;
      if (shift > 28) throw new HpackError("Integer too long");
    }
    if (value > 0xffffffff) throw new HpackError("Integer overflow");
    return value;
  }

  /** Reads a string header (§5.2); returns its first byte, sets #strEnd/#strHuff, skips it. */
  #str(): number {
    const block = this.#block;
    if (this.#pos >= block.length) throw new HpackError("Truncated string");
    this.#strHuff = (block[this.#pos]! & 0x80) !== 0;
    const len = this.#int(7);
    const start = this.#pos;
    if (len > block.length - start) {
      throw new HpackError(
        `String length ${len} exceeds the ${block.length - start} bytes left`,
      );
    }
    this.#pos = this.#strEnd = start + len;
    return start;
  }

  #text(start: number, end: number, huff: boolean): string {
    if (!huff) return latin1(this.#block, start, end);
    const max = huffmanMaxDecoded(end - start);
    if (this.#scratch.length < max) {
      this.#scratch = new Uint8Array(Math.max(max, this.#scratch.length * 2));
    }
    const n = huffmanDecode(this.#block, start, end, this.#scratch);
    if (n < 0) throw new HpackError("Invalid Huffman code");
    return latin1(this.#scratch, 0, n);
  }

  /** Octet length of a string without building it; validates Huffman. */
  #count(start: number, end: number, huff: boolean): number {
    if (!huff) return end - start;
    const n = huffmanDecode(this.#block, start, end, null);
    if (n < 0) throw new HpackError("Invalid Huffman code");
    return n;
  }
}

const EMPTY = new Uint8Array(0);

function indexError(index: number): HpackError {
  return new HpackError(`Header index ${index} out of range`);
}

function checkSize(n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffffffff) {
    throw new RangeError(`Cannot use ${what}: current value is ${n}`);
  }
}

// ---------------------------------------------------------------------------
// Writer

/** A growable byte buffer, reused for every block of a connection. */
export class HpackWriter {
  /** The buffer; valid bytes are `bytes[0..length)`. Replaced when it grows. */
  bytes: Uint8Array;
  /** Number of bytes written. */
  length = 0;

  /** @param capacity initial size in bytes. @default 1024 */
  constructor(capacity = 1024) {
    this.bytes = new Uint8Array(capacity);
  }

  /** Forgets the contents, keeps the buffer. */
  reset(): void {
    this.length = 0;
  }

  /** Makes room for `n` more bytes. */
  ensure(n: number): void {
    const need = this.length + n;
    if (need <= this.bytes.length) return;
    const next = new Uint8Array(Math.max(need, this.bytes.length * 2));
    next.set(this.bytes.subarray(0, this.length));
    this.bytes = next;
  }

  /** Appends one byte. */
  push(b: number): void {
    this.ensure(1);
    this.bytes[this.length++] = b;
  }

  /** Appends bytes. */
  pushBytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.bytes.set(b, this.length);
    this.length += b.length;
  }

  /** The written bytes (a view, valid until the next write or reset). */
  subarray(): Uint8Array {
    return this.bytes.subarray(0, this.length);
  }
}

/** Writes a prefixed integer (§5.1); `first` holds the representation's flag bits. */
function writeInt(
  w: HpackWriter,
  first: number,
  prefixBits: number,
  value: number,
): void {
  w.ensure(6);
  const bytes = w.bytes;
  const mask = (1 << prefixBits) - 1;
  if (value < mask) {
    bytes[w.length++] = first | value;
    return;
  }
  bytes[w.length++] = first | mask;
  value -= mask;
  while (value >= 128) {
    bytes[w.length++] = (value % 128) | 0x80;
    value = Math.floor(value / 128);
  }
  bytes[w.length++] = value;
}

const utf8 = new TextEncoder();

/** `s.length` when `s` is latin1, else -1 (as {@link huffmanLength} says). */
function latin1Check(s: string): number {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 255) return -1;
  return s.length;
}

/** Writes a string literal (§5.2), Huffman-coded when shorter; returns its octet length. */
function writeString(w: HpackWriter, s: string, huffman: boolean): number {
  const n = s.length;
  const huff = huffman ? huffmanLength(s) : latin1Check(s);
  if (huff < 0) {
    // Not latin1: UTF-8 bytes, no Huffman (rare; see the module doc).
    const b = utf8.encode(s);
    writeInt(w, 0, 7, b.length);
    w.pushBytes(b);
    return b.length;
  }
  if (huff < n) {
    writeInt(w, 0x80, 7, huff);
    w.ensure(huff);
    w.length = huffmanEncode(s, w.bytes, w.length);
    return n;
  }
  writeInt(w, 0, 7, n);
  w.ensure(n);
  const bytes = w.bytes;
  let pos = w.length;
  for (let i = 0; i < n; i++) bytes[pos++] = s.charCodeAt(i);
  w.length = pos;
  return n;
}

/** Fields always sent as never indexed (RFC 7541 §7.1.3). */
const SENSITIVE = new Set([
  "authorization",
  "proxy-authorization",
  "set-cookie",
]);
/** Short cookies are guessable: never indexed below this length (as nghttp2). */
const SHORT_COOKIE = 20;

/** Fields whose values change with nearly every message: not worth a table entry. */
const NOT_INDEXED = new Set([
  "age",
  "content-length",
  "content-range",
  "date",
  "etag",
  "expires",
  "grpc-timeout",
  "if-modified-since",
  "if-none-match",
  "if-range",
  "if-unmodified-since",
  "last-modified",
  "location",
  "range",
  "traceparent",
  "tracestate",
  "x-b3-parentspanid",
  "x-b3-spanid",
  "x-b3-traceid",
  "x-request-id",
]);

/** What the encoder knows of a name before looking at its value: one map lookup per field. */
interface NameInfo {
  /** First static index with this name, or 0. */
  staticIndex: number;
  /** Static entries by value, when the name is in the static table. */
  staticValues: Map<string, number> | undefined;
  /** 0: index; 1: literal without indexing; 2: never indexed. */
  policy: 0 | 1 | 2;
}
const NAME_INFO = new Map<string, NameInfo>();
for (
  const name of [...STATIC_NAME_INDEX.keys(), ...SENSITIVE, ...NOT_INDEXED]
) {
  NAME_INFO.set(name, {
    staticIndex: STATIC_NAME_INDEX.get(name) ?? 0,
    staticValues: STATIC_EXACT_INDEX.get(name),
    policy: SENSITIVE.has(name) ? 2 : NOT_INDEXED.has(name) ? 1 : 0,
  });
}

/** The encoder's dynamic entries with one name. */
interface DynamicName {
  /** Insertion id of the newest entry with this name. */
  newest: number;
  /** value → insertion id of the newest entry with both. */
  values: Map<string, number>;
}

/** Options of {@link HpackEncoder}. */
export interface HpackEncoderOptions {
  /** Huffman-code strings where that is shorter. @default true */
  huffman?: boolean;
}

/**
 * Encodes header blocks of one connection direction (RFC 7541; h2
 * `hpack::Encoder`).
 *
 * Policy: exact matches in the static or dynamic table are sent as an index;
 * authorization, proxy-authorization, set-cookie and cookies shorter than 20
 * chars are never indexed; per-message values (content-length, date, etag,
 * tracing ids, grpc-timeout, a `:path` with a query, ...) and entries over
 * 3/4 of the table are literals without indexing (a per-message name that is
 * in no table is indexed the first time, so later blocks refer to the name);
 * everything else is added to the dynamic table. A string is Huffman-coded
 * when that is shorter.
 */
export class HpackEncoder {
  #table: DynamicTable;
  /** Our own limit on the table size. */
  #ownLimit: number;
  /** Size updates to send at the start of the next block: the smallest and the final one. */
  #pendingMin = -1;
  #pendingFinal = -1;
  /** Dynamic entries by name. */
  #names = new Map<string, DynamicName>();

  #huffman: boolean;

  /**
   * @param tableSize largest dynamic table we use, whatever the peer allows;
   * below 4096 the first block announces it. @default 4096
   */
  constructor(
    tableSize: number = DEFAULT_TABLE_SIZE,
    options: HpackEncoderOptions = {},
  ) {
    checkSize(tableSize, "tableSize");
    this.#ownLimit = tableSize;
    this.#huffman = options.huffman ?? true;
    // The peer's decoder starts at 4096 (RFC 9113 §6.5.2).
    this.#table = new DynamicTable(DEFAULT_TABLE_SIZE);
    this.#resize(Math.min(DEFAULT_TABLE_SIZE, tableSize));
  }

  /** Current dynamic table size in octets. */
  get tableSize(): number {
    return this.#table.size;
  }

  /** Current maximum size of the dynamic table (what the peer was or will be told). */
  get maxTableSize(): number {
    return this.#table.maxSize;
  }

  /**
   * The peer's SETTINGS_HEADER_TABLE_SIZE. The table is resized to the
   * smaller of it and our own limit at once, and the next block starts with
   * the dynamic table size update(s) announcing it (RFC 7541 §4.2).
   */
  setPeerMaxTableSize(n: number): void {
    checkSize(n, "peer maxTableSize");
    this.#resize(Math.min(n, this.#ownLimit));
  }

  #resize(n: number): void {
    const t = this.#table;
    if (n === t.maxSize) return;
    t.maxSize = n;
    while (t.size > n) this.#evict();
    if (this.#pendingMin < 0 || n < this.#pendingMin) this.#pendingMin = n;
    this.#pendingFinal = n;
  }

  /**
   * Appends one header block with `fields` to `w` (at `w.length`, so a frame
   * header may be reserved before it). A third tuple element `true` sends the
   * field as never indexed.
   */
  encode(
    fields: Iterable<readonly [string, string, boolean?]>,
    w: HpackWriter,
  ): void {
    this.startBlock(w);
    for (const f of fields) this.encodeField(f[0], f[1], w, f[2] === true);
  }

  /** Starts a block: writes pending table size updates. Then call {@link encodeField} per field. */
  startBlock(w: HpackWriter): void {
    if (this.#pendingMin < 0) return;
    if (this.#pendingMin < this.#pendingFinal) {
      writeInt(w, 0x20, 5, this.#pendingMin);
    }
    writeInt(w, 0x20, 5, this.#pendingFinal);
    this.#pendingMin = this.#pendingFinal = -1;
  }

  /** Appends one field to the block begun by {@link startBlock}. */
  encodeField(
    name: string,
    value: string,
    w: HpackWriter,
    neverIndex = false,
  ): void {
    const info = NAME_INFO.get(name);
    const policy = neverIndex ||
        (name === "cookie" && value.length < SHORT_COOKIE)
      ? 2
      : info === undefined
      ? 0
      : info.policy;
    let nameIndex = 0;
    const t = this.#table;
    if (info !== undefined) {
      // A never-indexed field keeps its representation (§6.2.3), even when
      // the table has it.
      if (info.staticValues !== undefined && policy !== 2) {
        const i = info.staticValues.get(value);
        if (i !== undefined) {
          writeInt(w, 0x80, 7, i);
          return;
        }
      }
      nameIndex = info.staticIndex;
    }
    if (t.count > 0) {
      const dyn = this.#names.get(name);
      if (dyn !== undefined) {
        if (policy !== 2) {
          const id = dyn.values.get(value);
          if (id !== undefined) {
            writeInt(w, 0x80, 7, this.#indexOf(id));
            return;
          }
        }
        if (nameIndex === 0) nameIndex = this.#indexOf(dyn.newest);
      }
    }
    let mode: number; // 0x40 incremental, 0x00 without, 0x10 never
    if (policy === 2) mode = 0x10;
    else if (
      // A per-message field whose name no table has yet is indexed once, so
      // later blocks refer to its name.
      (policy === 1 && nameIndex !== 0) ||
      (name.length + value.length + ENTRY_OVERHEAD) * 4 > t.maxSize * 3 ||
      (name === ":path" && value.includes("?"))
    ) mode = 0;
    else mode = 0x40;
    writeInt(w, mode, mode === 0x40 ? 6 : 4, nameIndex);
    const huff = this.#huffman;
    const nameLen = nameIndex === 0 ? writeString(w, name, huff) : name.length;
    const valueLen = writeString(w, value, huff);
    if (mode === 0x40) this.#add(name, value, nameLen + valueLen + 32);
  }

  /** HPACK index of the entry with insertion id `id` (still in the table). */
  #indexOf(id: number): number {
    return STATIC_COUNT + 1 + this.#table.inserted - id;
  }

  #add(name: string, value: string, size: number): void {
    const t = this.#table;
    if (size > t.maxSize) {
      while (t.count > 0) this.#evict();
      return;
    }
    while (t.size + size > t.maxSize) this.#evict();
    const id = t.inserted + 1;
    t.push(name, value, size);
    const dyn = this.#names.get(name);
    if (dyn === undefined) {
      this.#names.set(name, { newest: id, values: new Map([[value, id]]) });
    } else {
      dyn.newest = id;
      dyn.values.set(value, id);
    }
  }

  #evict(): void {
    const t = this.#table;
    const id = t.inserted - t.count + 1;
    const slot = t.evictOldest();
    const name = t.names[slot]!;
    const value = t.values[slot]!;
    t.names[slot] = t.values[slot] = "";
    const dyn = this.#names.get(name)!;
    if (dyn.values.get(value) === id) dyn.values.delete(value);
    // The oldest entry was also the newest of its name: none is left.
    if (dyn.newest === id) this.#names.delete(name);
  }
}

// ---------------------------------------------------------------------------
// Field validation for the framing layer

/**
 * Whether `name` is a valid HTTP/2 field name (RFC 9113 §8.2.1): non-empty,
 * no 0x00-0x20, no uppercase, no 0x7f-0xff, and a colon only as the first
 * char of a pseudo-header name.
 */
export function isValidFieldName(name: string): boolean {
  const n = name.length;
  if (n === 0) return false;
  for (let i = 0; i < n; i++) {
    const c = name.charCodeAt(i);
    if (c <= 0x20 || c >= 0x7f || (c >= 0x41 && c <= 0x5a)) return false;
    if (c === 0x3a && (i !== 0 || n === 1)) return false;
  }
  return true;
}

/**
 * Whether `value` is a valid HTTP/2 field value (RFC 9113 §8.2.1): no NUL,
 * CR or LF, and no leading or trailing space or tab.
 */
export function isValidFieldValue(value: string): boolean {
  const n = value.length;
  if (n === 0) return true;
  let c = value.charCodeAt(0);
  if (c === 0x20 || c === 0x09) return false;
  c = value.charCodeAt(n - 1);
  if (c === 0x20 || c === 0x09) return false;
  for (let i = 0; i < n; i++) {
    c = value.charCodeAt(i);
    if (c === 0 || c === 0x0a || c === 0x0d) return false;
  }
  return true;
}
