import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parse as parseYaml } from 'yaml';
import type { Diagnostic, SourcePosition } from '../core/types.js';
import { TrailhoundError } from '../core/errors.js';
import { compileQuery } from '../query/compile.js';
import { RULE_DIAGNOSTIC_CODES } from './codes.js';
import type { RuleFile } from './load.js';
import { defaultQueryName, loadRules, loadRulesOrThrow } from './load.js';

const FLAGSHIP_PATH = 'rules/bd9-8o0-553.yaml';
const FLAGSHIP_TEXT = readFileSync(new URL('../../rules/bd9-8o0-553.yaml', import.meta.url), 'utf8');

const BASE = `name: Test rule
queries:
  - name: a
    query: source:cloudtrail @evt.name:StopInstances
    groupByFields: ['@userIdentity.arn']
cases:
  - name: one
    status: low
    condition: a > 0
options:
  detectionMethod: threshold
  evaluationWindow: 900
  keepAlive: 3600
  maxSignalDuration: 3600
message: Stopped by {{@userIdentity.arn}}
`;

/** `text` with `from` replaced by `to`; fails loudly when `from` is not there (so a test cannot silently test BASE). */
function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`'${from}' is not in the text`);
  return text.replace(from, to);
}

/** 1-based position of the `occurrence`-th `needle` in `text`, computed independently of the loader. */
function at(text: string, needle: string, occurrence = 1): SourcePosition {
  let offset = -1;
  for (let i = 0; i < occurrence; i++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`'${needle}' occurs fewer than ${occurrence} times`);
  }
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

function shift(position: SourcePosition, columns: number): SourcePosition {
  return { line: position.line, column: position.column + columns };
}

function only(files: readonly RuleFile[], code: string): Diagnostic[] {
  return loadRules(files).diagnostics.filter((d) => d.code === code);
}

function file(text: string, path = 'rules/test.yaml'): RuleFile {
  return { path, text };
}

const badQuery = 'source:cloudtrail @evt.name:(StopInstances';
const badQueryColumn = compileQuery(badQuery).diagnostics[0]?.position?.column ?? 0;

interface Row {
  readonly name: string;
  readonly files: readonly RuleFile[];
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly file: string;
  readonly path?: string;
  readonly position?: SourcePosition;
  readonly hint?: RegExp;
  /** Whether the rule still loads (warnings only). */
  readonly loads: boolean;
}

function row(name: string, text: string, code: string, expected: { path?: string; position?: SourcePosition; hint?: RegExp; filePath?: string }): Row {
  const { filePath = 'rules/test.yaml', ...rest } = expected;
  const severity = RULE_DIAGNOSTIC_CODES[code as keyof typeof RULE_DIAGNOSTIC_CODES].severity;
  return { name, files: [file(text, filePath)], code, severity, file: filePath, loads: severity === 'warning', ...rest };
}

const JSON_RULE = JSON.stringify(parseYaml(BASE), null, 2);
const tabbed = 'name: x\n\t- tab\n';
const duplicateKeys = '{"name": "x",\n "name": "y"}';
const missingComma = '{"name": "x" "tags": []}';

const DUPLICATE_QUERIES = `name: Dup
queries:
  - query: source:cloudtrail
  - name: a
    query: '@evt.name:StopInstances'
cases:
  - status: low
    condition: a > 0
options: {evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 3600}
`;

/** A two-step sequence rule (the sequence suite itself is sequence-options.test.ts). */
const SEQUENCE = edit(
  edit(BASE, 'detectionMethod: threshold', 'detectionMethod: sequence_detection'),
  'maxSignalDuration: 3600\n',
  `maxSignalDuration: 3600
  sequenceDetectionOptions:
    steps:
      - { name: first, condition: a > 0, evaluationWindow: 60 }
      - { name: second, condition: a > 1, evaluationWindow: 60 }
    stepTransitions:
      - { parent: first, child: second, evaluationWindow: 900 }
`,
);
const SEQUENCE_CYCLE = edit(SEQUENCE, '      - { parent: first, child: second, evaluationWindow: 900 }\n', '      - { parent: first, child: second, evaluationWindow: 900 }\n      - { parent: second, child: first, evaluationWindow: 900 }\n');
const SEQUENCE_TWINS = edit(SEQUENCE, '{ name: second,', '{ name: first,');
const SEQUENCE_REVERSED = edit(SEQUENCE, '{ parent: first, child: second,', '{ parent: second, child: first,');

const ROWS: Row[] = [
  row('YAML syntax: a tab used as indentation', tabbed, 'E_RULE_SYNTAX', { position: at(tabbed, '\t'), hint: /indentation/ }),
  row('JSON syntax: a duplicate key', duplicateKeys, 'E_RULE_SYNTAX', { position: at(duplicateKeys, '"name": "y"'), filePath: 'rules/test.json' }),
  row('JSON syntax: a missing comma', missingComma, 'E_RULE_SYNTAX', { position: at(missingComma, '"tags"'), filePath: 'rules/test.json', hint: /commas/ }),
  row('a wrongly typed field', edit(BASE, 'message:', 'isEnabled: "yes"\nmessage:'), 'E_RULE_SCHEMA', { path: 'isEnabled', position: at(edit(BASE, 'message:', 'isEnabled: "yes"\nmessage:'), '"yes"') }),
  row('a severity Datadog does not have', edit(BASE, 'status: low', 'status: severe'), 'E_RULE_SCHEMA', { path: 'cases[0].status', position: at(edit(BASE, 'status: low', 'status: severe'), 'severe') }),
  row('a missing options block', BASE.slice(0, BASE.indexOf('options:')), 'E_RULE_SCHEMA', { path: 'options', position: { line: 1, column: 1 }, hint: /add the field/ }),
  row('no queries', edit(BASE, 'queries:\n  - name: a\n    query: source:cloudtrail @evt.name:StopInstances\n    groupByFields: [\'@userIdentity.arn\']\n', 'queries: []\n'), 'E_RULE_SCHEMA', {
    path: 'queries',
    position: at(edit(BASE, "queries:\n  - name: a\n    query: source:cloudtrail @evt.name:StopInstances\n    groupByFields: ['@userIdentity.arn']\n", 'queries: []\n'), '[]'),
  }),
  row('a query name that a condition cannot name', edit(BASE, '- name: a', '- name: stop instance'), 'E_RULE_SCHEMA', { path: 'queries[0].name', position: at(BASE, 'a\n    query') }),
  row('a Terraform-style option name', edit(BASE, 'keepAlive: 3600', 'keepAlive: 3600\n  evaluation_window: 900'), 'E_RULE_UNKNOWN_FIELD', {
    path: 'options.evaluation_window',
    position: at(edit(BASE, 'keepAlive: 3600', 'keepAlive: 3600\n  evaluation_window: 900'), 'evaluation_window'),
    hint: /did you mean 'evaluationWindow'/,
  }),
  row('a misspelt rule field', `tagz: [a]\n${BASE}`, 'E_RULE_UNKNOWN_FIELD', { path: 'tagz', position: { line: 1, column: 1 }, hint: /did you mean 'tags'/ }),
  row('a misspelt case field in JSON', edit(JSON_RULE, '"condition"', '"conditon"'), 'E_RULE_UNKNOWN_FIELD', {
    path: 'cases[0].conditon',
    position: at(edit(JSON_RULE, '"condition"', '"conditon"'), '"conditon"'),
    hint: /did you mean 'condition'/,
    filePath: 'rules/test.json',
  }),
  row('an unknown key in a Datadog envelope', `{"data": ${JSON_RULE}, "dat": 1}`, 'E_RULE_UNKNOWN_FIELD', { path: 'dat', position: at(`{"data": ${JSON_RULE}, "dat": 1}`, '"dat"'), hint: /did you mean 'data'/, filePath: 'rules/test.json' }),
  row('a Datadog field that would change detection', `referenceTables: [{tableName: known_ips}]\n${BASE}`, 'W_RULE_UNSUPPORTED_FIELD', { path: 'referenceTables', position: { line: 1, column: 1 }, hint: /remove the field/ }),
  row('a case action', edit(BASE, 'status: low', 'status: low\n    actions: [{type: block_ip}]'), 'W_RULE_UNSUPPORTED_FIELD', {
    path: 'cases[0].actions',
    position: at(edit(BASE, 'status: low', 'status: low\n    actions: [{type: block_ip}]'), 'actions'),
  }),
  row('groupSignalsBy naming a field the queries do not group by', `groupSignalsBy: ['@userIdentity.ar']\n${BASE}`, 'E_RULE_GROUP_SIGNALS_BY', {
    path: 'groupSignalsBy[0]',
    position: at(`groupSignalsBy: ['@userIdentity.ar']\n${BASE}`, "'@userIdentity.ar'"),
    hint: /did you mean '@userIdentity\.arn'/,
  }),
  row('a query extension that does not parse', edit(BASE, "    groupByFields: ['@userIdentity.arn']", "    groupByFields: ['@userIdentity.arn']\n    customQueryExtension: '-@userIdentity.type:(AWSService'"), 'E_QUERY_SYNTAX', {
    path: 'queries[0].customQueryExtension',
    position: shift(
      at(edit(BASE, "    groupByFields: ['@userIdentity.arn']", "    groupByFields: ['@userIdentity.arn']\n    customQueryExtension: '-@userIdentity.type:(AWSService'"), '-@userIdentity.type'),
      (compileQuery('-@userIdentity.type:(AWSService').diagnostics[0]?.position?.column ?? 0) - 1,
    ),
  }),
  row('a misspelt attribute in a query extension', edit(BASE, "    groupByFields: ['@userIdentity.arn']", "    groupByFields: ['@userIdentity.arn']\n    customQueryExtension: -@userIdentity.tpye:AWSService"), 'W_RULE_UNKNOWN_FIELD', {
    path: 'queries[0].customQueryExtension',
    position: at(edit(BASE, "    groupByFields: ['@userIdentity.arn']", "    groupByFields: ['@userIdentity.arn']\n    customQueryExtension: -@userIdentity.tpye:AWSService"), '@userIdentity.tpye'),
    hint: /userIdentity\.type/,
  }),
  row('the anomaly_detection detection method', edit(BASE, 'detectionMethod: threshold', 'detectionMethod: anomaly_detection'), 'E_RULE_UNSUPPORTED', {
    path: 'options.detectionMethod',
    position: at(edit(BASE, 'detectionMethod: threshold', 'detectionMethod: anomaly_detection'), 'anomaly_detection'),
    hint: /threshold/,
  }),
  row('the geo_data aggregation', edit(BASE, '    groupByFields', '    aggregation: geo_data\n    groupByFields'), 'E_RULE_UNSUPPORTED', {
    path: 'queries[0].aggregation',
    position: at(edit(BASE, '    groupByFields', '    aggregation: geo_data\n    groupByFields'), 'geo_data'),
  }),
  row('a cardinality aggregation without distinctFields', edit(BASE, '    groupByFields', '    aggregation: cardinality\n    groupByFields'), 'E_RULE_AGGREGATION', {
    path: 'queries[0].aggregation',
    position: at(edit(BASE, '    groupByFields', '    aggregation: cardinality\n    groupByFields'), 'cardinality'),
    hint: /distinctFields/,
  }),
  row('distinctFields on a count query', edit(BASE, '    groupByFields', "    distinctFields: ['@sourceIPAddress']\n    groupByFields"), 'W_RULE_AGGREGATION_FIELD_UNUSED', {
    path: 'queries[0].distinctFields',
    position: at(edit(BASE, '    groupByFields', "    distinctFields: ['@sourceIPAddress']\n    groupByFields"), 'distinctFields'),
  }),
  row('a workload security rule', `type: workload_security\n${BASE}`, 'E_RULE_UNSUPPORTED', { path: 'type', position: at(`type: workload_security\n${BASE}`, 'workload_security') }),
  row("a condition with Datadog's then operator", edit(BASE, 'condition: a > 0', 'condition: a > 0 then a > 1'), 'E_RULE_UNSUPPORTED', {
    path: 'cases[0].condition',
    position: at(edit(BASE, 'condition: a > 0', 'condition: a > 0 then a > 1'), 'then'),
  }),
  row('an evaluation window Datadog does not offer', edit(BASE, 'evaluationWindow: 900', 'evaluationWindow: 1000'), 'E_RULE_WINDOW', {
    path: 'options.evaluationWindow',
    position: at(edit(BASE, 'evaluationWindow: 900', 'evaluationWindow: 1000'), '1000'),
    hint: /nearest allowed value is 900/,
  }),
  row('a maxSignalDuration above a day', edit(BASE, 'maxSignalDuration: 3600', 'maxSignalDuration: 100000'), 'E_RULE_WINDOW', {
    path: 'options.maxSignalDuration',
    position: at(edit(BASE, 'maxSignalDuration: 3600', 'maxSignalDuration: 100000'), '100000'),
    hint: /86400/,
  }),
  row('an evaluation window longer than keepAlive', edit(BASE, 'keepAlive: 3600', 'keepAlive: 600'), 'E_RULE_WINDOW_ORDER', { path: 'options.evaluationWindow', position: at(BASE, '900') }),
  row('an evaluation window longer than maxSignalDuration', edit(BASE, 'maxSignalDuration: 3600', 'maxSignalDuration: 600'), 'E_RULE_WINDOW_ORDER', { path: 'options.evaluationWindow', position: at(BASE, '900'), hint: /maxSignalDuration/ }),
  row('an unnamed query and a query named a', DUPLICATE_QUERIES, 'E_RULE_DUPLICATE_QUERY', { path: 'queries[1].name', position: at(DUPLICATE_QUERIES, "a\n    query: '@evt") }),
  row('queries grouped differently', edit(BASE, "    groupByFields: ['@userIdentity.arn']\n", "    groupByFields: ['@userIdentity.arn']\n  - name: b\n    query: source:cloudtrail\n    groupByFields: ['@userIdentity.accountId']\n"), 'E_RULE_GROUP_BY_MISMATCH', {
    path: 'queries[1].groupByFields',
    position: at(edit(BASE, "    groupByFields: ['@userIdentity.arn']\n", "    groupByFields: ['@userIdentity.arn']\n  - name: b\n    query: source:cloudtrail\n    groupByFields: ['@userIdentity.accountId']\n"), "['@userIdentity.accountId']"),
  }),
  row('a step transition to an unknown step', edit(SEQUENCE, 'child: second', 'child: secnd'), 'E_RULE_SEQUENCE_UNKNOWN_STEP', {
    path: 'options.sequenceDetectionOptions.stepTransitions[0].child',
    position: at(edit(SEQUENCE, 'child: second', 'child: secnd'), 'secnd'),
    hint: /did you mean 'second'/,
  }),
  row('step transitions that loop', SEQUENCE_CYCLE, 'E_RULE_SEQUENCE_CYCLE', { path: 'options.sequenceDetectionOptions.stepTransitions[1]', position: at(SEQUENCE_CYCLE, '{ parent: second') }),
  row('two steps with one name', SEQUENCE_TWINS, 'E_RULE_SEQUENCE', { path: 'options.sequenceDetectionOptions.steps[1].name', position: at(SEQUENCE_TWINS, 'first', 2) }),
  row('steps listed against their transitions', SEQUENCE_REVERSED, 'W_RULE_SEQUENCE_ORDER', { path: 'options.sequenceDetectionOptions.steps', position: at(SEQUENCE_REVERSED, '- { name: first') }),
  row('a misspelt attribute in a query', edit(BASE, '@evt.name:StopInstances', '@evt.name:StopInstances @userIdentity.arnn:x'), 'W_RULE_UNKNOWN_FIELD', {
    path: 'queries[0].query',
    position: at(edit(BASE, '@evt.name:StopInstances', '@evt.name:StopInstances @userIdentity.arnn:x'), '@userIdentity.arnn'),
    hint: /did you mean '@userIdentity.arn'/,
  }),
  row('a misspelt group-by attribute', BASE.replace(/@userIdentity\.arn'/g, "@userIdentity.usrname'"), 'W_RULE_UNKNOWN_FIELD', {
    path: 'queries[0].groupByFields[0]',
    position: at(BASE, "'@userIdentity.arn'"),
    hint: /did you mean '@userIdentity.userName'/,
  }),
  row('a misspelt attribute in the message', edit(BASE, '{{@userIdentity.arn}}', '{{@userIdentity.sesion_name}}'), 'W_RULE_UNKNOWN_FIELD', {
    path: 'message',
    position: at(edit(BASE, '{{@userIdentity.arn}}', '{{@userIdentity.sesion_name}}'), '@userIdentity.sesion_name'),
    hint: /session_name/,
  }),
  { ...row('an empty file', '# nothing here yet\n', 'W_RULE_EMPTY', {}), loads: false },
  row('a query syntax error, moved onto the file', edit(BASE, 'source:cloudtrail @evt.name:StopInstances', badQuery), 'E_QUERY_SYNTAX', {
    path: 'queries[0].query',
    position: shift(at(edit(BASE, 'source:cloudtrail @evt.name:StopInstances', badQuery), badQuery), badQueryColumn - 1),
  }),
  row('a query syntax error in a JSON string', edit(JSON_RULE, 'source:cloudtrail @evt.name:StopInstances', badQuery), 'E_QUERY_SYNTAX', {
    path: 'queries[0].query',
    position: shift(at(edit(JSON_RULE, 'source:cloudtrail @evt.name:StopInstances', badQuery), badQuery), badQueryColumn - 1),
    filePath: 'rules/test.json',
  }),
  row('a query syntax error after an escape falls back to the string', edit(BASE, 'query: source:cloudtrail @evt.name:StopInstances', `query: "\\u0073${badQuery.slice(1)}"`), 'E_QUERY_SYNTAX', {
    path: 'queries[0].query',
    position: at(edit(BASE, 'query: source:cloudtrail @evt.name:StopInstances', `query: "\\u0073${badQuery.slice(1)}"`), '"\\u0073'),
  }),
  row('an incomplete condition', edit(BASE, 'condition: a > 0', 'condition: a >'), 'E_CONDITION_SYNTAX', { path: 'cases[0].condition', position: shift(at(BASE, 'a > 0'), 3) }),
  row('a condition naming a missing query', edit(BASE, 'condition: a > 0', 'condition: a > 0 && b > 0'), 'E_CONDITION_UNKNOWN_QUERY', {
    path: 'cases[0].condition',
    position: at(edit(BASE, 'condition: a > 0', 'condition: a > 0 && b > 0'), 'b > 0'),
  }),
  row('a condition Datadog may refuse', edit(BASE, 'condition: a > 0', 'condition: a == 1'), 'W_CONDITION_NOT_PORTABLE', { path: 'cases[0].condition', position: at(edit(BASE, 'condition: a > 0', 'condition: a == 1'), '==') }),
  row('an unclosed block on the second line of a literal message', edit(BASE, 'message: Stopped by {{@userIdentity.arn}}', 'message: |\n  Stopped by {{@userIdentity.arn}}\n  {{#is_match "@x" "y"}} never closed'), 'E_TEMPLATE_SYNTAX', {
    path: 'message',
    position: at(edit(BASE, 'message: Stopped by {{@userIdentity.arn}}', 'message: |\n  Stopped by {{@userIdentity.arn}}\n  {{#is_match "@x" "y"}} never closed'), '{{#is_match'),
  }),
  row('an unknown variable in the title', edit(BASE, 'name: Test rule', 'name: Test rule on {{hots}}'), 'W_TEMPLATE_UNKNOWN', {
    path: 'name',
    position: at(edit(BASE, 'name: Test rule', 'name: Test rule on {{hots}}'), 'hots'),
    hint: /\{\{host\}\}/,
  }),
  {
    name: 'two files named alike in different folders',
    files: [file(BASE, 'rules/a/same.yaml'), file(BASE, 'rules/b/same.yaml')],
    code: 'E_RULE_DUPLICATE_ID',
    severity: 'error',
    file: 'rules/b/same.yaml',
    position: { line: 1, column: 1 },
    hint: /file name/,
    loads: false,
  },
  {
    name: 'two rules with the same explicit id',
    files: [file(`id: shared\n${BASE}`, 'rules/one.yaml'), file(`# second\nid: shared\n${BASE}`, 'rules/two.yaml')],
    code: 'E_RULE_DUPLICATE_ID',
    severity: 'error',
    file: 'rules/two.yaml',
    path: 'id',
    position: { line: 2, column: 1 },
    loads: false,
  },
];

describe('loadRules: every diagnostic, with its position', () => {
  it.each(ROWS)('$name gives $code', ({ files, code, severity, file: path, position, hint, loads, ...rest }) => {
    const result = loadRules(files);
    const found = result.diagnostics.filter((d) => d.code === code);
    expect(found.length, JSON.stringify(result.diagnostics, null, 1)).toBeGreaterThan(0);
    const diagnostic = found[0];
    expect(diagnostic?.severity).toBe(severity);
    expect(diagnostic?.file).toBe(path);
    if ('path' in rest) expect(diagnostic?.path).toBe(rest.path);
    expect(diagnostic?.position).toEqual(position);
    expect(diagnostic?.message.length).toBeGreaterThan(10);
    expect(diagnostic?.hint?.length ?? 0).toBeGreaterThan(5);
    if (hint) expect(diagnostic?.hint).toMatch(hint);
    const rulesFromThatFile = result.rules.filter((r) => r.file === path);
    expect(rulesFromThatFile.length > 0).toBe(loads);
  });

  it('covers every diagnostic code the loader documents', () => {
    const tested = new Set(ROWS.map((r) => r.code));
    expect(Object.keys(RULE_DIAGNOSTIC_CODES).filter((code) => !tested.has(code))).toEqual([]);
  });

  it('gives the BASE rule no diagnostics at all (so every row above is caused by its edit)', () => {
    expect(loadRules([file(BASE)]).diagnostics).toEqual([]);
    expect(loadRules([file(JSON_RULE, 'rules/test.json')]).diagnostics).toEqual([]);
  });

  it('does not warn about unsupported fields whose value changes nothing', () => {
    const text = `filters: []\ngroupSignalsBy: []\nreferenceTables: []\n${edit(BASE, 'keepAlive: 3600', 'keepAlive: 3600\n  decreaseCriticalityBasedOnEnv: false')}`;
    expect(loadRules([file(text)]).diagnostics).toEqual([]);
  });
});

describe('loadRules: collecting every problem at once', () => {
  const broken = edit(edit(edit(BASE, 'evaluationWindow: 900', 'evaluationWindow: 1000'), 'condition: a > 0', 'condition: a > 0 && zz > 1'), '@evt.name:StopInstances', '@evt.name:(StopInstances');

  it('reports problems from schema, windows, queries and conditions of one rule together', () => {
    const codes = loadRules([file(broken)]).diagnostics.map((d) => d.code);
    expect(codes).toEqual(expect.arrayContaining(['E_RULE_WINDOW', 'E_CONDITION_UNKNOWN_QUERY', 'E_QUERY_SYNTAX']));
  });

  it('orders a file’s diagnostics by position', () => {
    const lines = loadRules([file(broken)]).diagnostics.map((d) => d.position?.line ?? 0);
    expect(lines).toEqual([...lines].sort((a, b) => a - b));
  });

  it('leaves out the rule with errors and returns the others', () => {
    const result = loadRules([file(broken, 'rules/broken.yaml'), file(BASE, 'rules/good.yaml')]);
    expect(result.rules.map((r) => r.id)).toEqual(['good']);
    expect(result.diagnostics.every((d) => d.file === 'rules/broken.yaml')).toBe(true);
  });

  it('checks the other queries and cases when one of them has the wrong shape', () => {
    const text = edit(edit(BASE, "    groupByFields: ['@userIdentity.arn']\n", "    groupByFields: ['@userIdentity.arn']\n  - name: b\n    query: 42\n    groupByFields: ['@userIdentity.arn']\n"), 'condition: a > 0', 'condition: a > 0 && c > 0');
    const diagnostics = loadRules([file(text)]).diagnostics;
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([
      ['E_RULE_SCHEMA', 'queries[1].query'],
      ['E_CONDITION_UNKNOWN_QUERY', 'cases[0].condition'],
    ]);
  });

  it('returns disabled rules (the engine skips them)', () => {
    const result = loadRules([file(`isEnabled: false\n${BASE}`)]);
    expect(result.diagnostics).toEqual([]);
    expect(result.rules.map((r) => r.isEnabled)).toEqual([false]);
  });

  it('never throws on arbitrary text, YAML-looking or not', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.string({ unit: fc.constantFrom('name: ', 'queries:', '\n', '  - ', '{', '}', '[', ']', ':', '"', '&a ', '*a', '---', '{{', 'x') })), (text) => {
        const result = loadRules([file(text)]);
        expect(Array.isArray(result.rules)).toBe(true);
      }),
    );
  });

  it('never throws on arbitrary JSON documents', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const result = loadRules([file(JSON.stringify(value), 'rules/x.json')]);
        expect(result.rules).toEqual([]);
      }),
    );
  });
});

describe('loadRules: defaults and ids', () => {
  const minimal = `name: Minimal
queries:
  - query: source:cloudtrail
cases:
  - status: info
    condition: a > 0
options: {evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 300}
`;

  it('fills in Datadog defaults: count, no group-by, required group-by, case name, enabled, no tags, empty message', () => {
    const { rules, diagnostics } = loadRules([file(minimal, 'rules/minimal.yml')]);
    expect(diagnostics).toEqual([]);
    const rule = rules[0];
    expect(rule?.id).toBe('minimal');
    expect(rule?.queries.map((q) => [q.name, q.aggregation, q.groupByFields, q.distinctFields, q.hasOptionalGroupByFields])).toEqual([['a', 'count', [], [], false]]);
    expect(rule?.cases.map((c) => [c.name, c.status])).toEqual([['', 'info']]);
    expect(rule?.isEnabled).toBe(true);
    expect(rule?.tags).toEqual([]);
    expect(rule?.message.source).toBe('');
    expect(rule?.options).toEqual({ detectionMethod: 'threshold', evaluationWindow: 300, keepAlive: 300, maxSignalDuration: 300 });
    expect(rule?.title.source).toBe('Minimal');
    expect(rule?.file).toBe('rules/minimal.yml');
  });

  it('names unnamed queries a, b, c… by position, skipping none for named ones', () => {
    const text = `name: Three
queries:
  - query: '@evt.name:StopInstances'
  - name: ''
    query: '@evt.name:ModifyInstanceAttribute'
  - name: start
    query: '@evt.name:StartInstances'
  - query: source:cloudtrail
cases:
  - status: low
    condition: a > 0 && b > 0 && start > 0 && d >= 0
options: {evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 3600}
`;
    const { rules, diagnostics } = loadRules([file(text)]);
    expect(diagnostics).toEqual([]);
    expect(rules[0]?.queries.map((q) => q.name)).toEqual(['a', 'b', 'start', 'd']);
    expect(rules[0]?.cases[0]?.condition.holds({ a: 1, b: 1, start: 1 })).toBe(true);
    expect(rules[0]?.cases[0]?.condition.holds({ a: 1, b: 0, start: 1 })).toBe(false);
  });

  it.each([
    { index: 0, name: 'a' },
    { index: 2, name: 'c' },
    { index: 25, name: 'z' },
    { index: 26, name: 'aa' },
    { index: 27, name: 'ab' },
    { index: 701, name: 'zz' },
    { index: 702, name: 'aaa' },
  ])('names the query at index $index $name', ({ index, name }) => {
    expect(defaultQueryName(index)).toBe(name);
  });

  it('gives every index a different lower-case name', () => {
    const names = Array.from({ length: 2000 }, (_, i) => defaultQueryName(i));
    expect(new Set(names).size).toBe(names.length);
    expect(names.every((n) => /^[a-z]+$/.test(n))).toBe(true);
  });

  it('uses customStatus, when Datadog has one, as the severity', () => {
    const { rules } = loadRules([file(edit(BASE, 'status: low', 'status: low\n    customStatus: high'))]);
    expect(rules[0]?.cases[0]?.status).toBe('high');
  });

  it('keeps tags and the group-by as written', () => {
    const { rules } = loadRules([file(`tags: ['source:cloudtrail', 'team:x']\n${BASE}`)]);
    expect(rules[0]?.tags).toEqual(['source:cloudtrail', 'team:x']);
    expect(rules[0]?.groupByFields).toEqual(['@userIdentity.arn']);
  });

  it('numbers the ids of several rules in one file after the file name', () => {
    const { rules, diagnostics } = loadRules([file(`${BASE}---\n${edit(BASE, 'Test rule', 'Second')}`, 'rules/pair.yaml')]);
    expect(diagnostics).toEqual([]);
    expect(rules.map((r) => [r.id, r.name])).toEqual([
      ['pair-1', 'Test rule'],
      ['pair-2', 'Second'],
    ]);
  });

  it('loads a JSON array of rules', () => {
    const rule = parseYaml(BASE) as Record<string, unknown>;
    const { rules, diagnostics } = loadRules([file(JSON.stringify([{ ...rule, id: 'one' }, { ...rule, id: 'two' }]), 'rules/list.json')]);
    expect(diagnostics).toEqual([]);
    expect(rules.map((r) => r.id)).toEqual(['one', 'two']);
  });

  it('points a duplicate id in a list at the repeated id', () => {
    const rule = parseYaml(BASE) as Record<string, unknown>;
    const text = JSON.stringify([{ ...rule, id: 'one' }, { ...rule, id: 'one' }], null, 1);
    const [diagnostic] = only([file(text, 'rules/list.json')], 'E_RULE_DUPLICATE_ID');
    expect(diagnostic?.path).toBe('[1].id');
    expect(diagnostic?.position).toEqual(at(text, '"id"', 2));
  });
});

describe('loadRules: Datadog API exports load unchanged', () => {
  const flagship = parseYaml(FLAGSHIP_TEXT) as Record<string, unknown>;
  /** The flagship rule as Datadog's API returns a default rule: metadata, defaults and all. */
  const apiRule = {
    id: 'bd9-8o0-553',
    version: 3,
    name: flagship['name'],
    createdAt: 1595426400000,
    creationAuthorId: 0,
    updateAuthorId: 0,
    updatedAt: 1717000000000,
    isDefault: true,
    isEnabled: true,
    isDeleted: false,
    isBeta: false,
    deprecationDate: null,
    type: 'log_detection',
    message: flagship['message'],
    tags: flagship['tags'],
    defaultTags: flagship['tags'],
    hasExtendedTitle: true,
    filters: [],
    groupSignalsBy: [],
    referenceTables: [],
    thirdPartyCases: [],
    complianceSignalOptions: { userActivationStatus: null, userGroupByFields: null, defaultActivationStatus: null, defaultGroupByFields: null },
    queries: (flagship['queries'] as Record<string, unknown>[]).map((q) => ({ ...q, metrics: [], metric: null, dataSource: 'logs' })),
    cases: (flagship['cases'] as Record<string, unknown>[]).map((c) => ({ ...c, notifications: [], actions: [] })),
    options: {
      ...(flagship['options'] as Record<string, unknown>),
      decreaseCriticalityBasedOnEnv: false,
      newValueOptions: { forgetAfter: 7, learningDuration: 0, learningThreshold: 0, learningMethod: 'duration' },
      impossibleTravelOptions: { baselineUserLocations: false },
    },
  };
  const bare = JSON.stringify(apiRule, null, 2);

  it.each([
    { form: 'the bare rule', text: bare },
    { form: '{"data": rule}', text: JSON.stringify({ data: apiRule }, null, 2) },
    { form: '{"data": {"id", "type", "attributes": rule}}', text: JSON.stringify({ data: { id: 'bd9-8o0-553', type: 'signal_rule', attributes: { ...apiRule, id: undefined } } }, null, 2) },
    { form: 'a list response {"data": [rule], "meta": …}', text: JSON.stringify({ data: [apiRule], meta: { page: { total_count: 1 } } }) },
    { form: 'the bare rule written as YAML', text: FLAGSHIP_TEXT.replace('name: Possible', 'id: bd9-8o0-553\ncreatedAt: 1595426400000\nisDefault: true\nversion: 3\nname: Possible') },
  ])('loads $form with no diagnostic and the export id', ({ text }) => {
    const { rules, diagnostics } = loadRules([file(text, 'exports/datadog-export.json')]);
    expect(diagnostics).toEqual([]);
    expect(rules).toHaveLength(1);
    const rule = rules[0];
    expect(rule?.id).toBe('bd9-8o0-553');
    expect(rule?.name).toBe(flagship['name']);
    expect(rule?.queries.map((q) => q.name)).toEqual(['stop_instance', 'modify_instance_attribute', 'start_instance']);
    expect(rule?.cases.map((c) => [c.status, c.condition.text])).toEqual([['low', 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance > 0']]);
  });

  it('loads a new_value export with no diagnostic (new_value rules: src/rules/aggregations.test.ts)', () => {
    const rule = {
      name: 'New value',
      type: 'log_detection',
      isEnabled: true,
      queries: [{ query: 'source:cloudtrail', aggregation: 'new_value', metrics: ['@network.client.ip'], groupByFields: [], distinctFields: [], name: '' }],
      cases: [{ name: '', status: 'info', condition: '', notifications: [] }],
      options: { detectionMethod: 'new_value', keepAlive: 3600, maxSignalDuration: 86400, newValueOptions: { forgetAfter: 7, learningDuration: 7, learningMethod: 'duration', learningThreshold: 0 } },
    };
    const { rules, diagnostics } = loadRules([file(JSON.stringify(rule, null, 2), 'exports/x.json')]);
    expect(diagnostics).toEqual([]);
    expect(rules.map((r) => [r.options.detectionMethod, r.options.newValueOptions?.forgetAfter, r.queries[0]?.metrics])).toEqual([['new_value', 7, ['@network.client.ip']]]);
  });

  it.each([
    {
      method: 'impossible_travel',
      rule: {
        name: 'Impossible travel',
        queries: [{ query: 'source:cloudtrail', aggregation: 'geo_data', metrics: ['@network.client.geoip'], groupByFields: ['@usr.account_id'] }],
        cases: [{ status: 'medium', condition: '' }],
        options: { detectionMethod: 'impossible_travel', evaluationWindow: 0, keepAlive: 300, maxSignalDuration: 600, impossibleTravelOptions: { baselineUserLocations: true } },
      },
    },
  ])('answers a $method export with one E_RULE_UNSUPPORTED and nothing else', ({ method, rule }) => {
    const text = JSON.stringify(rule, null, 2);
    const { rules, diagnostics } = loadRules([file(text, 'exports/x.json')]);
    expect(rules).toEqual([]);
    expect(diagnostics.map((d) => [d.code, d.path, d.position])).toEqual([['E_RULE_UNSUPPORTED', 'options.detectionMethod', shift(at(text, `"detectionMethod": "${method}"`), '"detectionMethod": '.length)]]);
    expect(diagnostics[0]?.message).toMatch(/later version/);
  });

  it('answers a rule type other than log_detection with one E_RULE_UNSUPPORTED', () => {
    const text = JSON.stringify({ name: 'signal correlation', type: 'signal_correlation', queries: [{ ruleId: 'abc-def-ghi', correlatedByFields: ['host'] }], cases: [{ status: 'high', condition: 'a > 0' }], options: { evaluationWindow: 900 } });
    const { diagnostics } = loadRules([file(text, 'exports/x.json')]);
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([['E_RULE_UNSUPPORTED', 'type']]);
  });

  it('loads the export and the YAML rule file into the same detection', () => {
    const fromExport = loadRulesOrThrow([file(bare, 'exports/x.json')])[0];
    const fromFile = loadRulesOrThrow([file(FLAGSHIP_TEXT, FLAGSHIP_PATH)])[0];
    expect(fromExport?.queries.map((q) => [q.name, q.query.text, q.groupByFields])).toEqual(fromFile?.queries.map((q) => [q.name, q.query.text, q.groupByFields]));
    expect(fromExport?.options).toEqual(fromFile?.options);
    expect(fromExport?.tags).toEqual(fromFile?.tags);
  });

  it('gives the same rule whatever the order of the fields', () => {
    const keys = Object.keys(apiRule);
    fc.assert(
      fc.property(fc.shuffledSubarray(keys, { minLength: keys.length }), (order) => {
        const shuffled = Object.fromEntries(order.map((k) => [k, (apiRule as Record<string, unknown>)[k]]));
        const [rule] = loadRulesOrThrow([file(JSON.stringify(shuffled), 'exports/x.json')]);
        expect(rule?.id).toBe('bd9-8o0-553');
        expect(rule?.queries.map((q) => q.name)).toEqual(['stop_instance', 'modify_instance_attribute', 'start_instance']);
        expect(rule?.options.evaluationWindow).toBe(900);
      }),
      { numRuns: 30 },
    );
  });
});

describe('loadRulesOrThrow', () => {
  it('returns the rules when there are only warnings', () => {
    const rules = loadRulesOrThrow([file(`referenceTables: [{tableName: known_ips}]\n${BASE}`)]);
    expect(rules.map((r) => r.id)).toEqual(['test']);
  });

  it('throws a TrailhoundError listing every error with its place', () => {
    const text = edit(edit(BASE, 'evaluationWindow: 900', 'evaluationWindow: 1000'), 'status: low', 'status: severe');
    let thrown: unknown;
    try {
      loadRulesOrThrow([file(text)]);
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrailhoundError);
    expect((thrown as TrailhoundError).code).toBe('E_RULE_LOAD');
    expect((thrown as TrailhoundError).message).toContain(`rules/test.yaml:${at(text, '1000').line}:${at(text, '1000').column}: error E_RULE_WINDOW`);
    expect((thrown as TrailhoundError).message).toContain('E_RULE_SCHEMA');
    expect((thrown as TrailhoundError).message).toMatch(/^2 errors/);
  });
});
