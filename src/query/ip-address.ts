/**
 * IPv4 / IPv6 addresses and CIDR blocks for `CIDR(@field, block, …)`, parsed by hand in one pass.
 * Addresses are held as eight 16-bit groups (IPv4 as its IPv4-mapped IPv6 form `::ffff:a.b.c.d`), so
 * an IPv4 block also matches the mapped form of its addresses and the other way round.
 */

export interface CidrBlock {
  /** The block as written in the query. */
  readonly text: string;
  readonly groups: Uint16Array;
  /** Prefix length in IPv6 bits (an IPv4 `/8` is stored as `/104`). */
  readonly prefixBits: number;
}

const GROUPS = 8;

/** Parses `a.b.c.d` between `from` and `to`; returns the 32-bit value or -1. Leading zeros are rejected. */
function parseIpv4(text: string, from: number, to: number): number {
  let value = 0;
  let parts = 0;
  let i = from;
  while (parts < 4) {
    let octet = 0;
    let digits = 0;
    const start = i;
    while (i < to) {
      const c = text.charCodeAt(i);
      if (c < 48 || c > 57) break;
      octet = octet * 10 + (c - 48);
      digits++;
      i++;
      if (digits > 3) return -1;
    }
    if (digits === 0 || octet > 255 || (digits > 1 && text.charCodeAt(start) === 48)) return -1;
    value = value * 256 + octet;
    parts++;
    if (parts < 4) {
      if (i >= to || text.charCodeAt(i) !== 46 /* . */) return -1;
      i++;
    }
  }
  return i === to ? value : -1;
}

function hexValue(c: number): number {
  if (c >= 48 && c <= 57) return c - 48;
  if (c >= 97 && c <= 102) return c - 87;
  if (c >= 65 && c <= 70) return c - 55;
  return -1;
}

function writeMappedIpv4(value: number, out: Uint16Array): void {
  out.fill(0, 0, 5);
  out[5] = 0xffff;
  out[6] = Math.floor(value / 65536);
  out[7] = value % 65536;
}

/** Parses an IPv6 address between `from` and `to` into `out`; false when invalid (no zone ids, no brackets). */
function parseIpv6(text: string, from: number, to: number, out: Uint16Array): boolean {
  const head: number[] = [];
  const tail: number[] = [];
  let groups = head;
  let hasGap = false;
  let i = from;
  if (to - from >= 2 && text.charCodeAt(i) === 58 && text.charCodeAt(i + 1) === 58) {
    hasGap = true;
    groups = tail;
    i += 2;
    if (i === to) {
      out.fill(0);
      return true;
    }
  } else if (i < to && text.charCodeAt(i) === 58) {
    return false;
  }
  while (i < to) {
    // An embedded IPv4 tail (`::ffff:1.2.3.4`) takes the last two groups.
    let j = i;
    while (j < to && text.charCodeAt(j) !== 58 && text.charCodeAt(j) !== 46) j++;
    if (j < to && text.charCodeAt(j) === 46) {
      const v4 = parseIpv4(text, i, to);
      if (v4 < 0) return false;
      groups.push(Math.floor(v4 / 65536), v4 % 65536);
      break;
    }
    let group = 0;
    let digits = 0;
    while (i < to) {
      const h = hexValue(text.charCodeAt(i));
      if (h < 0) break;
      group = group * 16 + h;
      digits++;
      i++;
      if (digits > 4) return false;
    }
    if (digits === 0) return false;
    groups.push(group);
    if (head.length + tail.length > GROUPS) return false;
    if (i === to) break;
    if (text.charCodeAt(i) !== 58) return false;
    i++;
    if (i < to && text.charCodeAt(i) === 58) {
      if (hasGap) return false;
      hasGap = true;
      groups = tail;
      i++;
      if (i === to) break;
    } else if (i === to) {
      return false; // a single trailing ':'
    }
  }
  const count = head.length + tail.length;
  if (hasGap ? count > GROUPS - 1 : count !== GROUPS) return false;
  out.fill(0);
  for (let k = 0; k < head.length; k++) out[k] = head[k] ?? 0;
  for (let k = 0; k < tail.length; k++) out[GROUPS - tail.length + k] = tail[k] ?? 0;
  return true;
}

/**
 * Parses an IPv4 or IPv6 address into `out` (IPv4 in mapped form). Returns 4, 6, or 0 when `text`
 * is not an address.
 */
export function parseIpAddress(text: string, out: Uint16Array): 4 | 6 | 0 {
  if (text.length === 0 || text.length > 45) return 0;
  if (text.includes(':')) return parseIpv6(text, 0, text.length, out) ? 6 : 0;
  const v4 = parseIpv4(text, 0, text.length);
  if (v4 < 0) return 0;
  writeMappedIpv4(v4, out);
  return 4;
}

/**
 * Parses `address/prefix` (a bare address is a single-host block). Host bits after the prefix are
 * ignored (`10.1.2.3/8` is `10.0.0.0/8`). Returns null when invalid.
 */
export function parseCidrBlock(text: string): CidrBlock | null {
  const slash = text.indexOf('/');
  const address = slash < 0 ? text : text.slice(0, slash);
  const groups = new Uint16Array(GROUPS);
  const family = parseIpAddress(address, groups);
  if (family === 0) return null;
  const maxBits = family === 4 ? 32 : 128;
  let bits = maxBits;
  if (slash >= 0) {
    const prefix = text.slice(slash + 1);
    if (!/^(0|[1-9][0-9]{0,2})$/.test(prefix)) return null;
    bits = Number(prefix);
    if (bits > maxBits) return null;
  }
  return { text, groups, prefixBits: family === 4 ? 96 + bits : bits };
}

/** True when `address` (already parsed) lies inside `block`. */
export function isInBlock(address: Uint16Array, block: CidrBlock): boolean {
  let bits = block.prefixBits;
  for (let k = 0; k < GROUPS && bits > 0; k++) {
    const a = address[k] ?? 0;
    const b = block.groups[k] ?? 0;
    if (bits >= 16) {
      if (a !== b) return false;
      bits -= 16;
    } else {
      const mask = (0xffff << (16 - bits)) & 0xffff;
      return (a & mask) === (b & mask);
    }
  }
  return true;
}

/** A predicate over address text: true when it parses and lies in any of the blocks. */
export function compileCidrMatcher(blocks: readonly CidrBlock[]): (text: string) => boolean {
  const scratch = new Uint16Array(GROUPS);
  return (text) => {
    if (parseIpAddress(text, scratch) === 0) return false;
    for (const block of blocks) if (isInBlock(scratch, block)) return true;
    return false;
  };
}
