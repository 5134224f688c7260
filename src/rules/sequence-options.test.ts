/**
 * Loading sequence rules: `options.sequenceDetectionOptions` checked piece by piece (every problem,
 * each with its code, path and position), the chain compiled in transition order, case conditions
 * naming steps, Datadog's own export shape, and `hasGroupByFanOut` kept equal across queries.
 */
import { describe, expect, it } from 'vitest';
import type { SourcePosition } from '../core/types.js';
import { loadRules } from './load.js';
import { compileSequenceOptions } from './sequence-options.js';

const BASE = `name: Sequence rule
queries:
  - name: stop
    query: source:cloudtrail @evt.name:StopInstances
    groupByFields: ['@target.instance_ids']
  - name: modify
    query: source:cloudtrail @evt.name:ModifyInstanceAttribute
    groupByFields: ['@target.instance_ids']
  - name: start
    query: source:cloudtrail @evt.name:StartInstances
    groupByFields: ['@target.instance_ids']
cases:
  - name: ''
    status: high
    condition: started > 0
options:
  detectionMethod: sequence_detection
  evaluationWindow: 0
  keepAlive: 3600
  maxSignalDuration: 3600
  sequenceDetectionOptions:
    steps:
      - name: stopped
        condition: stop > 0
        evaluationWindow: 900
      - name: changed
        condition: modify > 0
        evaluationWindow: 900
      - name: started
        condition: start > 0
        evaluationWindow: 900
    stepTransitions:
      - parent: stopped
        child: changed
        evaluationWindow: 900
      - parent: changed
        child: started
        evaluationWindow: 900
`;

function edit(text: string, from: string, to: string): string {
  if (!text.includes(from)) throw new Error(`'${from}' is not in the text`);
  return text.replace(from, to);
}

/** 1-based position of the `occurrence`-th `needle`, computed without the loader. */
function at(text: string, needle: string, occurrence = 1): SourcePosition {
  let offset = -1;
  for (let i = 0; i < occurrence; i++) {
    offset = text.indexOf(needle, offset + 1);
    if (offset < 0) throw new Error(`'${needle}' occurs fewer than ${occurrence} times`);
  }
  const before = text.slice(0, offset).split('\n');
  return { line: before.length, column: (before[before.length - 1] ?? '').length + 1 };
}

function load(text: string): ReturnType<typeof loadRules> {
  return loadRules([{ path: 'rules/seq.yaml', text }]);
}

const SEQ = 'options.sequenceDetectionOptions';

describe('a valid sequence rule', () => {
  const { rules, diagnostics } = load(BASE);
  const rule = rules[0];

  it('loads without any diagnostic', () => {
    expect(diagnostics).toEqual([]);
    expect(rules).toHaveLength(1);
  });

  it('compiles the chain: steps, their windows and conditions, and the transitions between them', () => {
    const options = rule?.options.sequenceDetectionOptions;
    expect(rule?.options.detectionMethod).toBe('sequence_detection');
    expect(options?.steps.map((s) => [s.name, s.condition.text, s.evaluationWindow])).toEqual([
      ['stopped', 'stop > 0', 900],
      ['changed', 'modify > 0', 900],
      ['started', 'start > 0', 900],
    ]);
    expect(options?.stepTransitions).toEqual([
      { parent: 'stopped', child: 'changed', evaluationWindow: 900 },
      { parent: 'changed', child: 'started', evaluationWindow: 900 },
    ]);
    expect(options?.steps[0]?.condition.holds({ stop: 1 })).toBe(true);
    expect(options?.steps[0]?.condition.holds({ stop: 0 })).toBe(false);
  });

  it('lets cases name steps, and queries too', () => {
    expect(rule?.cases[0]?.condition.holds({ started: 1 })).toBe(true);
    const withQuery = load(edit(BASE, 'condition: started > 0', 'condition: started > 0 && modify > 0'));
    expect(withQuery.diagnostics).toEqual([]);
    expect(withQuery.rules[0]?.cases[0]?.condition.queryNames).toEqual(['started', 'modify']);
  });

  it('follows the transitions when the steps are listed in another order, with a warning', () => {
    const stopped = '      - name: stopped\n        condition: stop > 0\n        evaluationWindow: 900\n';
    const changed = '      - name: changed\n        condition: modify > 0\n        evaluationWindow: 900\n';
    const shuffled = edit(BASE, stopped + changed, changed + stopped);
    const loaded = load(shuffled);
    expect(loaded.diagnostics.map((d) => [d.code, d.severity, d.path])).toEqual([['W_RULE_SEQUENCE_ORDER', 'warning', `${SEQ}.steps`]]);
    expect(loaded.rules[0]?.options.sequenceDetectionOptions?.steps.map((s) => s.name)).toEqual(['stopped', 'changed', 'started']);
  });

  it('may leave out the top-level evaluationWindow, which sequence rules do not use', () => {
    const loaded = load(edit(BASE, '  evaluationWindow: 0\n', ''));
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.rules[0]?.options.evaluationWindow).toBe(0);
  });

  it("loads Datadog's own API example of a sequence rule (unnamed queries, steps on a and b)", () => {
    const exported = {
      name: 'Example-Security-Monitoring',
      type: 'log_detection',
      isEnabled: true,
      message: 'Logs and signals asdf',
      tags: [],
      queries: [
        { query: 'source:cloudtrail @evt.name:StopInstances', aggregation: 'count', dataSource: 'logs', distinctFields: [], groupByFields: [], hasOptionalGroupByFields: false, name: '' },
        { query: 'source:cloudtrail @evt.name:StartInstances', aggregation: 'count', dataSource: 'logs', distinctFields: [], groupByFields: [], hasOptionalGroupByFields: false, name: '' },
      ],
      cases: [{ name: '', status: 'info', condition: 'step_b > 0', notifications: [] }],
      options: {
        detectionMethod: 'sequence_detection',
        evaluationWindow: 0,
        keepAlive: 300,
        maxSignalDuration: 600,
        sequenceDetectionOptions: {
          stepTransitions: [{ child: 'step_b', evaluationWindow: 900, parent: 'step_a' }],
          steps: [
            { condition: 'a > 0', evaluationWindow: 60, name: 'step_a' },
            { condition: 'b > 0', evaluationWindow: 60, name: 'step_b' },
          ],
        },
      },
    };
    const loaded = loadRules([{ path: 'exports/seq.json', text: JSON.stringify(exported, null, 2) }]);
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.rules[0]?.options.sequenceDetectionOptions?.steps.map((s) => s.name)).toEqual(['step_a', 'step_b']);
  });
});

describe('problems in sequenceDetectionOptions', () => {
  const transition = `      - parent: changed
        child: started
        evaluationWindow: 900`;
  it.each<[string, string, string, string, string | undefined]>([
    ['a transition to an unknown step (with a suggestion)', 'E_RULE_SEQUENCE_UNKNOWN_STEP', `${SEQ}.stepTransitions[1].child`, edit(BASE, transition, transition.replace('child: started', 'child: startd')), 'startd'],
    ['a transition from an unknown step', 'E_RULE_SEQUENCE_UNKNOWN_STEP', `${SEQ}.stepTransitions[1].parent`, edit(BASE, transition, transition.replace('parent: changed', 'parent: launched')), 'launched'],
    ['a transition window Datadog does not allow', 'E_RULE_WINDOW', `${SEQ}.stepTransitions[1].evaluationWindow`, edit(BASE, transition, transition.replace('evaluationWindow: 900', 'evaluationWindow: 1000')), '1000'],
    ['a transition window beyond 6 hours', 'E_RULE_WINDOW', `${SEQ}.stepTransitions[1].evaluationWindow`, edit(BASE, transition, transition.replace('evaluationWindow: 900', 'evaluationWindow: 86400')), '86400'],
    ['a step window Datadog does not allow', 'E_RULE_WINDOW', `${SEQ}.steps[1].evaluationWindow`, edit(BASE, 'condition: modify > 0\n        evaluationWindow: 900', 'condition: modify > 0\n        evaluationWindow: 45'), '45'],
    ['a cycle back to the first step', 'E_RULE_SEQUENCE_CYCLE', `${SEQ}.stepTransitions[2]`, `${BASE}      - parent: started\n        child: stopped\n        evaluationWindow: 900\n`, 'parent: started'],
    ['a step leading to itself', 'E_RULE_SEQUENCE_CYCLE', `${SEQ}.stepTransitions[1]`, edit(BASE, transition, transition.replace('child: started', 'child: changed')), 'parent: changed'],
    ['a step condition naming an unknown query', 'E_CONDITION_UNKNOWN_QUERY', `${SEQ}.steps[1].condition`, edit(BASE, 'condition: modify > 0', 'condition: modfy > 0'), 'modfy'],
    ['a malformed step condition', 'E_CONDITION_SYNTAX', `${SEQ}.steps[1].condition`, edit(BASE, 'condition: modify > 0', 'condition: modify >'), undefined],
    ['a case naming neither a step nor a query', 'E_CONDITION_UNKNOWN_QUERY', 'cases[0].condition', edit(BASE, 'condition: started > 0', 'condition: finished > 0'), 'finished'],
    ['two steps with one name', 'E_RULE_SEQUENCE', `${SEQ}.steps[1].name`, edit(BASE, '- name: changed', '- name: stopped'), 'stopped\n        condition: modify'],
    ['a step name that is not an identifier', 'E_RULE_SCHEMA', `${SEQ}.steps[1].name`, edit(BASE, '- name: changed', "- name: 'changed step'"), "'changed step'"],
    ['an unknown field in a step', 'E_RULE_UNKNOWN_FIELD', `${SEQ}.steps[0].window`, edit(BASE, 'condition: stop > 0', 'condition: stop > 0\n        window: 60'), 'window'],
    ['a step without its window', 'E_RULE_SCHEMA', `${SEQ}.steps[0].evaluationWindow`, edit(BASE, 'condition: stop > 0\n        evaluationWindow: 900\n', 'condition: stop > 0\n'), undefined],
    ['a sequence rule without sequenceDetectionOptions', 'E_RULE_SCHEMA', 'options', BASE.slice(0, BASE.indexOf('  sequenceDetectionOptions:')), undefined],
    ['hasGroupByFanOut on one query only', 'E_RULE_GROUP_BY_MISMATCH', 'queries[1]', edit(BASE, "groupByFields: ['@target.instance_ids']\n  - name: modify", "groupByFields: ['@target.instance_ids']\n    hasGroupByFanOut: true\n  - name: modify"), undefined],
  ])('%s → %s at %s', (_name, code, path, text, near) => {
    const { rules, diagnostics } = load(text);
    const found = diagnostics.filter((d) => d.code === code);
    expect(found.map((d) => d.path)).toContain(path);
    expect(rules).toEqual([]);
    if (near !== undefined) expect(found.find((d) => d.path === path)?.position).toEqual(at(text, near));
    expect(diagnostics.filter((d) => d.severity === 'error').every((d) => d.hint !== undefined && d.hint.length > 0)).toBe(true);
  });

  it('suggests the closest step name for an unknown one', () => {
    const { diagnostics } = load(edit(BASE, transition, transition.replace('child: started', 'child: startd')));
    expect(diagnostics.find((d) => d.code === 'E_RULE_SEQUENCE_UNKNOWN_STEP')?.hint).toBe("did you mean 'started'?");
  });

  it('reports every problem at once', () => {
    const text = edit(edit(BASE, 'condition: modify > 0', 'condition: modfy > 0'), transition, transition.replace('child: started', 'child: startd').replace('evaluationWindow: 900', 'evaluationWindow: 1000'));
    expect(load(text).diagnostics.map((d) => d.code).sort()).toEqual(['E_CONDITION_UNKNOWN_QUERY', 'E_RULE_SEQUENCE_UNKNOWN_STEP', 'E_RULE_WINDOW']);
  });
});

describe('the shape of the chain (compileSequenceOptions)', () => {
  const step = (name: string, query = 'a'): Record<string, unknown> => ({ name, condition: `${query} > 0`, evaluationWindow: 60 });
  const link = (parent: string, child: string, evaluationWindow = 900): Record<string, unknown> => ({ parent, child, evaluationWindow });

  it.each<[string, Record<string, unknown>, string[]]>([
    ['a step with two children', { steps: [step('x'), step('y'), step('z')], stepTransitions: [link('x', 'y'), link('x', 'z')] }, ['E_RULE_SEQUENCE']],
    ['a step with two parents', { steps: [step('x'), step('y'), step('z')], stepTransitions: [link('x', 'z'), link('y', 'z')] }, ['E_RULE_SEQUENCE']],
    ['the same transition twice', { steps: [step('x'), step('y')], stepTransitions: [link('x', 'y'), link('x', 'y')] }, ['E_RULE_SEQUENCE']],
    ['a step linked to nothing', { steps: [step('x'), step('y'), step('z')], stepTransitions: [link('x', 'y')] }, ['E_RULE_SEQUENCE']],
    ['a two-step cycle beside the chain', { steps: [step('x'), step('y'), step('z')], stepTransitions: [link('y', 'z'), link('z', 'y')] }, ['E_RULE_SEQUENCE_CYCLE']],
    ['no step at all', { steps: [], stepTransitions: [] }, ['E_RULE_SEQUENCE']],
    ['eleven steps', { steps: Array.from({ length: 11 }, (_, i) => step(`s${i}`)), stepTransitions: Array.from({ length: 10 }, (_, i) => link(`s${i}`, `s${i + 1}`)) }, ['E_RULE_SEQUENCE']],
    ['transitions adding up to more than a day', { steps: Array.from({ length: 6 }, (_, i) => step(`s${i}`)), stepTransitions: Array.from({ length: 5 }, (_, i) => link(`s${i}`, `s${i + 1}`, 21600)) }, ['E_RULE_SEQUENCE']],
    ['an unknown field (a typo)', { steps: [step('x')], stepTransition: [] }, ['E_RULE_UNKNOWN_FIELD']],
    ['steps that are not a list', { steps: 'x' }, ['E_RULE_SCHEMA']],
  ])('%s', (_name, raw, codes) => {
    const result = compileSequenceOptions(raw, ['a']);
    expect(result.options).toBeUndefined();
    expect([...new Set(result.issues.filter((i) => i.severity === 'error').map((i) => i.code))]).toEqual(codes);
  });

  it('one step and no transition is a (trivial) chain', () => {
    const result = compileSequenceOptions({ steps: [step('only')] }, ['a']);
    expect(result.issues).toEqual([]);
    expect(result.options?.steps.map((s) => s.name)).toEqual(['only']);
    expect(result.options?.stepTransitions).toEqual([]);
  });

  it('names the cycle it found', () => {
    const result = compileSequenceOptions({ steps: [step('x'), step('y'), step('z')], stepTransitions: [link('x', 'y'), link('y', 'z'), link('z', 'x')] }, ['a']);
    expect(result.issues.find((i) => i.code === 'E_RULE_SEQUENCE_CYCLE')?.message).toContain('x → y → z → x');
  });
});
