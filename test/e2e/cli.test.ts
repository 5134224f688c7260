import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { exampleFiles } from '../../scripts/example-log.js';
import { FIXTURES, REPO_ROOT } from '../support/detect.js';
import { runCli } from '../support/cli.js';

const run = runCli;

const EXAMPLES = join(REPO_ROOT, 'examples');
const STRATUS = join(FIXTURES, 'stratus-detonation-logs', 'aws.execution.ec2-user-data.json');
/** Only the flagship rule, so that the counts below do not depend on the rest of the pack. */
const FLAGSHIP_ONLY = ['--no-default-rules', '-r', join(REPO_ROOT, 'rules', 'bd9-8o0-553.yaml')];

function parseJsonl(text: string): Record<string, unknown>[] {
  return text
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

describe('the bundled example', () => {
  it('is exactly what scripts/example-log.ts generates', () => {
    for (const [path, records] of exampleFiles()) {
      const committed: unknown = JSON.parse(gunzipSync(readFileSync(join(EXAMPLES, path))).toString('utf8'));
      expect(committed).toEqual(JSON.parse(JSON.stringify({ Records: records })));
    }
  });

  it('scanning it prints the flagship signal for the leaked key, on the instance whose user data changed', async () => {
    const { code, out, err } = await run(['scan', EXAMPLES, '--format', 'jsonl']);
    expect(code).toBe(0);
    const signals = parseJsonl(out).filter((s) => s.ruleId === 'bd9-8o0-553');
    expect(signals).toHaveLength(1);
    const [s] = signals;
    expect(s?.group).toEqual({ '@userIdentity.arn': 'arn:aws:iam::111122223333:user/build-bot' });
    expect(s?.host).toBe('i-0a1b2c3d4e5f67890');
    expect(s?.eventCount).toBe(3);
    for (const key of ['id', 'ruleId', 'ruleName', 'severity', 'title', 'message', 'group', 'host', 'firstSeen', 'lastSeen', 'eventCount', 'queryCounts', 'eventIds', 'tags']) {
      expect(s).toHaveProperty(key);
    }
    expect(err).toMatch(/scanned 3 files/);
  });

  it('gives the same ids on every run', async () => {
    const a = parseJsonl((await run(['scan', EXAMPLES, '-f', 'jsonl'])).out);
    const b = parseJsonl((await run(['scan', EXAMPLES, '-f', 'jsonl'])).out);
    expect(a.map((s) => s.id)).toEqual(b.map((s) => s.id));
    expect(a.length).toBeGreaterThan(0);
  });
});

describe('scan exit codes and output', () => {
  it.each<[string, number, string[]]>([
    ['findings without --fail-on', 0, ['--format', 'json']],
    ['--fail-on low with a low signal', 2, ['--fail-on', 'low', '-f', 'json']],
    ['--fail-on high with only a low signal', 0, ['--fail-on', 'high', '-f', 'json']],
  ])('%s → exit %i', async (_name, expected, flags) => {
    const { code } = await run(['scan', STRATUS, ...FLAGSHIP_ONLY, ...flags]);
    expect(code).toBe(expected);
  });

  it('--format json prints one JSON array', async () => {
    const { out } = await run(['scan', STRATUS, ...FLAGSHIP_ONLY, '--format', 'json']);
    const parsed = JSON.parse(out) as unknown[];
    expect(Array.isArray(parsed)).toBe(true);
    expect(parsed.length).toBe(1);
  });

  it('table format shows severity, rule and group', async () => {
    const { out } = await run(['scan', STRATUS, '--format', 'table']);
    expect(out).toMatch(/SEVERITY\s+RULE\s+GROUP/);
    expect(out).toContain('bd9-8o0-553');
    expect(out).toContain('arn:aws:iam::309303190113:user/christophe');
  });

  it('reads standard input with -', async () => {
    const { code, out } = await run(['scan', '-', ...FLAGSHIP_ONLY, '-f', 'jsonl'], readFileSync(STRATUS, 'utf8'));
    expect(code).toBe(0);
    expect(parseJsonl(out)).toHaveLength(1);
  });

  it('a usage error exits 1 with a message', async () => {
    const { code, err } = await run(['scan']);
    expect(code).toBe(1);
    expect(err).toMatch(/PATH/);
  });

  it('an unknown --fail-on value exits 1', async () => {
    const { code, err } = await run(['scan', STRATUS, '--fail-on', 'urgent']);
    expect(code).toBe(1);
    expect(err).toMatch(/urgent/);
  });

  it('-q hides the summary but keeps findings', async () => {
    const { out, err } = await run(['scan', STRATUS, ...FLAGSHIP_ONLY, '-q', '-f', 'jsonl']);
    expect(parseJsonl(out)).toHaveLength(1);
    expect(err).toBe('');
  });

  it('--help explains inputs and exit codes', async () => {
    const { code, out } = await run(['scan', '--help']);
    expect(code).toBe(0);
    expect(out).toMatch(/Exit status/);
    expect(out).toMatch(/--fail-on/);
  });
});

describe('bad input never stops the scan', () => {
  function corpus(): string {
    const dir = mkdtempSync(join(tmpdir(), 'trailhound-e2e-'));
    const logs = join(dir, 'AWSLogs', '309303190113', 'CloudTrail', 'us-east-1', '2024', '08', '01');
    mkdirSync(logs, { recursive: true });
    copyFileSync(STRATUS, join(logs, 'attack.json'));
    writeFileSync(join(logs, 'broken.json'), '{"Records": [ {"eventName": ');
    writeFileSync(join(logs, 'notcloudtrail.json'), '{"hello": "world"}');
    const digest = join(dir, 'AWSLogs', '309303190113', 'CloudTrail-Digest', 'us-east-1', '2024', '08', '01');
    mkdirSync(digest, { recursive: true });
    writeFileSync(join(digest, '309303190113_CloudTrail-Digest_us-east-1_x.json.gz'), 'not read');
    return dir;
  }

  it('reports each bad file once on stderr, still finds the attack, and counts skipped digests', async () => {
    const { code, out, err } = await run(['scan', corpus(), '-f', 'jsonl']);
    expect(code).toBe(0);
    expect(parseJsonl(out).filter((s) => s.ruleId === 'bd9-8o0-553')).toHaveLength(1);
    const badLines = err.split('\n').filter((l) => l.startsWith('bad input:'));
    expect(badLines.some((l) => l.includes('broken.json'))).toBe(true);
    expect(badLines.some((l) => l.includes('notcloudtrail.json'))).toBe(true);
    expect(err).toMatch(/skipped 1 file/);
  });

  it('--strict turns bad input into exit 1 but still prints the findings', async () => {
    const { code, out } = await run(['scan', corpus(), '-f', 'jsonl', '--strict']);
    expect(code).toBe(1);
    expect(parseJsonl(out).filter((s) => s.ruleId === 'bd9-8o0-553')).toHaveLength(1);
  });
});
