/**
 * The rule loader: read → validate → compile, collecting EVERY problem of every file at once, each
 * with a stable code (src/rules/codes.ts), the file, the path inside the document, the line and
 * column, and a hint. Pure: the caller reads the files and passes `{path, text}` pairs.
 *
 * A file holds one rule (YAML or JSON), several (a YAML multi-document stream or a JSON array), or a
 * Datadog API export: the bare rule, `{"data": rule}`, `{"data": {"id", "type", "attributes": rule}}`
 * or a list response `{"data": [...]}`. A rule with an error is left out; the others are returned
 * (disabled ones too: the engine skips them).
 */
import type { Diagnostic, SourcePosition } from '../core/types.js';
import { formatDiagnostic, isSeverity } from '../core/types.js';
import type { Severity } from '../core/types.js';
import { TrailhoundError } from '../core/errors.js';
import { isKnownField, suggestField } from '../fields/catalogue.js';
import { referencedFields } from '../query/analyse.js';
import { compileQuery } from '../query/compile.js';
import type { CompiledRule, RuleCase, RuleQuery } from './model.js';
import { DATADOG_WINDOWS_SECONDS } from './model.js';
import { compileCondition } from './condition.js';
import { ANY_NEW_VALUE, checkNewValueOptions, checkQueryAggregation } from './aggregations.js';
import { formatPath, readRuleFile } from './read.js';
import type { DocumentPath, Locator } from './read.js';
import type { FieldInfo } from './schema.js';
import {
  CASE_FIELDS,
  DATADOG_DETECTION_METHODS,
  ENVELOPE_DATA_FIELDS,
  ENVELOPE_FIELDS,
  OPTIONS_FIELDS,
  QUERY_FIELDS,
  RULE_FIELDS,
  SUPPORTED_DETECTION_METHODS,
  SUPPORTED_RULE_TYPES,
  caseSchema,
  optionsSchema,
  querySchema,
  ruleTopSchema,
} from './schema.js';
import type { RuleCaseDocument, RuleOptionsDocument, RuleQueryDocument } from './schema.js';
import { closestName } from './suggest.js';
import { compileSequenceOptions } from './sequence-options.js';
import { compileTemplate } from './template.js';
import type { RuleTemplate } from './template.js';
import { extendQuery } from './query-extension.js';
import { composeTitle } from './title.js';
import { positionInText } from './position.js';
import { DocumentReporter } from './document-reporter.js';
import type { ReportOptions } from './document-reporter.js';

export interface RuleFile {
  readonly path: string;
  readonly text: string;
}

export interface LoadedRules {
  readonly rules: CompiledRule[];
  readonly diagnostics: Diagnostic[];
}

/** Query names are identifiers so that conditions can name them. */
const QUERY_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** `a`, `b`, … `z`, `aa`, `ab`, … for the query at `index`. */
export function defaultQueryName(index: number): string {
  let name = '';
  let n = index;
  do {
    name = String.fromCharCode(97 + (n % 26)) + name;
    n = Math.floor(n / 26) - 1;
  } while (n >= 0);
  return name;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The file name without folders and without its last extension. */
function baseName(path: string): string {
  const name = path.split(/[\\/]/).pop() ?? path;
  const dot = name.lastIndexOf('.');
  return dot > 0 ? name.slice(0, dot) : name;
}

/** Diagnostics of one document, located in its file. */
/** The rule loader's reporter: the shared document reporter with error/warn shorthands. */
class Reporter extends DocumentReporter {
  error(code: string, message: string, path: DocumentPath, options: ReportOptions = {}): void {
    this.add(code, 'error', message, path, options);
  }

  warn(code: string, message: string, path: DocumentPath, options: ReportOptions = {}): void {
    this.add(code, 'warning', message, path, options);
  }
}

/** A rule document found in a file, with where it sits and the id its envelope gives it. */
interface Candidate {
  readonly value: unknown;
  readonly path: DocumentPath;
  readonly exportId?: { readonly id: string; readonly path: DocumentPath };
  /** The Datadog envelope around the rule has an error: the rule is checked but not returned. */
  readonly isEnvelopeBroken?: boolean;
}

function checkKeys(value: Record<string, unknown>, known: readonly string[], path: DocumentPath, reporter: Reporter, what: string): void {
  reporter.unknownKeys(value, known, path, 'E_RULE_UNKNOWN_FIELD', what);
}

function unwrap(value: unknown, path: DocumentPath, reporter: Reporter, out: Candidate[]): void {
  if (Array.isArray(value)) {
    value.forEach((item: unknown, index) => unwrapOne(item, [...path, index], reporter, out));
    return;
  }
  unwrapOne(value, path, reporter, out);
}

function unwrapOne(value: unknown, path: DocumentPath, reporter: Reporter, out: Candidate[]): void {
  if (!(isObject(value) && 'data' in value && !('queries' in value) && !('name' in value))) {
    out.push({ value, path });
    return;
  }
  checkKeys(value, ENVELOPE_FIELDS, path, reporter, 'the Datadog API envelope');
  const data = value['data'];
  if (Array.isArray(data)) data.forEach((item: unknown, index) => unwrapData(item, [...path, 'data', index], reporter, out));
  else unwrapData(data, [...path, 'data'], reporter, out);
}

function unwrapData(data: unknown, path: DocumentPath, reporter: Reporter, out: Candidate[]): void {
  if (isObject(data) && isObject(data['attributes'])) {
    checkKeys(data, ENVELOPE_DATA_FIELDS, path, reporter, "the Datadog API envelope's data");
    const id = data['id'];
    out.push({ value: data['attributes'], path: [...path, 'attributes'], ...(typeof id === 'string' && id !== '' ? { exportId: { id, path: [...path, 'id'] } } : {}) });
    return;
  }
  out.push({ value: data, path });
}

/** Unknown fields are errors; unsupported ones with a non-neutral value are warnings. */
function checkFields(value: Record<string, unknown>, fields: Readonly<Record<string, FieldInfo>>, path: DocumentPath, reporter: Reporter, what: string): void {
  const known = Object.keys(fields);
  checkKeys(value, known, path, reporter, what);
  for (const [key, info] of Object.entries(fields)) {
    if (info.kind !== 'unsupported' || !(key in value)) continue;
    const field = value[key];
    if (info.isNeutral?.(field) ?? false) continue;
    reporter.warn('W_RULE_UNSUPPORTED_FIELD', `'${key}' is not supported yet and is ignored: ${info.description}`, [...path, key], {
      atKey: true,
      hint: 'the rule runs without it, so its signals may differ from Datadog’s; remove the field to silence this warning',
    });
  }
}

function reportIssues(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string; readonly code: string }[], path: DocumentPath, reporter: Reporter): void {
  for (const issue of issues) {
    const issuePath = [...path, ...issue.path.filter((s): s is string | number => typeof s === 'string' || typeof s === 'number')];
    const missing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
    const field = formatPath(issuePath);
    reporter.error('E_RULE_SCHEMA', missing ? `'${field}' is required` : `${field === '' ? 'the rule' : `'${field}'`}: ${issue.message}`, issuePath, {
      hint: missing ? 'add the field (see docs/rule-format.md)' : 'see docs/rule-format.md for the field types and allowed values',
    });
  }
}

/** Warn about attributes that the field catalogue does not know. */
function checkAttribute(field: string, reporter: Reporter, path: DocumentPath, where: string, position: SourcePosition | undefined): void {
  const bare = field.startsWith('@') ? field.slice(1) : field;
  if (bare === '' || isKnownField(bare)) return;
  const suggestion = suggestField(bare);
  reporter.warn('W_RULE_UNKNOWN_FIELD', `${where} uses the attribute '${field}', which is not in the field catalogue`, path, {
    position,
    hint: suggestion !== undefined ? `did you mean '@${suggestion}'?` : 'check the spelling against docs/fields.md; the attribute may never be present',
  });
}

/** Position of the first mention of `@attr` (or the bare attribute) inside the string at `path`. */
function mentionPosition(text: string, attribute: string, path: DocumentPath, locator: Locator): SourcePosition | undefined {
  let offset = text.indexOf(`@${attribute}`);
  if (offset < 0) offset = text.indexOf(attribute);
  return offset < 0 ? locator.valueAt(path) : locator.insideString(path, positionInText(text, offset));
}

function compileTemplateAt(text: string, path: DocumentPath, reporter: Reporter, queryNames?: readonly string[]): RuleTemplate | undefined {
  const result = compileTemplate(text, queryNames !== undefined ? { queryNames } : {});
  for (const d of result.diagnostics) reporter.inner(d, path, 'see the template section of docs/rule-format.md');
  if (!result.ok) return undefined;
  for (const attribute of result.value.attributes) {
    checkAttribute(`@${attribute}`, reporter, path, 'the template', mentionPosition(text, attribute, path, reporter.locator));
  }
  return result.value;
}

interface CompiledCandidate {
  readonly rule: CompiledRule | undefined;
  readonly id: string | undefined;
  readonly idPath: DocumentPath;
  readonly reporter: Reporter;
}

function queryNameOf(raw: unknown, index: number): string {
  if (isObject(raw) && typeof raw['name'] === 'string' && raw['name'] !== '') return raw['name'];
  return defaultQueryName(index);
}

function sameFields(a: readonly string[], b: readonly string[]): boolean {
  const left = [...new Set(a)].sort();
  const right = [...new Set(b)].sort();
  return left.length === right.length && left.every((v, i) => v === right[i]);
}

function compileCandidate(candidate: Candidate, fallbackId: string, reporter: Reporter): CompiledCandidate {
  const start = reporter.out.length;
  const hasErrors = (): boolean => reporter.out.slice(start).some((d) => d.severity === 'error');
  const base = candidate.path;
  const raw = candidate.value;
  if (!isObject(raw)) {
    reporter.error('E_RULE_SCHEMA', `expected a rule (a mapping of fields), found ${Array.isArray(raw) ? 'a list' : typeof raw}`, base, { hint: 'a rule file holds one rule, a list of rules, or a Datadog API export' });
    return { rule: undefined, id: undefined, idPath: base, reporter };
  }

  // Id: the rule's own, else the export's, else the file name.
  const rawId = raw['id'];
  const ownId = typeof rawId === 'string' && rawId !== '' ? rawId : undefined;
  const id = ownId ?? candidate.exportId?.id ?? fallbackId;
  const idPath = ownId !== undefined ? [...base, 'id'] : (candidate.exportId?.path ?? base);

  checkFields(raw, RULE_FIELDS, base, reporter, 'a rule');

  // A rule trailhound cannot run yet gets one clear error, not a cascade about fields it does not need.
  const rawOptions = raw['options'];
  const type = raw['type'];
  if (typeof type === 'string' && !SUPPORTED_RULE_TYPES.includes(type)) {
    reporter.error('E_RULE_UNSUPPORTED', `rule type '${type}' is not supported; trailhound runs log_detection rules on CloudTrail logs`, [...base, 'type'], { hint: 'only log_detection rules can be loaded' });
    return { rule: undefined, id, idPath, reporter };
  }
  const method = isObject(rawOptions) ? rawOptions['detectionMethod'] : undefined;
  if (typeof method === 'string' && (DATADOG_DETECTION_METHODS as readonly string[]).includes(method) && !SUPPORTED_DETECTION_METHODS.includes(method)) {
    reporter.error('E_RULE_UNSUPPORTED', `detection method '${method}' is not supported yet; it comes in a later version (only ${SUPPORTED_DETECTION_METHODS.join(' and ')} for now)`, [...base, 'options', 'detectionMethod'], { hint: 'use detectionMethod: threshold' });
    return { rule: undefined, id, idPath, reporter };
  }

  // Validate types piece by piece, so that one bad piece hides nothing else.
  const top = ruleTopSchema.safeParse(raw);
  if (!top.success) reportIssues(top.error.issues, base, reporter);

  const rawQueries = Array.isArray(raw['queries']) ? (raw['queries'] as unknown[]) : [];
  const rawCases = Array.isArray(raw['cases']) ? (raw['cases'] as unknown[]) : [];

  const queryDocs: (RuleQueryDocument | undefined)[] = rawQueries.map((q, i) => {
    const path = [...base, 'queries', i];
    if (isObject(q)) checkFields(q, QUERY_FIELDS, path, reporter, 'a query');
    const parsed = querySchema.safeParse(q);
    if (!parsed.success) reportIssues(parsed.error.issues, path, reporter);
    return parsed.success ? parsed.data : undefined;
  });
  const caseDocs: (RuleCaseDocument | undefined)[] = rawCases.map((c, i) => {
    const path = [...base, 'cases', i];
    if (isObject(c)) checkFields(c, CASE_FIELDS, path, reporter, 'a case');
    const parsed = caseSchema.safeParse(c);
    if (!parsed.success) reportIssues(parsed.error.issues, path, reporter);
    return parsed.success ? parsed.data : undefined;
  });
  let options: RuleOptionsDocument | undefined;
  if (isObject(rawOptions)) {
    checkFields(rawOptions, OPTIONS_FIELDS, [...base, 'options'], reporter, 'options');
    // A sequence or new_value rule has no use for the top-level window (Datadog: omit it or leave it at 0).
    const isWindowless = (method === 'sequence_detection' || method === 'new_value') && rawOptions['evaluationWindow'] === undefined;
    const parsed = optionsSchema.safeParse(isWindowless ? { ...rawOptions, evaluationWindow: 0 } : rawOptions);
    if (parsed.success) options = parsed.data;
    else reportIssues(parsed.error.issues, [...base, 'options'], reporter);
  }

  if (options !== undefined) {
    const windows: readonly number[] = DATADOG_WINDOWS_SECONDS;
    for (const key of ['evaluationWindow', 'keepAlive', 'maxSignalDuration'] as const) {
      const seconds = options[key];
      if (!windows.includes(seconds)) {
        const nearest = windows.reduce((best, w) => (Math.abs(w - seconds) < Math.abs(best - seconds) ? w : best), windows[0] ?? 0);
        reporter.error('E_RULE_WINDOW', `${key} ${seconds} is not one of Datadog's values (seconds): ${windows.join(', ')}`, [...base, 'options', key], { hint: `the nearest allowed value is ${nearest}` });
      }
    }
    if (options.evaluationWindow > options.keepAlive) {
      reporter.error('E_RULE_WINDOW_ORDER', `evaluationWindow (${options.evaluationWindow}) is longer than keepAlive (${options.keepAlive})`, [...base, 'options', 'evaluationWindow'], { hint: 'raise keepAlive to at least the evaluation window, or shorten the window' });
    }
    if (options.evaluationWindow > options.maxSignalDuration) {
      reporter.error('E_RULE_WINDOW_ORDER', `evaluationWindow (${options.evaluationWindow}) is longer than maxSignalDuration (${options.maxSignalDuration})`, [...base, 'options', 'evaluationWindow'], { hint: 'raise maxSignalDuration to at least the evaluation window, or shorten the window' });
    }
  }

  // Queries.
  const queryNames = rawQueries.map((q, i) => queryNameOf(q, i));
  const seenNames = new Map<string, number>();
  const queries: RuleQuery[] = [];
  queryNames.forEach((name, i) => {
    const path = [...base, 'queries', i];
    const rawQuery = rawQueries[i];
    const hasOwnName = isObject(rawQuery) && typeof rawQuery['name'] === 'string' && rawQuery['name'] !== '';
    const namePath = hasOwnName ? [...path, 'name'] : path;
    if (!QUERY_NAME.test(name)) {
      reporter.error('E_RULE_SCHEMA', `query name '${name}' is not a valid name`, namePath, { hint: 'use letters, digits and _, starting with a letter, so that conditions can name it' });
    }
    const first = seenNames.get(name);
    if (first !== undefined) {
      reporter.error('E_RULE_DUPLICATE_QUERY', `queries[${first}] and queries[${i}] are both named '${name}'${hasOwnName ? '' : ' (unnamed queries are named a, b, c… by position)'}`, namePath, { hint: 'give every query a different name' });
    } else {
      seenNames.set(name, i);
    }
  });
  queryDocs.forEach((doc, i) => {
    if (doc === undefined) return;
    const path = [...base, 'queries', i];
    // The aggregation and the fields it needs (aggregations.ts).
    const aggregation = checkQueryAggregation(doc, typeof method === 'string' ? method : 'threshold');
    for (const p of aggregation.problems) reporter.add(p.code, p.severity, p.message, [...path, ...p.path], { hint: p.hint, atKey: p.atKey === true });
    for (const a of aggregation.attributes) checkAttribute(a.field, reporter, [...path, ...a.path], `the ${a.path[0] ?? 'aggregation'}`, undefined);
    const groupByFields = doc.groupByFields ?? [];
    groupByFields.forEach((field, j) => checkAttribute(field, reporter, [...path, 'groupByFields', j], 'the group-by', undefined));
    const compiled = compileQuery(doc.query);
    for (const d of compiled.diagnostics) reporter.inner(d, [...path, 'query'], 'see docs/query-syntax.md for the query syntax');
    if (!compiled.ok) return;
    for (const field of referencedFields(compiled.value.ast)) {
      checkAttribute(`@${field}`, reporter, [...path, 'query'], 'the query', mentionPosition(doc.query, field, [...path, 'query'], reporter.locator));
    }
    // Datadog's customQueryExtension: ANDed to the query (query-extension.ts).
    const extensionText = doc.customQueryExtension ?? '';
    const extended = extendQuery(compiled.value, extensionText);
    const extensionPath = [...path, 'customQueryExtension'];
    for (const d of extended.diagnostics) reporter.inner(d, extensionPath, 'customQueryExtension is query text ANDed to the query: see docs/query-syntax.md');
    if (!extended.ok) return;
    if (extended.value !== compiled.value) {
      const extension = compileQuery(extensionText);
      if (extension.ok) for (const field of referencedFields(extension.value.ast)) checkAttribute(`@${field}`, reporter, extensionPath, 'the query extension', mentionPosition(extensionText, field, extensionPath, reporter.locator));
    }
    queries.push({
      name: queryNames[i] ?? defaultQueryName(i),
      query: extended.value,
      aggregation: aggregation.aggregation ?? 'count',
      groupByFields,
      distinctFields: doc.distinctFields ?? [],
      ...(aggregation.metrics.length > 0 ? { metrics: aggregation.metrics } : {}),
      hasOptionalGroupByFields: doc.hasOptionalGroupByFields ?? false,
      ...(doc.hasGroupByFanOut === true ? { hasGroupByFanOut: true } : {}),
    });
  });
  const firstDoc = queryDocs.find((d) => d !== undefined);
  const groupByFields = firstDoc?.groupByFields ?? [];
  const hasOptionalGroupByFields = firstDoc?.hasOptionalGroupByFields ?? false;
  const hasGroupByFanOut = firstDoc?.hasGroupByFanOut ?? false;
  queryDocs.forEach((doc, i) => {
    if (doc === undefined || doc === firstDoc) return;
    const path = [...base, 'queries', i];
    if (!sameFields(doc.groupByFields ?? [], groupByFields)) {
      reporter.error('E_RULE_GROUP_BY_MISMATCH', `queries[${i}] groups by [${(doc.groupByFields ?? []).join(', ')}] but the first query by [${groupByFields.join(', ')}]`, doc.groupByFields ? [...path, 'groupByFields'] : path, {
        hint: 'every query of a rule must have the same groupByFields: the groups join the queries together',
      });
    }
    if ((doc.hasOptionalGroupByFields ?? false) !== hasOptionalGroupByFields) {
      reporter.error('E_RULE_GROUP_BY_MISMATCH', `queries[${i}] has hasOptionalGroupByFields ${String(doc.hasOptionalGroupByFields ?? false)} but the first query ${String(hasOptionalGroupByFields)}`, doc.hasOptionalGroupByFields != null ? [...path, 'hasOptionalGroupByFields'] : path, {
        hint: 'set hasOptionalGroupByFields the same way on every query',
      });
    }
    if ((doc.hasGroupByFanOut ?? false) !== hasGroupByFanOut) {
      reporter.error('E_RULE_GROUP_BY_MISMATCH', `queries[${i}] has hasGroupByFanOut ${String(doc.hasGroupByFanOut ?? false)} but the first query ${String(hasGroupByFanOut)}`, doc.hasGroupByFanOut != null ? [...path, 'hasGroupByFanOut'] : path, {
        hint: 'set hasGroupByFanOut the same way on every query',
      });
    }
  });

  // Sequence steps (sequence_detection rules), checked against the query names (sequence-options.ts).
  const sequence = method === 'sequence_detection' && isObject(rawOptions) ? compileSequenceOptions(rawOptions['sequenceDetectionOptions'], queryNames) : undefined;
  for (const issue of sequence?.issues ?? []) {
    const path = [...base, 'options', ...issue.path];
    if (issue.inner) reporter.inner(issue.inner, path, 'a step condition looks like `a > 0` (see docs/rule-format.md)');
    else reporter.add(issue.code, issue.severity, issue.message, path, { hint: issue.hint, atKey: issue.atKey === true });
  }
  // A sequence rule's cases name its steps (Datadog) and, in trailhound, its queries too.
  const rawSequence = isObject(rawOptions) ? rawOptions['sequenceDetectionOptions'] : undefined;
  const rawSteps = isObject(rawSequence) && Array.isArray(rawSequence['steps']) ? (rawSequence['steps'] as unknown[]) : [];
  const stepNames = rawSteps.flatMap((step) => (isObject(step) && typeof step['name'] === 'string' ? [step['name']] : []));
  const caseNames = sequence !== undefined ? [...new Set([...stepNames, ...queryNames])] : queryNames;

  const groupSignalsBy = checkGroupSignalsBy(top.success ? top.data.groupSignalsBy : undefined, groupByFields, [...base, 'groupSignalsBy'], reporter);

  // new_value rules: their learning options (aggregations.ts).
  const isNewValueRule = method === 'new_value';
  const newValue = isNewValueRule && isObject(rawOptions) ? checkNewValueOptions(rawOptions['newValueOptions']) : undefined;
  for (const p of newValue?.problems ?? []) reporter.add(p.code, p.severity, p.message, [...base, 'options', ...p.path], { hint: p.hint, atKey: p.atKey === true });

  // Cases.
  const cases: RuleCase[] = [];
  caseDocs.forEach((doc, i) => {
    if (doc === undefined) return;
    const path = [...base, 'cases', i, 'condition'];
    if (doc.condition == null || (isNewValueRule && doc.condition.trim() === '')) {
      // Datadog writes no condition in a new_value rule's case: it holds for any new value.
      if (isNewValueRule) cases.push({ name: doc.name ?? '', status: doc.customStatus != null && isSeverity(doc.customStatus) ? doc.customStatus : doc.status, condition: ANY_NEW_VALUE });
      else reporter.error('E_RULE_SCHEMA', `'${formatPath(path)}' is required`, path, { hint: 'add the field (see docs/rule-format.md)' });
      return;
    }
    const condition = compileCondition(doc.condition, caseNames);
    for (const d of condition.diagnostics) reporter.inner(d, path, 'a condition looks like `a > 0 && b >= 2` (see docs/rule-format.md)');
    const status: Severity = doc.customStatus != null && isSeverity(doc.customStatus) ? doc.customStatus : doc.status;
    if (condition.ok) cases.push({ name: doc.name ?? '', status, condition: condition.value });
  });

  // Templates.
  const name = top.success ? top.data.name : undefined;
  const message = compileTemplateAt(top.success ? (top.data.message ?? '') : '', [...base, 'message'], reporter, queryNames);
  const title = name !== undefined ? compileTemplateAt(name, [...base, 'name'], reporter, queryNames) : undefined;

  if (hasErrors() || candidate.isEnvelopeBroken === true || !top.success || options === undefined || message === undefined || title === undefined || name === undefined) {
    return { rule: undefined, id, idPath, reporter };
  }
  const rule: CompiledRule = {
    id,
    name,
    isEnabled: top.data.isEnabled ?? true,
    tags: top.data.tags ?? [],
    message,
    title: composeTitle(title, { hasExtendedTitle: top.data.hasExtendedTitle === true }),
    queries,
    groupByFields,
    hasOptionalGroupByFields,
    ...(hasGroupByFanOut ? { hasGroupByFanOut: true } : {}),
    ...(groupSignalsBy.length > 0 ? { groupSignalsBy } : {}),
    cases,
    options: {
      detectionMethod: sequence?.options !== undefined ? 'sequence_detection' : isNewValueRule ? 'new_value' : 'threshold',
      ...(newValue?.options !== undefined ? { newValueOptions: newValue.options } : {}),
      ...(sequence?.options !== undefined ? { sequenceDetectionOptions: sequence.options } : {}),
      evaluationWindow: options.evaluationWindow,
      keepAlive: options.keepAlive,
      maxSignalDuration: options.maxSignalDuration,
      ...(options.decreaseCriticalityBasedOnEnv === true ? { decreaseCriticalityBasedOnEnv: true } : {}),
    },
    file: reporter.file,
  };
  return { rule, id, idPath, reporter };
}

/**
 * Datadog's groupSignalsBy must be a subset of the group-by fields (E_RULE_GROUP_SIGNALS_BY). The
 * result is in group-by order, without repeats; [] when it is absent, empty, or every group-by
 * field (which is the same as one signal per group).
 */
function checkGroupSignalsBy(fields: readonly string[] | null | undefined, groupByFields: readonly string[], path: DocumentPath, reporter: Reporter): string[] {
  if (fields == null || fields.length === 0) return [];
  let isSubset = true;
  fields.forEach((field, i) => {
    if (groupByFields.includes(field)) return;
    isSubset = false;
    const suggestion = closestName(field, groupByFields);
    reporter.error('E_RULE_GROUP_SIGNALS_BY', `groupSignalsBy names '${field}', which is not a group-by field of the queries`, [...path, i], {
      hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : groupByFields.length === 0 ? 'the queries have no groupByFields: remove groupSignalsBy' : `use some of the group-by fields: ${groupByFields.join(', ')}`,
    });
  });
  if (!isSubset) return [];
  const chosen = groupByFields.filter((field) => fields.includes(field));
  return chosen.length === groupByFields.length ? [] : chosen;
}

function comparePositions(a: Diagnostic, b: Diagnostic): number {
  const la = a.position?.line ?? 0;
  const lb = b.position?.line ?? 0;
  if (la !== lb) return la - lb;
  return (a.position?.column ?? 0) - (b.position?.column ?? 0);
}

/**
 * Load rules from files. Every problem of every file is reported; a rule with an error is left out
 * and the others are returned. Diagnostics come in file order, then by position.
 */
export function loadRules(files: readonly RuleFile[]): LoadedRules {
  const perFile: Diagnostic[][] = [];
  const compiled: CompiledCandidate[] = [];
  for (const file of files) {
    const diagnostics: Diagnostic[] = [];
    perFile.push(diagnostics);
    const read = readRuleFile(file);
    diagnostics.push(...read.diagnostics);
    const candidates: { candidate: Candidate; reporter: Reporter }[] = [];
    for (const doc of read.documents) {
      const reporter = new Reporter(file.path, doc.locator, diagnostics);
      const found: Candidate[] = [];
      const before = diagnostics.length;
      unwrap(doc.value, [], reporter, found);
      const isEnvelopeBroken = diagnostics.slice(before).some((d) => d.severity === 'error');
      for (const candidate of found) candidates.push({ candidate: { ...candidate, isEnvelopeBroken }, reporter });
    }
    if (candidates.length === 0 && read.diagnostics.length === 0) {
      diagnostics.push({ code: 'W_RULE_EMPTY', severity: 'warning', message: 'the file holds no rule', file: file.path, hint: 'remove the file, or write a rule in it (see docs/rule-format.md)' });
    }
    const base = baseName(file.path);
    candidates.forEach(({ candidate, reporter }, index) => {
      const fallbackId = candidates.length > 1 ? `${base}-${index + 1}` : base;
      compiled.push(compileCandidate(candidate, fallbackId, reporter));
    });
  }

  const firstById = new Map<string, CompiledCandidate>();
  const rules: CompiledRule[] = [];
  for (const entry of compiled) {
    if (entry.id === undefined) continue;
    const first = firstById.get(entry.id);
    if (first !== undefined) {
      const where = first.reporter.locator.valueAt(first.idPath);
      entry.reporter.error('E_RULE_DUPLICATE_ID', `rule id '${entry.id}' is already used by the rule in ${first.reporter.file}${where ? `:${where.line}:${where.column}` : ''}`, entry.idPath, {
        atKey: entry.idPath[entry.idPath.length - 1] === 'id',
        hint: 'give every rule a different id (the id defaults to the file name)',
      });
      continue;
    }
    firstById.set(entry.id, entry);
    if (entry.rule !== undefined) rules.push(entry.rule);
  }
  const diagnostics = perFile.flatMap((list) => [...list].sort(comparePositions));
  return { rules, diagnostics };
}

/** loadRules for tests and scripts: the rules, or a TrailhoundError (E_RULE_LOAD) listing every error. */
export function loadRulesOrThrow(files: readonly RuleFile[]): CompiledRule[] {
  const { rules, diagnostics } = loadRules(files);
  const errors = diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) {
    throw new TrailhoundError('E_RULE_LOAD', `${errors.length} error${errors.length === 1 ? '' : 's'} in the rules:\n${errors.map(formatDiagnostic).join('\n')}`);
  }
  return rules;
}
