import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { FIXTURES, REPO_ROOT, stratusAttack } from '../../test/support/detect.js';
import { runCli } from '../../test/support/cli.js';

const run = runCli;

type Rec = Record<string, unknown>;

const STOP = stratusAttack().stop;
const BOB = { userIdentity: { arn: 'arn:aws:iam::309303190113:user/bob', userName: 'bob' } };
const STOP_BASE = JSON.stringify({ source: `stratus-detonation-logs/aws.execution.ec2-user-data.json#${String(STOP['eventID'])}`, licence: 'Apache-2.0', record: STOP }, null, 2);

/** A small rule over StopInstances, per caller: two stops in 5 minutes are high, one is low. */
function rule(tests: unknown[], extra: Rec = {}): string {
  return stringify({
    name: 'EC2 instances stopped by {{@userIdentity.userName}}',
    tags: ['source:cloudtrail', 'tactic:TA0040-impact', 'technique:T1489-service-stop'],
    queries: [{ name: 'stops', query: '@eventSource:ec2.amazonaws.com @evt.name:StopInstances', groupByFields: ['@userIdentity.arn'] }],
    cases: [
      { name: 'many', status: 'high', condition: 'stops > 1' },
      { name: 'one', status: 'low', condition: 'stops > 0' },
    ],
    options: { evaluationWindow: 300, keepAlive: 3600, maxSignalDuration: 86400 },
    ...extra,
    tests,
  });
}

const FIRES = { name: 'one stop fires low', expect: 'signal', severity: 'low', events: [{ base: 'my-stop' }] };
const WRONG = { name: 'a start fires (it does not)', expect: 'signal', events: [{ base: 'my-stop', patch: { eventName: 'StartInstances' } }] };
const TWO_CALLERS = { name: 'two callers, two signals', expect: 'signal', signals: 2, events: [{ base: 'my-stop' }, { base: 'my-stop', after: 10, patch: BOB }] };
const NOTHING = { name: 'a start does not fire', expect: 'none', events: [{ base: 'my-stop', patch: { eventName: 'StartInstances' } }] };

/** A temporary folder holding `files` (relative path → text); returns its path. */
function folder(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'trailhound-rules-'));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
  }
  return root;
}

const good = (): string => folder({ 'stops.yaml': rule([FIRES, TWO_CALLERS, NOTHING]), 'bases/my-stop.json': STOP_BASE });

describe('trailhound rules list', () => {
  it('prints a table with id, name, highest severity, tactic, technique and enabled', async () => {
    const dir = folder({ 'stops.yaml': rule([FIRES]), 'off.yaml': rule([], { isEnabled: false, cases: [{ status: 'medium', condition: 'stops > 0' }] }), 'bases/my-stop.json': STOP_BASE });
    const { code, out, err } = await run(['rules', 'list', dir]);
    expect(err).toBe('');
    expect(code).toBe(0);
    const lines = out.trimEnd().split('\n');
    expect(lines[0]?.split(/\s{2,}/)).toEqual(['ID', 'NAME', 'SEVERITY', 'TACTIC', 'TECHNIQUE', 'ENABLED']);
    expect(lines.slice(1).map((l) => l.split(/\s{2,}/))).toEqual([
      ['off', 'EC2 instances stopped by {{@userIdentity.userName}}', 'medium', 'TA0040-impact', 'T1489-service-stop', 'no'],
      ['stops', 'EC2 instances stopped by {{@userIdentity.userName}}', 'high', 'TA0040-impact', 'T1489-service-stop', 'yes'],
    ]);
  });

  it('prints JSON with --format json', async () => {
    const { code, out } = await run(['rules', 'list', good(), '--format', 'json']);
    expect(code).toBe(0);
    const entries = JSON.parse(out) as Rec[];
    expect(entries.map((e) => [e['id'], e['severity'], e['tactics'], e['techniques'], e['isEnabled'], e['tests']])).toEqual([['stops', 'high', ['TA0040-impact'], ['T1489-service-stop'], true, 3]]);
  });

  it('lists the built-in rules without PATH', async () => {
    const { code, out } = await run(['rules', 'list', '--format', 'json']);
    expect(code).toBe(0);
    const flagship = (JSON.parse(out) as Rec[]).find((e) => e['id'] === 'bd9-8o0-553');
    expect(flagship?.['severity']).toBe('low');
    expect(flagship?.['tactics']).toEqual(['TA0004-privilege-escalation']);
  });

  it('reports a broken rule on stderr, exits 1 and still lists the others', async () => {
    const dir = folder({ 'stops.yaml': rule([]), 'broken.yaml': rule([], { options: { evaluationWindow: 301, keepAlive: 3600, maxSignalDuration: 3600 } }) });
    const { code, out, err } = await run(['rules', 'list', dir]);
    expect(code).toBe(1);
    expect(err).toMatch(/broken\.yaml:\d+:\d+: error E_RULE_WINDOW/);
    expect(out).toMatch(/^stops\s/m);
    expect(out).not.toMatch(/^broken\s/m);
  });
});

describe('trailhound rules validate', () => {
  it('exits 0 with a summary when everything is valid, and never reads bases/ as rules', async () => {
    const { code, out } = await run(['rules', 'validate', good()]);
    expect(code).toBe(0);
    expect(out).toBe(`1 file, 1 rule, 3 tests, ${await builtinBaseCount() + 1} base records: 0 errors, 0 warnings\n`);
  });

  it('reports every problem at once, each with file:line:column, its code and a hint, and exits 1', async () => {
    const dir = folder({
      'stops.yaml': rule([FIRES, { ...NOTHING, events: [{ base: 'my-stpo' }] }, { ...FIRES, name: 'typo', expected: 'signal' }], { options: { evaluationWindow: 301, keepAlive: 3600, maxSignalDuration: 3600 } }),
      'bases/my-stop.json': STOP_BASE,
      'bases/other.json': JSON.stringify({ source: 'x#y', license: 'MIT', record: STOP }),
    });
    const { code, out } = await run(['rules', 'validate', dir]);
    expect(code).toBe(1);
    const heads = out.split('\n').filter((l) => /: (error|warning) /.test(l));
    expect(heads.map((l) => /^(.+?):\d+:\d+: (?:error|warning) ([EW]_[A-Z_]+)/.exec(l)?.slice(1, 3).map((s) => s.replace(/^.*[\\/]/, '')))).toEqual([
      ['stops.yaml', 'E_RULE_WINDOW'],
      ['stops.yaml', 'E_RULE_TEST_SCHEMA'],
      ['other.json', 'E_RULE_TEST_BASE_FILE'],
      ['other.json', 'E_RULE_TEST_BASE_FILE'],
      ['stops.yaml', 'E_RULE_TEST_BASE'],
    ]);
    expect(out.split('\n').filter((l) => l.startsWith('  hint: '))).toHaveLength(heads.length);
    expect(out).toMatch(/did you mean 'expect'\?/);
    expect(out).toMatch(/did you mean 'licence'\?/);
    expect(out.trimEnd().split('\n').pop()).toMatch(/^1 file, 0 rules, 0 tests, \d+ base records: 5 errors, 0 warnings$/);
  });

  it('reports a test naming an unknown base, with the closest name', async () => {
    const dir = folder({ 'stops.yaml': rule([FIRES, { ...NOTHING, events: [{ base: 'my-stpo' }] }]), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'validate', dir]);
    expect(code).toBe(1);
    expect(out).toMatch(/stops\.yaml:\d+:\d+: error E_RULE_TEST_BASE \(tests\[1\]\.events\[0\]\.base\): .*'my-stpo'.*\n {2}hint: did you mean 'my-stop'\?/);
  });

  it('exits 0 when there are only warnings', async () => {
    const dir = folder({ 'stops.yaml': rule([FIRES]), 'bases/my-stop.json': JSON.stringify({ source: 'somewhere.json', licence: 'MIT', record: STOP }) });
    const { code, out } = await run(['rules', 'validate', dir]);
    expect(code).toBe(0);
    expect(out).toMatch(/warning W_RULE_TEST_BASE_SOURCE/);
    expect(out).toMatch(/0 errors, 1 warning\n$/);
  });

  it('prints the diagnostics and counts as JSON with --format json', async () => {
    const dir = folder({ 'stops.yaml': rule([{ ...FIRES, expect: 'maybe' }]), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'validate', dir, '--format', 'json']);
    expect(code).toBe(1);
    const report = JSON.parse(out) as { errors: number; rules: number; diagnostics: { code: string; path: string }[] };
    expect([report.errors, report.rules]).toEqual([1, 1]);
    expect(report.diagnostics.map((d) => [d.code, d.path])).toEqual([['E_RULE_TEST_SCHEMA', 'tests[0].expect']]);
  });
});

async function builtinBaseCount(): Promise<number> {
  const { readdirSync } = await import('node:fs');
  return readdirSync(join(REPO_ROOT, 'rules', 'bases')).filter((f) => f.endsWith('.json')).length;
}

describe('trailhound rules test', () => {
  it('prints PASS for each passing test and exits 0', async () => {
    const { code, out, err } = await run(['rules', 'test', good()]);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect(out.split('\n').filter((l) => l.startsWith('PASS'))).toEqual([`PASS  stops › ${FIRES.name}`, `PASS  stops › ${TWO_CALLERS.name}`, `PASS  stops › ${NOTHING.name}`]);
    expect(out).toMatch(/^3 tests of 1 rule: 3 passed, 0 failed\n$/m);
  });

  it('prints FAIL with where the test is and what differed, and exits 1', async () => {
    const dir = folder({ 'stops.yaml': rule([FIRES, WRONG]), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'test', dir]);
    expect(code).toBe(1);
    expect(out).toMatch(/^FAIL {2}stops › a start fires \(it does not\) {2}\(.*stops\.yaml:\d+:\d+\)\n {6}- expected a signal, but the rule raised none$/m);
    expect(out).toMatch(/^2 tests of 1 rule: 1 passed, 1 failed$/m);
  });

  it('summarises the signals raised in a failure', async () => {
    const dir = folder({ 'stops.yaml': rule([{ ...NOTHING, name: 'wrongly quiet', events: [{ base: 'my-stop' }] }]), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'test', dir]);
    expect(code).toBe(1);
    expect(out).toMatch(/- expected no signal, but the rule raised 1 signal: \[low\] "EC2 instances stopped by christophe[^"]*" group \{@userIdentity\.arn: arn:aws:iam::309303190113:user\/christophe\}, 1 event/);
  });

  it.each<[string, unknown[], string, number, RegExp | undefined]>([
    ['two kinds, --minimum-tests 2', [FIRES, NOTHING], '2', 0, undefined],
    ['only signal tests, --minimum-tests 2', [FIRES, TWO_CALLERS], '2', 1, /FAIL {2}stops › --minimum-tests 2: no test expects none/],
    ['only none tests, --minimum-tests 2', [NOTHING], '2', 1, /FAIL {2}stops › --minimum-tests 2: has 1 test, needs 2; no test expects a signal/],
    ['two tests, --minimum-tests 3', [FIRES, NOTHING], '3', 1, /--minimum-tests 3: has 2 tests, needs 3/],
    ['one signal test, --minimum-tests 1', [FIRES], '1', 0, undefined],
    ['no tests, --minimum-tests 1', [], '1', 1, /--minimum-tests 1: has 0 tests, needs 1/],
    ['no tests, no --minimum-tests', [], '', 0, undefined],
  ])('%s → exit %i', async (_name, tests, minimum, expected, message) => {
    const dir = folder({ 'stops.yaml': rule(tests), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'test', dir, ...(minimum ? ['--minimum-tests', minimum] : [])]);
    expect(code).toBe(expected);
    if (message) expect(out).toMatch(message);
    else expect(out).not.toMatch(/^FAIL/m);
    if (minimum) expect(out).toMatch(new RegExp(`${expected === 0 ? '0 rules' : '1 rule'} short of --minimum-tests ${minimum}`));
  });

  it('refuses a --minimum-tests that is not a whole number', async () => {
    const { code, err } = await run(['rules', 'test', good(), '--minimum-tests', 'two']);
    expect(code).toBe(1);
    expect(err).toMatch(/--minimum-tests.*whole number/);
  });

  it('finds the bases/ folder beside a rule file given alone', async () => {
    const dir = good();
    const { code, out } = await run(['rules', 'test', join(dir, 'stops.yaml')]);
    expect(code).toBe(0);
    expect(out).toMatch(/3 tests of 1 rule: 3 passed/);
  });

  it('finds bases/ folders nested inside the given folder, and the built-in bases', async () => {
    const dir = folder({
      'team/stops.yaml': rule([FIRES, { ...FIRES, name: 'built-in base', expect: 'none', severity: undefined, events: [{ base: 'stratus-cloudtrail-stop' }] }]),
      'team/bases/my-stop.json': STOP_BASE,
    });
    const { code, out } = await run(['rules', 'test', dir]);
    expect(code).toBe(0);
    expect(out).toMatch(/2 tests of 1 rule: 2 passed/);
  });

  it('exits 1 when a rule or test file has an error, and still runs the tests that loaded', async () => {
    const dir = folder({ 'stops.yaml': rule([FIRES, { ...FIRES, name: 'bad', expect: 'maybe' }]), 'bases/my-stop.json': STOP_BASE });
    const { code, out, err } = await run(['rules', 'test', dir]);
    expect(code).toBe(1);
    expect(err).toMatch(/error E_RULE_TEST_SCHEMA \(tests\[1\]\.expect\)/);
    expect(out).toMatch(/PASS {2}stops › one stop fires low/);
    expect(out).toMatch(/1 test of 1 rule: 1 passed, 0 failed; 1 error in rule, test or base files/);
  });

  it('shows control characters of test names and signal titles as visible escapes', async () => {
    const dir = folder({ 'stops.yaml': rule([{ ...NOTHING, name: 'evil \u001b[2J name', events: [{ base: 'my-stop', patch: { userIdentity: { userName: 'x\u001b]0;pwned\u0007' } } }] }]), 'bases/my-stop.json': STOP_BASE });
    const { code, out } = await run(['rules', 'test', dir]);
    expect(code).toBe(1);
    expect(out.includes('\u001b')).toBe(false);
    expect(out).toContain('evil \\u001b[2J name');
    expect(out).toContain('x\\u001b]0;pwned\\u0007');
  });

  it('passes every test of the built-in rules, each rule with tests that fire and tests that do not', async () => {
    const { code, out, err } = await run(['rules', 'test', '--minimum-tests', '2']);
    expect([code, err, out.split('\n').filter((l) => l.startsWith('FAIL'))]).toEqual([0, '', []]);
  });
});

describe('rule folders with bases/', () => {
  it('scan -r does not read bases/ as rules', async () => {
    const { code, out, err } = await run(['scan', join(FIXTURES, 'stratus-detonation-logs', 'aws.execution.ec2-user-data.json'), '-r', good(), '--no-default-rules', '-f', 'json', '-q']);
    expect(err).toBe('');
    expect(code).toBe(0);
    expect((JSON.parse(out) as Rec[]).map((s) => s['ruleId'])).toEqual(['stops']);
  });
});

describe('help', () => {
  it.each([['list'], ['validate'], ['test']])('rules %s --help shows examples of the subcommand', async (sub) => {
    const { code, out } = await run(['rules', sub, '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/Examples:/);
    expect(out).toMatch(new RegExp(`trailhound rules ${sub}\\b`));
  });

  it('rules --help names the three subcommands', async () => {
    const { code, out } = await run(['rules', '--help']);
    expect(code).toBe(0);
    for (const sub of ['list', 'validate', 'test']) expect(out).toMatch(new RegExp(`^\\s+${sub}\\b`, 'm'));
  });
});
