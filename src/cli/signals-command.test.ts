/**
 * `trailhound signals`: a store filled by `scan --state DIR` over the real Stratus Red Team
 * ec2-user-data run, then listed, shown, acknowledged, assigned, resolved… through the CLI run
 * in-process, checking what the store keeps; and the same while a runner holds the store's lock.
 */
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import type { SignalDetail, StoredSignal } from '../store/signal-triage.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { StateStore } from '../store/state-store.js';
import { FIXTURES } from '../../test/support/detect.js';
import { runCli } from '../../test/support/cli.js';
import { useScratch } from '../../test/support/scratch.js';
import { renderSignalList, resolveActor } from './signals-command.js';

const STRATUS = join(FIXTURES, 'stratus-detonation-logs', 'aws.execution.ec2-user-data.json');
const FLAGSHIP = '2031dab62c1e3f43'; // bd9-8o0-553, low, grouped by christophe's ARN
const COMPANION = 'cd5392e1df05a9c6'; // the ordered sequence rule, high, grouped by instance
const CHRISTOPHE = 'arn:aws:iam::309303190113:user/christophe';
const INSTANCE = 'i-DDd6c7B0e18F0E35f';

const scratch = useScratch('signals-cli');

async function scanned(): Promise<string> {
  const dir = scratch.freshDir();
  const scan = await runCli(['scan', STRATUS, '--state', dir, '--format', 'jsonl']);
  expect(scan.code, scan.err).toBe(0);
  expect(scan.err).toContain('recorded 2 new and 0 updated signal(s)');
  return dir;
}

function json<T>(out: string): T {
  return JSON.parse(out) as T;
}

async function listed(dir: string, ...args: string[]): Promise<StoredSignal[]> {
  const run = await runCli(['signals', '--state', dir, '--format', 'json', ...args]);
  expect(run.code, run.err).toBe(0);
  return json<StoredSignal[]>(run.out);
}

async function shown(dir: string, id: string): Promise<SignalDetail> {
  const run = await runCli(['signals', 'show', id, '--state', dir, '--format', 'json']);
  expect(run.code, run.err).toBe(0);
  return json<SignalDetail>(run.out);
}

describe('trailhound signals over a store filled by scan --state', () => {
  const opened: StateStore[] = [];
  afterEach(async () => {
    for (const store of opened.splice(0)) await store.close();
    delete process.env.TRAILHOUND_ACTOR;
  });

  it('lists the signals of the scan, most recent first, open, with identity and host', async () => {
    const dir = await scanned();
    const all = await listed(dir);
    expect(all.map((s) => [s.signal.id, s.signal.ruleId, s.signal.severity, s.status, s.assignee, s.changeCount])).toEqual([
      [FLAGSHIP, 'bd9-8o0-553', 'low', 'open', null, 1],
      [COMPANION, 'aws-ec2-user-data-modified-then-started', 'high', 'open', null, 1],
    ]);
    const table = await runCli(['signals', '--state', dir]);
    expect(table.code).toBe(0);
    const lines = table.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID\s+SEVERITY\s+STATUS\s+RULE\s+IDENTITY\s+HOST\s+LAST SEEN\s+ASSIGNEE$/);
    expect(lines[1]).toMatch(new RegExp(`^${FLAGSHIP}\\s+low\\s+open\\s+bd9-8o0-553\\s+${CHRISTOPHE}\\s+${INSTANCE}\\s+2024-08-01T12:04:19.000Z\\s+-$`));
    expect(lines).toHaveLength(3);
    expect(lines[2]).toMatch(new RegExp(`^${COMPANION}\\s+high\\s+open\\s+aws-ec2-user-data\\S*\\s+${CHRISTOPHE}\\s+`));
  });

  it.each<[string, string[], string[]]>([
    ['--severity high,critical', ['--severity', 'high,critical'], [COMPANION]],
    ['--status acknowledged', ['--status', 'acknowledged'], []],
    ['--rule', ['--rule', 'bd9-8o0-553'], [FLAGSHIP]],
    ['--identity (the group of one, an actor of the other)', ['--identity', CHRISTOPHE], [FLAGSHIP, COMPANION]],
    ['--host', ['--host', INSTANCE], [FLAGSHIP, COMPANION]],
    ['--host of another instance', ['--host', 'i-0123456789abcdef0'], []],
    ['--limit', ['--limit', '1'], [FLAGSHIP]],
  ])('filters with %s', async (_name, args, ids) => {
    const dir = await scanned();
    expect((await listed(dir, ...args)).map((s) => s.signal.id)).toEqual(ids);
  });

  it('show gives the signal, its message, events, history, triage log and deliveries, by a unique prefix', async () => {
    const dir = await scanned();
    const text = await runCli(['signals', 'show', FLAGSHIP.slice(0, 8), '--state', dir]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`Possible AWS EC2 privilege escalation via the modification of user data  [low] ${FLAGSHIP}`);
    expect(text.out).toContain(`identity:   ${CHRISTOPHE}`);
    expect(text.out).toContain('1. Find out whether `christophe` is allowed to change the user data of `i-DDd6c7B0e18F0E35f`');
    expect(text.out).toMatch(/Events \(3\):\n {2}d373b5dd-6a82-439d-bdcf-4e6c7c7a9292\n {2}f634894e-d625-4b7b-b1c1-50354cc1100e\n {2}55e470c0-611d-4549-ad87-a7c830a75063\n/);
    expect(text.out).toMatch(/History:\n {2}#\d+ .* created {2}3 events, last seen 2024-08-01T12:04:19.000Z, severity low, open\n/);
    expect(text.out).toMatch(/Triage:\n {2}\S+ {2}trailhound {2}detected \(open\)\n/);
    const detail = await shown(dir, FLAGSHIP);
    expect(detail.signal.eventIds).toEqual(['d373b5dd-6a82-439d-bdcf-4e6c7c7a9292', 'f634894e-d625-4b7b-b1c1-50354cc1100e', '55e470c0-611d-4549-ad87-a7c830a75063']);
    expect(detail.history.map((h) => h.kind)).toEqual(['created']);
  });

  it('ack, assign, note, resolve: each is kept with who and when, the resolution closes the signal for the sinks', async () => {
    const dir = await scanned();
    const setup = await openSqliteStateStore({ dir });
    await setup.registerSinks(['webhook:https://hooks.example.com/trailhound']);
    await setup.close();

    const ack = await runCli(['signals', 'ack', FLAGSHIP, '--state', dir, '--actor', 'alice', '--note', 'looking into it']);
    expect(ack.code, ack.err).toBe(0);
    expect(ack.out).toBe(`acknowledged ${FLAGSHIP} (Possible AWS EC2 privilege escalation via the modification of user data) as alice: now acknowledged\n`);
    process.env.TRAILHOUND_ACTOR = 'alice-from-env';
    expect((await runCli(['signals', 'assign', FLAGSHIP.slice(0, 6), 'bob', '--state', dir])).code).toBe(0);
    expect((await runCli(['signals', 'note', FLAGSHIP, 'christophe says it was not him', '--state', dir, '--actor', 'bob'])).code).toBe(0);
    const resolve = await runCli(['signals', 'resolve', FLAGSHIP, '--as', 'true-positive', '--note', 'keys rotated', '--state', dir, '--actor', 'bob']);
    expect(resolve.code, resolve.err).toBe(0);
    expect(resolve.out).toContain('now resolved (true-positive), assigned to bob');

    const detail = await shown(dir, FLAGSHIP);
    expect(detail).toMatchObject({ status: 'resolved', resolution: 'true-positive', assignee: 'bob' });
    expect(detail.triage.map((e) => [e.actor, e.action, e.status ?? e.assignee ?? null, e.note ?? null])).toEqual([
      ['trailhound', 'detected', 'open', null],
      ['alice', 'status', 'acknowledged', 'looking into it'],
      ['alice-from-env', 'assign', 'bob', null],
      ['bob', 'note', null, 'christophe says it was not him'],
      ['bob', 'status', 'resolved', 'keys rotated'],
    ]);
    expect(detail.triage.at(-1)?.resolution).toBe('true-positive');
    expect(detail.history.map((h) => [h.kind, h.triage?.status])).toEqual([
      ['created', 'open'],
      ['closed', 'resolved'],
    ]);
    expect(detail.deliveries.map((d) => [d.sink, d.state])).toEqual([['webhook:https://hooks.example.com/trailhound', 'pending']]);

    // The other signal was not touched; scanning the same file again keeps the triage and records nothing.
    expect((await listed(dir, '--status', 'open')).map((s) => s.signal.id)).toEqual([COMPANION]);
    const again = await runCli(['scan', STRATUS, '--state', dir, '--format', 'jsonl']);
    expect(again.code).toBe(0);
    expect(again.err).not.toContain('recorded');
    expect(await shown(dir, FLAGSHIP)).toMatchObject({ status: 'resolved', changeCount: 1 });
  });

  it('show lists a dead letter with its attempts and error', async () => {
    const dir = await scanned();
    const store = await openSqliteStateStore({ dir });
    opened.push(store);
    await store.registerSinks(['pagerduty:R0UT1NGKEY']);
    await store.updateTriage(COMPANION, { actor: 'alice', status: 'suppressed', note: 'the nightly AMI build' });
    const [entry] = await store.pendingDeliveries('pagerduty:R0UT1NGKEY');
    if (entry === undefined) throw new Error('the closed change was not queued');
    await store.recordDeliveryFailure('pagerduty:R0UT1NGKEY', [entry.seq], { error: 'HTTP 400 from events.pagerduty.com\u001b[2J', isDead: true });
    const text = await runCli(['signals', 'show', COMPANION, '--state', dir]);
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`#${String(entry.seq)}  pagerduty:R0UT1NGKEY  DEAD after 1 attempt: HTTP 400 from events.pagerduty.com\\u001b[2J\n`);
    expect(text.out).toContain('status:     suppressed');
  });

  it.each<[string, (dir: string) => string[], RegExp]>([
    ['an unknown id, naming ids that share its first characters', () => ['signals', 'show', '2031dab6aaaaaaaa'], /E_SIGNAL_NOT_FOUND: no signal 2031dab6aaaaaaaa in the state store .*; ids sharing its first characters: 2031dab62c1e3f43/],
    ['a prefix too short', () => ['signals', 'ack', '2031d'], /no signal 2031d .*2031dab62c1e3f43 \(a prefix needs at least 6 characters\)/],
    ['a change the status does not allow', () => ['signals', 'reopen', FLAGSHIP], /E_TRIAGE_INVALID: cannot change a signal from open to open: it is already open/],
    ['resolve without --as', () => ['signals', 'resolve', FLAGSHIP], /required option '--as <resolution>' not specified/],
    ['resolve --as something else', () => ['signals', 'resolve', FLAGSHIP, '--as', 'duplicate'], /expected one of true-positive, benign, false-positive/],
    ['suppress without --note', () => ['signals', 'suppress', FLAGSHIP], /required option '--note <text>' not specified/],
    ['an unknown status filter', () => ['signals', '--status', 'closed'], /unknown status "closed"/],
    ['an unknown subcommand', () => ['signals', 'close', FLAGSHIP], /unknown signals command "close"; one of list, show, ack/],
  ])('refuses %s with exit 1 and a clear message', async (_name, argv, message) => {
    const dir = await scanned();
    const run = await runCli([...argv(dir), '--state', dir]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(message);
    expect((await listed(dir)).map((s) => s.status)).toEqual(['open', 'open']);
  });

  it('refuses a folder without a store, creating nothing', async () => {
    const dir = scratch.freshDir();
    const run = await runCli(['signals', '--state', join(dir, 'state')]);
    expect(run.code).toBe(1);
    expect(run.err).toMatch(/no state store in .*state \(trailhound\.db is missing\)/);
    const missing = await runCli(['signals', 'ack', FLAGSHIP]);
    expect(missing.code).toBe(1);
    expect(missing.err).toMatch(/signals needs --state DIR/);
  });

  it('an ambiguous prefix names the candidates', async () => {
    const dir = await scanned();
    const store = await openSqliteStateStore({ dir });
    const detail = await store.getSignal(FLAGSHIP);
    if (!detail) throw new Error('no flagship signal');
    await store.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal: { ...detail.signal, id: '2031dab6ffff0000' } }] });
    await store.close();
    const run = await runCli(['signals', 'ack', '2031dab6', '--state', dir]);
    expect(run.code).toBe(1);
    expect(run.err).toContain('the id prefix 2031dab6 is ambiguous: 2031dab62c1e3f43, 2031dab6ffff0000; give more characters');
    expect((await runCli(['signals', 'ack', '2031dab62', '--state', dir])).code).toBe(0);
  });

  it('escapes attacker-controlled strings in the list and in show', async () => {
    const dir = await scanned();
    const store = await openSqliteStateStore({ dir });
    const detail = await store.getSignal(FLAGSHIP);
    if (!detail) throw new Error('no flagship signal');
    const evil: Signal = {
      ...detail.signal,
      id: 'e71e000000000001',
      title: 'Title\u001b]0;pwned\u0007',
      group: { '@userIdentity.arn': 'arn:aws:sts::309303190113:assumed-role/x/\u001b[31mred\nFAKE LINE' },
      host: 'i-0\u202eevil',
      message: 'line one\n\u001b[2Jcleared',
    };
    await store.commitCheckpoint({ emittedSignals: [{ kind: 'created', signal: evil }] });
    await store.close();
    const list = await runCli(['signals', '--state', dir]);
    const show = await runCli(['signals', 'show', evil.id, '--state', dir]);
    for (const out of [list.out, show.out]) {
      // eslint-disable-next-line no-control-regex
      expect(out).not.toMatch(/[\u0000-\u0009\u000b-\u001f\u202e]/);
      expect(out).not.toContain('\nFAKE LINE');
    }
    expect(list.out).toContain('i-0\\u202eevil');
    expect(show.out).toContain('Title\\u001b]0;pwned\\u0007  [low] e71e000000000001');
    expect(show.out).toContain('  \\u001b[2Jcleared');
  });

  it('--help documents the exit codes and the allowed changes', async () => {
    const help = await runCli(['signals', '--help']);
    expect(help.code).toBe(0);
    expect(help.out).toMatch(/Exit status: 0 done; 1 a usage error/);
    expect(help.out).toContain('open → acknowledged, resolved or suppressed');
    const ackHelp = await runCli(['signals', 'ack', '--help']);
    expect(ackHelp.out).toContain('--actor <name>');
  });
});

describe('trailhound signals while a runner holds the store', () => {
  it('ack and resolve work beside the runner, whose later versions keep the triage; a second runner is still refused', async () => {
    const dir = await scanned();
    const runner = await openSqliteStateStore({ dir });
    try {
      const scan = await runCli(['scan', STRATUS, '--state', dir]);
      expect(scan.code).toBe(1);
      expect(scan.err).toMatch(/E_STATE_LOCKED/);

      const ack = await runCli(['signals', 'ack', COMPANION, '--state', dir, '--actor', 'alice']);
      expect(ack.code, ack.err).toBe(0);
      const detail = await runner.getSignal(COMPANION);
      if (!detail) throw new Error('no companion signal');
      await runner.commitCheckpoint({ engineState: '{}', emittedSignals: [{ kind: 'updated', signal: { ...detail.signal, updates: 1, eventCount: 4 } }] });
      expect((await runCli(['signals', 'resolve', COMPANION, '--as', 'benign', '--state', dir, '--actor', 'alice'])).code).toBe(0);

      const after = await runner.getSignal(COMPANION);
      expect(after).toMatchObject({ status: 'resolved', resolution: 'benign', changeCount: 2 });
      expect(after?.signal.eventCount).toBe(4);
      expect(after?.history.map((h) => [h.kind, h.triage?.status])).toEqual([
        ['created', 'open'],
        ['updated', 'acknowledged'],
        ['closed', 'resolved'],
      ]);
      // The CLI's shared opening left the runner its lock.
      await runner.markObjectsDone([{ source: 'test', key: 'k', etag: 'e' }]);
      expect((await runCli(['scan', STRATUS, '--state', dir])).err).toMatch(/E_STATE_LOCKED/);
    } finally {
      await runner.close();
    }
  });
});

describe('rendering and the actor', () => {
  it('the list truncates long cells to fit the terminal', () => {
    const signal = { id: 'abcdef0123456789', ruleId: 'r'.repeat(80), severity: 'high', host: 'i-0123', lastSeen: '2024-08-01T12:04:19.000Z', group: { '@userIdentity.arn': `arn:aws:iam::1:user/${'u'.repeat(100)}` } } as unknown as Signal;
    const out = renderSignalList([{ signal, status: 'open', resolution: null, assignee: null, firstRecordedMs: 0, lastRecordedMs: 0, changeCount: 1 }], 120);
    for (const line of out.trimEnd().split('\n')) expect(line.length).toBeLessThanOrEqual(120);
    expect(out).toContain('…');
    expect(out).toContain('abcdef0123456789');
  });

  it.each<[string, string | undefined, Record<string, string>, string]>([
    ['--actor first', 'alice', { TRAILHOUND_ACTOR: 'bob' }, 'alice'],
    ['then $TRAILHOUND_ACTOR', undefined, { TRAILHOUND_ACTOR: 'bob' }, 'bob'],
  ])('the actor: %s', (_name, flag, env, expected) => {
    expect(resolveActor(flag, env)).toBe(expected);
  });

  it('the actor defaults to the user name, and refuses an empty one', () => {
    expect(resolveActor(undefined, {})).not.toBe('');
    expect(() => resolveActor('  ', {})).toThrow(/cannot be empty/);
  });
});
