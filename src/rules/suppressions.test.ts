import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonObject, Signal, SourcePosition } from '../core/types.js';
import { createEngine } from '../engine/engine.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { compileQuery } from '../query/compile.js';
import { loadRulesOrThrow } from './load.js';
import type { CompiledRule } from './model.js';
import { SUPPRESSION_DIAGNOSTIC_CODES, appliesTo, excludeFromQuery, loadSuppressions, markSuppressed, parseExpiry, planSuppressions, ruleFacets } from './suppressions.js';
import type { SuppressionEntry } from './suppressions.js';

const FLAGSHIP_PATH = 'rules/bd9-8o0-553.yaml';
const FLAGSHIP = loadRulesOrThrow([{ path: FLAGSHIP_PATH, text: readFileSync(new URL(`../../${FLAGSHIP_PATH}`, import.meta.url), 'utf8') }]);
const flagship = FLAGSHIP[0] as CompiledRule;
const STRATUS = JSON.parse(readFileSync(new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url), 'utf8')) as JsonObject[];
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
/** 2026-01-01T00:00:00Z: "now" for every load below. */
const NOW = Date.UTC(2026, 0, 1);

function load(text: string, now = NOW): ReturnType<typeof loadSuppressions> {
  return loadSuppressions([{ path: 'suppressions.yaml', text }], now);
}

function entriesOf(text: string): SuppressionEntry[] {
  const loaded = load(text);
  const errors = loaded.diagnostics.filter((d) => d.severity === 'error');
  if (errors.length > 0) throw new Error(`expected no errors: ${JSON.stringify(errors)}`);
  return loaded.entries;
}

const GOOD = `- name: build bot
  ruleId: bd9-8o0-553
  suppressionQuery: '@userIdentity.arn:"${CHRISTOPHE}"'
  reason: the build bot replaces user data on every deploy
  owner: platform@example.com
  expires: 2026-06-30
`;

describe('loadSuppressions: a good file', () => {
  it('reads every field of an entry', () => {
    const [entry, ...rest] = entriesOf(GOOD);
    expect(rest).toEqual([]);
    expect(entry).toMatchObject({ name: 'build bot', ruleIds: ['bd9-8o0-553'], reason: 'the build bot replaces user data on every deploy', owner: 'platform@example.com', expires: '2026-06-30', source: 'suppressions.yaml:1:3' });
    expect(entry?.suppressionQuery?.text).toBe(`@userIdentity.arn:"${CHRISTOPHE}"`);
    expect(entry?.ruleQuery).toBeUndefined();
  });

  it.each([
    { shape: 'a bare list', text: GOOD },
    { shape: 'a suppressions: list', text: `suppressions:\n${GOOD.replace(/^/gm, '  ').trimEnd()}\n` },
    { shape: 'a JSON array', text: JSON.stringify([{ ruleId: 'bd9-8o0-553', reason: 'r' }]) },
  ])('accepts $shape', ({ text }) => {
    expect(entriesOf(text).map((e) => e.ruleIds)).toEqual([['bd9-8o0-553']]);
  });

  it('takes a list of rule ids', () => {
    expect(entriesOf('- ruleId: [a, b]\n  reason: r\n')[0]?.ruleIds).toEqual(['a', 'b']);
  });

  it('reads an empty file as no entry, without a diagnostic', () => {
    expect(load('# nothing yet\n')).toEqual({ entries: [], diagnostics: [] });
  });
});

describe('loadSuppressions: every problem, with its position', () => {
  const rows: { name: string; text: string; code: keyof typeof SUPPRESSION_DIAGNOSTIC_CODES; path?: string; position?: SourcePosition; message?: RegExp; hint?: RegExp }[] = [
    { name: 'a YAML syntax error', text: '- ruleId: x\n  reason: [unclosed\n', code: 'E_SUPPRESSION_SYNTAX', position: { line: 3, column: 1 } },
    { name: 'suppressions: that is not a list', text: 'suppressions:\n  ruleId: x\n', code: 'E_SUPPRESSION_SCHEMA', path: 'suppressions', position: { line: 2, column: 3 }, hint: /YAML list/ },
    { name: 'an entry that is not a mapping', text: '- just text\n', code: 'E_SUPPRESSION_SCHEMA', path: '[0]', position: { line: 1, column: 3 } },
    { name: 'a missing reason', text: '- ruleId: x\n', code: 'E_SUPPRESSION_SCHEMA', path: '[0].reason', position: { line: 1, column: 3 }, message: /required/ },
    { name: 'a blank reason', text: "- ruleId: x\n  reason: '  '\n", code: 'E_SUPPRESSION_SCHEMA', path: '[0].reason', position: { line: 2, column: 11 }, message: /must say why/ },
    { name: 'a rule id that is a number', text: '- ruleId: 42\n  reason: r\n', code: 'E_SUPPRESSION_SCHEMA', path: '[0].ruleId', position: { line: 1, column: 11 } },
    { name: 'a misspelt field', text: '- ruleId: x\n  reason: r\n  owenr: me\n', code: 'E_SUPPRESSION_UNKNOWN_FIELD', path: '[0].owenr', position: { line: 3, column: 3 }, hint: /did you mean 'owner'/ },
    { name: 'a misspelt top-level key', text: 'suppression:\n  - ruleId: x\n    reason: r\n', code: 'E_SUPPRESSION_UNKNOWN_FIELD', path: 'suppression', position: { line: 1, column: 1 }, hint: /did you mean 'suppressions'/ },
    { name: 'an entry naming no rule', text: '- suppressionQuery: "@evt.name:StopInstances"\n  reason: r\n', code: 'E_SUPPRESSION_NO_RULE', path: '[0]', position: { line: 1, column: 3 }, hint: /ruleQuery: '\*'/ },
    {
      name: 'a suppression query that does not parse',
      text: "- ruleId: x\n  reason: r\n  suppressionQuery: '@evt.name:(StopInstances'\n",
      code: 'E_QUERY_SYNTAX',
      path: '[0].suppressionQuery',
      position: { line: 3, column: 22 + (compileQuery('@evt.name:(StopInstances').diagnostics[0]?.position?.column ?? 0) - 1 },
    },
    { name: 'a rule query that does not parse', text: "- ruleQuery: 'severity:(low'\n  reason: r\n", code: 'E_QUERY_SYNTAX', path: '[0].ruleQuery' },
    { name: 'an exclusion query that does not parse', text: "- ruleId: x\n  reason: r\n  dataExclusionQuery: 'a:[1 TO'\n", code: 'E_QUERY_SYNTAX', path: '[0].dataExclusionQuery' },
    { name: 'an expiry that is not a date', text: '- ruleId: x\n  reason: r\n  expires: next week\n', code: 'E_SUPPRESSION_EXPIRES', path: '[0].expires', position: { line: 3, column: 12 }, hint: /2026-06-30/ },
    { name: 'a date that does not exist', text: '- ruleId: x\n  reason: r\n  expires: 2026-02-30\n', code: 'E_SUPPRESSION_EXPIRES', path: '[0].expires' },
    { name: 'an expired entry', text: '- ruleId: x\n  reason: r\n  expires: 2025-12-31\n', code: 'W_SUPPRESSION_EXPIRED', path: '[0].expires', position: { line: 3, column: 12 }, message: /no longer applies/ },
    {
      name: 'a misspelt attribute in a suppression query',
      text: "- ruleId: x\n  reason: r\n  suppressionQuery: '@userIdentity.arnn:x'\n",
      code: 'W_SUPPRESSION_UNKNOWN_FIELD',
      path: '[0].suppressionQuery',
      position: { line: 3, column: 22 },
      hint: /did you mean '@userIdentity\.arn'/,
    },
  ];

  it.each(rows)('$name gives $code', ({ text, code, path, position, message, hint }) => {
    const { diagnostics } = load(text);
    const found = diagnostics.find((d) => d.code === code);
    expect(found, JSON.stringify(diagnostics)).toBeDefined();
    expect(found?.severity).toBe(SUPPRESSION_DIAGNOSTIC_CODES[code].severity);
    expect(found?.file).toBe('suppressions.yaml');
    if (path !== undefined) expect(found?.path).toBe(path);
    if (position !== undefined) expect(found?.position).toEqual(position);
    if (message !== undefined) expect(found?.message).toMatch(message);
    if (hint !== undefined) expect(found?.hint).toMatch(hint);
    expect(found?.hint?.length ?? 0).toBeGreaterThan(0);
  });

  it('covers every code the loader can give (the others come from planSuppressions and the CLI)', () => {
    const tested = new Set(rows.map((r) => r.code));
    const elsewhere = new Set(['E_SUPPRESSION_PATH', 'W_SUPPRESSION_UNKNOWN_RULE', 'W_SUPPRESSION_NO_MATCH']);
    expect(Object.keys(SUPPRESSION_DIAGNOSTIC_CODES).filter((c) => !tested.has(c as keyof typeof SUPPRESSION_DIAGNOSTIC_CODES) && !elsewhere.has(c))).toEqual([]);
  });

  it('reports every problem of every entry at once, and keeps the good entries', () => {
    const text = `- ruleId: x\n- reason: r\n  colour: red\n${GOOD}`;
    const { entries, diagnostics } = load(text);
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([
      ['E_SUPPRESSION_SCHEMA', '[0].reason'],
      ['E_SUPPRESSION_UNKNOWN_FIELD', '[1].colour'],
      ['E_SUPPRESSION_NO_RULE', '[1]'],
    ]);
    expect(entries.map((e) => e.name)).toEqual(['build bot']);
  });

  it('does not use an expired entry', () => {
    expect(load('- ruleId: x\n  reason: r\n  expires: 2025-12-31\n').entries).toEqual([]);
  });
});

describe('parseExpiry', () => {
  it.each([
    ['2026-06-30', Date.UTC(2026, 5, 30, 23, 59, 59, 999)],
    ['2028-02-29', Date.UTC(2028, 1, 29, 23, 59, 59, 999)],
    ['2026-06-30T18:00:00Z', Date.UTC(2026, 5, 30, 18)],
    ['2026-06-30T18:00Z', Date.UTC(2026, 5, 30, 18)],
    ['2026-06-30T18:00:00.250+02:00', Date.UTC(2026, 5, 30, 16, 0, 0, 250)],
    ['2027-02-29', undefined],
    ['2026-13-01', undefined],
    ['2026-06-30T18:00:00', undefined],
    ['30/06/2026', undefined],
    ['tomorrow', undefined],
    ['', undefined],
  ])('%s → %s', (text, expected) => {
    expect(parseExpiry(text)).toBe(expected);
  });

  it.each([
    { name: 'on the last millisecond of its day', now: Date.UTC(2026, 5, 30, 23, 59, 59, 999), applies: true },
    { name: 'one millisecond later', now: Date.UTC(2026, 6, 1), applies: false },
  ])('a date-only entry still applies $name: $applies', ({ now, applies }) => {
    expect(load('- ruleId: x\n  reason: r\n  expires: 2026-06-30\n', now).entries.length).toBe(applies ? 1 : 0);
  });
});

describe('rule selection', () => {
  it('gives ruleQuery the facets of a rule', () => {
    const facets = ruleFacets(flagship);
    expect(facets).toMatchObject({
      ruleId: 'bd9-8o0-553',
      source: ['cloudtrail'],
      tactic: ['TA0004-privilege-escalation'],
      severity: ['low'],
      enabled: true,
      type: 'log_detection',
      detectionMethod: 'threshold',
    });
  });

  it('keeps the built-in facets over a tag of the same name', () => {
    expect(ruleFacets({ ...flagship, tags: ['ruleId:spoofed', 'name:x'] })).toMatchObject({ ruleId: 'bd9-8o0-553', name: flagship.name });
  });

  it.each([
    ['source:cloudtrail', true],
    ['ruleId:bd9-8o0-553', true],
    ['severity:low', true],
    ['severity:(high OR critical)', false],
    ['tactic:TA0004*', true],
    ['technique:T1059*', false],
    ['name:*privilege*', true],
    ['enabled:true', true],
    ['-source:cloudtrail', false],
    ['*', true],
  ])('ruleQuery %s selects the flagship: %s', (query, expected) => {
    const [entry] = entriesOf(`- ruleQuery: '${query}'\n  reason: r\n`);
    expect(entry && appliesTo(entry, flagship)).toBe(expected);
  });

  it.each([
    { name: 'a ruleId alone', text: '- ruleId: bd9-8o0-553\n  reason: r\n', expected: true },
    { name: 'another ruleId', text: '- ruleId: other\n  reason: r\n', expected: false },
    { name: 'ruleId and ruleQuery both holding', text: "- ruleId: bd9-8o0-553\n  ruleQuery: 'severity:low'\n  reason: r\n", expected: true },
    { name: 'ruleId holding but not ruleQuery (they are ANDed)', text: "- ruleId: bd9-8o0-553\n  ruleQuery: 'severity:high'\n  reason: r\n", expected: false },
  ])('applies with $name: $expected', ({ text, expected }) => {
    const [entry] = entriesOf(text);
    expect(entry && appliesTo(entry, flagship)).toBe(expected);
  });
});

describe('planSuppressions', () => {
  it.each([
    { name: 'a ruleId that names no rule', text: '- ruleId: bd9-8o0-554\n  reason: r\n', code: 'W_SUPPRESSION_UNKNOWN_RULE', path: '[0].ruleId', position: { line: 1, column: 11 }, hint: /did you mean 'bd9-8o0-553'/ },
    { name: 'one unknown id of a list', text: '- ruleId: [bd9-8o0-553, nope]\n  reason: r\n', code: 'W_SUPPRESSION_UNKNOWN_RULE', path: '[0].ruleId[1]', position: { line: 1, column: 25 }, hint: /rules list/ },
    { name: 'a ruleQuery that selects nothing', text: "- ruleQuery: 'source:okta'\n  reason: r\n", code: 'W_SUPPRESSION_NO_MATCH', path: '[0].ruleQuery', position: { line: 1, column: 14 }, hint: /ruleQuery/ },
  ])('warns about $name', ({ text, code, path, position, hint }) => {
    const plan = planSuppressions(entriesOf(text), FLAGSHIP);
    expect(plan.diagnostics.map((d) => [d.code, d.severity, d.file, d.path, d.position])).toEqual([[code, 'warning', 'suppressions.yaml', path, position]]);
    expect(plan.diagnostics[0]?.hint).toMatch(hint);
  });

  it('has no diagnostic when every entry finds its rule', () => {
    expect(planSuppressions(entriesOf(GOOD), FLAGSHIP).diagnostics).toEqual([]);
  });

  it('folds a data exclusion into every query of the rules it applies to, and only those', () => {
    const other = { ...flagship, id: 'other' };
    const plan = planSuppressions(entriesOf("- ruleId: bd9-8o0-553\n  dataExclusionQuery: '@userIdentity.type:AWSService'\n  reason: r\n"), [flagship, other]);
    expect(plan.rules[1]).toBe(other);
    const excluded = plan.rules[0];
    expect(excluded?.queries.map((q) => q.name)).toEqual(flagship.queries.map((q) => q.name));
    for (const [i, q] of (excluded?.queries ?? []).entries()) expect(q.query.text).toBe(`(${flagship.queries[i]?.query.text ?? ''}) -(@userIdentity.type:AWSService)`);
  });

  it('maps each rule to its entries in file order', () => {
    const entries = entriesOf(`- name: first\n  ruleQuery: '*'\n  reason: r\n- name: second\n  ruleId: bd9-8o0-553\n  reason: r\n`);
    expect(planSuppressions(entries, FLAGSHIP).byRule.get('bd9-8o0-553')?.map((e) => e.name)).toEqual(['first', 'second']);
  });
});

describe('excludeFromQuery', () => {
  const query = compileQuery('@evt.name:StopInstances');
  const exclusion = compileQuery('@userIdentity.type:AWSService');
  if (!query.ok || !exclusion.ok) throw new Error('test queries must compile');
  it.each([
    { name: 'a matching event that is not excluded', fields: { evt: { name: 'StopInstances' }, userIdentity: { type: 'IAMUser' } }, expected: true },
    { name: 'a matching event that is excluded', fields: { evt: { name: 'StopInstances' }, userIdentity: { type: 'AWSService' } }, expected: false },
    { name: 'an event the query never matched', fields: { evt: { name: 'StartInstances' }, userIdentity: { type: 'IAMUser' } }, expected: false },
  ])('matches $name: $expected', ({ fields, expected }) => {
    expect(excludeFromQuery(query.value, [exclusion.value]).matches(fields)).toBe(expected);
  });

  it('returns the query itself when there is nothing to exclude', () => {
    expect(excludeFromQuery(query.value, [])).toBe(query.value);
  });
});

/** The scan pipeline in miniature: plan, engine on the planned rules, tracker on every event, verdicts. */
function scan(text: string, records: readonly JsonObject[], rules: readonly CompiledRule[] = FLAGSHIP): { shown: Signal[]; suppressed: Signal[] } {
  const plan = planSuppressions(entriesOf(text), rules);
  const tracker = plan.createTracker();
  const engine = createEngine(plan.rules);
  records.forEach((record, index) => {
    const n = normaliseRecord(record, { source: 'test', index });
    if (!n.ok) return;
    engine.ingest(n.event);
    tracker.observe(n.event);
  });
  engine.finish();
  const shown: Signal[] = [];
  const suppressed: Signal[] = [];
  for (const signal of engine.signals()) {
    const entry = tracker.judge(signal);
    if (entry) suppressed.push(markSuppressed(signal, entry));
    else shown.push(signal);
  }
  return { shown, suppressed };
}

describe('suppressing the signals of a real attack (Stratus ec2-user-data)', () => {
  const base = 'ruleId: bd9-8o0-553\n  reason: test';
  it.each([
    { name: 'a suppressionQuery every event matches', text: `- ${base}\n  suppressionQuery: '@userIdentity.arn:"${CHRISTOPHE}"'\n`, shown: 0, suppressed: 1 },
    { name: 'a suppressionQuery every event matches, by event name', text: `- ${base}\n  suppressionQuery: '@evt.name:(StopInstances OR ModifyInstanceAttribute OR StartInstances)'\n`, shown: 0, suppressed: 1 },
    { name: 'a suppressionQuery only some events match (the signal stays)', text: `- ${base}\n  suppressionQuery: '@evt.name:(StopInstances OR ModifyInstanceAttribute)'\n`, shown: 1, suppressed: 0 },
    { name: 'a suppressionQuery no event matches', text: `- ${base}\n  suppressionQuery: '@userIdentity.arn:*build-bot'\n`, shown: 1, suppressed: 0 },
    { name: 'an entry with no query: the rule is muted', text: `- ${base}\n`, shown: 0, suppressed: 1 },
    { name: 'an entry for another rule', text: `- ruleId: other\n  reason: test\n`, shown: 1, suppressed: 0 },
    { name: 'an exclusion of the Start: no signal at all', text: `- ${base}\n  dataExclusionQuery: '@evt.name:StartInstances'\n`, shown: 0, suppressed: 0 },
    { name: 'an exclusion of nothing in the attack: the signal stays', text: `- ${base}\n  dataExclusionQuery: '@userIdentity.type:AWSService'\n`, shown: 1, suppressed: 0 },
    { name: 'an expired entry', text: `- ${base}\n  expires: 2025-01-01\n`, shown: 1, suppressed: 0 },
  ])('$name', ({ text, shown, suppressed }) => {
    const result = scan(text, STRATUS);
    expect([result.shown.length, result.suppressed.length]).toEqual([shown, suppressed]);
  });

  it('marks a suppressed signal with its status and the first matching entry', () => {
    const text = `- name: first\n  ${base} one\n  owner: me\n  expires: 2026-12-31\n- name: second\n  ${base} two\n`;
    const { suppressed } = scan(text, STRATUS);
    expect(suppressed[0]?.status).toBe('suppressed');
    expect(suppressed[0]?.suppression).toEqual({ reason: 'test one', source: 'suppressions.yaml:1:3', name: 'first', owner: 'me', expires: '2026-12-31' });
  });

  it('leaves every other field of the signal as the engine made it', () => {
    const plain = scan('- ruleId: other\n  reason: r\n', STRATUS).shown[0];
    const suppressed = scan(`- ${base}\n`, STRATUS).suppressed[0];
    expect(plain).toBeDefined();
    const { status, suppression, ...rest } = suppressed ?? ({} as Signal);
    expect([status, suppression?.reason]).toEqual(['suppressed', 'test']);
    expect(rest).toEqual(plain);
  });

  it('gives the same verdict whatever the order of the events', () => {
    const text = `- ${base}\n  suppressionQuery: '@evt.name:(StopInstances OR ModifyInstanceAttribute)'\n- ${base}\n  suppressionQuery: '@userIdentity.arn:"${CHRISTOPHE}"'\n`;
    const expected = scan(text, STRATUS);
    expect(expected.suppressed).toHaveLength(1);
    fc.assert(
      fc.property(fc.shuffledSubarray(STRATUS, { minLength: STRATUS.length }), (shuffled) => {
        expect(scan(text, shuffled)).toEqual(expected);
      }),
      { numRuns: 20 },
    );
  });

  it('decides whether a signal is suppressed independently of the order of the entries', () => {
    const entries = [
      `- ${base}\n  suppressionQuery: '@evt.name:StopInstances'\n`,
      `- ${base}\n  dataExclusionQuery: '@userIdentity.type:AWSService'\n`,
      `- ${base}\n  suppressionQuery: '@userIdentity.arn:"${CHRISTOPHE}"'\n`,
      `- ruleId: other\n  reason: r\n`,
    ];
    fc.assert(
      fc.property(fc.shuffledSubarray(entries, { minLength: entries.length }), (order) => {
        const result = scan(order.join(''), STRATUS);
        expect([result.shown.length, result.suppressed.length]).toEqual([0, 1]);
      }),
      { numRuns: 12 },
    );
  });
});

describe('docs/suppressions.md', () => {
  const doc = readFileSync(new URL('../../docs/suppressions.md', import.meta.url), 'utf8');
  it('lists every diagnostic code with its severity', () => {
    const rows = new Map([...doc.matchAll(/^\| `([EW]_[A-Z_]+)` \| (error|warning) \|/gm)].map((m) => [m[1], m[2]]));
    expect(rows).toEqual(new Map(Object.entries(SUPPRESSION_DIAGNOSTIC_CODES).map(([code, info]) => [code, info.severity])));
  });

  it('describes every field of an entry', () => {
    for (const field of ['name', 'ruleId', 'ruleQuery', 'suppressionQuery', 'dataExclusionQuery', 'reason', 'owner', 'expires']) expect(doc).toContain(`| \`${field}\` |`);
  });

  it('shows suppression files that load without errors', () => {
    const blocks = [...doc.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '').filter((b) => /reason:/.test(b) && !/^environments:/m.test(b));
    expect(blocks.length).toBeGreaterThan(0);
    for (const block of blocks) expect(load(block).diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
  });
});
