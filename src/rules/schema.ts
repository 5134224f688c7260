/**
 * The rule document: Datadog's Security Monitoring API v2 rule (as `GET /api/v2/security_monitoring/rules/{id}`
 * returns it) plus trailhound's `id` and `tests`. A Datadog export loads unchanged, so every field
 * the API returns is known here, in one of three kinds:
 *
 * - `supported`: trailhound implements it;
 * - `metadata`: accepted silently, it has no effect on detection (createdAt, version, notifications,
 *   options of detection methods other than the rule's own…);
 * - `unsupported`: it would change detection but trailhound does not implement it yet: the loader
 *   warns (W_RULE_UNSUPPORTED_FIELD) unless the value is neutral (an empty list, `false`…).
 *
 * Any other field is an error (E_RULE_UNKNOWN_FIELD) with a "did you mean". The zod schemas check
 * types; the `…_FIELDS` tables say what each field is. Each table is typed by its schema's keys,
 * so the two cannot drift.
 */
import { z } from 'zod';
import { SEVERITIES } from '../core/types.js';

/** Every detection method Datadog's API knows. */
export const DATADOG_DETECTION_METHODS = ['threshold', 'new_value', 'anomaly_detection', 'impossible_travel', 'hardcoded', 'third_party', 'anomaly_threshold', 'sequence_detection'] as const;
export const SUPPORTED_DETECTION_METHODS: readonly string[] = ['threshold', 'sequence_detection', 'new_value'];

/** Every query aggregation Datadog's API knows. */
export const DATADOG_AGGREGATIONS = ['count', 'cardinality', 'sum', 'max', 'new_value', 'geo_data', 'event_count', 'none'] as const;
export const SUPPORTED_AGGREGATIONS: readonly string[] = ['count', 'cardinality', 'sum', 'max', 'new_value'];

/** Rule types (`type`) trailhound runs. Datadog also has workload_security, signal_correlation, … */
export const SUPPORTED_RULE_TYPES: readonly string[] = ['log_detection'];

export type FieldKind = 'supported' | 'metadata' | 'unsupported';

export interface FieldInfo {
  readonly kind: FieldKind;
  readonly description: string;
  /** Unsupported fields only: true when the value changes nothing, so no warning is due. */
  readonly isNeutral?: (value: unknown) => boolean;
}

const isEmpty = (value: unknown): boolean =>
  value === undefined || value === null || value === '' || (Array.isArray(value) && value.length === 0) || (typeof value === 'object' && value !== null && !Array.isArray(value) && Object.keys(value).length === 0);

const stringList = z.array(z.string());

/** The attributes of one query. */
export const querySchema = z.object({
  name: z.string().nullish(),
  query: z.string(),
  aggregation: z.enum(DATADOG_AGGREGATIONS).nullish(),
  groupByFields: stringList.nullish(),
  distinctFields: stringList.nullish(),
  hasOptionalGroupByFields: z.boolean().nullish(),
  hasGroupByFanOut: z.boolean().nullish(),
  metric: z.unknown().optional(),
  metrics: z.unknown().optional(),
  dataSource: z.unknown().optional(),
  customQueryExtension: z.string().nullish(),
  index: z.unknown().optional(),
  indexes: z.unknown().optional(),
  correlatedByFields: z.unknown().optional(),
  correlatedQueryIndex: z.unknown().optional(),
  ruleId: z.unknown().optional(),
  defaultRuleId: z.unknown().optional(),
});
export type RuleQueryDocument = z.infer<typeof querySchema>;

export const QUERY_FIELDS: Readonly<Record<keyof typeof querySchema.shape, FieldInfo>> = {
  name: { kind: 'supported', description: 'Name used by case conditions; `a`, `b`, `c`… by position when absent or empty.' },
  query: { kind: 'supported', description: 'Datadog log search query selecting the events.' },
  aggregation: { kind: 'supported', description: '`count` (the default; `new_value` in new_value rules), `cardinality` (distinct values of distinctFields), `sum` or `max` (of metrics), `new_value`.' },
  groupByFields: { kind: 'supported', description: 'Attributes whose values split events into groups; every query of a rule must have the same ones.' },
  distinctFields: { kind: 'supported', description: 'Attributes whose distinct values the `cardinality` aggregation counts.' },
  hasOptionalGroupByFields: { kind: 'supported', description: 'When true, events missing a group-by attribute are grouped under `N/A` instead of ignored.' },
  hasGroupByFanOut: { kind: 'supported', description: 'trailhound extension: when true, an event takes part once in the group of EACH value of its group-by fields (arrays fan out), not only the first.' },
  metric: { kind: 'supported', description: 'Deprecated by Datadog: one attribute, used as `metrics` when `metrics` is absent or empty.' },
  metrics: { kind: 'supported', description: 'Attributes the `sum` and `max` aggregations add up / maximise, and the `new_value` aggregation learns.' },
  index: { kind: 'metadata', description: 'Datadog log index to search (scheduled rules); trailhound reads the files it is given.' },
  indexes: { kind: 'metadata', description: 'Datadog log indexes to search (scheduled rules).' },
  dataSource: { kind: 'unsupported', description: 'Where Datadog reads events from; trailhound reads CloudTrail logs only.', isNeutral: (v) => v === undefined || v === null || v === 'logs' },
  customQueryExtension: { kind: 'supported', description: 'Query text appended to the query (ANDed), as Datadog does to tune a default rule without editing its query.' },
  correlatedByFields: { kind: 'unsupported', description: 'Signal correlation rules only.', isNeutral: isEmpty },
  correlatedQueryIndex: { kind: 'unsupported', description: 'Signal correlation rules only.', isNeutral: isEmpty },
  ruleId: { kind: 'unsupported', description: 'Signal correlation rules only.', isNeutral: isEmpty },
  defaultRuleId: { kind: 'unsupported', description: 'Signal correlation rules only.', isNeutral: isEmpty },
};

/** One rule case. */
export const caseSchema = z.object({
  name: z.string().nullish(),
  status: z.enum(SEVERITIES),
  condition: z.string().nullish(),
  customStatus: z.enum(SEVERITIES).nullish(),
  notifications: z.unknown().optional(),
  actions: z.unknown().optional(),
});
export type RuleCaseDocument = z.infer<typeof caseSchema>;

export const CASE_FIELDS: Readonly<Record<keyof typeof caseSchema.shape, FieldInfo>> = {
  name: { kind: 'supported', description: "Case name, appended to the signal's case name; '' when absent." },
  status: { kind: 'supported', description: 'Severity of the signal: info, low, medium, high or critical.' },
  condition: { kind: 'supported', description: 'When the case holds, e.g. `a > 0 && b >= 3`; required except in new_value rules (no condition: any new value).' },
  customStatus: { kind: 'supported', description: "A severity overridden in Datadog for a default rule; when present it replaces `status`." },
  notifications: { kind: 'metadata', description: 'Datadog notification targets; trailhound sends signals to its sinks instead.' },
  actions: { kind: 'unsupported', description: 'Response actions (block an IP, disable a user…) Datadog runs when the case holds.', isNeutral: isEmpty },
};

/** The `options` object. */
export const optionsSchema = z.object({
  detectionMethod: z.enum(DATADOG_DETECTION_METHODS).nullish(),
  evaluationWindow: z.number().int().nonnegative(),
  keepAlive: z.number().int().nonnegative(),
  maxSignalDuration: z.number().int().nonnegative(),
  decreaseCriticalityBasedOnEnv: z.boolean().nullish(),
  newValueOptions: z.unknown().optional(),
  anomalyDetectionOptions: z.unknown().optional(),
  impossibleTravelOptions: z.unknown().optional(),
  sequenceDetectionOptions: z.unknown().optional(),
  thirdPartyRuleOptions: z.unknown().optional(),
  complianceRuleOptions: z.unknown().optional(),
  hardcodedEvaluatorType: z.unknown().optional(),
});
export type RuleOptionsDocument = z.infer<typeof optionsSchema>;

const otherMethod = (method: string): FieldInfo => ({ kind: 'metadata', description: `Options of the ${method} detection method; ignored (as by Datadog) when the rule uses another method.` });

export const OPTIONS_FIELDS: Readonly<Record<keyof typeof optionsSchema.shape, FieldInfo>> = {
  detectionMethod: { kind: 'supported', description: '`threshold` (the default), `sequence_detection` or `new_value`.' },
  evaluationWindow: { kind: 'supported', description: 'Seconds of event time over which the queries are counted.' },
  keepAlive: { kind: 'supported', description: 'Seconds without a new match after which an open signal closes.' },
  maxSignalDuration: { kind: 'supported', description: 'Seconds after its first event at which a signal closes whatever happens.' },
  decreaseCriticalityBasedOnEnv: { kind: 'supported', description: 'When true, the severity is one step lower for events of a staging, test or dev environment (see docs/detection.md).' },
  newValueOptions: { kind: 'supported', description: 'Learning and forgetting of a new_value rule (checked by src/rules/aggregations.ts); ignored by the other methods.' },
  anomalyDetectionOptions: otherMethod('anomaly_detection'),
  impossibleTravelOptions: otherMethod('impossible_travel'),
  sequenceDetectionOptions: { kind: 'supported', description: 'Steps and step transitions of a sequence_detection rule (checked by src/rules/sequence-options.ts); ignored by the other methods.' },
  thirdPartyRuleOptions: otherMethod('third_party'),
  complianceRuleOptions: { kind: 'metadata', description: 'Options of cloud configuration rules; unused by log detection rules.' },
  hardcodedEvaluatorType: otherMethod('hardcoded'),
};

/** A rule's own fields, with queries, cases and options checked separately (so that every problem is found). */
export const ruleTopSchema = z.object({
  id: z.string().min(1).max(200).nullish(),
  name: z.string().min(1),
  message: z.string().nullish(),
  tags: stringList.nullish(),
  isEnabled: z.boolean().nullish(),
  type: z.string().nullish(),
  queries: z.array(z.unknown()).min(1),
  cases: z.array(z.unknown()).min(1),
  options: z.record(z.string(), z.unknown()),
  // Checked by src/rules/tests.ts against ruleTestSchema (below), so that a test's problems carry
  // E_RULE_TEST_* codes and never keep the rule itself from loading.
  tests: z.unknown().optional(),
  createdAt: z.unknown().optional(),
  creationAuthorId: z.unknown().optional(),
  updateAuthorId: z.unknown().optional(),
  updatedAt: z.unknown().optional(),
  creator: z.unknown().optional(),
  updater: z.unknown().optional(),
  isDefault: z.unknown().optional(),
  isDeleted: z.unknown().optional(),
  isBeta: z.unknown().optional(),
  version: z.unknown().optional(),
  compatibleVersion: z.unknown().optional(),
  defaultTags: z.unknown().optional(),
  deprecationDate: z.unknown().optional(),
  hasExtendedTitle: z.boolean().nullish(),
  customName: z.unknown().optional(),
  customMessage: z.unknown().optional(),
  blocking: z.unknown().optional(),
  complianceSignalOptions: z.unknown().optional(),
  filters: z.unknown().optional(),
  groupSignalsBy: stringList.nullish(),
  referenceTables: z.unknown().optional(),
  thirdPartyCases: z.unknown().optional(),
  schedulingOptions: z.unknown().optional(),
  calculatedFields: z.unknown().optional(),
});

const metadata = (description: string): FieldInfo => ({ kind: 'metadata', description });

export const RULE_FIELDS: Readonly<Record<keyof typeof ruleTopSchema.shape, FieldInfo>> = {
  id: { kind: 'supported', description: "Rule id; from the Datadog export's `id`, else the file name without extension." },
  name: { kind: 'supported', description: 'Rule name; also the signal title (a template).' },
  message: { kind: 'supported', description: "Signal message (a template); '' when absent." },
  tags: { kind: 'supported', description: 'Tags copied onto every signal.' },
  isEnabled: { kind: 'supported', description: 'false keeps the rule loaded but not run; true when absent.' },
  type: { kind: 'supported', description: 'Rule type; only `log_detection` (or absent) is run.' },
  queries: { kind: 'supported', description: 'The queries, at least one.' },
  cases: { kind: 'supported', description: 'The cases, tried in order, at least one.' },
  options: { kind: 'supported', description: 'Detection method and time windows.' },
  tests: { kind: 'supported', description: 'trailhound rule tests: events built from named base records and the signals expected (docs/rule-tests.md).' },
  createdAt: metadata('When the rule was created (ms).'),
  creationAuthorId: metadata('Datadog user id of the author.'),
  updateAuthorId: metadata('Datadog user id of the last editor.'),
  updatedAt: metadata('When the rule was last changed (ms).'),
  creator: metadata('Datadog user who created the rule.'),
  updater: metadata('Datadog user who last changed the rule.'),
  isDefault: metadata('Whether the rule is a Datadog default rule.'),
  isDeleted: metadata('Whether the rule was deleted in Datadog.'),
  isBeta: metadata('Whether Datadog marks the rule as beta.'),
  version: metadata('Datadog rule version.'),
  compatibleVersion: metadata('Version at which the detection logic last changed.'),
  defaultTags: metadata('Tags of a default rule (already included in `tags`).'),
  deprecationDate: metadata('When Datadog deprecates the rule (ms).'),
  hasExtendedTitle: { kind: 'supported', description: 'When true, the signal title ends with the group-by values of the signal.' },
  customName: metadata('A name overridden in Datadog for a default rule.'),
  customMessage: metadata('A message overridden in Datadog for a default rule.'),
  blocking: metadata('Whether the rule blocks requests (application security rules).'),
  complianceSignalOptions: metadata('Compliance signal options (cloud configuration rules only).'),
  filters: { kind: 'unsupported', description: 'Suppression/require filters applied before detection.', isNeutral: isEmpty },
  groupSignalsBy: { kind: 'supported', description: 'A subset of the group-by fields: one signal per value of these fields collects the groups that share it.' },
  referenceTables: { kind: 'unsupported', description: 'Reference tables filtering the events.', isNeutral: isEmpty },
  thirdPartyCases: { kind: 'unsupported', description: 'Cases of third-party rules.', isNeutral: isEmpty },
  schedulingOptions: { kind: 'unsupported', description: 'Run the rule on a schedule instead of in real time.', isNeutral: isEmpty },
  calculatedFields: { kind: 'unsupported', description: 'Fields computed for scheduled rules.', isNeutral: isEmpty },
};

/** What a rule test expects: at least one signal from the rule under test, or none. */
export const RULE_TEST_EXPECTATIONS = ['signal', 'none'] as const;

/**
 * One event of a rule test: a named base record (`rules/bases/<name>.json`) or an inline record,
 * then a deep-merge patch (null deletes a key, arrays replace), then `after` seconds after the
 * previous event of the test. docs/rule-tests.md describes the semantics.
 */
export const ruleTestEventSchema = z.object({
  base: z.string().min(1).optional(),
  event: z.record(z.string(), z.unknown()).optional(),
  patch: z.record(z.string(), z.unknown()).optional(),
  after: z.number().finite().nonnegative().optional(),
});
export type RuleTestEventDocument = z.infer<typeof ruleTestEventSchema>;

export const RULE_TEST_EVENT_FIELDS: Readonly<Record<keyof typeof ruleTestEventSchema.shape, string>> = {
  base: 'Name of a base record: the file bases/<name>.json beside the rules (or the built-in rules/bases/).',
  event: 'A whole CloudTrail record written inline, instead of base.',
  patch: 'Deep-merged into the record: objects merge key by key, other values and arrays replace, null deletes the key.',
  after: 'Seconds after the eventTime of the previous event of the test; sets this event’s eventTime.',
};

/** One rule test (a rule file's `tests:` list holds these). */
export const ruleTestSchema = z.object({
  name: z.string().min(1),
  expect: z.enum(RULE_TEST_EXPECTATIONS),
  signals: z.number().int().nonnegative().optional(),
  severity: z.enum(SEVERITIES).optional(),
  title: z.string().min(1).optional(),
  group: z.record(z.string(), z.string()).optional(),
  events: z.array(ruleTestEventSchema).min(1),
});
export type RuleTestDocument = z.infer<typeof ruleTestSchema>;

export const RULE_TEST_FIELDS: Readonly<Record<keyof typeof ruleTestSchema.shape, string>> = {
  name: 'What the test shows; unique in the file.',
  expect: '`signal`: the rule raises at least one signal; `none`: it raises none.',
  signals: 'The exact number of signals the rule raises.',
  severity: 'The severity of every signal raised.',
  title: 'Text that every signal title contains.',
  group: 'Group-by values (field as written in the rule → value) that some signal has exactly.',
  events: 'The events fed to the rule, at least one, in order.',
};

/**
 * A base record file, `bases/<name>.json`: one real CloudTrail record, unchanged, with where it was
 * captured and under which licence. Tests name it by `<name>`.
 */
export const ruleTestBaseSchema = z.object({
  source: z.string().min(1),
  licence: z.string().min(1),
  record: z.record(z.string(), z.unknown()),
});
export type RuleTestBaseDocument = z.infer<typeof ruleTestBaseSchema>;

export const RULE_TEST_BASE_FIELDS: Readonly<Record<keyof typeof ruleTestBaseSchema.shape, string>> = {
  source: 'Where the record comes from: `<fixture path relative to test/fixtures/cloudtrail>#<eventID of the record>`.',
  licence: 'The licence of the corpus the record comes from.',
  record: 'The real CloudTrail record, unchanged.',
};

/** The complete rule document, for tools (JSON Schema generation, editors). The loader checks it piecewise. */
export const ruleSchema = ruleTopSchema.extend({
  queries: z.array(querySchema).min(1),
  cases: z.array(caseSchema).min(1),
  options: optionsSchema,
  tests: z.array(ruleTestSchema).nullish(),
});
export type RuleDocument = z.infer<typeof ruleSchema>;

/** Keys a Datadog API envelope may carry around the rule: `{data: rule}` or `{data: {id, type, attributes: rule}}`. */
export const ENVELOPE_FIELDS: readonly string[] = ['data', 'meta', 'links'];
export const ENVELOPE_DATA_FIELDS: readonly string[] = ['id', 'type', 'attributes', 'relationships', 'links', 'meta'];
