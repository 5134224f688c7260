/**
 * Suppressions, after Datadog's suppression rules (`rule_query`, `suppression_query`,
 * `data_exclusion_query`, `expiration_date`): a YAML list of entries, each saying which rules it
 * applies to, what it suppresses, why, until when and who owns it. docs/suppressions.md is the
 * user's version of this comment.
 *
 * An entry applies to the rules that `ruleId` names (one id or a list) AND that `ruleQuery`
 * selects (a log-search query over a rule's facets: `ruleId`, `name`, `severity`, `type`,
 * `detectionMethod`, `enabled`, `tags`, and every `key:value` tag as the facet `key`). Then:
 *
 * - `dataExclusionQuery`: events matching it are not fed to those rules at all (each rule query
 *   becomes `query AND NOT exclusion`), so they count toward nothing;
 * - `suppressionQuery`: a signal of those rules is suppressed when EVERY one of its events matches
 *   it. A signal that mixes suppressed and other activity is shown: an attacker cannot hide an
 *   action by doing it next to a suppressed one;
 * - neither: every signal of those rules is suppressed (a rule muted until `expires`, with a reason).
 *
 * `reason` is required. `expires` (a date, or a date and time with a zone) ends the entry: an expired
 * entry warns at load and no longer applies. A date without a time means the end of that day (UTC).
 *
 * Loading follows the rule loader: every problem of every entry, each with a stable code, the file,
 * the path, the line and column, and a hint. Pure: the caller reads the file and gives the time.
 */
import { z } from 'zod';
import type { Diagnostic, JsonObject, JsonValue, Signal, SignalSuppression, SourcePosition, TrailEvent } from '../core/types.js';
import { isKnownField, suggestField } from '../fields/catalogue.js';
import { referencedFields } from '../query/analyse.js';
import { compileAst, compileQuery } from '../query/compile.js';
import { UNPREFIXED_ATTRIBUTE_WARNING } from '../query/parse.js';
import type { CompiledQuery } from '../query/types.js';
import { DocumentReporter } from './document-reporter.js';
import type { CompiledRule } from './model.js';
import { positionInText } from './position.js';
import { formatPath, readRuleFile } from './read.js';
import type { DocumentPath } from './read.js';
import { closestName } from './suggest.js';

/** Every diagnostic a suppression file can give; docs/suppressions.md lists the same table. */
export const SUPPRESSION_DIAGNOSTIC_CODES = {
  E_SUPPRESSION_PATH: { severity: 'error', meaning: 'A --suppressions file cannot be read.' },
  E_SUPPRESSION_SYNTAX: { severity: 'error', meaning: 'The file is not valid YAML or JSON.' },
  E_SUPPRESSION_SCHEMA: { severity: 'error', meaning: 'An entry is not a mapping, a field has the wrong type, or a required field (reason) is missing or empty.' },
  E_SUPPRESSION_UNKNOWN_FIELD: { severity: 'error', meaning: 'A field that suppressions do not have (usually a typo; the hint suggests the closest name).' },
  E_SUPPRESSION_NO_RULE: { severity: 'error', meaning: 'An entry has neither ruleId nor ruleQuery, so it would apply to no rule.' },
  E_SUPPRESSION_EXPIRES: { severity: 'error', meaning: 'expires is not a date (2026-06-30) or a date and time with a zone (2026-06-30T18:00:00Z).' },
  E_QUERY_SYNTAX: { severity: 'error', meaning: 'ruleQuery, suppressionQuery or dataExclusionQuery is not valid Datadog log search syntax.' },
  W_SUPPRESSION_EXPIRED: { severity: 'warning', meaning: 'The entry expired: it no longer applies (remove it, or give it a later date).' },
  W_SUPPRESSION_UNKNOWN_RULE: { severity: 'warning', meaning: 'ruleId names a rule that is not loaded.' },
  W_SUPPRESSION_NO_MATCH: { severity: 'warning', meaning: 'The entry applies to no loaded rule (its ruleQuery selects none of them).' },
  W_SUPPRESSION_UNKNOWN_FIELD: { severity: 'warning', meaning: 'suppressionQuery or dataExclusionQuery uses an attribute that is not in the field catalogue (often a typo).' },
} as const satisfies Record<string, { severity: 'error' | 'warning'; meaning: string }>;

export type SuppressionDiagnosticCode = keyof typeof SUPPRESSION_DIAGNOSTIC_CODES;

const text = z.string().min(1);

/** One entry of a suppression file. */
export const suppressionSchema = z.object({
  name: text.optional(),
  ruleId: z.union([text, z.array(text).min(1)]).optional(),
  ruleQuery: text.optional(),
  suppressionQuery: z.string().optional(),
  dataExclusionQuery: z.string().optional(),
  reason: z.string().trim().min(1, 'must say why the entry exists'),
  owner: text.optional(),
  expires: z.string().optional(),
});
export type SuppressionDocument = z.infer<typeof suppressionSchema>;

/** What each field means (docs/suppressions.md lists the same). */
export const SUPPRESSION_FIELDS: Readonly<Record<keyof typeof suppressionSchema.shape, string>> = {
  name: 'A short label, shown with the signals the entry suppresses.',
  ruleId: 'The id of a rule, or a list of ids: the entry applies to these rules.',
  ruleQuery: 'A log search query over rule facets (ruleId, name, severity, type, detectionMethod, enabled, tags and every key:value tag): the entry applies to the rules it selects.',
  suppressionQuery: "A log search query over events: a signal is suppressed when every one of its events matches it.",
  dataExclusionQuery: 'A log search query over events: matching events are not fed to the rules the entry applies to.',
  reason: 'Why the entry exists (required, shown with every suppressed signal).',
  owner: 'Who answers for the entry.',
  expires: 'When the entry stops applying: a date (the end of that day, UTC) or a date and time with a zone.',
};

const ENTRY_KEYS = Object.keys(suppressionSchema.shape);
const DOCS = 'docs/suppressions.md';

/** A checked, compiled, unexpired suppression entry. */
export interface SuppressionEntry {
  readonly name?: string;
  readonly ruleIds: readonly string[];
  readonly ruleQuery?: CompiledQuery;
  readonly suppressionQuery?: CompiledQuery;
  readonly dataExclusionQuery?: CompiledQuery;
  readonly reason: string;
  readonly owner?: string;
  /** As written. */
  readonly expires?: string;
  /** `file:line:column` of the entry, for reports. */
  readonly source: string;
  readonly file: string;
  /** Path of the entry in its document, e.g. `suppressions[2]`. */
  readonly path: DocumentPath;
  /** Where the entry, each of its rule ids and its ruleQuery are written, for the diagnostics of planSuppressions. */
  readonly positions: { readonly entry?: SourcePosition; readonly ruleIds: readonly Location[]; readonly ruleQuery?: SourcePosition };
}

interface Location {
  readonly path: DocumentPath;
  readonly position?: SourcePosition;
}

export interface LoadedSuppressions {
  readonly entries: SuppressionEntry[];
  readonly diagnostics: Diagnostic[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const DATE_ONLY = /^(\d{4})-(\d{2})-(\d{2})$/;
const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/;

/**
 * The last millisecond at which an entry with this `expires` still applies, or undefined when it is
 * not a date. `2026-06-30` is the whole day (until 23:59:59.999 UTC); a date and time is exact.
 */
export function parseExpiry(value: string): number | undefined {
  const day = DATE_ONLY.exec(value) ?? DATE_TIME.exec(value);
  if (day === null) return undefined;
  const [, y, m, d] = day;
  const probe = new Date(Date.UTC(Number(y), Number(m) - 1, Number(d)));
  // Date.UTC rolls 2026-02-30 over to March: the calendar date must survive the round trip.
  if (probe.getUTCFullYear() !== Number(y) || probe.getUTCMonth() !== Number(m) - 1 || probe.getUTCDate() !== Number(d)) return undefined;
  if (DATE_ONLY.test(value)) return probe.getTime() + 86_400_000 - 1;
  const exact = Date.parse(value);
  return Number.isFinite(exact) ? exact : undefined;
}

type QueryRole = 'ruleQuery' | 'suppressionQuery' | 'dataExclusionQuery';

/** The compiled query, or null when it does not parse (the error is reported). */
function compileQueryAt(role: QueryRole, query: string, path: DocumentPath, reporter: DocumentReporter): CompiledQuery | null {
  const compiled = compileQuery(query);
  for (const d of compiled.diagnostics) {
    // A rule query names rule facets without `@` (`source:cloudtrail severity:low`), as Datadog's rule search does.
    if (role === 'ruleQuery' && d.code === UNPREFIXED_ATTRIBUTE_WARNING) continue;
    reporter.inner(d, path, 'see docs/query-syntax.md for the query syntax');
  }
  if (!compiled.ok) return null;
  if (role !== 'ruleQuery') {
    for (const field of referencedFields(compiled.value.ast)) {
      if (isKnownField(field)) continue;
      const suggestion = suggestField(field);
      const offset = query.indexOf(`@${field}`);
      reporter.add('W_SUPPRESSION_UNKNOWN_FIELD', 'warning', `${role} uses the attribute '@${field}', which is not in the field catalogue`, path, {
        position: offset < 0 ? undefined : reporter.locator.insideString(path, positionInText(query, offset)),
        hint: suggestion !== undefined ? `did you mean '@${suggestion}'?` : 'check the spelling against docs/fields.md; the attribute may never be present',
      });
    }
  }
  return compiled.value;
}

function located(path: DocumentPath, reporter: DocumentReporter): Location {
  const position = reporter.locator.valueAt(path);
  return position === undefined ? { path } : { path, position };
}

function checkEntry(raw: unknown, path: DocumentPath, reporter: DocumentReporter, now: number): SuppressionEntry | undefined {
  if (!isObject(raw)) {
    reporter.add('E_SUPPRESSION_SCHEMA', 'error', `expected a suppression (a mapping of fields), found ${Array.isArray(raw) ? 'a list' : raw === null ? 'nothing' : typeof raw}`, path, {
      hint: `each entry has a reason and a ruleId or ruleQuery (see ${DOCS})`,
    });
    return undefined;
  }
  const start = reporter.out.length;
  reporter.unknownKeys(raw, ENTRY_KEYS, path, 'E_SUPPRESSION_UNKNOWN_FIELD', 'a suppression');
  const parsed = suppressionSchema.safeParse(raw);
  if (!parsed.success) {
    reporter.issues(parsed.error.issues, path, 'E_SUPPRESSION_SCHEMA', DOCS);
    return undefined;
  }
  const doc = parsed.data;
  if (doc.ruleId === undefined && doc.ruleQuery === undefined) {
    reporter.add('E_SUPPRESSION_NO_RULE', 'error', 'the suppression names no rule: it needs ruleId or ruleQuery', path, {
      hint: "add ruleId: <rule id>, or ruleQuery: 'source:cloudtrail' (ruleQuery: '*' selects every rule)",
    });
  }
  const queries: Partial<Record<QueryRole, CompiledQuery | null>> = {};
  for (const role of ['ruleQuery', 'suppressionQuery', 'dataExclusionQuery'] as const) {
    const query = doc[role];
    if (query !== undefined && query.trim() !== '') queries[role] = compileQueryAt(role, query, [...path, role], reporter);
  }
  let expiresMs: number | undefined;
  if (doc.expires !== undefined) {
    expiresMs = parseExpiry(doc.expires.trim());
    if (expiresMs === undefined) {
      reporter.add('E_SUPPRESSION_EXPIRES', 'error', `expires '${doc.expires}' is not a date`, [...path, 'expires'], { hint: 'write a date (2026-06-30) or a date and time with a zone (2026-06-30T18:00:00Z)' });
    }
  }
  if (reporter.out.slice(start).some((d) => d.severity === 'error')) return undefined;
  if (expiresMs !== undefined && expiresMs < now) {
    reporter.add('W_SUPPRESSION_EXPIRED', 'warning', `the suppression expired on ${doc.expires ?? ''}: it no longer applies`, [...path, 'expires'], {
      hint: 'remove the entry, or give it a later expires date if it is still needed',
    });
    return undefined;
  }
  const ruleIds = doc.ruleId === undefined ? [] : typeof doc.ruleId === 'string' ? [doc.ruleId] : doc.ruleId;
  const entryPosition = reporter.locator.valueAt(path);
  const ruleQueryPosition = doc.ruleQuery === undefined ? undefined : reporter.locator.valueAt([...path, 'ruleQuery']);
  const { ruleQuery, suppressionQuery, dataExclusionQuery } = queries;
  return {
    ...(doc.name !== undefined ? { name: doc.name } : {}),
    ruleIds,
    ...(ruleQuery ? { ruleQuery } : {}),
    ...(suppressionQuery ? { suppressionQuery } : {}),
    ...(dataExclusionQuery ? { dataExclusionQuery } : {}),
    reason: doc.reason.trim(),
    ...(doc.owner !== undefined ? { owner: doc.owner } : {}),
    ...(doc.expires !== undefined ? { expires: doc.expires } : {}),
    source: `${reporter.file}${entryPosition ? `:${entryPosition.line}:${entryPosition.column}` : ''}`,
    file: reporter.file,
    path,
    positions: {
      ...(entryPosition !== undefined ? { entry: entryPosition } : {}),
      ruleIds: (typeof doc.ruleId === 'string' ? [[...path, 'ruleId']] : ruleIds.map((_, i) => [...path, 'ruleId', i])).map((at) => located(at, reporter)),
      ...(ruleQueryPosition !== undefined ? { ruleQuery: ruleQueryPosition } : {}),
    },
  };
}

/**
 * Check a list of suppression entries found at `path` of a document (a suppression file, or the
 * `suppressions:` of a config file). Expired entries warn and are left out; entries with an error
 * are left out. `now` is epoch milliseconds.
 */
export function checkSuppressionList(value: unknown, path: DocumentPath, reporter: DocumentReporter, now: number): SuppressionEntry[] {
  if (value === null || value === undefined) return [];
  if (!Array.isArray(value)) {
    reporter.add('E_SUPPRESSION_SCHEMA', 'error', `expected a list of suppressions, found ${typeof value === 'object' ? 'a mapping' : typeof value}`, path, { hint: `write the entries as a YAML list (- reason: …) (see ${DOCS})` });
    return [];
  }
  const entries: SuppressionEntry[] = [];
  value.forEach((raw: unknown, i) => {
    const entry = checkEntry(raw, [...path, i], reporter, now);
    if (entry) entries.push(entry);
  });
  return entries;
}

/**
 * Load suppression files: each holds a list of entries, or a mapping with a `suppressions:` list
 * (the shape of the config file's key). Every problem is reported; the good entries are returned.
 */
export function loadSuppressions(files: readonly { readonly path: string; readonly text: string }[], now: number): LoadedSuppressions {
  const entries: SuppressionEntry[] = [];
  const diagnostics: Diagnostic[] = [];
  for (const file of files) {
    const read = readRuleFile(file);
    for (const d of read.diagnostics) diagnostics.push({ ...d, code: 'E_SUPPRESSION_SYNTAX', hint: 'fix the syntax at this position; YAML indentation must be consistent' });
    for (const doc of read.documents) {
      const reporter = new DocumentReporter(file.path, doc.locator, diagnostics);
      if (isObject(doc.value)) {
        reporter.unknownKeys(doc.value, ['suppressions'], [], 'E_SUPPRESSION_UNKNOWN_FIELD', 'a suppression file');
        entries.push(...checkSuppressionList(doc.value['suppressions'], ['suppressions'], reporter, now));
      } else {
        entries.push(...checkSuppressionList(doc.value, [], reporter, now));
      }
    }
  }
  return { entries, diagnostics };
}

// ---------------------------------------------------------------------------------------------
// Applying entries to rules

/**
 * What a `ruleQuery` reads about a rule: every `key:value` tag as the facet `key` (a list: a rule
 * may have several `technique:` tags), then `ruleId` and `id`, `name`, `type`, `detectionMethod`,
 * `severity` (every case's), `enabled` and `tags` (which win over a tag of the same key).
 */
export function ruleFacets(rule: CompiledRule): JsonObject {
  const tagFacets = new Map<string, string[]>();
  for (const tag of rule.tags) {
    const colon = tag.indexOf(':');
    if (colon <= 0) continue;
    const key = tag.slice(0, colon);
    tagFacets.set(key, [...(tagFacets.get(key) ?? []), tag.slice(colon + 1)]);
  }
  const own: [string, JsonValue][] = [
    ['ruleId', rule.id],
    ['id', rule.id],
    ['name', rule.name],
    ['type', 'log_detection'],
    ['detectionMethod', rule.options.detectionMethod],
    ['severity', [...new Set(rule.cases.map((c) => c.status))]],
    ['enabled', rule.isEnabled],
    ['tags', [...rule.tags]],
  ];
  const entries: [string, JsonValue][] = [...tagFacets.entries(), ...own];
  return Object.fromEntries<JsonValue>(entries);
}

/** True when the entry applies to the rule: `ruleId` names it (or is absent) and `ruleQuery` selects it (or is absent). */
export function appliesTo(entry: SuppressionEntry, rule: CompiledRule, facets: JsonObject = ruleFacets(rule)): boolean {
  if (entry.ruleIds.length > 0 && !entry.ruleIds.includes(rule.id)) return false;
  return entry.ruleQuery === undefined || entry.ruleQuery.matches(facets);
}

/** `query AND NOT e1 AND NOT e2 …`: the query of a rule once the data exclusions apply. */
export function excludeFromQuery(query: CompiledQuery, exclusions: readonly CompiledQuery[]): CompiledQuery {
  if (exclusions.length === 0) return query;
  const children = [query.ast, ...exclusions.map((e) => ({ kind: 'not' as const, column: 1, child: e.ast }))];
  return compileAst({ kind: 'and', column: 1, children }, `(${query.text}) ${exclusions.map((e) => `-(${e.text})`).join(' ')}`);
}

export interface SuppressionPlan {
  /** The rules with their data exclusions applied (the others unchanged), in the same order. */
  readonly rules: readonly CompiledRule[];
  /** W_SUPPRESSION_UNKNOWN_RULE and W_SUPPRESSION_NO_MATCH. */
  readonly diagnostics: readonly Diagnostic[];
  /** Per rule id, the entries that apply to it, in file order. */
  readonly byRule: ReadonlyMap<string, readonly SuppressionEntry[]>;
  /** A tracker that watches the events of one scan and judges its signals. */
  createTracker(): SuppressionTracker;
}

/** Which rules each entry applies to; data exclusions folded into the rule queries. */
export function planSuppressions(entries: readonly SuppressionEntry[], rules: readonly CompiledRule[]): SuppressionPlan {
  const diagnostics: Diagnostic[] = [];
  const ids = rules.map((r) => r.id);
  const facets = new Map(rules.map((r) => [r, ruleFacets(r)]));
  const byRule = new Map<string, SuppressionEntry[]>();
  for (const entry of entries) {
    entry.ruleIds.forEach((id, i) => {
      if (ids.includes(id)) return;
      const suggestion = closestName(id, ids);
      const where = entry.positions.ruleIds[i];
      diagnostics.push({
        code: 'W_SUPPRESSION_UNKNOWN_RULE',
        severity: 'warning',
        message: `ruleId '${id}' names no loaded rule`,
        file: entry.file,
        path: formatPath(where?.path ?? [...entry.path, 'ruleId']),
        ...(where?.position !== undefined ? { position: where.position } : {}),
        hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : 'check the id against `trailhound rules list`',
      });
    });
    const selected = rules.filter((r) => appliesTo(entry, r, facets.get(r)));
    for (const rule of selected) byRule.set(rule.id, [...(byRule.get(rule.id) ?? []), entry]);
    const hasKnownId = entry.ruleIds.length === 0 || entry.ruleIds.some((id) => ids.includes(id));
    if (selected.length === 0 && hasKnownId) {
      const position = entry.positions.ruleQuery ?? entry.positions.entry;
      diagnostics.push({
        code: 'W_SUPPRESSION_NO_MATCH',
        severity: 'warning',
        message: 'the suppression applies to no loaded rule',
        file: entry.file,
        path: formatPath(entry.ruleQuery ? [...entry.path, 'ruleQuery'] : entry.path),
        ...(position !== undefined ? { position } : {}),
        hint: 'check ruleQuery against the rules’ ids, names and tags (`trailhound rules list`)',
      });
    }
  }
  const planned = rules.map((rule) => {
    const exclusions = (byRule.get(rule.id) ?? []).flatMap((e) => (e.dataExclusionQuery ? [e.dataExclusionQuery] : []));
    if (exclusions.length === 0) return rule;
    return { ...rule, queries: rule.queries.map((q) => ({ ...q, query: excludeFromQuery(q.query, exclusions) })) };
  });
  return { rules: planned, diagnostics, byRule, createTracker: () => new SuppressionTracker(planned, byRule) };
}

/** The signal as shown when suppressed: `status: suppressed` and the entry's reason. */
export function markSuppressed(signal: Signal, entry: SuppressionEntry): Signal {
  const suppression: SignalSuppression = {
    reason: entry.reason,
    source: entry.source,
    ...(entry.name !== undefined ? { name: entry.name } : {}),
    ...(entry.owner !== undefined ? { owner: entry.owner } : {}),
    ...(entry.expires !== undefined ? { expires: entry.expires } : {}),
  };
  return { ...signal, status: 'suppressed', suppression };
}

/**
 * Watches the events of one scan for the entries with a `suppressionQuery`, then judges signals.
 * It remembers the id of an event only when the event matches an entry's suppressionQuery AND a
 * query of a rule the entry applies to, so memory grows with the events that could sit in a
 * suppressed signal, not with the input. Rules without such an entry cost nothing.
 */
export class SuppressionTracker {
  private readonly watched: { readonly entry: SuppressionEntry; readonly query: CompiledQuery; readonly rules: readonly CompiledRule[]; readonly refs: Set<string> }[];
  private readonly refsByEntry: ReadonlyMap<SuppressionEntry, Set<string>>;

  constructor(
    rules: readonly CompiledRule[],
    private readonly byRule: ReadonlyMap<string, readonly SuppressionEntry[]>,
  ) {
    const rulesByEntry = new Map<SuppressionEntry, CompiledRule[]>();
    for (const rule of rules) for (const entry of byRule.get(rule.id) ?? []) if (entry.suppressionQuery) rulesByEntry.set(entry, [...(rulesByEntry.get(entry) ?? []), rule]);
    this.watched = [...rulesByEntry].flatMap(([entry, watchedRules]) => (entry.suppressionQuery ? [{ entry, query: entry.suppressionQuery, rules: watchedRules, refs: new Set<string>() }] : []));
    this.refsByEntry = new Map(this.watched.map((w) => [w.entry, w.refs]));
  }

  /** True when some entry needs to see the events (otherwise `observe` need not be called). */
  get isWatching(): boolean {
    return this.watched.length > 0;
  }

  /** Look at one normalised event (the same object the engine ingests). Never throws. */
  observe(event: TrailEvent): void {
    const { fields } = event;
    for (const w of this.watched) {
      if (!w.query.matches(fields)) continue;
      if (!w.rules.some((rule) => rule.queries.some((q) => q.query.matches(fields)))) continue;
      const id: unknown = event.eventId;
      w.refs.add(typeof id === 'string' && id.length > 0 ? id : event.key);
    }
  }

  /** The first entry (in file order) that suppresses the signal, or undefined. */
  judge(signal: Signal): SuppressionEntry | undefined {
    for (const entry of this.byRule.get(signal.ruleId) ?? []) {
      if (!entry.suppressionQuery) {
        if (entry.dataExclusionQuery) continue; // only excludes data
        return entry; // the rule is muted
      }
      const refs = this.refsByEntry.get(entry);
      if (refs && signal.eventIds.length > 0 && signal.eventIds.every((id) => refs.has(id))) return entry;
    }
    return undefined;
  }
}
