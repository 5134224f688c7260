/**
 * `trailhound investigate` end to end, in-process: a state folder holding the signals of the real
 * Stratus Red Team ec2-user-data run and the event index of that run plus other runs (other
 * identities, other accounts), then the command as a user types it.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, Signal } from '../../src/core/types.js';
import { indexedEventOf } from '../../src/investigate/indexed-event.js';
import type { InvestigationReport } from '../../src/investigate/investigate.js';
import { openSqliteStateStore } from '../../src/store/sqlite-state-store.js';
import { runCli } from '../support/cli.js';
import { detect, fixtureRecords } from '../support/detect.js';
import { indexedFixtureEvents } from '../support/indexed-fixtures.js';
import { useScratch } from '../support/scratch.js';

const scratch = useScratch('investigate');
const USER_DATA = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
const NEIGHBOURS = [
  'stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json',
  'stratus-detonation-logs/aws.execution.ssm-start-session.json',
  'stratus-detonation-logs/aws.discovery.ec2-download-user-data.json',
  'stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json',
];
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const INSTANCE = 'i-DDd6c7B0e18F0E35f';
const NASTY_AGENT = '\u001b]52;c;ZXZpbA==\u0007\u001b[2J<!channel>';

let stateDir = '';
let flagship: Signal;
let companion: Signal;

beforeAll(async () => {
  stateDir = scratch.freshDir();
  const signals = detect(fixtureRecords(USER_DATA));
  const found = signals.find((s) => s.ruleId === 'bd9-8o0-553');
  const other = signals.find((s) => s.ruleId !== 'bd9-8o0-553' && s.host === INSTANCE);
  if (found === undefined || other === undefined) throw new Error('the user-data run no longer raises bd9-8o0-553 and its companion');
  flagship = found;
  companion = other;
  const events = [await indexedFixtureEvents(USER_DATA), ...(await Promise.all(NEIGHBOURS.map((f) => indexedFixtureEvents(f))))].flat();
  // An attacker-chosen user agent on a call by the same identity, an hour after the run.
  const base = fixtureRecords(USER_DATA).find((r) => r.eventName === 'DescribeInstances');
  const nasty = indexedEventOf({ ...(structuredClone(base) as JsonObject), eventTime: '2024-08-01T13:04:24Z', eventID: 'nasty-agent-1', userAgent: NASTY_AGENT });
  if (nasty === undefined) throw new Error('no time');
  const store = await openSqliteStateStore({ dir: stateDir });
  try {
    await store.commitCheckpoint({ indexedEvents: [...events, nasty], emittedSignals: signals.map((signal) => ({ kind: 'created', signal })), engineState: '{}' });
  } finally {
    await store.close();
  }
});

async function investigateJson(args: readonly string[]): Promise<InvestigationReport> {
  const run = await runCli(['investigate', ...args, '--state', stateDir, '--format', 'json']);
  expect(run.err).toBe('');
  expect(run.code).toBe(0);
  return JSON.parse(run.out) as InvestigationReport;
}

describe('trailhound investigate SIGNAL_ID', () => {
  it('lists every other call of the identity from the run, and nothing of the other identities', async () => {
    const report = await investigateJson([flagship.id]);
    const timeline = report.timeline;
    expect(report.total).toBe(36);
    expect(timeline).toHaveLength(36);
    expect(new Set(timeline.map((t) => t.identityArn))).toEqual(new Set([CHRISTOPHE]));
    expect(timeline.filter((t) => t.eventName === 'DescribeInstances')).toHaveLength(33);
    expect(timeline.filter((t) => t.isSignalEvent).map((t) => t.eventName)).toEqual(['StopInstances', 'ModifyInstanceAttribute', 'StartInstances']);
    expect(timeline.map((t) => t.timeMs)).toEqual([...timeline.map((t) => t.timeMs)].sort((a, b) => a - b));
    expect(report.pivots).toEqual({ identityArns: [CHRISTOPHE], roleArns: [], accessKeyIds: ['AKIAZI86ACIZ2J9CV86Z'], principalIds: [] });
    expect(report.window).toEqual({ fromMs: Date.parse('2024-07-31T12:03:30Z'), toMs: Date.parse('2024-08-02T12:04:20Z'), from: '2024-07-31T12:03:30Z', to: '2024-08-02T12:04:20Z' });
  });

  it('summarises: APIs by service (all new for this identity), the instance stopped, modified and started, other signals', async () => {
    const { summary, hasHistory, target } = await investigateJson([flagship.id]);
    expect(hasHistory).toBe(true);
    expect(target).toMatchObject({ kind: 'signal', signalId: flagship.id, ruleId: 'bd9-8o0-553', hosts: [INSTANCE] });
    expect(summary.services.map((s) => [s.service, s.count])).toEqual([['ec2', 36]]);
    expect(summary.newApis).toEqual(['ec2.amazonaws.com DescribeInstances', 'ec2.amazonaws.com ModifyInstanceAttribute', 'ec2.amazonaws.com StartInstances', 'ec2.amazonaws.com StopInstances']);
    expect(summary.sourceIps.map((ip) => [ip.value, ip.count, ip.isNew])).toEqual([['251.228.255.218', 36, true]]);
    expect(summary.instances).toEqual([
      {
        instanceId: INSTANCE,
        isSignalHost: true,
        actions: [
          { eventName: 'StopInstances', count: 1, errorCount: 0, firstMs: Date.parse('2024-08-01T12:03:30Z'), lastMs: Date.parse('2024-08-01T12:03:30Z') },
          { eventName: 'ModifyInstanceAttribute', count: 1, errorCount: 0, firstMs: Date.parse('2024-08-01T12:04:18Z'), lastMs: Date.parse('2024-08-01T12:04:18Z') },
          { eventName: 'StartInstances', count: 1, errorCount: 0, firstMs: Date.parse('2024-08-01T12:04:19Z'), lastMs: Date.parse('2024-08-01T12:04:19Z') },
        ],
      },
    ]);
    expect(summary.errors).toBe(0);
    expect(summary.accessDeniedBursts).toEqual([]);
    expect(summary.otherSignals.map((s) => [s.id, s.ruleId])).toEqual([[companion.id, companion.ruleId]]);
    expect(summary.otherSignals[0]?.via).toContain(INSTANCE);
  });

  it('prints a terminal report with the summary, the timeline and attacker strings escaped', async () => {
    const run = await runCli(['investigate', flagship.id.slice(0, 8), '--state', stateDir]);
    expect(run.err).toBe('');
    expect(run.code).toBe(0);
    expect(run.out).toContain(`Investigation of signal ${flagship.id}`);
    expect(run.out).toContain(`Identity   ${CHRISTOPHE}`);
    expect(run.out).toMatch(/DescribeInstances ×33 {2}NEW/);
    expect(run.out).toContain(`${INSTANCE} (the signal’s instance): StopInstances ×1 at 2024-08-01T12:03:30Z, ModifyInstanceAttribute ×1 at 2024-08-01T12:04:18Z, StartInstances ×1 at 2024-08-01T12:04:19Z`);
    expect(run.out).toContain(`TIMELINE (36 calls, oldest first; ! = failed)`);
    expect(run.out).toMatch(/2024-08-01T12:04:18Z {2}ec2:ModifyInstanceAttribute {2}i-DDd6c7B0e18F0E35f {2}christophe {2}251\.228\.255\.218 .*<- signal event/);
    expect(run.out).not.toContain('\u001b');
    expect(run.out).not.toContain('\u0007');
    expect(run.out).toContain('\\u001b]52;c;ZXZpbA==\\u0007\\u001b[2J<!channel>');
    expect(run.out).not.toContain('GetPasswordData');
  });

  it('narrows the window with --before and --after, and caps the timeline with --limit', async () => {
    const narrow = await investigateJson([flagship.id, '--before', '0s', '--after', '30s']);
    expect(narrow.total).toBe(35);
    const capped = await investigateJson([flagship.id, '--limit', '5']);
    expect(capped.timeline).toHaveLength(5);
    expect(capped.total).toBe(36);
    expect(capped.summary.services[0]?.count).toBe(36);
  });

  it('refuses an unknown id, a missing --state, and a folder without a store (creating nothing)', async () => {
    const unknown = await runCli(['investigate', 'ffffffffffffffff', '--state', stateDir]);
    expect(unknown.code).toBe(1);
    expect(unknown.err).toContain('E_SIGNAL_NOT_FOUND');
    const noState = await runCli(['investigate', flagship.id]);
    expect(noState.code).toBe(1);
    expect(noState.err).toContain('--state DIR');
    const empty = join(scratch.freshDir(), 'nothing-here');
    const missing = await runCli(['investigate', flagship.id, '--state', empty]);
    expect(missing.code).toBe(1);
    expect(missing.err).toContain('no state store');
    expect(existsSync(empty)).toBe(false);
    const both = await runCli(['investigate', flagship.id, '--identity', CHRISTOPHE, '--state', stateDir]);
    expect(both.code).toBe(1);
    expect(both.err).toContain('either a SIGNAL_ID or --identity');
  });

  it('runs beside a live runner holding the state folder', async () => {
    const runner = await openSqliteStateStore({ dir: stateDir });
    try {
      const report = await investigateJson([flagship.id]);
      expect(report.total).toBe(36);
    } finally {
      await runner.close();
    }
  });
});

describe('trailhound investigate --identity', () => {
  it('by access key id over a window: the same calls as by the signal', async () => {
    const report = await investigateJson(['--identity', 'AKIAZI86ACIZ2J9CV86Z', '--from', '2024-08-01T12:00:00Z', '--to', '2024-08-01T12:05:00Z']);
    expect(report.total).toBe(35);
    expect(report.pivots.identityArns).toEqual([CHRISTOPHE]);
    expect(report.summary.otherSignals.map((s) => s.id).sort()).toEqual([flagship.id, companion.id].sort());
  });

  it('by a role session: every session of the role, with the AccessDenied burst and the failed calls', async () => {
    const session = 'arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000';
    const report = await investigateJson(['--identity', session, '--from', '2024-07-30T21:00:00Z', '--to', '2024-07-30T22:00:00Z']);
    expect(report.pivots.roleArns).toEqual(['arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role']);
    expect(report.total).toBe(30);
    expect(report.summary.errorCodes.map((c) => [c.value, c.count])).toEqual([['Client.UnauthorizedOperation', 30]]);
    expect(report.summary.accessDeniedBursts).toHaveLength(1);
    expect(report.summary.accessDeniedBursts[0]).toMatchObject({ count: 30, errorCodes: ['Client.UnauthorizedOperation'], apis: ['ec2.amazonaws.com GetPasswordData'] });
    const text = await runCli(['investigate', '--identity', session, '--from', '2024-07-30T21:00:00Z', '--to', '2024-07-30T22:00:00Z', '--state', stateDir]);
    expect(text.out).toContain('AccessDenied burst: 30 calls');
    expect(text.out).toMatch(/^ {2}! 2024-07-30T21:31:\d\dZ {2}ec2:GetPasswordData .* ERROR Client\.UnauthorizedOperation$/m);
  });

  it('refuses a window that ends before it starts', async () => {
    const run = await runCli(['investigate', '--identity', CHRISTOPHE, '--from', '2024-08-02T00:00:00Z', '--to', '2024-08-01T00:00:00Z', '--state', stateDir]);
    expect(run.code).toBe(1);
    expect(run.err).toContain('must be before --to');
  });
});

describe('scan --state then investigate, as a user runs them', () => {
  it('the scan indexes every record it reads, so investigate lists the identity calls from the file', async () => {
    const dir = scratch.freshDir();
    const file = join(import.meta.dirname, '..', 'fixtures', 'cloudtrail', USER_DATA);
    const neighbour = join(import.meta.dirname, '..', 'fixtures', 'cloudtrail', NEIGHBOURS[0] ?? '');
    const scan = await runCli(['scan', file, neighbour, '--state', dir, '--format', 'json', '--threads', '2']);
    expect(scan.code).toBe(0);
    const signals = JSON.parse(scan.out) as Signal[];
    const found = signals.find((s) => s.ruleId === 'bd9-8o0-553');
    expect(found?.id).toBe(flagship.id);
    const run = await runCli(['investigate', found?.id ?? '', '--state', dir, '--format', 'json']);
    expect(run.code).toBe(0);
    const report = JSON.parse(run.out) as InvestigationReport;
    expect(report.total).toBe(35);
    expect(new Set(report.timeline.map((t) => t.identityArn))).toEqual(new Set([CHRISTOPHE]));
    expect(report.timeline.filter((t) => t.isSignalEvent).map((t) => t.eventName)).toEqual(['StopInstances', 'ModifyInstanceAttribute', 'StartInstances']);

    // --no-index leaves the index alone: a second store sees no calls.
    const bare = scratch.freshDir();
    expect((await runCli(['scan', file, '--state', bare, '--no-index', '-q'])).code).not.toBe(1);
    const none = await runCli(['investigate', found?.id ?? '', '--state', bare, '--format', 'json']);
    expect((JSON.parse(none.out) as InvestigationReport).total).toBe(0);
  });
});
