/**
 * The scan's prefilter: from the compiled rules, a test on a record's raw JSON text that proves,
 * without parsing it, that the record cannot match any query of any rule and would normalise
 * cleanly. Such a record is counted (as a record and as an event) and skipped; every other record
 * is parsed, normalised and given to the engine as usual. The scan's results are the same either
 * way (`--no-prefilter` turns it off to check).
 *
 * What a record must show for the skip (anything else, and it is parsed):
 * - no `\u` escape anywhere in its text. Other escapes only write characters that no literal
 *   contains (`"` `\` `/` and control characters), so every string value of the record, and every
 *   key, then appears in the text exactly as `JSON.parse` gives it;
 * - its own (top-level) `eventName` and `eventTime` members, found by the splitter's scan
 *   (record-splitter.ts: the last of duplicate keys, as `JSON.parse` keeps), with plain string
 *   values: a non-empty name, and a time `parseEventTime` accepts (so normalising cannot fail);
 * - for every query of every enabled rule, either the query's event names (the rule index's
 *   analysis, src/engine/rule-index.ts) do not include the record's `eventName`, or one clause of
 *   the query's required literals (`requiredLiterals`, src/query/analyse.ts) has none of its
 *   strings in the record's text. A query without provable literals, and without event names,
 *   makes every record a candidate.
 * Literals are only taken from terms on fields whose values are copies of (or pieces of) raw string
 * values. A term on an attribute the normaliser makes up proves nothing (`status`, `level`,
 * `source`, or a derived attribute not known here), unless none of the values it can make up
 * matches the term: `@userIdentity.session_name:i-*` keeps its literal `i-` (a session name is a
 * piece of the ARN or the user name, or `root`, which `i-*` does not match).
 *
 * A skipped record is not checked to be valid JSON: a corrupt record that could not match any rule
 * anyway is counted as read, not reported as bad input. (The splitter's own checks still apply:
 * a value that does not end, or is not followed by `,` or `]`, is handled by the general path.)
 */
import type { JsonObject } from '../core/types.js';
import type { QueryNode, TermNode } from '../query/ast.js';
import { requiredLiterals } from '../query/analyse.js';
import { compileAst } from '../query/compile.js';
import type { CompiledRule } from '../rules/model.js';
import { queryEventNames } from '../engine/rule-index.js';
import { FIELD_CATALOGUE } from '../fields/catalogue.js';
import { parseEventTime } from '../normalise/normalise.js';
import type { RecordFacts } from './record-splitter.js';

/**
 * The prefilter as plain data, built once from the rules on the main thread and sent to the
 * workers (functions cannot cross threads).
 */
export interface PrefilterPlan {
  /**
   * Per event name, the literal tests of the queries that name it, each already reduced by the
   * name itself; `null` when one of those queries has nothing left to test (every record of that
   * name is a candidate).
   */
  readonly byName: readonly (readonly [name: string, tests: readonly LiteralTest[] | null])[];
  /** The literal tests of the queries that name no event, tried on every record; `null`: one has none. */
  readonly everyName: readonly LiteralTest[] | null;
}

/** A conjunction of disjunctions: every clause must have one of its strings in the text. */
export type LiteralTest = readonly (readonly string[])[];

/** Derived attributes whose every value is a raw string value, or a piece of one. */
const COPIED_ATTRIBUTES: ReadonlySet<string> = new Set([
  'evt.name',
  'http.useragent',
  'network.client.ip',
  'error.kind',
  'error.message',
  'usr.account_id',
  'host',
  'target.instance_ids',
  'userIdentity.assumed_role',
]);

/**
 * Derived attributes whose values are made up by the normaliser (they need not be in the text),
 * with every value they can take other than copies: `session_name` is a piece of the ARN or the
 * user name, or `root`.
 */
const MADE_UP_VALUES: ReadonlyMap<string, readonly string[]> = new Map([
  ['source', ['cloudtrail']],
  ['service', ['cloudtrail']],
  ['status', ['info', 'error']],
  ['level', ['Info', 'Error']],
  ['userIdentity.session_name', ['root']],
]);

const DERIVED_PATHS = FIELD_CATALOGUE.filter((spec) => spec.origin === 'derived').map((spec) => spec.path);
const OWNED_TOP_LEVEL = new Set(DERIVED_PATHS.filter((path) => !path.startsWith('userIdentity.')).map((path) => path.split('.')[0] ?? path));
const OWNED_IDENTITY_KEYS = new Set(DERIVED_PATHS.filter((path) => path.startsWith('userIdentity.')).map((path) => path.split('.')[1] ?? path));

/** Whether the attribute at `path` is one the normaliser derives (or would replace). */
function isDerivedPath(path: string): boolean {
  const [first, second] = path.split('.');
  if (first !== undefined && OWNED_TOP_LEVEL.has(first)) return true;
  return first === 'userIdentity' && second !== undefined && OWNED_IDENTITY_KEYS.has(second);
}

/** Whether every value of the attribute at `path` appears verbatim in the record's JSON text. */
export function isCopiedAttribute(path: string): boolean {
  return COPIED_ATTRIBUTES.has(path) || !isDerivedPath(path);
}

/** `{a: {b: value}}` for the path `a.b`. */
function fieldsWith(path: string, value: string): JsonObject {
  const keys = path.split('.');
  let fields: JsonObject = {};
  const root = fields;
  keys.forEach((key, i) => {
    if (i === keys.length - 1) {
      fields[key] = value;
    } else {
      const inner: JsonObject = {};
      fields[key] = inner;
      fields = inner;
    }
  });
  return root;
}

/**
 * Whether the term's literals are sound on raw text: its attribute is copied from the record, or
 * it is made up but the term matches none of the made-up values (so a matching value is a copy).
 */
function hasLiteralsInText(term: TermNode): boolean {
  const path = term.field.path;
  if (isCopiedAttribute(path)) return true;
  const madeUp = MADE_UP_VALUES.get(path);
  if (madeUp === undefined) return false;
  const query = compileAst(term, term.field.written);
  return !madeUp.some((value) => query.matches(fieldsWith(path, value)));
}

/** The query with every term whose literals prove nothing replaced by "anything". */
function onCopiedAttributes(node: QueryNode): QueryNode {
  switch (node.kind) {
    case 'and':
    case 'or':
      return { ...node, children: node.children.map(onCopiedAttributes) };
    case 'not':
      return { ...node, child: onCopiedAttributes(node.child) };
    case 'term':
      return hasLiteralsInText(node) ? node : { kind: 'all', column: node.column };
    default:
      return node;
  }
}

/** The literal test of a query, minus the clauses the event name already satisfies. */
function reduceByName(test: LiteralTest, name: string): LiteralTest {
  return test.filter((clause) => !clause.some((literal) => name.includes(literal)));
}

/** Builds the prefilter plan of the enabled rules. */
export function planPrefilter(rules: readonly CompiledRule[]): PrefilterPlan {
  const named = new Map<string, LiteralTest[] | null>();
  let everyName: LiteralTest[] | null = [];
  for (const rule of rules) {
    if (!rule.isEnabled) continue;
    for (const { query } of rule.queries) {
      let test: LiteralTest;
      let names: ReadonlySet<string> | null;
      try {
        test = requiredLiterals(onCopiedAttributes(query.ast));
        names = queryEventNames(query);
      } catch {
        // An analysis that fails proves nothing: every record is a candidate.
        test = [];
        names = null;
      }
      if (names === null) {
        if (test.length === 0) everyName = null;
        else everyName?.push(test);
        continue;
      }
      for (const name of names) {
        const reduced = reduceByName(test, name);
        const tests = named.has(name) ? named.get(name) : [];
        if (tests === null || tests === undefined) continue;
        if (reduced.length === 0) named.set(name, null);
        else named.set(name, [...tests, reduced]);
      }
    }
  }
  return { byName: [...named], everyName };
}

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function digit(s: string, i: number): number {
  const d = s.charCodeAt(i) - 0x30;
  return d >= 0 && d <= 9 ? d : -1000;
}

/** `YYYY-MM-DDTHH:MM:SSZ` at `s[start, start+20)` that is a real UTC time (what CloudTrail writes). */
function isCanonicalTime(s: string, start: number): boolean {
  const year = digit(s, start) * 1000 + digit(s, start + 1) * 100 + digit(s, start + 2) * 10 + digit(s, start + 3);
  const month = digit(s, start + 5) * 10 + digit(s, start + 6);
  const day = digit(s, start + 8) * 10 + digit(s, start + 9);
  const hour = digit(s, start + 11) * 10 + digit(s, start + 12);
  const minute = digit(s, start + 14) * 10 + digit(s, start + 15);
  const second = digit(s, start + 17) * 10 + digit(s, start + 18);
  if (year < 0 || month < 1 || month > 12 || day < 1 || hour < 0 || hour > 23 || minute < 0 || minute > 59 || second < 0 || second > 59) return false;
  if (s.charCodeAt(start + 4) !== 0x2d || s.charCodeAt(start + 7) !== 0x2d || s.charCodeAt(start + 10) !== 0x54) return false;
  if (s.charCodeAt(start + 13) !== 0x3a || s.charCodeAt(start + 16) !== 0x3a || s.charCodeAt(start + 19) !== 0x5a) return false;
  const isLeap = year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0);
  const days = month === 2 && isLeap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
  return day <= days;
}

/** Whether `parseEventTime` accepts the text `s[start, end)`. */
export function isValidEventTime(s: string, start: number, end: number): boolean {
  if (end - start === 20 && isCanonicalTime(s, start)) return true;
  return parseEventTime(s.slice(start, end)) !== undefined;
}

interface CompiledTest {
  /** Position among all tests (for counting how often it passes). */
  readonly id: number;
  /** Per clause, the ids of its literals. */
  readonly clauses: readonly (readonly number[])[];
}

/** Event names whose list of tests is kept ready at most (names are attacker-chosen). */
const MAX_CACHED_NAMES = 4096;

/** Records between two re-orderings of the tests (most often passing first, to stop early). */
const REORDER_EVERY = 65536;

/** The prefilter at work; one per thread. Not reentrant (it keeps per-record scratch state). */
export class Prefilter {
  private readonly literals: string[] = [];
  private readonly literalIds = new Map<string, number>();
  private readonly named: ReadonlyMap<string, readonly CompiledTest[] | null>;
  private readonly everyName: readonly CompiledTest[] | null;
  /** Per event name: the tests a record of that name must fail, reduced by the name; null: none can be failed. */
  private readonly byName = new Map<string, readonly CompiledTest[] | null>();
  /** Per test: how many records it let through (its place in the lists above follows it). */
  private passCounts = new Float64Array(0);
  private sinceReorder = 0;
  private testCount = 0;
  /** Per literal: the record (generation) it was last looked for in, and whether it was found. */
  private readonly seenIn: Uint32Array;
  private readonly found: Uint8Array;
  private generation = 0;
  private element = '';
  private elementText = '';
  private elementStart = -1;
  private elementEnd = -1;
  /** Where the next `\u` of `escapeText` is at or after `escapeFrom` (its length when none). */
  private escapeText = '';
  private escapeFrom = 0;
  private nextEscape = -1;

  constructor(plan: PrefilterPlan) {
    const compile = (test: LiteralTest): CompiledTest => ({ id: this.testCount++, clauses: test.map((clause) => clause.map((literal) => this.idOf(literal))) });
    this.named = new Map(plan.byName.map(([name, tests]) => [name, tests === null ? null : tests.map(compile)]));
    this.everyName = plan.everyName === null ? null : plan.everyName.map(compile);
    this.passCounts = new Float64Array(this.testCount);
    this.seenIn = new Uint32Array(this.literals.length);
    this.found = new Uint8Array(this.literals.length);
  }

  /** Whether some rule could need every record (then nothing is ever skipped). */
  get isUseless(): boolean {
    return this.everyName === null;
  }

  /**
   * True when the record whose text is `text.slice(start, end)`, scanned into `facts`, can be
   * skipped (see the file comment); false when it must be parsed. `text` may be a whole chunk:
   * calls on the same text must come in increasing `start` order.
   */
  canSkip(text: string, start: number, end: number, facts: RecordFacts): boolean {
    if (this.everyName === null) return false;
    const { nameStart, nameEnd, timeStart, timeEnd } = facts;
    if (nameStart < 0 || timeStart < 0 || nameEnd <= nameStart) return false;
    if (this.hasUnicodeEscape(text, start, end)) return false;
    if (!isValidEventTime(text, timeStart, timeEnd)) return false;
    const tests = this.testsFor(text.slice(nameStart, nameEnd));
    if (tests === null) return false;
    if (++this.sinceReorder >= REORDER_EVERY) {
      this.sinceReorder = 0;
      this.byName.clear();
    }
    this.generation++;
    if (this.generation === 0xffffffff) {
      this.seenIn.fill(0);
      this.generation = 1;
    }
    this.elementText = text;
    this.elementStart = start;
    this.elementEnd = end;
    this.element = '';
    for (const test of tests) {
      if (this.passes(test)) {
        this.passCounts[test.id] = (this.passCounts[test.id] ?? 0) + 1;
        return false;
      }
    }
    return true;
  }

  /** The tests a record named `name` must all fail to be skipped, most often passing first. */
  private testsFor(name: string): readonly CompiledTest[] | null {
    const cached = this.byName.get(name);
    if (cached !== undefined) return cached;
    const named = this.named.get(name);
    let tests: CompiledTest[] | null = null;
    if (named !== null) {
      tests = [...(named ?? [])];
      for (const test of this.everyName ?? []) {
        // Clauses that a literal of the name meets are met by the record's text (the name is in it).
        const clauses = test.clauses.filter((clause) => !clause.some((id) => name.includes(this.literals[id] ?? '\u0000')));
        if (clauses.length === 0) {
          tests = null;
          break;
        }
        tests.push(clauses.length === test.clauses.length ? test : { id: test.id, clauses });
      }
      tests?.sort((a, b) => (this.passCounts[b.id] ?? 0) - (this.passCounts[a.id] ?? 0));
    }
    if (this.byName.size < MAX_CACHED_NAMES) this.byName.set(name, tests);
    return tests;
  }

  private idOf(literal: string): number {
    let id = this.literalIds.get(literal);
    if (id === undefined) {
      id = this.literals.length;
      this.literals.push(literal);
      this.literalIds.set(literal, id);
    }
    return id;
  }

  private hasUnicodeEscape(text: string, start: number, end: number): boolean {
    if (text !== this.escapeText || start < this.escapeFrom) {
      this.escapeText = text;
      this.nextEscape = -1;
    }
    this.escapeFrom = start;
    if (this.nextEscape < start) {
      const at = text.indexOf('\\u', start);
      this.nextEscape = at < 0 ? text.length : at;
    }
    return this.nextEscape < end;
  }

  private passes(test: CompiledTest): boolean {
    for (const clause of test.clauses) {
      let isMet = false;
      for (const id of clause) {
        if (this.contains(id)) {
          isMet = true;
          break;
        }
      }
      if (!isMet) return false;
    }
    return true;
  }

  private contains(id: number): boolean {
    if (this.seenIn[id] === this.generation) return this.found[id] === 1;
    if (this.element === '') this.element = this.elementText.slice(this.elementStart, this.elementEnd);
    const isFound = this.element.includes(this.literals[id] ?? '');
    this.seenIn[id] = this.generation;
    this.found[id] = isFound ? 1 : 0;
    return isFound;
  }
}
