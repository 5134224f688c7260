/**
 * From text to CloudTrail records, without Node: a streaming JSON splitter and the envelope logic.
 *
 * 1. `splitJsonRecords` (or the `JsonRecordSplitter` class it wraps) cuts a stream of text into
 *    JSON values WITHOUT parsing them and without holding more than one value in memory:
 *    - the elements of a top-level array (`[rec, rec, …]`)                      → kind `document`
 *    - the elements of the `Records` array of a top-level object whose key
 *      `Records` is written plainly (`{"Records":[rec, …]}`), whatever its place → kind `record`
 *    - every other top-level value, collected whole (JSON lines, concatenated
 *      JSON, a single record, an envelope)                                        → kind `document`
 *    It tracks only string/escape state and bracket depth, so a value that is not valid JSON still
 *    comes out (and fails `JSON.parse` later) as long as its brackets balance.
 * 2. `expandSplitItem` parses one item; a `record` item is yielded as is when it is an object, a
 *    `document` goes through `expandDocument`, which classifies it: a record, a CloudTrail log file
 *    object, an EventBridge envelope, or a CloudWatch Logs subscription payload (encoded or decoded).
 *
 * Recovery from bad input (never throws on any input):
 * - a value that fails `JSON.parse` is reported and skipped; its neighbours are unaffected;
 * - JSON lines: once one value has been seen alone on its line, a line that ends inside a value is
 *   reported and reading restarts on the next line;
 * - a `{` at the very start of a line where no value may start (inside a string, or after a
 *   member) means the previous line was cut short: it is reported and reading restarts at the `{`;
 * - text that is not JSON at top level is reported once and skipped line by line;
 * - a value over `maxValueChars` is reported (E_READ_TOO_LARGE) and skipped without being held.
 * After a problem the splitter stays quiet until it next yields an item, so one bad region gives one
 * problem.
 *
 * Byte offsets are UTF-8 byte offsets of the text fed in (exact for valid UTF-8 input; a leading
 * U+FEFF counts as its 3 bytes, so feed text decoded with `ignoreBOM: true` to keep offsets exact).
 */

import { quoteForMessage } from '../core/quote.js';

// Kept here for the modules and tests that import it from the splitter (it moved to core for sources).
export { quoteForMessage };

/** Default cap on one JSON value collected whole, in UTF-16 characters (about bytes for ASCII). */
export const DEFAULT_MAX_VALUE_CHARS = 64 * 1024 * 1024;

/** Envelopes inside envelopes are peeled at most this deep. */
const MAX_ENVELOPE_DEPTH = 4;

export interface SplitOptions {
  /** Cap on one value's text; larger values are reported and skipped. Default 64 Mi characters. */
  readonly maxValueChars?: number;
}

/** One JSON value cut out of the stream, not yet parsed. */
export interface SplitItem {
  /** `record`: an element of a top-level `Records` array; `document`: anything else, to classify. */
  readonly kind: 'record' | 'document';
  /** The value's JSON text, as written (surrounding whitespace removed). */
  readonly text: string;
  /** Zero-based ordinal of this value in the stream (elements and top-level values alike). */
  readonly index: number;
  /** UTF-8 byte offset of the value's first character. */
  readonly byteOffset: number;
}

export type SplitProblemCode = 'E_READ_JSON' | 'E_READ_TOO_LARGE' | 'E_READ_EMPTY';

export interface SplitProblem {
  readonly kind: 'problem';
  readonly code: SplitProblemCode;
  readonly message: string;
  readonly byteOffset: number;
  /** The ordinal the value would have had, when the problem is one value. */
  readonly index?: number;
}

export type SplitOutput = SplitItem | SplitProblem;

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const NEWLINE = 0x0a;
const CARRIAGE_RETURN = 0x0d;
const TAB = 0x09;
const SPACE = 0x20;
const BOM = 0xfeff;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const COMMA = 0x2c;
const COLON = 0x3a;

/** Between top-level values. */
const TOP = 0;
/** Inside a top-level object collected whole; its depth-1 keys are watched for `Records`. */
const OBJECT = 1;
/** Inside a streamed array (top-level, or a top-level object's `Records`): elements come out one by one. */
const ARRAY = 2;
/** Inside the object that held a streamed `Records` array, after the array: skipped. */
const TAIL = 3;
/** Inside an oversized top-level value: skipped without being held. */
const SKIP_VALUE = 4;
/** After text that is not JSON: skipped up to the end of the line. */
const SKIP_LINE = 5;

/** Where a depth-1 key of a top-level object stands. */
const KEY_EXPECTED = 0;
const KEY_READING = 1;
const KEY_READ = 2;
const KEY_COLON = 3;
const KEY_OTHER = 4;

/** The longest raw key text kept while watching for `Records`. */
const MAX_KEY_CHARS = 16;

function isSpace(c: number): boolean {
  return c === SPACE || c === NEWLINE || c === CARRIAGE_RETURN || c === TAB || c === BOM;
}

/** `text.indexOf(search, from)`, or `text.length` when absent. */
function indexOrEnd(text: string, search: string, from: number): number {
  const at = text.indexOf(search, from);
  return at < 0 ? text.length : at;
}

/** UTF-8 length of one UTF-16 code unit (a surrogate pair counts 4 on its high half). */
function utf8Units(c: number): number {
  if (c < 0x80) return 1;
  if (c < 0x800) return 2;
  if (c >= 0xd800 && c <= 0xdbff) return 4;
  if (c >= 0xdc00 && c <= 0xdfff) return 0;
  return 3;
}

/** UTF-8 length of a string (exact for well-formed text). */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    bytes += c < 0x80 ? 1 : utf8Units(c);
  }
  return bytes;
}

function describeChar(c: number): string {
  return c >= 0x21 && c < 0x7f ? `'${String.fromCharCode(c)}'` : `U+${c.toString(16).toUpperCase().padStart(4, '0')}`;
}

/**
 * The splitter as a push parser: feed text with `push`, then call `end` once. Each call returns the
 * items and problems found, in input order. Holds at most one value's text (plus the current chunk).
 */
export class JsonRecordSplitter {
  private readonly maxValueChars: number;
  private readonly out: SplitOutput[] = [];

  // Position.
  private chunk = '';
  private chunkByteStart = 0;
  private scanIndex = 0;
  private scanBytes = 0;

  // Lexical state.
  private phase = TOP;
  private depth = 0;
  private inString = false;
  private escaped = false;
  /** Last character outside strings that was not whitespace (a closing quote counts as `"`). */
  private lastSignificant = 0;
  private atLineStart = true;

  // Line handling.
  private isLineMode = false;
  private wasLastValueSingleLine = false;
  private hasValueNewline = false;

  // The current top-level value.
  private valueByteOffset = 0;

  // Watching a top-level object's depth-1 keys.
  private keyState = KEY_OTHER;
  private keyText = '';
  private keyFrom = 0;

  // A streamed array.
  private streamDepth = 0;
  private itemKind: SplitItem['kind'] = 'document';
  private isInElement = false;
  private isElementOversized = false;
  /** The last element ended with a comma, so another element must follow before `]`. */
  private hasPendingComma = false;
  private elementByteOffset = 0;

  // Text being collected (a whole top-level object or one array element).
  private isCapturing = false;
  private captureFrom = 0;
  private captureParts: string[] = [];
  private captureChars = 0;

  private itemIndex = 0;
  private hasContent = false;
  private isQuiet = false;

  constructor(options: SplitOptions = {}) {
    this.maxValueChars = options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS;
  }

  /** Feeds the next piece of text (any size; may split characters, tokens and values anywhere). */
  push(text: string): SplitOutput[] {
    this.out.length = 0;
    this.scan(text);
    return this.out.splice(0);
  }

  /** Signals the end of input; reports an unfinished value or an empty input. */
  end(): SplitOutput[] {
    this.out.length = 0;
    switch (this.phase) {
      case OBJECT:
      case SKIP_VALUE:
        this.problem('E_READ_JSON', `input ends inside the JSON object that starts at byte ${this.valueByteOffset}`, this.valueByteOffset);
        break;
      case ARRAY:
        if (this.isInElement) {
          this.problem('E_READ_JSON', `input ends inside value #${this.itemIndex}, which starts at byte ${this.elementByteOffset}`, this.elementByteOffset, this.itemIndex);
        } else {
          this.problem('E_READ_JSON', `input ends before the array that starts at byte ${this.valueByteOffset} is closed`, this.valueByteOffset);
        }
        break;
      case TAIL:
        this.problem('E_READ_JSON', `input ends before the object that starts at byte ${this.valueByteOffset} is closed`, this.valueByteOffset);
        break;
      default:
        break;
    }
    if (!this.hasContent) this.problem('E_READ_EMPTY', 'input is empty (no JSON value in it)', this.chunkByteStart + this.scanBytes);
    this.resetToTop();
    return this.out.splice(0);
  }

  private scan(s: string): void {
    this.chunk = s;
    this.scanIndex = 0;
    this.scanBytes = 0;
    const n = s.length;
    // Positions of the next backslash and line feed at or after the scan point (valid while >= i).
    let nextBackslash = -1;
    let nextNewline = -1;
    for (let i = 0; i < n; i++) {
      const c = s.charCodeAt(i);
      if (this.atLineStart) {
        this.atLineStart = false;
        if (c === OPEN_BRACE && this.phase !== TOP && this.phase !== SKIP_LINE && (this.inString || !this.mayStartValue())) {
          this.abandonValue('the next line starts a new value before this one is closed');
        }
      }
      if (this.inString) {
        if (this.escaped) {
          this.escaped = false;
          continue;
        }
        // Hot path: jump to the next quote, backslash or line feed (indexOf is far faster than a loop).
        if (nextBackslash < i) nextBackslash = indexOrEnd(s, '\\', i);
        if (nextNewline < i) nextNewline = indexOrEnd(s, '\n', i);
        const j = Math.min(indexOrEnd(s, '"', i), nextBackslash, nextNewline);
        if (j === n) break;
        i = j;
        const d = s.charCodeAt(j);
        if (d === BACKSLASH) this.escaped = true;
        else if (d === QUOTE) this.closeString(i);
        else this.newline();
        continue;
      }
      switch (this.phase) {
        case TOP:
          this.atTop(c, i);
          break;
        case OBJECT:
          this.inObject(c, i);
          break;
        case ARRAY:
          this.inArray(c, i);
          break;
        case TAIL:
        case SKIP_VALUE:
          this.inSkippedValue(c);
          break;
        default:
          if (c === NEWLINE) this.newline();
          break;
      }
    }
    if (this.isCapturing) {
      const piece = s.slice(this.captureFrom);
      this.captureParts.push(piece);
      this.captureChars += piece.length;
      this.captureFrom = 0;
      if (this.captureChars > this.maxValueChars) this.captureOverflow();
    }
    if (this.phase === OBJECT && this.keyState === KEY_READING) {
      this.appendKey(s.slice(this.keyFrom));
      this.keyFrom = 0;
    }
    this.chunkByteStart = this.byteAt(n);
    this.scanIndex = 0;
    this.scanBytes = 0;
    this.chunk = '';
  }

  private atTop(c: number, i: number): void {
    if (isSpace(c)) {
      if (c === NEWLINE) this.newline();
      return;
    }
    this.hasContent = true;
    this.lastSignificant = c;
    if (c === OPEN_BRACE || c === OPEN_BRACKET) {
      this.valueByteOffset = this.byteAt(i);
      this.hasValueNewline = false;
      this.wasLastValueSingleLine = false;
      this.depth = 1;
      if (c === OPEN_BRACE) {
        this.phase = OBJECT;
        this.keyState = KEY_EXPECTED;
        this.startCapture(i);
      } else {
        this.openStream(1, 'document');
      }
      return;
    }
    const at = this.byteAt(i);
    this.problem('E_READ_JSON', `not JSON: unexpected ${describeChar(c)} at byte ${at} where a JSON object or array should start`, at);
    this.phase = SKIP_LINE;
  }

  private inObject(c: number, i: number): void {
    if (isSpace(c)) {
      if (c === NEWLINE) this.newline();
      return;
    }
    const atMemberLevel = this.depth === 1;
    this.lastSignificant = c;
    switch (c) {
      case QUOTE:
        this.inString = true;
        if (atMemberLevel && this.keyState === KEY_EXPECTED) {
          this.keyState = KEY_READING;
          this.keyText = '';
          this.keyFrom = i + 1;
        } else if (atMemberLevel) {
          this.keyState = KEY_OTHER;
        }
        return;
      case OPEN_BRACKET:
        if (atMemberLevel && this.keyState === KEY_COLON && this.keyText === 'Records') {
          this.dropCapture();
          this.depth = 2;
          this.openStream(2, 'record');
          return;
        }
        this.depth++;
        if (atMemberLevel) this.keyState = KEY_OTHER;
        return;
      case OPEN_BRACE:
        this.depth++;
        if (atMemberLevel) this.keyState = KEY_OTHER;
        return;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        this.depth--;
        if (this.depth <= 0) {
          const text = this.takeCapture(i + 1);
          this.endTopValue();
          if (text !== undefined) this.emit('document', text, this.valueByteOffset);
        }
        return;
      case COLON:
        if (atMemberLevel && this.keyState === KEY_READ) this.keyState = KEY_COLON;
        return;
      case COMMA:
        if (atMemberLevel) this.keyState = KEY_EXPECTED;
        return;
      default:
        if (atMemberLevel) this.keyState = KEY_OTHER;
    }
  }

  private inArray(c: number, i: number): void {
    if (isSpace(c)) {
      if (c === NEWLINE) this.newline();
      return;
    }
    this.lastSignificant = c;
    if (!this.isInElement) {
      // Between elements, right after `[` or a comma.
      if (c === COMMA) {
        this.emptyElement(i);
        return;
      }
      if (c === CLOSE_BRACKET) {
        if (this.hasPendingComma) this.emptyElement(i);
        this.closeStream();
        return;
      }
      this.isInElement = true;
      this.isElementOversized = false;
      this.hasPendingComma = false;
      this.elementByteOffset = this.byteAt(i);
      this.startCapture(i);
      if (c === OPEN_BRACE || c === OPEN_BRACKET) this.depth++;
      else if (c === QUOTE) this.inString = true;
      return;
    }
    switch (c) {
      case QUOTE:
        this.inString = true;
        return;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        this.depth++;
        return;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        if (this.depth > this.streamDepth) {
          this.depth--;
        } else if (c === CLOSE_BRACKET) {
          this.endElement(i);
          this.closeStream();
        }
        // A `}` at the array's own level stays in the element's text, which then fails to parse.
        return;
      case COMMA:
        if (this.depth === this.streamDepth) {
          this.endElement(i);
          this.hasPendingComma = true;
        }
        return;
      default:
        return;
    }
  }

  private inSkippedValue(c: number): void {
    switch (c) {
      case NEWLINE:
        this.newline();
        return;
      case QUOTE:
        this.inString = true;
        break;
      case OPEN_BRACE:
      case OPEN_BRACKET:
        this.depth++;
        break;
      case CLOSE_BRACE:
      case CLOSE_BRACKET:
        this.depth--;
        if (this.depth <= 0) this.endTopValue();
        break;
      default:
        if (isSpace(c)) return;
    }
    this.lastSignificant = c;
  }

  private openStream(depth: number, kind: SplitItem['kind']): void {
    this.phase = ARRAY;
    this.streamDepth = depth;
    this.itemKind = kind;
    this.isInElement = false;
    this.hasPendingComma = false;
  }

  private closeStream(): void {
    this.hasPendingComma = false;
    if (this.streamDepth === 1) {
      this.endTopValue();
    } else {
      this.phase = TAIL;
      this.depth = this.streamDepth - 1;
    }
  }

  private endElement(i: number): void {
    this.isInElement = false;
    if (this.isElementOversized) {
      this.isElementOversized = false;
      return;
    }
    const text = this.takeCapture(i);
    if (text === undefined) return;
    this.emit(this.itemKind, text.trimEnd(), this.elementByteOffset);
  }

  private emptyElement(i: number): void {
    const at = this.byteAt(i);
    this.problem('E_READ_JSON', `empty array element (two commas, or a comma before ']') at byte ${at}`, at);
  }

  private endTopValue(): void {
    this.wasLastValueSingleLine = !this.hasValueNewline;
    this.resetToTop();
  }

  private closeString(i: number): void {
    this.inString = false;
    this.lastSignificant = QUOTE;
    if (this.phase === OBJECT && this.keyState === KEY_READING) {
      this.appendKey(this.chunk.slice(this.keyFrom, i));
      this.keyState = KEY_READ;
    }
  }

  private appendKey(piece: string): void {
    if (this.keyText.length <= MAX_KEY_CHARS) this.keyText += piece.slice(0, MAX_KEY_CHARS + 1);
  }

  /** A line feed, inside or outside a string. */
  private newline(): void {
    this.atLineStart = true;
    if (this.phase === TOP) {
      if (this.wasLastValueSingleLine) this.isLineMode = true;
      return;
    }
    if (this.phase === SKIP_LINE) {
      this.phase = TOP;
      return;
    }
    if (this.isLineMode) {
      this.abandonValue('the line ends before the value is closed (JSON lines)');
      return;
    }
    this.hasValueNewline = true;
  }

  /** Whether a value may legally start after the last significant character. */
  private mayStartValue(): boolean {
    const c = this.lastSignificant;
    return c === OPEN_BRACKET || c === COMMA || c === COLON;
  }

  /** Reports the current value as unfinished and goes back to top level. */
  private abandonValue(why: string): void {
    if (this.phase === ARRAY && this.isInElement && !this.isElementOversized) {
      this.problem('E_READ_JSON', `unfinished value #${this.itemIndex} at byte ${this.elementByteOffset}: ${why}`, this.elementByteOffset, this.itemIndex);
      this.itemIndex++;
    } else {
      this.problem('E_READ_JSON', `unfinished JSON value at byte ${this.valueByteOffset}: ${why}`, this.valueByteOffset);
    }
    this.resetToTop();
  }

  private resetToTop(): void {
    this.phase = TOP;
    this.depth = 0;
    this.inString = false;
    this.escaped = false;
    this.isInElement = false;
    this.isElementOversized = false;
    this.keyState = KEY_OTHER;
    this.dropCapture();
  }

  private startCapture(i: number): void {
    this.isCapturing = true;
    this.captureFrom = i;
    this.captureParts = [];
    this.captureChars = 0;
  }

  private dropCapture(): void {
    this.isCapturing = false;
    this.captureParts = [];
    this.captureChars = 0;
  }

  /** The captured text up to `end` (exclusive), or undefined when it is over the cap (reported). */
  private takeCapture(end: number): string | undefined {
    if (!this.isCapturing) return undefined;
    const tail = this.chunk.slice(this.captureFrom, end);
    if (this.captureChars + tail.length > this.maxValueChars) {
      this.captureOverflow();
      this.isElementOversized = false;
      return undefined;
    }
    const text = this.captureParts.length === 0 ? tail : this.captureParts.join('') + tail;
    this.dropCapture();
    return text;
  }

  private captureOverflow(): void {
    const limit = `over the ${this.maxValueChars}-character limit for one value`;
    if (this.phase === ARRAY) {
      this.problem('E_READ_TOO_LARGE', `value #${this.itemIndex} at byte ${this.elementByteOffset} is ${limit}; skipped`, this.elementByteOffset, this.itemIndex);
      this.itemIndex++;
      this.isElementOversized = true;
    } else {
      this.problem('E_READ_TOO_LARGE', `the JSON value at byte ${this.valueByteOffset} is ${limit}; skipped`, this.valueByteOffset);
      if (this.phase === OBJECT) this.phase = SKIP_VALUE;
    }
    this.dropCapture();
  }

  /** UTF-8 byte offset of index `i` of the current chunk (calls must mostly go forward). */
  private byteAt(i: number): number {
    if (i < this.scanIndex) {
      this.scanIndex = 0;
      this.scanBytes = 0;
    }
    const s = this.chunk;
    let bytes = this.scanBytes;
    for (let j = this.scanIndex; j < i; j++) {
      const c = s.charCodeAt(j);
      bytes += c < 0x80 ? 1 : utf8Units(c);
    }
    this.scanIndex = i;
    this.scanBytes = bytes;
    return this.chunkByteStart + bytes;
  }

  private emit(kind: SplitItem['kind'], text: string, byteOffset: number): void {
    this.out.push({ kind, text, index: this.itemIndex++, byteOffset });
    this.isQuiet = false;
  }

  private problem(code: SplitProblemCode, message: string, byteOffset: number, index?: number): void {
    if (this.isQuiet && code !== 'E_READ_EMPTY') return;
    this.out.push(index === undefined ? { kind: 'problem', code, message, byteOffset } : { kind: 'problem', code, message, byteOffset, index });
    this.isQuiet = true;
  }
}

/**
 * Splits a stream of text into JSON values (see the file comment). Problems go to `onProblem` in
 * input order relative to the items yielded; the generator itself only throws what `chunks` throws.
 */
export async function* splitJsonRecords(chunks: AsyncIterable<string>, onProblem: (problem: SplitProblem) => void, options: SplitOptions = {}): AsyncGenerator<SplitItem> {
  const splitter = new JsonRecordSplitter(options);
  for await (const chunk of chunks) {
    for (const out of splitter.push(chunk)) {
      if (out.kind === 'problem') onProblem(out);
      else yield out;
    }
  }
  for (const out of splitter.end()) {
    if (out.kind === 'problem') onProblem(out);
    else yield out;
  }
}

// ---------------------------------------------------------------------------------------------
// Envelopes

/** A record peeled out of a document: the parsed object and its JSON text. */
export interface ExpandedRecord {
  readonly value: unknown;
  readonly text: string;
}

export type ExpandProblemCode = 'E_READ_JSON' | 'E_READ_GZIP' | 'E_READ_TOO_LARGE' | 'E_READ_NOT_CLOUDTRAIL' | 'E_READ_ENVELOPE';

export interface ExpandProblem {
  readonly code: ExpandProblemCode;
  readonly message: string;
}

/** What one document holds: its records, in order, and what was wrong with the rest of it. */
export interface Expansion {
  readonly records: ExpandedRecord[];
  readonly problems: ExpandProblem[];
}

export interface ExpandOptions {
  /** Cap on a decoded CloudWatch Logs payload, in bytes. Default 64 MiB. */
  readonly maxValueChars?: number;
}

type JsonRecordObject = Record<string, unknown>;

function isObject(value: unknown): value is JsonRecordObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(object: JsonRecordObject, key: string): unknown {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'object') return 'an object';
  return typeof value === 'number' ? 'a number' : typeof value === 'string' ? 'a string' : typeof value === 'boolean' ? 'a boolean' : typeof value;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** Keys (any case) that make an object look like a CloudTrail record. */
const RECORD_KEYS = new Set(['eventname', 'eventtime', 'eventsource', 'eventid', 'eventversion']);

/**
 * Whether an object looks like a CloudTrail record: it has eventName, eventTime, eventSource,
 * eventID or eventVersion, in any letter case (the normaliser rejects the wrong case, with a
 * message about it; here lower-case keys must still come through).
 */
export function isRecordShaped(value: JsonRecordObject): boolean {
  if (Object.hasOwn(value, 'eventName') || Object.hasOwn(value, 'eventTime')) return true;
  for (const key in value) {
    if (Object.hasOwn(value, key) && key.length <= 12 && RECORD_KEYS.has(key.toLowerCase())) return true;
  }
  return false;
}

function keysSummary(value: JsonRecordObject): string {
  const keys = Object.keys(value);
  if (keys.length === 0) return 'an empty object';
  const shown = keys.slice(0, 4).map((k) => quoteForMessage(k, 30)).join(', ');
  return `an object with keys ${shown}${keys.length > 4 ? ', …' : ''}`;
}

const NOT_CLOUDTRAIL = 'not a CloudTrail record or envelope';

/** `where: ` for messages about a place inside a document ('' at the document itself). */
function at(where: string): string {
  return where === '' ? '' : `${where}: `;
}

/** A place inside `where`, e.g. `awslogs.data → logEvents[2].message`. */
function inside(where: string, part: string): string {
  return where === '' ? part : `${where} → ${part}`;
}

class Expander {
  readonly records: ExpandedRecord[] = [];
  readonly problems: ExpandProblem[] = [];

  constructor(private readonly maxBytes: number) {}

  problem(code: ExpandProblemCode, message: string): void {
    this.problems.push({ code, message });
  }

  record(value: JsonRecordObject, text: string | undefined, where: string): void {
    if (text !== undefined) {
      this.records.push({ value, text });
      return;
    }
    try {
      this.records.push({ value, text: JSON.stringify(value) });
    } catch {
      // JSON.stringify overflows the stack on values nested tens of thousands deep.
      this.problem('E_READ_TOO_LARGE', `${where === '' ? 'the record' : where} is nested too deeply to handle; skipped`);
    }
  }

  async expand(value: unknown, text: string | undefined, where: string, depth: number): Promise<void> {
    if (depth > MAX_ENVELOPE_DEPTH) {
      this.problem('E_READ_ENVELOPE', `${at(where)}arrays or envelopes nested more than ${MAX_ENVELOPE_DEPTH} deep; not read`);
      return;
    }
    if (Array.isArray(value)) {
      for (let i = 0; i < value.length; i++) await this.expand(value[i], undefined, `${where}[${i}]`, depth + 1);
      return;
    }
    if (!isObject(value)) {
      this.problem('E_READ_NOT_CLOUDTRAIL', `${at(where)}${describeValue(value)} is ${NOT_CLOUDTRAIL}`);
      return;
    }
    const records = own(value, 'Records');
    if (Array.isArray(records)) {
      this.logFile(records, where);
      return;
    }
    const awslogs = own(value, 'awslogs');
    if (awslogs !== undefined) {
      await this.cloudWatchEncoded(awslogs, inside(where, 'awslogs.data'), depth);
      return;
    }
    const messageType = own(value, 'messageType');
    if (typeof messageType === 'string' && (Object.hasOwn(value, 'logEvents') || messageType === 'CONTROL_MESSAGE')) {
      await this.cloudWatchDecoded(value, messageType, where, depth);
      return;
    }
    const detailType = own(value, 'detail-type');
    if (typeof detailType === 'string' && Object.hasOwn(value, 'detail')) {
      this.eventBridge(value, detailType, where);
      return;
    }
    if (isRecordShaped(value)) {
      this.record(value, text, where);
      return;
    }
    this.problem('E_READ_NOT_CLOUDTRAIL', `${at(where)}${keysSummary(value)} is ${NOT_CLOUDTRAIL}`);
  }

  logFile(records: readonly unknown[], where: string): void {
    for (let i = 0; i < records.length; i++) {
      const element = records[i];
      if (isObject(element)) this.record(element, undefined, inside(where, `Records[${i}]`));
      else this.problem('E_READ_NOT_CLOUDTRAIL', `${inside(where, `Records[${i}]`)} is ${describeValue(element)}, not a record object`);
    }
  }

  eventBridge(envelope: JsonRecordObject, detailType: string, where: string): void {
    if (!detailType.endsWith(' via CloudTrail')) {
      this.problem('E_READ_NOT_CLOUDTRAIL', `${at(where)}an EventBridge event with detail-type ${quoteForMessage(detailType, 60)} is not a CloudTrail event`);
      return;
    }
    const detail = own(envelope, 'detail');
    if (isObject(detail)) this.record(detail, undefined, inside(where, 'detail'));
    else this.problem('E_READ_ENVELOPE', `${inside(where, 'detail')} is ${describeValue(detail)}, not a CloudTrail record`);
  }

  async cloudWatchEncoded(awslogs: unknown, where: string, depth: number): Promise<void> {
    const data = isObject(awslogs) ? own(awslogs, 'data') : undefined;
    if (typeof data !== 'string') {
      this.problem('E_READ_ENVELOPE', `${where} is ${describeValue(data)}, not the base64 text of a CloudWatch Logs payload`);
      return;
    }
    let bytes: Uint8Array;
    try {
      const binary = atob(data);
      bytes = new Uint8Array(binary.length);
      for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
    } catch {
      this.problem('E_READ_ENVELOPE', `${where} is not valid base64`);
      return;
    }
    const inflated = await gunzipText(bytes, this.maxBytes);
    if (!inflated.ok) {
      this.problem(inflated.code, `${where} ${inflated.message}`);
      return;
    }
    let payload: unknown;
    try {
      payload = JSON.parse(inflated.text);
    } catch (error) {
      this.problem('E_READ_JSON', `${where} decodes to invalid JSON: ${quoteForMessage(errorText(error), 120)}`);
      return;
    }
    await this.expand(payload, undefined, where, depth + 1);
  }

  async cloudWatchDecoded(message: JsonRecordObject, messageType: string, where: string, depth: number): Promise<void> {
    if (messageType === 'CONTROL_MESSAGE') return;
    if (messageType !== 'DATA_MESSAGE') {
      this.problem('E_READ_NOT_CLOUDTRAIL', `${at(where)}a CloudWatch Logs message of type ${quoteForMessage(messageType, 40)} is not DATA_MESSAGE or CONTROL_MESSAGE`);
      return;
    }
    const events = own(message, 'logEvents');
    if (!Array.isArray(events)) {
      this.problem('E_READ_ENVELOPE', `${inside(where, 'logEvents')} is ${describeValue(events)}, not an array`);
      return;
    }
    for (let i = 0; i < events.length; i++) {
      const event: unknown = events[i];
      const text = isObject(event) ? own(event, 'message') : undefined;
      const place = inside(where, `logEvents[${i}].message`);
      if (typeof text !== 'string') {
        this.problem('E_READ_ENVELOPE', `${place} is ${describeValue(text)}, not the text of a record`);
        continue;
      }
      let value: unknown;
      try {
        value = JSON.parse(text);
      } catch (error) {
        this.problem('E_READ_JSON', `${place} is not JSON (${quoteForMessage(errorText(error), 100)}), so ${NOT_CLOUDTRAIL}`);
        continue;
      }
      await this.expand(value, text, place, depth + 1);
    }
  }
}

/** Gunzips bytes with the platform's DecompressionStream, stopping at `maxBytes` of output. */
async function gunzipText(bytes: Uint8Array, maxBytes: number): Promise<{ ok: true; text: string } | { ok: false; code: 'E_READ_GZIP' | 'E_READ_TOO_LARGE'; message: string }> {
  const stream = new DecompressionStream('gzip');
  const writer = stream.writable.getWriter();
  // Failures surface on the reading side; these promises only need handling.
  writer.write(bytes).catch(() => undefined);
  writer.close().catch(() => undefined);
  // Typed loosely by the platform declarations: a gzip DecompressionStream yields Uint8Array chunks.
  const reader = (stream.readable as ReadableStream<Uint8Array>).getReader();
  const decoder = new TextDecoder('utf-8');
  const parts: string[] = [];
  let total = 0;
  try {
    for (;;) {
      const { done, value } = await reader.read();
      if (done) break;
      total += value.byteLength;
      if (total > maxBytes) {
        await reader.cancel().catch(() => undefined);
        return { ok: false, code: 'E_READ_TOO_LARGE', message: `decompresses to more than ${maxBytes} bytes; skipped` };
      }
      parts.push(decoder.decode(value, { stream: true }));
    }
  } catch (error) {
    return { ok: false, code: 'E_READ_GZIP', message: `is not valid gzip data (${quoteForMessage(errorText(error), 80)})` };
  }
  parts.push(decoder.decode());
  return { ok: true, text: parts.join('') };
}

/**
 * Classifies one parsed top-level document and peels its envelopes:
 * - `{"Records": [...]}`: every object element is a record (other elements are problems);
 * - EventBridge (`detail-type` ending in ` via CloudTrail`): `detail` is the record;
 * - CloudWatch Logs subscription payload, `{"awslogs": {"data": base64(gzip(JSON))}}` or decoded
 *   `{"messageType": "DATA_MESSAGE", "logEvents": [{"message": "<record JSON>"}]}`: each message is
 *   parsed and classified; `CONTROL_MESSAGE` gives nothing and no problem;
 * - an array: each element is classified;
 * - an object with eventName/eventTime/eventSource/eventID/eventVersion (any case): a record;
 * - anything else: E_READ_NOT_CLOUDTRAIL.
 * `text` is the document's JSON text, used as the record text when the document is itself a record.
 * Never throws.
 */
export async function expandDocument(value: unknown, text?: string, options: ExpandOptions = {}): Promise<Expansion> {
  const expander = new Expander(options.maxValueChars ?? DEFAULT_MAX_VALUE_CHARS);
  try {
    await expander.expand(value, text, '', 0);
  } catch (error) {
    // Not expected (every step checks its input), but a document must never stop a scan.
    expander.problem('E_READ_ENVELOPE', `could not read the document: ${quoteForMessage(errorText(error), 120)}`);
  }
  return { records: expander.records, problems: expander.problems };
}

/** The result of parsing one item's text: the value, or the E_READ_JSON problem. */
function parseItem(item: SplitItem): { readonly ok: true; readonly value: unknown } | { readonly ok: false; readonly expansion: Expansion } {
  try {
    return { ok: true, value: JSON.parse(item.text) };
  } catch (error) {
    return { ok: false, expansion: { records: [], problems: [{ code: 'E_READ_JSON', message: `value #${item.index} at byte ${item.byteOffset} is not valid JSON: ${quoteForMessage(errorText(error), 120)}` }] } };
  }
}

/**
 * `expandSplitItem` for a `record` item (an element of a `Records` array), synchronously: it must
 * parse to an object. For callers that expand many records per chunk without an await each.
 */
export function expandRecordItem(item: SplitItem): Expansion {
  const parsed = parseItem(item);
  if (!parsed.ok) return parsed.expansion;
  const value = parsed.value;
  if (isObject(value)) return { records: [{ value, text: item.text }], problems: [] };
  return { records: [], problems: [{ code: 'E_READ_NOT_CLOUDTRAIL', message: `value #${item.index} in Records (byte ${item.byteOffset}) is ${describeValue(value)}, not a record object` }] };
}

/** Parses one split item and expands it: `record` items must be objects; `document`s are classified. */
export async function expandSplitItem(item: SplitItem, options: ExpandOptions = {}): Promise<Expansion> {
  if (item.kind === 'record') return expandRecordItem(item);
  const parsed = parseItem(item);
  if (!parsed.ok) return parsed.expansion;
  return expandDocument(parsed.value, item.text, options);
}
