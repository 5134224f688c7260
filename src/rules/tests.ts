/**
 * Rule tests (docs/rule-tests.md): a rule file's `tests:` list, checked at load time, and the runner
 * that builds each test's events from named base records, runs the rule under test alone over them
 * and compares the signals with what the test expects.
 *
 * Pure: no `node:`. The caller reads rule files and base files and passes `{path, text}` pairs. The
 * engine is passed in (`createEngine` from src/engine/engine.ts): the rules layer sits below the
 * engine and may not import it.
 *
 * Records are attacker-controlled data: nothing here evaluates a value, keys are copied as plain
 * keys (a `__proto__` key stays a key), and no input makes the runner throw.
 */
import type { Diagnostic, Severity, Signal, SourcePosition, TrailEvent } from '../core/types.js';
import { normaliseRecord, parseEventTime } from '../normalise/normalise.js';
import { loadRules } from './load.js';
import type { LoadedRules, RuleFile } from './load.js';
import type { CompiledRule } from './model.js';
import { formatPath, readRuleFile } from './read.js';
import type { DocumentPath, Locator } from './read.js';
import { RULE_TEST_BASE_FIELDS, RULE_TEST_EVENT_FIELDS, RULE_TEST_FIELDS, ruleTestBaseSchema, ruleTestSchema } from './schema.js';
import { closestName } from './suggest.js';

/** Every diagnostic code about rule tests and base records. docs/rule-tests.md lists the same table. */
export const RULE_TEST_DIAGNOSTIC_CODES = {
  E_RULE_TEST_SCHEMA: { severity: 'error', meaning: 'A test is malformed: `tests` is not a list, a field is missing, mistyped or unknown, an event has both or neither of `base` and `event`, or the expectations contradict each other.' },
  E_RULE_TEST_DUPLICATE_NAME: { severity: 'error', meaning: 'Two tests in one file have the same name.' },
  E_RULE_TEST_GROUP: { severity: 'error', meaning: "A test's `group` does not name exactly the rule's group-by fields, so no signal could ever match it." },
  E_RULE_TEST_BASE: { severity: 'error', meaning: 'A test names a base record that does not exist (the hint suggests the closest name).' },
  E_RULE_TEST_BASE_FILE: { severity: 'error', meaning: 'A base record file is not valid: bad JSON, not `{"source", "licence", "record"}`, or a base name defined twice.' },
  W_RULE_TEST_BASE_SOURCE: { severity: 'warning', meaning: "A base file's `source` does not end in `#<eventID>` of its record." },
} as const satisfies Record<string, { severity: 'error' | 'warning'; meaning: string }>;

export type RuleTestDiagnosticCode = keyof typeof RULE_TEST_DIAGNOSTIC_CODES;

/** One event of a test, as written (checked). */
export interface RuleTestEvent {
  readonly base?: string;
  readonly event?: Readonly<Record<string, unknown>>;
  readonly patch?: Readonly<Record<string, unknown>>;
  /** Seconds after the previous event's eventTime. */
  readonly after?: number;
  /** Where the `base` value is written, for diagnostics. */
  readonly basePosition?: SourcePosition;
}

/** One test of a rule, as written (checked), with where it is written. */
export interface RuleTest {
  readonly name: string;
  readonly expect: 'signal' | 'none';
  readonly signals?: number;
  readonly severity?: Severity;
  readonly title?: string;
  readonly group?: Readonly<Record<string, string>>;
  readonly events: readonly RuleTestEvent[];
  /** Position in the rule's `tests` list; generated eventIDs are `<rule id>/<index>/<event index>`. */
  readonly index: number;
  /** Path of the test in its file, e.g. `['tests', 2]`. */
  readonly path: DocumentPath;
  readonly position?: SourcePosition;
}

/** What `runRuleTests` needs of the detection engine (src/engine/engine.ts's `createEngine` fits). */
export interface RuleTestEngine {
  ingest(event: TrailEvent): void;
  finish(): unknown;
  signals(): Signal[];
}
export type RuleTestEngineFactory = (rules: readonly CompiledRule[]) => RuleTestEngine;

export interface RuleTestResult {
  readonly name: string;
  readonly passed: boolean;
  /** What differed from the expectations (empty when the test passed). */
  readonly failures: readonly string[];
  /** The signals the rule raised. */
  readonly signals: readonly Signal[];
}

/** The checked tests of one rule document, whether or not the rule itself compiled. */
export interface RuleTestSuite {
  readonly file: string;
  readonly tests?: readonly RuleTest[];
}

export interface LoadedRulesWithTests extends LoadedRules {
  /** Every rule document's checked tests, also of rules left out for an error (their bases can still be checked). */
  readonly testSuites: RuleTestSuite[];
}

export interface LoadedRuleTestBases {
  /** Base name → the record. */
  readonly bases: ReadonlyMap<string, unknown>;
  /** Base name → the file it was read from. */
  readonly files: ReadonlyMap<string, string>;
  readonly diagnostics: Diagnostic[];
}

const TEST_KEYS = Object.keys(RULE_TEST_FIELDS);
const EVENT_KEYS = Object.keys(RULE_TEST_EVENT_FIELDS);
const BASE_FILE_KEYS = Object.keys(RULE_TEST_BASE_FIELDS);
const DOCS = 'see docs/rule-tests.md';

type PlainObject = Record<string, unknown>;

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function isObject(value: unknown): value is PlainObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describeValue(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

/** Set a key as a plain own property, whatever its name (`__proto__` included). */
function setKey(target: PlainObject, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** A deep copy of JSON-like data: plain objects and arrays are copied, anything else is shared. */
export function cloneRecordValue(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(cloneRecordValue);
  if (!isObject(value)) return value;
  const out: PlainObject = {};
  for (const [key, item] of Object.entries(value)) setKey(out, key, cloneRecordValue(item));
  return out;
}

/**
 * `patch` deep-merged into a copy of `target`: objects merge key by key, arrays and other values
 * replace, `null` deletes the key. Neither input is modified.
 */
export function mergePatch(target: Readonly<PlainObject>, patch: Readonly<PlainObject>): PlainObject {
  const out = cloneRecordValue(target) as PlainObject;
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) {
      delete out[key];
    } else if (isObject(value)) {
      const current = Object.hasOwn(out, key) ? out[key] : undefined;
      setKey(out, key, mergePatch(isObject(current) ? current : {}, value));
    } else {
      setKey(out, key, cloneRecordValue(value));
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Checking the `tests` list of rule files.

class TestReporter {
  constructor(
    readonly file: string,
    readonly locator: Locator,
    readonly out: Diagnostic[],
  ) {}

  error(code: RuleTestDiagnosticCode, message: string, path: DocumentPath, hint: string, atKey = false): void {
    const position = atKey ? this.locator.keyAt(path) : this.locator.valueAt(path);
    this.out.push({
      code,
      severity: RULE_TEST_DIAGNOSTIC_CODES[code].severity,
      message,
      file: this.file,
      path: formatPath(path),
      ...(position !== undefined ? { position } : {}),
      hint,
    });
  }
}

function checkKeys(value: PlainObject, known: readonly string[], path: DocumentPath, reporter: TestReporter, what: string): boolean {
  let isClean = true;
  for (const key of Object.keys(value)) {
    if (known.includes(key)) continue;
    isClean = false;
    const suggestion = closestName(key, known);
    reporter.error('E_RULE_TEST_SCHEMA', `unknown field '${key}' in ${what}`, [...path, key], suggestion !== undefined ? `did you mean '${suggestion}'?` : `the fields of ${what} are: ${known.join(', ')}`, true);
  }
  return isClean;
}

function segments(path: readonly PropertyKey[]): (string | number)[] {
  return path.filter((s): s is string | number => typeof s === 'string' || typeof s === 'number');
}

/** True when nothing is written at `path` inside `value` (the field is missing, not mistyped). */
function isAbsent(value: unknown, path: readonly (string | number)[]): boolean {
  let current = value;
  for (const segment of path) {
    if (Array.isArray(current) && typeof segment === 'number') current = current[segment];
    else if (isObject(current) && typeof segment === 'string' && Object.hasOwn(current, segment)) current = current[segment];
    else return true;
  }
  return current === undefined;
}

/** Zod issues as diagnostics: a missing field says so, anything else quotes zod. */
function issueMessages(value: unknown, issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string }[], prefix: DocumentPath): { path: DocumentPath; message: string; isMissing: boolean }[] {
  return issues.map((issue) => {
    const inner = segments(issue.path);
    const path = [...prefix, ...inner];
    const isMissing = isAbsent(value, inner);
    return { path, isMissing, message: isMissing ? `'${formatPath(path)}' is required` : `'${formatPath(path)}': ${issue.message}` };
  });
}

/** Check one test; the test when it has no error, else undefined. */
function checkTest(raw: unknown, index: number, path: DocumentPath, reporter: TestReporter, names: Map<string, SourcePosition | undefined>, rule: CompiledRule | undefined): RuleTest | undefined {
  if (!isObject(raw)) {
    reporter.error('E_RULE_TEST_SCHEMA', `expected a test (a mapping with name, expect and events), found ${describeValue(raw)}`, path, DOCS);
    return undefined;
  }
  const before = reporter.out.length;
  checkKeys(raw, TEST_KEYS, path, reporter, 'a test');

  const parsed = ruleTestSchema.safeParse(raw);
  if (!parsed.success) {
    for (const issue of issueMessages(raw, parsed.error.issues, path)) {
      reporter.error('E_RULE_TEST_SCHEMA', issue.message, issue.path, issue.isMissing ? `add the field (${DOCS})` : DOCS);
    }
  }

  const rawEvents = raw['events'];
  const events: RuleTestEvent[] = [];
  if (Array.isArray(rawEvents)) {
    rawEvents.forEach((event: unknown, j) => {
      const eventPath = [...path, 'events', j];
      if (!isObject(event)) return; // zod reported it
      checkKeys(event, EVENT_KEYS, eventPath, reporter, 'a test event');
      const hasBase = event['base'] !== undefined;
      const hasEvent = event['event'] !== undefined;
      if (hasBase && hasEvent) {
        reporter.error('E_RULE_TEST_SCHEMA', 'a test event has both base and event', [...eventPath, 'event'], 'give either base (a named record) or event (a whole inline record), not both', true);
      } else if (!hasBase && !hasEvent) {
        reporter.error('E_RULE_TEST_SCHEMA', 'a test event needs base (a named record) or event (a whole inline record)', eventPath, `for example: - base: stratus-cloudtrail-stop (${DOCS})`);
      }
      if (j === 0 && event['after'] !== undefined) {
        reporter.error('E_RULE_TEST_SCHEMA', "the first event of a test has no previous event for 'after' to count from", [...eventPath, 'after'], 'remove after from the first event (it keeps the base record’s eventTime), or set eventTime in its patch', true);
      }
      const basePosition = reporter.locator.valueAt([...eventPath, 'base']);
      events.push({
        ...(typeof event['base'] === 'string' ? { base: event['base'] } : {}),
        ...(isObject(event['event']) ? { event: event['event'] } : {}),
        ...(isObject(event['patch']) ? { patch: event['patch'] } : {}),
        ...(typeof event['after'] === 'number' ? { after: event['after'] } : {}),
        ...(hasBase && basePosition !== undefined ? { basePosition } : {}),
      });
    });
  }

  const name = typeof raw['name'] === 'string' && raw['name'] !== '' ? raw['name'] : undefined;
  if (name !== undefined) {
    if (names.has(name)) {
      const first = names.get(name);
      reporter.error('E_RULE_TEST_DUPLICATE_NAME', `two tests are named '${name}'${first ? ` (the first at line ${first.line})` : ''}`, [...path, 'name'], 'give every test of a file its own name: it is how a failure is reported');
    } else {
      names.set(name, reporter.locator.valueAt([...path, 'name']));
    }
  }

  // Checks across fields read the raw values, so that they are reported even beside a type error.
  const expect = raw['expect'];
  const count = raw['signals'];
  if (expect === 'none') {
    if (typeof count === 'number' && count > 0) {
      reporter.error('E_RULE_TEST_SCHEMA', `the test expects no signal but also ${plural(count, 'signal')}`, [...path, 'signals'], 'use expect: signal with signals: N, or remove signals');
    }
    for (const key of ['severity', 'title', 'group'] as const) {
      if (raw[key] !== undefined) {
        reporter.error('E_RULE_TEST_SCHEMA', `'${key}' checks the signals raised, but the test expects none`, [...path, key], `remove ${key}, or use expect: signal`, true);
      }
    }
  } else if (expect === 'signal' && count === 0) {
    reporter.error('E_RULE_TEST_SCHEMA', 'the test expects a signal but also 0 signals', [...path, 'signals'], 'use expect: none for a test where the rule must stay quiet');
  }
  const group = raw['group'];
  if (isObject(group) && rule !== undefined && expect !== 'none') {
    const wanted = rule.groupByFields;
    const given = Object.keys(group);
    const suggested = new Set<string>();
    for (const key of given) {
      if (wanted.includes(key)) continue;
      const suggestion = closestName(key, wanted);
      if (suggestion !== undefined) suggested.add(suggestion);
      reporter.error('E_RULE_TEST_GROUP', `the rule does not group by '${key}'`, [...path, 'group', key], suggestion !== undefined ? `did you mean '${suggestion}'?` : wanted.length === 0 ? 'the rule has no groupByFields, so its signals have an empty group: remove group' : `the rule groups by: ${wanted.join(', ')}`, true);
    }
    // A misspelt field is reported once, with its suggestion, not also as missing. A rule with
    // groupSignalsBy gathers several groups in one signal: which fields its group keeps is the engine's call.
    const gathers = (rule.groupSignalsBy ?? []).length > 0;
    const missing = gathers ? [] : wanted.filter((field) => !given.includes(field) && !suggested.has(field));
    if (missing.length > 0) {
      reporter.error('E_RULE_TEST_GROUP', `group lacks ${missing.map((f) => `'${f}'`).join(', ')}, which the rule groups by`, [...path, 'group'], 'a signal matches group only when every group-by value is the same: give all of them');
    }
  }
  if (!parsed.success || reporter.out.slice(before).some((d) => d.severity === 'error')) return undefined;
  const test = parsed.data;

  const position = reporter.locator.valueAt(path);
  return {
    name: test.name,
    expect: test.expect,
    ...(test.signals !== undefined ? { signals: test.signals } : {}),
    ...(test.severity !== undefined ? { severity: test.severity } : {}),
    ...(test.title !== undefined ? { title: test.title } : {}),
    ...(test.group !== undefined ? { group: test.group } : {}),
    events,
    index,
    path,
    ...(position !== undefined ? { position } : {}),
  };
}

/**
 * Check a rule document's `tests` value (at `rulePath` in its file). Every problem is reported;
 * the tests without error are returned (none when `tests` is absent). `names` collects the test
 * names of the whole file (they must be unique in it). `rule` is the compiled rule, when it
 * compiled, for the checks that need it (the group-by fields).
 */
export function checkRuleTests(raw: unknown, rulePath: DocumentPath, reporter: { file: string; locator: Locator; out: Diagnostic[] }, names: Map<string, SourcePosition | undefined>, rule?: CompiledRule): RuleTest[] {
  const testReporter = new TestReporter(reporter.file, reporter.locator, reporter.out);
  const path = [...rulePath, 'tests'];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    testReporter.error('E_RULE_TEST_SCHEMA', `'${formatPath(path)}' must be a list of tests, found ${describeValue(raw)}`, path, `write each test as a list item: - name: …, expect: …, events: … (${DOCS})`);
    return [];
  }
  const tests: RuleTest[] = [];
  raw.forEach((item: unknown, index) => {
    const test = checkTest(item, index, [...path, index], testReporter, names, rule);
    if (test !== undefined) tests.push(test);
  });
  return tests;
}

/** A rule document found in a file: the same walk as the loader's (plain rules, lists, Datadog envelopes). */
interface RuleDocument {
  readonly value: unknown;
  readonly path: DocumentPath;
  readonly exportId?: string;
  readonly locator: Locator;
}

function ruleDocuments(value: unknown, path: DocumentPath, locator: Locator, out: RuleDocument[]): void {
  if (Array.isArray(value)) {
    value.forEach((item: unknown, i) => ruleDocument(item, [...path, i], locator, out));
    return;
  }
  ruleDocument(value, path, locator, out);
}

function ruleDocument(value: unknown, path: DocumentPath, locator: Locator, out: RuleDocument[]): void {
  if (!(isObject(value) && 'data' in value && !('queries' in value) && !('name' in value))) {
    out.push({ value, path, locator });
    return;
  }
  const data = value['data'];
  const inData = (item: unknown, itemPath: DocumentPath): void => {
    if (isObject(item) && isObject(item['attributes'])) {
      const id = item['id'];
      out.push({ value: item['attributes'], path: [...itemPath, 'attributes'], locator, ...(typeof id === 'string' && id !== '' ? { exportId: id } : {}) });
    } else {
      out.push({ value: item, path: itemPath, locator });
    }
  };
  if (Array.isArray(data)) data.forEach((item: unknown, i) => inData(item, [...path, 'data', i]));
  else inData(data, [...path, 'data']);
}

function baseName(path: string): string {
  const name = path.split(/[\\/]/).pop() ?? path;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

function byPosition(a: Diagnostic, b: Diagnostic): number {
  const la = a.position?.line ?? 0;
  const lb = b.position?.line ?? 0;
  return la !== lb ? la - lb : (a.position?.column ?? 0) - (b.position?.column ?? 0);
}

/**
 * `loadRules`, plus the rule tests: every file's `tests:` lists are checked (E_RULE_TEST_*
 * diagnostics, merged into each file's diagnostics by position) and each compiled rule carries its
 * tests. A test problem never keeps the rule from loading; it is an error all the same.
 */
export function loadRulesWithTests(files: readonly RuleFile[]): LoadedRulesWithTests {
  const loaded = loadRules(files);
  const byFileAndId = new Map<string, CompiledRule>();
  for (const rule of loaded.rules) byFileAndId.set(`${rule.file}\u0000${rule.id}`, rule);
  const testsOf = new Map<CompiledRule, RuleTest[]>();
  const extra = new Map<string, Diagnostic[]>();
  const testSuites: RuleTestSuite[] = [];

  for (const file of files) {
    const out: Diagnostic[] = [];
    const documents: RuleDocument[] = [];
    for (const doc of readRuleFile(file).documents) ruleDocuments(doc.value, [], doc.locator, documents);
    const names = new Map<string, SourcePosition | undefined>();
    const fileBase = baseName(file.path);
    documents.forEach((doc, index) => {
      if (!isObject(doc.value) || !('tests' in doc.value)) return;
      const ownId = doc.value['id'];
      const id = typeof ownId === 'string' && ownId !== '' ? ownId : (doc.exportId ?? (documents.length > 1 ? `${fileBase}-${index + 1}` : fileBase));
      const rule = byFileAndId.get(`${file.path}\u0000${id}`);
      const tests = checkRuleTests(doc.value['tests'], doc.path, { file: file.path, locator: doc.locator, out }, names, rule);
      testSuites.push({ file: file.path, tests });
      if (rule !== undefined && !testsOf.has(rule)) testsOf.set(rule, tests);
    });
    extra.set(file.path, [...(extra.get(file.path) ?? []), ...out]);
  }

  const rules = loaded.rules.map((rule) => {
    const tests = testsOf.get(rule);
    return tests === undefined ? rule : { ...rule, tests };
  });
  const diagnostics: Diagnostic[] = [];
  const seen = new Set<string>();
  const perFile = new Map<string, Diagnostic[]>();
  const unfiled: Diagnostic[] = [];
  for (const d of loaded.diagnostics) {
    if (d.file !== undefined && extra.has(d.file)) perFile.set(d.file, [...(perFile.get(d.file) ?? []), d]);
    else unfiled.push(d);
  }
  for (const file of files) {
    if (seen.has(file.path)) continue;
    seen.add(file.path);
    diagnostics.push(...[...(perFile.get(file.path) ?? []), ...(extra.get(file.path) ?? [])].sort(byPosition));
  }
  diagnostics.push(...unfiled);
  return { rules, diagnostics, testSuites };
}

// ---------------------------------------------------------------------------------------------
// Base records.

/**
 * Read base record files (`bases/<name>.json`; the name is the file name without `.json`). A file
 * with a problem is reported (E_RULE_TEST_BASE_FILE) and left out; a name defined by two files
 * keeps the first.
 */
export function loadRuleTestBases(files: readonly RuleFile[]): LoadedRuleTestBases {
  const bases = new Map<string, unknown>();
  const from = new Map<string, string>();
  const diagnostics: Diagnostic[] = [];
  const report = (file: string, code: RuleTestDiagnosticCode, message: string, hint: string, position?: SourcePosition, path?: DocumentPath): void => {
    diagnostics.push({
      code,
      severity: RULE_TEST_DIAGNOSTIC_CODES[code].severity,
      message,
      file,
      ...(path !== undefined && path.length > 0 ? { path: formatPath(path) } : {}),
      ...(position !== undefined ? { position } : {}),
      hint,
    });
  };
  for (const file of files) {
    const name = baseName(file.path);
    const read = readRuleFile(file);
    for (const d of read.diagnostics) report(file.path, 'E_RULE_TEST_BASE_FILE', d.message, 'a base file is one JSON object: {"source": …, "licence": …, "record": {…}}', d.position);
    if (read.diagnostics.length > 0) continue;
    const [doc, ...others] = read.documents;
    if (doc === undefined || others.length > 0) {
      report(file.path, 'E_RULE_TEST_BASE_FILE', doc === undefined ? 'the base file is empty' : 'the base file holds several documents', 'a base file is one JSON object: {"source": …, "licence": …, "record": {…}}');
      continue;
    }
    const value = doc.value;
    if (!isObject(value)) {
      report(file.path, 'E_RULE_TEST_BASE_FILE', `expected {"source", "licence", "record"}, found ${describeValue(value)}`, 'wrap the CloudTrail record: {"source": "<fixture>#<eventID>", "licence": "…", "record": {…}}', doc.locator.valueAt([]));
      continue;
    }
    let hasError = false;
    for (const key of Object.keys(value)) {
      if (BASE_FILE_KEYS.includes(key)) continue;
      hasError = true;
      const suggestion = closestName(key, BASE_FILE_KEYS);
      report(file.path, 'E_RULE_TEST_BASE_FILE', `unknown field '${key}' in a base file`, suggestion !== undefined ? `did you mean '${suggestion}'?` : `the fields of a base file are: ${BASE_FILE_KEYS.join(', ')}`, doc.locator.keyAt([key]), [key]);
    }
    const parsed = ruleTestBaseSchema.safeParse(value);
    if (!parsed.success) {
      hasError = true;
      for (const issue of issueMessages(value, parsed.error.issues, [])) {
        report(file.path, 'E_RULE_TEST_BASE_FILE', issue.message, 'a base file is {"source": "<fixture>#<eventID>", "licence": "…", "record": {…the record…}}', doc.locator.valueAt(issue.path), issue.path);
      }
    }
    if (hasError || !parsed.success) continue;
    const eventId = parsed.data.record['eventID'];
    const hash = parsed.data.source.lastIndexOf('#');
    if (typeof eventId === 'string' && (hash < 0 || parsed.data.source.slice(hash + 1) !== eventId)) {
      report(file.path, 'W_RULE_TEST_BASE_SOURCE', `source does not end in '#${eventId}', the eventID of the record`, 'write source as <fixture path relative to test/fixtures/cloudtrail>#<eventID>, so the record can be found in its corpus', doc.locator.valueAt(['source']), ['source']);
    }
    const first = from.get(name);
    if (first !== undefined) {
      report(file.path, 'E_RULE_TEST_BASE_FILE', `base '${name}' is already defined by ${first}`, 'rename one of the two files: a base is named by its file name', doc.locator.valueAt([]));
      continue;
    }
    bases.set(name, parsed.data.record);
    from.set(name, file.path);
  }
  return { bases, files: from, diagnostics };
}

/**
 * Every test event that names a base record the map does not hold (E_RULE_TEST_BASE, with the
 * closest name). Takes compiled rules or the `testSuites` of `loadRulesWithTests`.
 */
export function checkRuleTestBases(suites: readonly RuleTestSuite[], bases: ReadonlyMap<string, unknown>): Diagnostic[] {
  const out: Diagnostic[] = [];
  for (const rule of suites) {
    for (const test of rule.tests ?? []) {
      test.events.forEach((event, j) => {
        if (event.base === undefined || bases.has(event.base)) return;
        const suggestion = closestName(event.base, bases.keys());
        out.push({
          code: 'E_RULE_TEST_BASE',
          severity: 'error',
          message: `test '${test.name}' names the base record '${event.base}', which does not exist`,
          file: rule.file,
          path: formatPath([...test.path, 'events', j, 'base']),
          ...(event.basePosition !== undefined ? { position: event.basePosition } : {}),
          hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : `bases are the .json files of rules/bases/ and of a bases/ folder beside your rules (${bases.size} known)`,
        });
      });
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// Running tests.

/** ISO 8601 as CloudTrail writes it: whole seconds without a fraction. */
function cloudTrailTime(ms: number): string {
  const iso = new Date(ms).toISOString();
  return iso.endsWith('.000Z') ? `${iso.slice(0, -5)}Z` : iso;
}

/** The largest |epoch ms| a Date can hold. */
const MAX_TIME_MS = 8.64e15;

/**
 * The records of one test: each a deep copy of its base (or inline) record, then `patch`
 * deep-merged, then `after` applied, with a fresh eventID `<rule id>/<test index>/<event index>`
 * unless the patch sets one. `problems` says why a record could not be built (an unknown base…).
 */
export function buildRuleTestRecords(ruleId: string, test: Pick<RuleTest, 'index' | 'events'>, bases: ReadonlyMap<string, unknown>): { records: PlainObject[]; problems: string[] } {
  const records: PlainObject[] = [];
  const problems: string[] = [];
  test.events.forEach((event, j) => {
    let source: unknown;
    if (event.base !== undefined) {
      source = bases.get(event.base);
      if (source === undefined) {
        const suggestion = closestName(event.base, bases.keys());
        problems.push(`events[${j}]: there is no base record '${event.base}'${suggestion !== undefined ? ` (did you mean '${suggestion}'?)` : ''}`);
        return;
      }
    } else {
      source = event.event;
    }
    if (!isObject(source)) {
      problems.push(`events[${j}]: the ${event.base !== undefined ? `base record '${event.base}'` : 'inline event'} is not a JSON object`);
      return;
    }
    const record = mergePatch(source, event.patch ?? {});
    if (event.after !== undefined) {
      const previous = records[records.length - 1];
      const previousTime = previous?.['eventTime'];
      const start = typeof previousTime === 'string' ? parseEventTime(previousTime) : undefined;
      const time = start === undefined ? undefined : start + event.after * 1000;
      if (time === undefined || !Number.isFinite(time) || Math.abs(time) > MAX_TIME_MS) {
        problems.push(`events[${j}]: 'after' counts from the previous event's eventTime, which is ${previous === undefined ? 'missing (there is no previous event)' : start === undefined ? 'missing or not a valid time' : 'too far in the future'}`);
        return;
      }
      setKey(record, 'eventTime', cloudTrailTime(time));
    }
    if (!(event.patch !== undefined && Object.hasOwn(event.patch, 'eventID'))) setKey(record, 'eventID', `${ruleId}/${test.index}/${j}`);
    records.push(record);
  });
  return { records, problems };
}

const SHOWN_SIGNALS = 5;

function groupText(group: Readonly<Record<string, string>>): string {
  const entries = Object.entries(group);
  return entries.length === 0 ? '{}' : `{${entries.map(([k, v]) => `${k}: ${v}`).join(', ')}}`;
}

/** One line per signal: severity, title, group, events. */
export function summariseSignals(signals: readonly Signal[]): string {
  if (signals.length === 0) return 'none';
  const lines = signals.slice(0, SHOWN_SIGNALS).map((s) => `[${s.severity}] "${s.title}" group ${groupText(s.group)}, ${s.eventCount} event${s.eventCount === 1 ? '' : 's'}`);
  if (signals.length > SHOWN_SIGNALS) lines.push(`… and ${signals.length - SHOWN_SIGNALS} more`);
  return lines.join('; ');
}

function sameGroup(a: Readonly<Record<string, string>>, b: Readonly<Record<string, string>>): boolean {
  const keys = Object.keys(a);
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && b[k] === a[k]);
}

/** What differs between the test's expectations and the signals raised (empty: the test passes). */
export function checkExpectations(test: Pick<RuleTest, 'expect' | 'signals' | 'severity' | 'title' | 'group'>, signals: readonly Signal[]): string[] {
  const failures: string[] = [];
  const raised = `the rule raised ${plural(signals.length, 'signal')}`;
  if (test.expect === 'signal' && signals.length === 0) failures.push('expected a signal, but the rule raised none');
  if (test.expect === 'none' && signals.length > 0) failures.push(`expected no signal, but ${raised}: ${summariseSignals(signals)}`);
  if (test.signals !== undefined && signals.length !== test.signals) {
    failures.push(`expected ${plural(test.signals, 'signal')}, but ${raised}${signals.length > 0 ? `: ${summariseSignals(signals)}` : ''}`);
  }
  if (signals.length === 0) return failures;
  if (test.severity !== undefined) {
    const other = signals.filter((s) => s.severity !== test.severity);
    if (other.length > 0) failures.push(`expected every signal to have severity ${test.severity}, but ${plural(other.length, 'signal')} did not: ${summariseSignals(other)}`);
  }
  if (test.title !== undefined) {
    const title = test.title;
    const other = signals.filter((s) => !s.title.includes(title));
    if (other.length > 0) failures.push(`expected every signal title to contain "${title}", but ${plural(other.length, 'signal')} did not: ${summariseSignals(other)}`);
  }
  if (test.group !== undefined) {
    const group = test.group;
    if (!signals.some((s) => sameGroup(s.group, group))) failures.push(`expected a signal with group ${groupText(group)}, but ${raised}: ${summariseSignals(signals)}`);
  }
  return failures;
}

function errorText(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function runRuleTest(rule: CompiledRule, test: RuleTest, bases: ReadonlyMap<string, unknown>, createEngine: RuleTestEngineFactory): RuleTestResult {
  const { records, problems } = buildRuleTestRecords(rule.id, test, bases);
  if (problems.length > 0) return { name: test.name, passed: false, failures: problems, signals: [] };
  const failures: string[] = [];
  let signals: Signal[] = [];
  try {
    const engine = createEngine([rule]);
    records.forEach((record, j) => {
      const normalised = normaliseRecord(record, { source: `${rule.id} test ${test.index}`, index: j });
      if (normalised.ok) engine.ingest(normalised.event);
      else failures.push(`events[${j}]: the record is not one trailhound can read (${normalised.code}): ${normalised.message}`);
    });
    engine.finish();
    signals = engine.signals().filter((s) => s.ruleId === rule.id);
  } catch (error) {
    failures.push(`the engine failed: ${errorText(error)}`);
  }
  failures.push(...checkExpectations(test, signals));
  return { name: test.name, passed: failures.length === 0, failures, signals };
}

/**
 * Run the rule's tests: for each, build its events from `bases`, feed them (normalised, as `scan`
 * does) to a fresh engine holding only this rule — enabled, even if the rule is disabled — and
 * compare the rule's signals with the expectations. Never throws.
 */
export function runRuleTests(rule: CompiledRule, bases: ReadonlyMap<string, unknown>, createEngine: RuleTestEngineFactory): RuleTestResult[] {
  const runnable: CompiledRule = rule.isEnabled ? rule : { ...rule, isEnabled: true };
  return (rule.tests ?? []).map((test) => runRuleTest(runnable, test, bases, createEngine));
}
