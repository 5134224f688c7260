/**
 * The splitter of the scan's read path: `JsonRecordSplitter` (src/normalise/expand.ts) with a fast
 * path for CloudTrail log files, which is where nearly all the time of a large scan goes.
 *
 * An input that starts (after whitespace) with exactly `{"Records":[` and is ASCII is cut into its
 * elements here, by a scanner that jumps from quote to quote with `indexOf` instead of looking at
 * every character, and that notes on the way where the record's own `eventName` and `eventTime`
 * values are (for the prefilter, src/pipeline/prefilter.ts). Elements come out as positions in the
 * chunk text, so a record the prefilter skips is never copied.
 *
 * The fast path gives exactly what `JsonRecordSplitter` gives: it only handles the well-formed case
 * (objects separated by commas, on one line, ending with `]}`), and at anything else (a newline
 * between or inside elements, a non-object element, an odd ending, a non-ASCII chunk, a value too
 * large) it hands the rest of the input over to a `JsonRecordSplitter`, brought into the state it
 * would be in had it read the text so far: it is fed a stand-in prefix of the same byte length
 * holding as many elements (`0,` each, padded with spaces), whose items are thrown away. Byte
 * offsets, item indices, problems and recovery are then the general splitter's own.
 */
import { JsonRecordSplitter } from '../normalise/expand.js';
import type { SplitOptions, SplitOutput } from '../normalise/expand.js';
import { DEFAULT_MAX_VALUE_CHARS } from '../normalise/expand.js';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;
const LOWER_E = 0x65;

const LOG_FILE_HEAD = '{"Records":[';

/** Where a top-level string member of a record stands after a scan. */
export const MEMBER_ABSENT = -1;
/** The member is there but its value is not a plain string (another type, or escapes in it). */
export const MEMBER_UNCLEAR = -2;

/**
 * What `scanRecordObject` found about the record's own (top-level) `eventName` and `eventTime`:
 * the start and end of the text between the quotes of the value of the LAST such member (as
 * `JSON.parse` keeps the last of duplicate keys), or MEMBER_ABSENT / MEMBER_UNCLEAR in `…Start`.
 * A value counts as plain only when it is a string with no backslash in it. One object is reused
 * from scan to scan: read it before the next scan.
 */
export class RecordFacts {
  nameStart = MEMBER_ABSENT;
  nameEnd = MEMBER_ABSENT;
  timeStart = MEMBER_ABSENT;
  timeEnd = MEMBER_ABSENT;
}

function isBlank(c: number): boolean {
  return c === SPACE || c === TAB || c === CARRIAGE_RETURN || c === NEWLINE;
}

/** Index of the quote that closes the string whose content starts at `from`, or -1. */
function closingQuote(s: string, from: number): number {
  let j = s.indexOf('"', from);
  while (j > from && s.charCodeAt(j - 1) === BACKSLASH) {
    let k = j - 2;
    while (k >= from && s.charCodeAt(k) === BACKSLASH) k--;
    // An even run of backslashes escapes itself: the quote ends the string.
    if ((j - 1 - k) % 2 === 0) break;
    j = s.indexOf('"', j + 1);
  }
  return j;
}

/**
 * A top-level string of the record whose content is exactly `eventName` or `eventTime` (quotes at
 * `open` and `close`): records its value in `facts` when it is a key with a plain string value, or
 * marks it unclear. Returns where scanning goes on, or -1 when the text ends first.
 */
function noteMember(s: string, open: number, close: number, facts: RecordFacts): number {
  const isName = s.startsWith('eventName', open + 1);
  if (!isName && !s.startsWith('eventTime', open + 1)) return close + 1;
  const n = s.length;
  let i = close + 1;
  while (i < n && isBlank(s.charCodeAt(i))) i++;
  let start = MEMBER_UNCLEAR;
  let end = MEMBER_UNCLEAR;
  let next = close + 1;
  if (i >= n) return -1;
  if (s.charCodeAt(i) === COLON) {
    i++;
    while (i < n && isBlank(s.charCodeAt(i))) i++;
    if (i >= n) return -1;
    next = i;
    if (s.charCodeAt(i) === QUOTE) {
      const q = s.indexOf('"', i + 1);
      if (q < 0) return -1;
      let plain = true;
      for (let k = i + 1; k < q; k++) {
        if (s.charCodeAt(k) === BACKSLASH) {
          plain = false;
          break;
        }
      }
      if (plain) {
        start = i + 1;
        end = q;
        next = q + 1;
      }
    }
  }
  if (isName) {
    facts.nameStart = start;
    facts.nameEnd = end;
  } else {
    facts.timeStart = start;
    facts.timeEnd = end;
  }
  return next;
}

/**
 * Scans the JSON value that starts with the `{` at `s[start]`, tracking strings (with their
 * escapes) and bracket depth the way `JsonRecordSplitter` does, and notes the record's own
 * `eventName` and `eventTime` (see `RecordFacts`). Returns the index just after the bracket that
 * brings the depth back to zero, or -1 when the text ends first. Does not validate JSON.
 */
export function scanRecordObject(s: string, start: number, facts: RecordFacts): number {
  facts.nameStart = MEMBER_ABSENT;
  facts.nameEnd = MEMBER_ABSENT;
  facts.timeStart = MEMBER_ABSENT;
  facts.timeEnd = MEMBER_ABSENT;
  const n = s.length;
  let depth = 0;
  let i = start;
  while (i < n) {
    const c = s.charCodeAt(i);
    if (c === QUOTE) {
      let close = s.indexOf('"', i + 1);
      if (close > 0 && s.charCodeAt(close - 1) === BACKSLASH) close = closingQuote(s, i + 1);
      if (close < 0) return -1;
      if (depth === 1 && close - i === 10 && s.charCodeAt(i + 1) === LOWER_E) {
        i = noteMember(s, i, close, facts);
        if (i < 0) return -1;
      } else {
        i = close + 1;
      }
      continue;
    }
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      depth++;
    } else if (c === CLOSE_BRACE || c === CLOSE_BRACKET) {
      depth--;
      if (depth === 0) return i + 1;
    }
    i++;
  }
  return -1;
}

/** Receives what the splitter finds, in input order. */
export interface SplitVisitor {
  /**
   * An element of the `Records` array of a log file, found by the fast path: its text is
   * `text.slice(start, end)`, `facts` describe it (valid during the call only).
   */
  element(text: string, start: number, end: number, index: number, byteOffset: number, facts: RecordFacts): void;
  /** An item or problem of the general splitter. */
  output(out: SplitOutput): void;
}

const DETECTING = 0;
const FAST = 1;
const GENERAL = 2;

/** Pending text (an element cut by a chunk end) above which the general splitter takes over. */
const MAX_PENDING_CHARS = 4 * 1024 * 1024;

export class RecordSplitter {
  private readonly options: SplitOptions;
  private readonly maxValueChars: number;
  private readonly facts = new RecordFacts();
  private mode = DETECTING;
  private general: JsonRecordSplitter | undefined;

  /** DETECTING: the text so far. FAST: the text from the current element (or the closing `]`) on. */
  private pending = '';
  /** FAST: UTF-8 byte offset (= character offset: the fast path only sees ASCII) of `pending[0]`. */
  private base = 0;
  /** FAST: whitespace before the top-level `{`, replayed to the general splitter. */
  private lead = '';
  /** FAST: elements given out. */
  private index = 0;
  /** FAST: `pending` starts with the last element, which a `]` follows: it is given out at the end. */
  private isClosing = false;

  constructor(options: SplitOptions = {}) {
    this.options = options;
    this.maxValueChars = options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
  }

  /** Whether the fast path is still in use (for tests and measurements). */
  get isFast(): boolean {
    return this.mode !== GENERAL;
  }

  /** Feeds the next piece of text; `isAscii` says it is pure ASCII (one character per byte). */
  push(text: string, isAscii: boolean, visitor: SplitVisitor): void {
    if (this.mode === GENERAL) {
      this.deliver(this.general?.push(text) ?? [], visitor);
      return;
    }
    if (!isAscii) {
      this.toGeneral(this.pending + text, 0, visitor);
      return;
    }
    const s = this.pending.length === 0 ? text : this.pending + text;
    if (this.mode === DETECTING) {
      this.detect(s, visitor);
      return;
    }
    this.scanFast(s, 0, visitor);
  }

  /** The end of input: gives out what is left, and the general splitter's end-of-input problems. */
  end(visitor: SplitVisitor): void {
    if (this.mode === FAST && this.isClosing) {
      const end = this.cleanEndingElement(this.pending);
      if (end >= 0) {
        this.visitElement(visitor, this.pending, 0, end);
        this.pending = '';
        return;
      }
    }
    if (this.mode !== GENERAL) this.toGeneral(this.pending, 0, visitor);
    this.deliver(this.general?.end() ?? [], visitor);
  }

  private detect(s: string, visitor: SplitVisitor): void {
    let p = 0;
    while (p < s.length && isBlank(s.charCodeAt(p))) p++;
    const available = s.length - p;
    if (available < LOG_FILE_HEAD.length) {
      if (LOG_FILE_HEAD.startsWith(s.slice(p))) {
        this.pending = s;
        return;
      }
      this.toGeneral(s, 0, visitor);
      return;
    }
    if (!s.startsWith(LOG_FILE_HEAD, p)) {
      this.toGeneral(s, 0, visitor);
      return;
    }
    this.mode = FAST;
    this.lead = s.slice(0, p);
    this.pending = '';
    this.base = 0;
    this.scanFast(s, p + LOG_FILE_HEAD.length, visitor);
  }

  /** Splits `s` from `pos` on, where an element (or the closing `]`) may start. */
  private scanFast(s: string, pos: number, visitor: SplitVisitor): void {
    if (this.isClosing) {
      this.keepPending(s, 0, visitor);
      return;
    }
    const n = s.length;
    const facts = this.facts;
    let nextNewline = -1;
    for (;;) {
      let i = pos;
      while (i < n) {
        const c = s.charCodeAt(i);
        if (c !== SPACE && c !== TAB && c !== CARRIAGE_RETURN) break;
        i++;
      }
      if (i === n) {
        // Only blanks left: they are consumed (the stand-in prefix pads for them).
        this.base += n;
        this.pending = '';
        return;
      }
      if (s.charCodeAt(i) !== OPEN_BRACE) {
        this.toGeneral(s, i, visitor);
        return;
      }
      const end = scanRecordObject(s, i, facts);
      if (end < 0) {
        this.keepPending(s, i, visitor);
        return;
      }
      if (nextNewline < i) {
        nextNewline = s.indexOf('\n', i);
        if (nextNewline < 0) nextNewline = n;
      }
      if (nextNewline < end) {
        this.toGeneral(s, i, visitor);
        return;
      }
      let j = end;
      while (j < n) {
        const c = s.charCodeAt(j);
        if (c !== SPACE && c !== TAB && c !== CARRIAGE_RETURN) break;
        j++;
      }
      if (j === n) {
        this.keepPending(s, i, visitor);
        return;
      }
      if (j - i > this.maxValueChars) {
        this.toGeneral(s, i, visitor);
        return;
      }
      const after = s.charCodeAt(j);
      if (after === COMMA) {
        this.visitElement(visitor, s, i, end);
        pos = j + 1;
        continue;
      }
      if (after === CLOSE_BRACKET) {
        // The last element: given out at the end of input, once the ending is known to be clean.
        this.isClosing = true;
        this.keepPending(s, i, visitor);
        return;
      }
      this.toGeneral(s, i, visitor);
      return;
    }
  }

  private visitElement(visitor: SplitVisitor, s: string, start: number, end: number): void {
    const index = this.index++;
    visitor.element(s, start, end, index, this.base + start, this.facts);
  }

  /** Keeps `s` from `from` on for the next push (or the end), unless it grows too large. */
  private keepPending(s: string, from: number, visitor: SplitVisitor): void {
    const rest = from === 0 ? s : s.slice(from);
    if (rest.length > MAX_PENDING_CHARS) {
      this.toGeneral(s, from, visitor);
      return;
    }
    this.base += from;
    this.pending = rest;
  }

  /**
   * When `text` is one element and then only `]`, `}` and blanks (the well-formed end of a log
   * file), the end of the element (its facts scanned); else -1.
   */
  private cleanEndingElement(text: string): number {
    const end = scanRecordObject(text, 0, this.facts);
    if (end < 0) return -1;
    const n = text.length;
    let i = end;
    for (const expected of [CLOSE_BRACKET, CLOSE_BRACE]) {
      while (i < n && isBlank(text.charCodeAt(i))) i++;
      if (i >= n || text.charCodeAt(i) !== expected) return -1;
      i++;
    }
    while (i < n && isBlank(text.charCodeAt(i))) i++;
    return i === n ? end : -1;
  }

  /**
   * Hands `s` from `from` on (and everything after) to a general splitter, first brought into the
   * state it would have after the text already consumed: between elements, `index` elements given
   * out. In DETECTING mode nothing was consumed and `s` is the whole input so far.
   */
  private toGeneral(s: string, from: number, visitor: SplitVisitor): void {
    const general = new JsonRecordSplitter(this.options);
    if (this.mode === FAST) {
      const consumed = this.base + from;
      const stand = `${this.lead}${LOG_FILE_HEAD}${'0,'.repeat(this.index)}`;
      const warmup = consumed < stand.length ? [] : general.push(stand + ' '.repeat(consumed - stand.length));
      if (warmup.length !== this.index || warmup.some((out) => out.kind === 'problem')) {
        throw new Error('internal error: the fast splitter lost its place in the input');
      }
    }
    this.mode = GENERAL;
    this.general = general;
    this.pending = '';
    this.isClosing = false;
    const rest = from === 0 ? s : s.slice(from);
    if (rest.length > 0) this.deliver(general.push(rest), visitor);
  }

  private deliver(outputs: readonly SplitOutput[], visitor: SplitVisitor): void {
    for (const out of outputs) visitor.output(out);
  }
}
