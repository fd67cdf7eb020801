/**
 * The HPACK Huffman code (RFC 7541 Appendix B): an encoder over latin1
 * strings and a table-driven decoder that reads 4 bits at a time.
 *
 * The code is canonical (codes of one length are consecutive, in symbol
 * order, shorter codes first), so the 257 code lengths define it; the codes,
 * the encoder tables and the decoder's state machine are built from them once
 * at module load (about 0.1 ms).
 *
 * @module
 */

/** Code length in bits of each symbol 0..255 and of EOS (256) (RFC 7541 Appendix B). */
// deno-fmt-ignore
const CODE_LENGTHS = [
  13, 23, 28, 28, 28, 28, 28, 28, 28, 24, 30, 28, 28, 30, 28, 28,
  28, 28, 28, 28, 28, 28, 30, 28, 28, 28, 28, 28, 28, 28, 28, 28,
  6, 10, 10, 12, 13, 6, 8, 11, 10, 10, 8, 11, 8, 6, 6, 6,
  5, 5, 5, 6, 6, 6, 6, 6, 6, 6, 7, 8, 15, 6, 12, 10,
  13, 6, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7, 7,
  7, 7, 7, 7, 7, 7, 7, 7, 8, 7, 8, 13, 19, 13, 14, 6,
  15, 5, 6, 5, 6, 5, 6, 6, 6, 5, 7, 7, 6, 6, 6, 5,
  6, 7, 6, 5, 5, 6, 7, 7, 7, 7, 7, 15, 11, 14, 13, 28,
  20, 22, 20, 20, 22, 22, 22, 23, 22, 23, 23, 23, 23, 23, 24, 23,
  24, 24, 22, 23, 24, 23, 23, 23, 23, 21, 22, 23, 22, 23, 23, 24,
  22, 21, 20, 22, 22, 23, 23, 21, 23, 22, 22, 24, 21, 22, 23, 23,
  21, 21, 22, 21, 23, 22, 23, 23, 20, 22, 22, 22, 23, 22, 22, 23,
  26, 26, 20, 19, 22, 23, 22, 25, 26, 26, 26, 27, 27, 26, 24, 25,
  19, 21, 26, 27, 27, 26, 27, 24, 21, 21, 26, 26, 28, 27, 27, 27,
  20, 24, 20, 21, 22, 21, 21, 23, 22, 22, 25, 25, 24, 24, 26, 23,
  26, 27, 26, 26, 27, 27, 27, 27, 27, 28, 27, 27, 27, 27, 27, 26,
  30,
];

/** The EOS symbol; decoding it is an error (RFC 7541 §5.2). */
export const HUFFMAN_EOS = 256;

/** Code length in bits per symbol 0..256. */
export const HUFFMAN_LENGTHS: Uint8Array = Uint8Array.from(CODE_LENGTHS);
/** Code per symbol 0..256, right-aligned in its length (at most 30 bits). */
export const HUFFMAN_CODES: Uint32Array = buildCodes();

function buildCodes(): Uint32Array {
  const codes = new Uint32Array(257);
  const order = [...Array(257).keys()].sort((a, b) =>
    CODE_LENGTHS[a]! - CODE_LENGTHS[b]! || a - b
  );
  let code = 0;
  let prev = CODE_LENGTHS[order[0]!]!;
  for (let i = 0; i < order.length; i++) {
    const sym = order[i]!;
    const len = CODE_LENGTHS[sym]!;
    if (i > 0) code = (code + 1) * 2 ** (len - prev);
    prev = len;
    codes[sym] = code;
  }
  return codes;
}

/**
 * Length in bytes of `s` Huffman-coded, reading each char code as a latin1
 * byte; -1 when `s` holds a char code above 255 (not a latin1 string).
 */
export function huffmanLength(s: string): number {
  let bits = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 255) return -1;
    bits += HUFFMAN_LENGTHS[c]!;
  }
  return (bits + 7) >>> 3;
}

/**
 * Writes `s` (latin1, checked by {@link huffmanLength}) Huffman-coded into
 * `out` at `pos`, padded with 1 bits; returns the position after it.
 */
export function huffmanEncode(s: string, out: Uint8Array, pos: number): number {
  // Bits wait in `acc` (at most 7 + 30 of them, so it is kept below 2^32 by
  // flushing whole bytes after each symbol: 7 + 30 = 37 does not fit, hence
  // codes longer than 24 bits are added in two parts).
  let acc = 0;
  let n = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let len = HUFFMAN_LENGTHS[c]!;
    let code = HUFFMAN_CODES[c]!;
    if (len > 24) {
      const hi = len - 16;
      acc = (acc << hi) | (code >>> 16);
      n += hi;
      while (n >= 8) {
        n -= 8;
        out[pos++] = acc >>> n;
      }
      len = 16;
      code &= 0xffff;
    }
    acc = ((acc << len) | code) >>> 0;
    n += len;
    while (n >= 8) {
      n -= 8;
      out[pos++] = acc >>> n;
    }
    acc &= (1 << n) - 1;
  }
  if (n > 0) out[pos++] = (acc << (8 - n)) | (0xff >>> n);
  return pos;
}

// Decoder: a state machine over the code tree's 256 internal nodes, fed one
// nibble at a time. Each of the 256 * 16 transitions packs the next state
// (bits 0-7), the symbol emitted on the way (bits 8-15), an "emits" flag
// (bit 16) and a "fails" flag (bit 17: the nibble completes EOS). A nibble
// completes at most one symbol, since the shortest code has 5 bits.
// ACCEPTS[state] is 1 where the block may end: at the root, or on the
// all-ones path at most 7 bits deep (valid EOS padding, RFC 7541 §5.2).

const EMITS = 1 << 16;
const FAILS = 1 << 17;
const TRANSITIONS = new Uint32Array(256 * 16);
const ACCEPTS = new Uint8Array(256);

function buildDecoder(): void {
  // Tree as arrays: child[node * 2 + bit] is a node id (>= 0) or -(sym + 1).
  const child = new Int32Array(512).fill(0x7fffffff);
  let nodes = 1;
  for (let sym = 0; sym <= 256; sym++) {
    const len = HUFFMAN_LENGTHS[sym]!;
    const code = HUFFMAN_CODES[sym]!;
    let node = 0;
    for (let i = len - 1; i >= 0; i--) {
      const slot = node * 2 + (Math.floor(code / 2 ** i) & 1);
      if (i === 0) child[slot] = -(sym + 1);
      else {
        if (child[slot] === 0x7fffffff) child[slot] = nodes++;
        node = child[slot]!;
      }
    }
  }
  if (nodes !== 256) throw new Error("Huffman tree is not complete");
  // Depth and all-ones status per node, for ACCEPTS.
  const depth = new Uint8Array(256);
  const ones = new Uint8Array(256);
  ones[0] = 1;
  for (let node = 0; node < 256; node++) {
    for (let bit = 0; bit < 2; bit++) {
      const c = child[node * 2 + bit]!;
      if (c >= 0) {
        depth[c] = depth[node]! + 1;
        ones[c] = ones[node]! & bit;
      }
    }
  }
  for (let node = 0; node < 256; node++) {
    ACCEPTS[node] = node === 0 || (ones[node] && depth[node]! <= 7) ? 1 : 0;
  }
  for (let state = 0; state < 256; state++) {
    for (let nibble = 0; nibble < 16; nibble++) {
      let node = state;
      let out = 0;
      for (let i = 3; i >= 0; i--) {
        const c = child[node * 2 + ((nibble >> i) & 1)]!;
        if (c >= 0) node = c;
        else {
          const sym = -c - 1;
          if (sym === HUFFMAN_EOS) out |= FAILS;
          else out |= EMITS | (sym << 8);
          node = 0;
        }
      }
      TRANSITIONS[state * 16 + nibble] = out | node;
    }
  }
}
buildDecoder();

/**
 * Decodes the Huffman-coded bytes `src[start..end)` into `out` from 0;
 * returns the number of bytes written, or -1 when the input is invalid (EOS
 * decoded, padding longer than 7 bits or not all ones). `out` must hold
 * `huffmanMaxDecoded(end - start)` bytes; pass null to only count and
 * validate.
 */
export function huffmanDecode(
  src: Uint8Array,
  start: number,
  end: number,
  out: Uint8Array | null,
): number {
  let state = 0;
  let n = 0;
  for (let i = start; i < end; i++) {
    const b = src[i]!;
    let t = TRANSITIONS[(state << 4) | (b >> 4)]!;
    if (t & (EMITS | FAILS)) {
      if (t & FAILS) return -1;
      if (out !== null) out[n] = t >> 8;
      n++;
    }
    t = TRANSITIONS[((t & 0xff) << 4) | (b & 15)]!;
    if (t & (EMITS | FAILS)) {
      if (t & FAILS) return -1;
      if (out !== null) out[n] = t >> 8;
      n++;
    }
    state = t & 0xff;
  }
  return ACCEPTS[state] ? n : -1;
}

/** Upper bound of the decoded length of `n` Huffman-coded bytes (5-bit codes at best). */
export function huffmanMaxDecoded(n: number): number {
  return Math.ceil((n * 8) / 5);
}
