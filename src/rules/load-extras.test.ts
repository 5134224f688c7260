/**
 * The rest of Datadog's rule model, from the rule file to the signal: groupSignalsBy,
 * hasExtendedTitle, customQueryExtension, decreaseCriticalityBasedOnEnv, case names in titles and
 * the per-query template counts. Real Stratus records, real loader, real engine.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JsonObject, Signal } from '../core/types.js';
import { createEngine } from '../engine/engine.js';
import type { EngineOptions } from '../engine/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import { compileEnvironmentResolver } from './environment.js';
import { loadRules, loadRulesOrThrow } from './load.js';
import type { CompiledRule } from './model.js';

const STRATUS = JSON.parse(readFileSync(new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url), 'utf8')) as JsonObject[];
const ATTACK = ['StopInstances', 'ModifyInstanceAttribute', 'StartInstances'].map((name) => {
  const found = STRATUS.find((r) => r['eventName'] === name);
  if (!found) throw new Error(`no ${name} in the fixture`);
  return found;
});
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const ACCOUNT = '309303190113';
/** The region of the real records (anonymised: `ca-northsouth-2r`). */
const REGION = typeof ATTACK[0]?.['awsRegion'] === 'string' ? ATTACK[0]['awsRegion'] : '';

const RULE = `name: EC2 user data changed
queries:
  - name: stop_instance
    query: source:cloudtrail @evt.name:StopInstances
    groupByFields: ['@userIdentity.arn', '@awsRegion']
  - name: modify_instance_attribute
    query: source:cloudtrail @evt.name:ModifyInstanceAttribute @requestParameters.userData:*
    groupByFields: ['@userIdentity.arn', '@awsRegion']
  - name: start_instance
    query: source:cloudtrail @evt.name:StartInstances
    groupByFields: ['@userIdentity.arn', '@awsRegion']
cases:
  - name: user data
    status: medium
    condition: stop_instance > 0 && modify_instance_attribute > 0 && start_instance > 0
options:
  evaluationWindow: 900
  keepAlive: 3600
  maxSignalDuration: 3600
message: "{{events_matched_per_query.stop_instance}} stop, {{events_matched_per_query.start_instance}} start{{#is_match \\"@userIdentity.arn\\" \\"christophe\\"}} by christophe{{/is_match}}"
`;

/** `text` with `from` replaced by `to`; fails loudly when `from` is not there. */
function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`'${from}' is not in the text`);
  return text.replace(from, to);
}

function ruleFrom(text: string): CompiledRule {
  const [rule] = loadRulesOrThrow([{ path: 'rules/extras.yaml', text }]);
  if (!rule) throw new Error('no rule');
  return rule;
}

function detect(rule: CompiledRule, records: readonly JsonObject[], options?: EngineOptions): { signals: Signal[]; unindexed: readonly string[] } {
  const engine = createEngine([rule], options);
  records.forEach((record, index) => {
    const n = normaliseRecord(record, { source: 'test', index });
    if (n.ok) engine.ingest(n.event);
  });
  engine.finish();
  return { signals: engine.signals(), unindexed: engine.unindexedRules };
}

/** The attack again in another region, 10 minutes later, with fresh ids. */
const OTHER_REGION = ATTACK.map((r, i) => ({ ...structuredClone(r), awsRegion: 'eu-west-1', eventID: `other-region-${i}`, eventTime: new Date(Date.parse(typeof r['eventTime'] === 'string' ? r['eventTime'] : '') + 600_000).toISOString() }));

describe('the loader accepts the rest of the model without a warning', () => {
  it('loads a Datadog export setting all four fields', () => {
    const text = `hasExtendedTitle: true\ngroupSignalsBy: ['@userIdentity.arn']\n${edit(
      edit(RULE, '  maxSignalDuration: 3600', '  maxSignalDuration: 3600\n  decreaseCriticalityBasedOnEnv: true'),
      "    query: source:cloudtrail @evt.name:StopInstances\n",
      "    query: source:cloudtrail @evt.name:StopInstances\n    customQueryExtension: '-@userIdentity.type:AWSService'\n",
    )}`;
    const { rules, diagnostics } = loadRules([{ path: 'rules/extras.yaml', text }]);
    expect(diagnostics).toEqual([]);
    expect(rules[0]?.groupSignalsBy).toEqual(['@userIdentity.arn']);
    expect(rules[0]?.options.decreaseCriticalityBasedOnEnv).toBe(true);
    expect(rules[0]?.queries[0]?.query.text).toBe('(source:cloudtrail @evt.name:StopInstances) (-@userIdentity.type:AWSService)');
  });

  it.each([
    { name: 'absent', line: '', expected: undefined },
    { name: 'empty', line: 'groupSignalsBy: []\n', expected: undefined },
    { name: 'every group-by field', line: "groupSignalsBy: ['@awsRegion', '@userIdentity.arn']\n", expected: undefined },
    { name: 'a subset, put in group-by order', line: "groupSignalsBy: ['@awsRegion', '@awsRegion']\n", expected: ['@awsRegion'] },
  ])('reads groupSignalsBy $name as $expected', ({ line, expected }) => {
    expect(ruleFrom(`${line}${RULE}`).groupSignalsBy).toEqual(expected);
  });

  it('leaves decreaseCriticalityBasedOnEnv out of the options when false', () => {
    expect(ruleFrom(edit(RULE, '  maxSignalDuration: 3600', '  maxSignalDuration: 3600\n  decreaseCriticalityBasedOnEnv: false')).options).toEqual({ detectionMethod: 'threshold', evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 3600 });
  });

  it('warns about a per-query count naming a query the rule does not have', () => {
    const { diagnostics } = loadRules([{ path: 'rules/extras.yaml', text: edit(RULE, 'events_matched_per_query.start_instance', 'events_matched_per_query.start') }]);
    expect(diagnostics.map((d) => [d.code, d.path])).toEqual([['W_TEMPLATE_UNKNOWN', 'message']]);
    expect(diagnostics[0]?.hint).toMatch(/start_instance/);
  });
});

describe('from the rule file to the signal', () => {
  it('appends the case name to the title, and renders per-query counts and is_match in the message', () => {
    const { signals } = detect(ruleFrom(RULE), ATTACK);
    expect(signals.map((s) => [s.title, s.message])).toEqual([['EC2 user data changed (user data)', '1 stop, 1 start by christophe']]);
  });

  it.each([
    { name: 'without hasExtendedTitle', prefix: '', expected: 'EC2 user data changed (user data)' },
    { name: 'with hasExtendedTitle', prefix: 'hasExtendedTitle: true\n', expected: `EC2 user data changed (user data) [@userIdentity.arn: ${CHRISTOPHE}, @awsRegion: ${REGION}]` },
    { name: 'with hasExtendedTitle and groupSignalsBy', prefix: "hasExtendedTitle: true\ngroupSignalsBy: ['@userIdentity.arn']\n", expected: `EC2 user data changed (user data) [@userIdentity.arn: ${CHRISTOPHE}]` },
  ])('titles the signal $name', ({ prefix, expected }) => {
    const { signals } = detect(ruleFrom(`${prefix}${RULE}`), ATTACK);
    expect(signals.map((s) => s.title)).toEqual([expected]);
  });

  it.each([
    { name: 'without groupSignalsBy: one signal per region', prefix: '', expected: [[{ '@userIdentity.arn': CHRISTOPHE, '@awsRegion': REGION }, 3], [{ '@userIdentity.arn': CHRISTOPHE, '@awsRegion': 'eu-west-1' }, 3]] },
    { name: 'with groupSignalsBy the caller: one signal for both regions', prefix: "groupSignalsBy: ['@userIdentity.arn']\n", expected: [[{ '@userIdentity.arn': CHRISTOPHE }, 6]] },
  ])('groups signals $name', ({ prefix, expected }) => {
    const { signals } = detect(ruleFrom(`${prefix}${RULE}`), [...ATTACK, ...OTHER_REGION]);
    expect(signals.map((s) => [s.group, s.eventCount])).toEqual(expected);
  });

  it.each([
    { name: 'an extension the attacker does not match keeps the signal', extension: '-@userIdentity.type:AWSService', signals: 1 },
    { name: 'an extension excluding the attacker removes it', extension: `-@userIdentity.arn:"${CHRISTOPHE}"`, signals: 0 },
  ])('applies customQueryExtension: $name', ({ extension, signals }) => {
    const text = edit(RULE, '    query: source:cloudtrail @evt.name:StartInstances\n', `    query: source:cloudtrail @evt.name:StartInstances\n    customQueryExtension: '${extension}'\n`);
    const result = detect(ruleFrom(text), ATTACK);
    expect(result.signals).toHaveLength(signals);
    expect(result.unindexed).toEqual([]);
  });

  it.each([
    { name: 'a staging account lowers medium to low', map: { [ACCOUNT]: 'staging' }, isOn: true, expected: 'low' },
    { name: 'a production account keeps medium', map: { [ACCOUNT]: 'production' }, isOn: true, expected: 'medium' },
    { name: 'an unlisted account keeps medium', map: { '111122223333': 'dev' }, isOn: true, expected: 'medium' },
    { name: 'the option off keeps medium in staging', map: { [ACCOUNT]: 'staging' }, isOn: false, expected: 'medium' },
  ])('applies decreaseCriticalityBasedOnEnv: $name', ({ map, isOn, expected }) => {
    const text = edit(RULE, '  maxSignalDuration: 3600', `  maxSignalDuration: 3600\n  decreaseCriticalityBasedOnEnv: ${String(isOn)}`);
    const { signals } = detect(ruleFrom(text), ATTACK, { environmentOf: compileEnvironmentResolver({ environments: map }) });
    expect(signals.map((s) => s.severity)).toEqual([expected]);
  });
});
