/**
 * `trailhound investigate SIGNAL_ID --state DIR` and `trailhound investigate --identity ARN|KEY
 * --from T --to T --state DIR`: the timeline and summary of what an identity did around a signal,
 * from the event index in the state store (docs/investigate.md). Opens the store for shared access,
 * so it runs beside a `watch` or `serve` holding the same folder.
 */
import type { Command } from 'commander';
import { Option } from 'commander';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';
import { DEFAULT_TIMELINE_LIMIT, investigate, pivotsOfIdentity, signalTarget } from '../investigate/investigate.js';
import type { InvestigationTarget } from '../investigate/investigate.js';
import { parseDuration, parseSince } from '../pipeline/live-options.js';
import { STATE_DB_FILE, openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { StateStore } from '../store/state-store.js';
import { TRIAGE_ERRORS } from '../store/signal-triage.js';
import type { CliIo } from './main.js';
import { renderInvestigationJson, renderInvestigationText } from './investigate-render.js';

interface InvestigateFlags {
  state?: string;
  identity?: string;
  from?: string;
  to?: string;
  before: string;
  after: string;
  format?: 'text' | 'json';
  limit?: string;
}

const DEFAULT_AROUND = '24h';

const HELP = `
With SIGNAL_ID (or a unique prefix of it), the window is the signal's first to last event, widened by
--before and --after (24h each by default). With --identity, give the window with --from and --to
(UTC times such as 2024-08-01T12:00:00Z, or durations back from now such as 2h; --to defaults to now,
--from to 24 hours before --to).

The identity's calls include every session of the same role (for an assumed role) and every call
made with the same access keys. The summary covers every call in the window: APIs by service (NEW:
never called by the identity, or its role, before the window), source IPs and user agents (new ones
flagged), instances stopped, modified or started, failed calls and AccessDenied bursts, and other
signals on the same identity or instance. The timeline lists the calls oldest first, failed ones
marked with "!".

The event index is filled by \`trailhound watch\`, \`serve\` and \`scan --state\` and keeps --retain (30 days
by default) of events. This command only reads: it can run while watch or serve holds the folder.

Examples:
  trailhound investigate 5f0c2d4e9a1b --state /var/lib/trailhound
  trailhound investigate 5f0c2d4e9a1b --state ./state --before 7d --after 2h --format json
  trailhound investigate --identity arn:aws:iam::123456789012:user/alice --from 2024-08-01T00:00:00Z --to 2024-08-02T00:00:00Z --state ./state
  trailhound investigate --identity AKIAIOSFODNN7EXAMPLE --from 48h --state ./state
`;

function parsePositiveInt(text: string, flag: string): number {
  const n = Number(text);
  if (!Number.isSafeInteger(n) || n < 1) throw new UsageError(`${flag} takes a whole number ≥ 1 (got ${quoteForMessage(text, 20)})`);
  return n;
}

/** The stored signal named by `id` or by a unique prefix of it. */
async function findSignal(store: StateStore, id: string): Promise<NonNullable<Awaited<ReturnType<StateStore['getSignal']>>>> {
  const exact = await store.getSignal(id);
  if (exact !== undefined) return exact;
  const candidates = id.length >= 4 ? await store.findSignalIds(id, { limit: 6 }) : [];
  const only = candidates.length === 1 ? candidates[0] : undefined;
  if (only !== undefined) {
    const found = await store.getSignal(only);
    if (found !== undefined) return found;
  }
  if (candidates.length > 1) {
    throw new UsageError(`${quoteForMessage(id, 80)} is the start of several signal ids (${candidates.slice(0, 5).join(', ')}${candidates.length > 5 ? ', …' : ''}); give more of it`);
  }
  throw new TrailhoundError(TRIAGE_ERRORS.notFound, `no stored signal has the id ${quoteForMessage(id, 80)}; list them with \`trailhound signals --state DIR\``);
}

async function investigateCommand(signalId: string | undefined, flags: InvestigateFlags, io: CliIo): Promise<number> {
  if (flags.state === undefined || flags.state.trim() === '') throw new UsageError('investigate needs --state DIR: the state folder of `trailhound watch`, `serve` or `scan --state`, whose event index it reads');
  if (signalId !== undefined && flags.identity !== undefined) throw new UsageError('give either a SIGNAL_ID or --identity, not both');
  if (signalId === undefined && flags.identity === undefined) throw new UsageError('investigate needs a SIGNAL_ID, or --identity ARN|ACCESS_KEY_ID with --from and --to');
  if (signalId !== undefined && (flags.from !== undefined || flags.to !== undefined)) throw new UsageError('--from and --to go with --identity; around a signal, use --before and --after');
  const timelineLimit = flags.limit === undefined ? DEFAULT_TIMELINE_LIMIT : parsePositiveInt(flags.limit, '--limit');
  const nowMs = Date.now();
  const beforeMs = parseDuration(flags.before, '--before');
  const afterMs = parseDuration(flags.after, '--after');
  let window: { fromMs: number; toMs: number } | undefined;
  if (flags.identity !== undefined) {
    if (flags.identity.trim() === '') throw new UsageError('--identity needs an ARN, an access key id or a principal id');
    const toMs = flags.to === undefined ? nowMs : parseSince(flags.to, nowMs);
    const fromMs = flags.from === undefined ? toMs - 86_400_000 : parseSince(flags.from, nowMs);
    if (fromMs >= toMs) throw new UsageError(`--from (${new Date(fromMs).toISOString()}) must be before --to (${new Date(toMs).toISOString()})`);
    window = { fromMs, toMs };
  }

  if (!existsSync(join(flags.state, STATE_DB_FILE))) {
    throw new UsageError(`there is no state store in ${quoteForMessage(flags.state, 200)} (no ${STATE_DB_FILE}); point --state at the folder \`trailhound watch\`, \`serve\` or \`scan --state\` uses`);
  }
  const store = await openSqliteStateStore({ dir: flags.state, access: 'shared' });
  try {
    let target: InvestigationTarget;
    if (signalId !== undefined) {
      const stored = await findSignal(store, signalId.trim());
      target = signalTarget(stored.signal, beforeMs, afterMs);
    } else {
      const identity = (flags.identity ?? '').trim();
      target = { kind: 'identity', label: identity, seeds: pivotsOfIdentity(identity), window: window ?? { fromMs: nowMs - 86_400_000, toMs: nowMs }, hosts: [] };
    }
    const report = await investigate(store, target, { timelineLimit });
    const format = flags.format ?? 'text';
    io.stdout.write(format === 'json' ? renderInvestigationJson(report) : renderInvestigationText(report, { isColor: io.stdout.isTTY === true && process.env.NO_COLOR === undefined }));
    return 0;
  } finally {
    await store.close();
  }
}

export function registerInvestigateCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  program
    .command('investigate')
    .summary('what else did the identity behind a signal do: timeline and summary from the event index')
    .description('Show every API call by the identity of a signal (or of --identity) around it: a timeline and a summary, from the event index in --state DIR.')
    .argument('[signal-id]', 'a stored signal id (or a unique prefix of it)')
    .option('--state <dir>', 'the state folder whose event index to read (required)')
    .option('--identity <arn|key>', 'investigate an identity instead of a signal: an ARN (user, root, role session, or role for all its sessions), an access key id or a principal id')
    .option('--from <time>', 'with --identity: start of the window (UTC time or a duration back from now; default 24h before --to)')
    .option('--to <time>', 'with --identity: end of the window (default now)')
    .option('--before <duration>', 'around a signal: how long before its first event', DEFAULT_AROUND)
    .option('--after <duration>', 'around a signal: how long after its last event', DEFAULT_AROUND)
    .option('--limit <n>', `at most N calls in the timeline (default ${DEFAULT_TIMELINE_LIMIT}; the summary always covers the whole window)`)
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', HELP)
    .action(async (signalId: string | undefined, flags: InvestigateFlags) => {
      setExit(await investigateCommand(signalId, flags, io));
    });
}
