/**
 * `trailhound deliveries --state DIR`: the outbox of the network sinks — what each sink still has
 * to deliver and its dead letters (changes given up after the attempt limit) — and
 * `trailhound deliveries requeue` to try dead letters again once the sink works (docs/outputs.md).
 * Opens the store for shared access, so it runs beside `watch` or `serve`, whose delivery loops
 * pick the requeued entries up at their next look (within 5 s).
 */
import type { Command } from 'commander';
import { InvalidArgumentError, Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { UsageError } from '../core/errors.js';
import { STATE_DB_FILE, openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { OutboxEntry, StateStore } from '../store/state-store.js';
import type { CliIo } from './main.js';
import { escapeForTerminal } from './render.js';

const EXIT_OK = 0;

interface DeliveriesFlags {
  state?: string;
  sink?: string;
  format?: 'table' | 'json';
}

interface RequeueFlags {
  state?: string;
  sink?: string;
  seq?: number[];
}

async function withStore<T>(state: string | undefined, fn: (store: StateStore) => Promise<T>): Promise<T> {
  if (state === undefined) throw new UsageError('deliveries needs --state DIR: the folder given to watch --state or serve --state');
  if (!existsSync(join(state, STATE_DB_FILE))) throw new UsageError(`no state store in ${escapeForTerminal(state)} (${STATE_DB_FILE} is missing); give the folder of watch --state or serve --state`);
  const store = await openSqliteStateStore({ dir: state, access: 'shared' });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

function parseSeqs(value: string, previous: number[] | undefined): number[] {
  const seqs = value.split(',').map((v) => v.trim());
  for (const s of seqs) if (!/^\d{1,15}$/.test(s)) throw new InvalidArgumentError('expected outbox sequence numbers (as listed by trailhound deliveries), comma-separated');
  return [...(previous ?? []), ...seqs.map(Number)];
}

function entryJson(e: OutboxEntry): Record<string, unknown> {
  return { sink: e.sink, seq: e.seq, kind: e.kind, signalId: e.signal.id, ruleId: e.signal.ruleId, severity: e.signal.severity, title: e.signal.title, attempts: e.attempts, lastError: e.lastError, state: e.state };
}

async function listCommand(flags: DeliveriesFlags, io: CliIo): Promise<number> {
  return withStore(flags.state, async (store) => {
    const dead = await store.deadLetters(flags.sink);
    const sinks = flags.sink !== undefined ? [flags.sink] : [...new Set([...(await store.registeredSinks()), ...dead.map((d) => d.sink)])];
    const pending: { sink: string; entries: OutboxEntry[] }[] = [];
    for (const sink of sinks) pending.push({ sink, entries: await store.dueDeliveries(sink, Number.MAX_SAFE_INTEGER) });
    if (flags.format === 'json') {
      io.stdout.write(`${JSON.stringify({ sinks: pending.map((p) => ({ sink: p.sink, pending: p.entries.length, failing: p.entries.filter((e) => e.attempts > 0).map(entryJson) })), dead: dead.map(entryJson) }, null, 2)}\n`);
      return EXIT_OK;
    }
    const out: string[] = [];
    for (const p of pending) {
      const failing = p.entries.filter((e) => e.attempts > 0);
      out.push(`${escapeForTerminal(p.sink)}: ${String(p.entries.length)} pending${failing.length > 0 ? `, ${String(failing.length)} retrying (last error: ${escapeForTerminal(failing[0]?.lastError ?? '')})` : ''}`);
    }
    if (dead.length === 0) out.push('no dead letters');
    else {
      out.push('', `${String(dead.length)} dead letter(s) (requeue with: trailhound deliveries requeue --state DIR [--sink KEY] [--seq N]):`);
      for (const d of dead) out.push(`  ${String(d.seq)}  ${escapeForTerminal(d.sink)}  ${d.signal.id}  ${d.kind}  [${d.signal.severity}] ${escapeForTerminal(d.signal.title)}  after ${String(d.attempts)} attempt(s): ${escapeForTerminal(d.lastError ?? '')}`);
    }
    io.stdout.write(`${out.join('\n')}\n`);
    return EXIT_OK;
  });
}

async function requeueCommand(flags: RequeueFlags, io: CliIo): Promise<number> {
  return withStore(flags.state, async (store) => {
    const count = await store.requeueDeadLetters(flags.sink, flags.seq);
    io.stdout.write(`requeued ${String(count)} dead letter(s)${count > 0 ? '; a running watch or serve delivers them within seconds, otherwise the next start does' : ''}\n`);
    return EXIT_OK;
  });
}

const HELP = `
Network sinks (webhook, Slack, PagerDuty, Security Hub) deliver from the state store's outbox, with
retries; a change still failing after the attempt limit becomes a dead letter. This command shows
them, and requeues them once the sink works again. It can run while watch or serve runs.

Examples:
  trailhound deliveries --state /var/lib/trailhound
  trailhound deliveries --state ./state --format json
  trailhound deliveries requeue --state ./state --sink 'slack:https://hooks.slack.com/…#1a2b3c4d'
  trailhound deliveries requeue --state ./state --seq 118,119
`;

export function registerDeliveriesCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const command = program.command('deliveries').summary('show pending and dead deliveries of the network sinks, and requeue dead ones').addHelpText('after', HELP);
  command
    .command('list', { isDefault: true })
    .description('Per sink, the changes still to deliver, and every dead letter with its last error.')
    .option('--state <dir>', 'the state folder of watch or serve (required)')
    .option('--sink <key>', 'only this sink (its key, as listed)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (flags: DeliveriesFlags) => {
      setExit(await listCommand(flags, io));
    });
  command
    .command('requeue')
    .description('Make dead letters pending again, with a fresh attempt count.')
    .option('--state <dir>', 'the state folder of watch or serve (required)')
    .option('--sink <key>', 'only the dead letters of this sink')
    .option('--seq <numbers>', 'only these entries (comma-separated, repeatable)', parseSeqs)
    .action(async (flags: RequeueFlags) => {
      setExit(await requeueCommand(flags, io));
    });
}
