/**
 * `trailhound scan --suppressions FILE`, `--show-suppressed` and `--config FILE`, run in-process on
 * the real Stratus user-data detonation with only the flagship rule (so other rules cannot change
 * the exit codes).
 */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FIXTURES, REPO_ROOT } from '../support/detect.js';
import { runCli } from '../support/cli.js';

const run = runCli;

const STRATUS = join(FIXTURES, 'stratus-detonation-logs', 'aws.execution.ec2-user-data.json');
const FLAGSHIP = join(REPO_ROOT, 'rules', 'bd9-8o0-553.yaml');
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const BASE = ['scan', STRATUS, '--no-default-rules', '-r', FLAGSHIP, '-f', 'jsonl'];

/** A fresh folder holding `files` (name → text); returns name → path. */
function files(contents: Record<string, string>): Record<string, string> {
  const dir = mkdtempSync(join(tmpdir(), 'trailhound-suppressions-'));
  return Object.fromEntries(
    Object.entries(contents).map(([name, text]) => {
      const path = join(dir, name);
      writeFileSync(path, text);
      return [name, path];
    }),
  );
}

function parseJsonl(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

const MUTE = `- name: lab account
  ruleId: bd9-8o0-553
  suppressionQuery: '@userIdentity.arn:"${CHRISTOPHE}"'
  reason: the Stratus lab detonates this on purpose
  owner: secops@example.com
`;

describe('scan --suppressions', () => {
  it('leaves the signal out, says so in the summary, and does not count it for --fail-on', async () => {
    const { suppressions } = files({ suppressions: MUTE });
    const { code, out, err } = await run([...BASE, '--suppressions', suppressions ?? '', '--fail-on', 'low']);
    expect(code).toBe(0);
    expect(parseJsonl(out)).toEqual([]);
    expect(err).toMatch(/^1 suppressed signal \(printed with --show-suppressed\)$/m);
    expect(err).toMatch(/^0 signals$/m);
  });

  it('--show-suppressed prints it with status: suppressed and the reason', async () => {
    const { suppressions } = files({ suppressions: MUTE });
    const { code, out } = await run([...BASE, '--suppressions', suppressions ?? '', '--show-suppressed', '--fail-on', 'low']);
    expect(code).toBe(0);
    const [signal, ...rest] = parseJsonl(out);
    expect(rest).toEqual([]);
    expect(signal?.['ruleId']).toBe('bd9-8o0-553');
    expect(signal?.['status']).toBe('suppressed');
    expect(signal?.['suppression']).toEqual({ reason: 'the Stratus lab detonates this on purpose', source: expect.stringMatching(/suppressions:1:3$/) as unknown, name: 'lab account', owner: 'secops@example.com' });
  });

  it('--show-suppressed marks it in the table too', async () => {
    const { suppressions } = files({ suppressions: MUTE });
    const { out } = await run([...BASE.slice(0, -2), '-f', 'table', '--suppressions', suppressions ?? '', '--show-suppressed']);
    expect(out).toMatch(/LOW \(SUPPRESSED\)\s+bd9-8o0-553/);
    expect(out).toMatch(/suppressed by .*suppressions:1:3: the Stratus lab detonates this on purpose/);
  });

  it('keeps a signal whose events do not all match the suppression query', async () => {
    const { suppressions } = files({ suppressions: "- ruleId: bd9-8o0-553\n  suppressionQuery: '@evt.name:StopInstances'\n  reason: stops are fine\n" });
    const { code, out, err } = await run([...BASE, '--suppressions', suppressions ?? '', '--fail-on', 'low']);
    expect(code).toBe(2);
    expect(parseJsonl(out).map((s) => s['status'])).toEqual([undefined]);
    expect(err).toMatch(/^0 suppressed signals/m);
  });

  it('excludes data: an excluded Start means no signal at all, not a suppressed one', async () => {
    const { suppressions } = files({ suppressions: "- ruleId: bd9-8o0-553\n  dataExclusionQuery: '@evt.name:StartInstances'\n  reason: starts are handled elsewhere\n" });
    const { code, out, err } = await run([...BASE, '--suppressions', suppressions ?? '', '--show-suppressed']);
    expect(code).toBe(0);
    expect(parseJsonl(out)).toEqual([]);
    expect(err).toMatch(/^0 suppressed signals/m);
  });

  it('reads several files, in order', async () => {
    const paths = files({ first: '- ruleId: other\n  reason: r\n', second: MUTE });
    const { out } = await run([...BASE, '--suppressions', paths['first'] ?? '', '--suppressions', paths['second'] ?? '', '--show-suppressed']);
    expect(parseJsonl(out).map((s) => (s['suppression'] as { name?: string } | undefined)?.name)).toEqual(['lab account']);
  });

  it.each([
    { name: 'an expired entry', text: `${MUTE}  expires: 2020-01-01\n`, code: 'W_SUPPRESSION_EXPIRED', signals: 1 },
    { name: 'an unknown rule id', text: '- ruleId: bd9-8o0-554\n  reason: r\n', code: 'W_SUPPRESSION_UNKNOWN_RULE', signals: 1 },
  ])('warns about $name on stderr and still scans', async ({ text, code, signals }) => {
    const { suppressions } = files({ suppressions: text });
    const result = await run([...BASE, '--suppressions', suppressions ?? '']);
    expect(result.code).toBe(0);
    expect(result.err).toMatch(new RegExp(`suppressions:\\d+:\\d+: warning ${code}`));
    expect(parseJsonl(result.out)).toHaveLength(signals);
    const quiet = await run([...BASE, '--suppressions', suppressions ?? '', '-q']);
    expect(quiet.err).toBe('');
  });

  it.each([
    { name: 'a misspelt field', text: '- ruleId: bd9-8o0-553\n  reson: r\n', pattern: /suppressions:2:3: error E_SUPPRESSION_UNKNOWN_FIELD \(\[0\]\.reson\): unknown field 'reson'[\s\S]*hint: did you mean 'reason'\?/ },
    { name: 'a missing reason', text: '- ruleId: bd9-8o0-553\n', pattern: /error E_SUPPRESSION_SCHEMA \(\[0\]\.reason\): '\[0\]\.reason' is required/ },
    { name: 'a bad query', text: "- ruleId: bd9-8o0-553\n  reason: r\n  suppressionQuery: '@a:(b'\n", pattern: /suppressions:3:\d+: error E_QUERY_SYNTAX/ },
  ])('stops with exit 1 before scanning on $name', async ({ text, pattern }) => {
    const { suppressions } = files({ suppressions: text });
    const { code, out, err } = await run([...BASE, '--suppressions', suppressions ?? '']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(pattern);
    expect(err).toMatch(/error\(s\) in the config or suppression files/);
    expect(err).not.toMatch(/scanned/);
  });

  it('stops with exit 1 on a file that cannot be read', async () => {
    const { code, err } = await run([...BASE, '--suppressions', join(tmpdir(), 'trailhound-no-such-file.yaml')]);
    expect(code).toBe(1);
    expect(err).toMatch(/error E_SUPPRESSION_PATH: cannot read the suppressions file/);
  });
});

/** A rule like the flagship but medium, grouped by caller, with decreaseCriticalityBasedOnEnv. */
const ENV_RULE = `id: env-test
name: User data changed
queries:
  - name: modify
    query: source:cloudtrail @evt.name:ModifyInstanceAttribute @requestParameters.userData:*
    groupByFields: ['@userIdentity.arn']
cases:
  - status: medium
    condition: modify > 0
options:
  evaluationWindow: 900
  keepAlive: 3600
  maxSignalDuration: 3600
  decreaseCriticalityBasedOnEnv: true
`;

describe('scan --config', () => {
  it.each([
    { environment: 'staging', severity: 'low' },
    { environment: 'production', severity: 'medium' },
  ])('lowers the severity for an account in $environment: $severity', async ({ environment, severity }) => {
    const paths = files({ 'rule.yaml': ENV_RULE, 'trailhound.yaml': `environments:\n  "309303190113": ${environment}\n` });
    const { code, out } = await run(['scan', STRATUS, '--no-default-rules', '-r', paths['rule.yaml'] ?? '', '-f', 'jsonl', '--config', paths['trailhound.yaml'] ?? '']);
    expect(code).toBe(0);
    expect(parseJsonl(out).map((s) => s['severity'])).toEqual([severity]);
  });

  it('applies the suppressions of the config file', async () => {
    const { config } = files({ config: `suppressions:\n${MUTE.replace(/^/gm, '  ')}` });
    const { out, err } = await run([...BASE, '--config', config ?? '', '--show-suppressed']);
    expect(parseJsonl(out).map((s) => s['status'])).toEqual(['suppressed']);
    expect(err).toMatch(/^1 suppressed signal/m);
  });

  it.each([
    { name: 'an account id YAML reads as a number', text: 'environments:\n  012345678901: production\n', pattern: /config:2:3: error E_CONFIG_ACCOUNT[\s\S]*hint: quote the account id/ },
    { name: 'an unknown field', text: 'environment: {}\n', pattern: /config:1:1: error E_CONFIG_UNKNOWN_FIELD \(environment\)[\s\S]*did you mean 'environments'/ },
  ])('stops with exit 1 on $name', async ({ text, pattern }) => {
    const { config } = files({ config: text });
    const { code, out, err } = await run([...BASE, '--config', config ?? '']);
    expect(code).toBe(1);
    expect(out).toBe('');
    expect(err).toMatch(pattern);
  });

  it('stops with exit 1 on a file that cannot be read', async () => {
    const { code, err } = await run([...BASE, '--config', join(tmpdir(), 'trailhound-no-such-config.yaml')]);
    expect(code).toBe(1);
    expect(err).toMatch(/error E_CONFIG_PATH: cannot read the config file/);
  });

  it('--help names the three options', async () => {
    const { out } = await run(['scan', '--help']);
    for (const flag of ['--config <file>', '--suppressions <file>', '--show-suppressed']) expect(out).toContain(flag);
  });
});
