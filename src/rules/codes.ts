/**
 * Every diagnostic code the rule loader can report, with its severity and meaning. The codes are
 * stable: scripts and CI match on them. docs/rule-format.md lists the same table.
 */
export const RULE_DIAGNOSTIC_CODES = {
  E_RULE_SYNTAX: { severity: 'error', meaning: 'The file is not valid YAML or JSON.' },
  E_RULE_SCHEMA: { severity: 'error', meaning: 'A field has the wrong type, a required field is missing, or a value is not one Datadog allows.' },
  E_RULE_UNKNOWN_FIELD: { severity: 'error', meaning: 'A field that neither Datadog nor trailhound defines (usually a typo; the hint suggests the closest name).' },
  W_RULE_UNSUPPORTED_FIELD: { severity: 'warning', meaning: 'A Datadog field that would change detection but that trailhound does not implement yet; the rule runs without it.' },
  E_RULE_UNSUPPORTED: { severity: 'error', meaning: 'A detection method, aggregation, rule type or condition operator that trailhound does not implement yet.' },
  E_RULE_WINDOW: { severity: 'error', meaning: "evaluationWindow, keepAlive or maxSignalDuration is not one of Datadog's allowed values." },
  E_RULE_WINDOW_ORDER: { severity: 'error', meaning: 'The evaluation window is longer than keepAlive or than maxSignalDuration.' },
  E_RULE_DUPLICATE_ID: { severity: 'error', meaning: 'Two rules (in the same or different files) have the same id.' },
  E_RULE_DUPLICATE_QUERY: { severity: 'error', meaning: 'Two queries of a rule have the same name (an unnamed query is named a, b, c… by position).' },
  E_RULE_GROUP_BY_MISMATCH: { severity: 'error', meaning: 'The queries of a rule do not share the same groupByFields / hasOptionalGroupByFields / hasGroupByFanOut.' },
  E_RULE_GROUP_SIGNALS_BY: { severity: 'error', meaning: 'groupSignalsBy names a field that is not one of the group-by fields of the queries.' },
  E_RULE_SEQUENCE: { severity: 'error', meaning: 'The steps of a sequence rule do not form one linear chain (duplicate or missing links, a step with two parents or two children, too many steps, more than 24 hours in all).' },
  E_RULE_SEQUENCE_UNKNOWN_STEP: { severity: 'error', meaning: 'A step transition names a step the sequence does not have.' },
  E_RULE_SEQUENCE_CYCLE: { severity: 'error', meaning: 'The step transitions of a sequence rule form a cycle.' },
  W_RULE_SEQUENCE_ORDER: { severity: 'warning', meaning: 'The steps of a sequence rule are not listed in the order of their transitions; trailhound follows the transitions.' },
  E_RULE_AGGREGATION: { severity: 'error', meaning: 'A query aggregation lacks the fields it needs (distinctFields for cardinality, metrics for sum, max and new_value) or does not fit the detection method.' },
  W_RULE_AGGREGATION_FIELD_UNUSED: { severity: 'warning', meaning: "A query gives distinctFields, metrics or metric that its aggregation does not use (or metric beside a metrics that lacks it)." },
  W_RULE_UNKNOWN_FIELD: { severity: 'warning', meaning: 'A query, group-by or message uses an attribute that is not in the field catalogue (often a typo).' },
  W_RULE_EMPTY: { severity: 'warning', meaning: 'The file holds no rule.' },
  E_QUERY_SYNTAX: { severity: 'error', meaning: 'A query is not valid Datadog log search syntax.' },
  E_CONDITION_SYNTAX: { severity: 'error', meaning: 'A case condition is not valid.' },
  E_CONDITION_UNKNOWN_QUERY: { severity: 'error', meaning: 'A case condition names a query the rule does not have.' },
  W_CONDITION_NOT_PORTABLE: { severity: 'warning', meaning: 'A case condition uses an operator (<, <=, ==, !=) that Datadog does not document; trailhound accepts it, Datadog may not.' },
  E_TEMPLATE_SYNTAX: { severity: 'error', meaning: 'The message or name template is malformed (unclosed {{, unbalanced blocks, bad quoting).' },
  W_TEMPLATE_UNKNOWN: { severity: 'warning', meaning: 'The message or name uses a {{…}} variable or block that trailhound does not know; it renders empty.' },
} as const satisfies Record<string, { severity: 'error' | 'warning'; meaning: string }>;

export type RuleDiagnosticCode = keyof typeof RULE_DIAGNOSTIC_CODES;
