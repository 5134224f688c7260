/**
 * `trailhound signals [list] | show | ack | resolve | assign | unassign | note | reopen | suppress`:
 * the signals kept in the state store (`--state DIR`) and their triage (docs/triage.md). The store
 * is opened with shared access, so these commands work while `watch` or `serve` runs on it.
 *
 * Everything that comes from CloudTrail (titles, messages, identities, hosts) and everything a user
 * typed (notes, names) is escaped before it reaches the terminal.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { SEVERITIES, isSeverity } from '../core/types.js';
import type { Severity } from '../core/types.js';
import { RESOLUTIONS, TRIAGE_ERRORS, TRIAGE_STATUSES, isResolution, isTriageStatus, primaryIdentity } from '../store/signal-triage.js';
import type { Resolution, SignalDetail, SignalFilter, StoredSignal, TriageChange, TriageEvent, TriageStatus } from '../store/signal-triage.js';
import { STATE_DB_FILE, openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { StateStore, StoredSignalChange } from '../store/state-store.js';
import type { CliIo } from './main.js';
import { escapeForTerminal } from './render.js';

const EXIT_OK = 0;

/** The shortest id prefix accepted in place of a whole signal id. */
export const MIN_ID_PREFIX = 6;
const DEFAULT_LIMIT = 100;

type Format = 'table' | 'json';

const EXIT_HELP = `
Exit status: 0 done; 1 a usage error, no state store in DIR, an unknown or ambiguous signal id, a
change the signal's status does not allow (E_TRIAGE_INVALID), or a store error.`;

const SIGNALS_HELP = `
The signals kept in the state store of scan --state, watch and serve, with their triage: status
(open, acknowledged, resolved, suppressed), resolution, assignee and a log of who changed what.
These commands open the store beside a running watch or serve (no lock), so triage works while
detection runs. Ids may be shortened to a unique prefix of at least ${String(MIN_ID_PREFIX)} characters.

Allowed status changes: open → acknowledged, resolved or suppressed; acknowledged → resolved,
suppressed or open; resolved → suppressed or open (reopen); suppressed → open (reopen).
Resolving or suppressing a signal sends a "closed" change to the sinks of the running watch/serve
(PagerDuty resolves its incident); reopening sends an update. See docs/triage.md.

Who made a change: --actor NAME, else $TRAILHOUND_ACTOR, else the user name of the session.
${EXIT_HELP}

Examples:
  trailhound signals --state ./state --status open,acknowledged --severity high,critical
  trailhound signals --state ./state --identity arn:aws:iam::123456789012:user/alice --format json
  trailhound signals show 2031dab62c1e --state ./state
  trailhound signals ack 2031dab62c1e --state ./state --note "looking into it"
  trailhound signals assign 2031dab62c1e bob --state ./state
  trailhound signals resolve 2031dab62c1e --as true-positive --note "keys rotated" --state ./state
  trailhound signals suppress 2031dab62c1e --note "the nightly AMI build" --state ./state
`;

interface StoreFlags {
  state?: string;
}

interface ListFlags extends StoreFlags {
  status?: TriageStatus[];
  severity?: Severity[];
  rule?: string;
  host?: string;
  identity?: string;
  limit?: number;
  format?: Format;
}

interface WriteFlags extends StoreFlags {
  actor?: string;
  note?: string;
  format?: Format;
}

// ---------------------------------------------------------------------------------------------
// Options

function parseStatuses(value: string): TriageStatus[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of items) if (!isTriageStatus(s)) throw new InvalidArgumentError(`unknown status "${s}"; a comma-separated list of ${TRIAGE_STATUSES.join(', ')}`);
  return items as TriageStatus[];
}

function parseSeverities(value: string): Severity[] {
  const items = value.split(',').map((s) => s.trim()).filter((s) => s !== '');
  for (const s of items) if (!isSeverity(s)) throw new InvalidArgumentError(`unknown severity "${s}"; a comma-separated list of ${SEVERITIES.join(', ')}`);
  return items as Severity[];
}

function parseLimit(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1) throw new InvalidArgumentError('expected a whole number ≥ 1, e.g. 50');
  return Number(value);
}

function parseResolution(value: string): Resolution {
  if (!isResolution(value)) throw new InvalidArgumentError(`expected one of ${RESOLUTIONS.join(', ')}`);
  return value;
}

/** Who makes a change: --actor, else $TRAILHOUND_ACTOR, else the session's user name. */
export function resolveActor(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  const given = flag ?? env.TRAILHOUND_ACTOR;
  if (given !== undefined) {
    if (given.trim() === '') throw new UsageError('--actor (or $TRAILHOUND_ACTOR) cannot be empty');
    return given;
  }
  try {
    const name = userInfo().username;
    if (name !== '') return name;
  } catch {
    // No user name (a container with an unknown uid): fall through.
  }
  return 'unknown';
}

// ---------------------------------------------------------------------------------------------
// The store

async function openStore(flags: StoreFlags): Promise<StateStore> {
  if (flags.state === undefined) throw new UsageError('signals needs --state DIR: the folder given to scan --state, watch --state or serve --state');
  if (!existsSync(join(flags.state, STATE_DB_FILE))) {
    throw new UsageError(`no state store in ${escapeForTerminal(flags.state)} (${STATE_DB_FILE} is missing); give the folder of scan --state, watch --state or serve --state`);
  }
  return openSqliteStateStore({ dir: flags.state, access: 'shared' });
}

async function withStore<T>(flags: StoreFlags, fn: (store: StateStore) => Promise<T>): Promise<T> {
  const store = await openStore(flags);
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * The stored signal an id names: the id itself, or the only stored id it is a prefix of (at least
 * MIN_ID_PREFIX characters). Throws E_SIGNAL_NOT_FOUND naming close ids, or a usage error when the
 * prefix is ambiguous.
 */
export async function resolveSignalId(store: StateStore, given: string): Promise<string> {
  const shown = escapeForTerminal(given);
  if (given === '') throw new UsageError('the signal id cannot be empty');
  const matches = await store.findSignalIds(given, { limit: 6 });
  if (matches.includes(given)) return given;
  if (given.length >= MIN_ID_PREFIX && matches.length === 1 && matches[0] !== undefined) return matches[0];
  if (matches.length > 1 && given.length >= MIN_ID_PREFIX) {
    throw new UsageError(`the id prefix ${shown} is ambiguous: ${matches.slice(0, 5).map(escapeForTerminal).join(', ')}${matches.length > 5 ? ', …' : ''}; give more characters`);
  }
  const near = matches.length > 0 ? matches : await store.findSignalIds(given.slice(0, Math.min(4, given.length)), { limit: 5 });
  const hint =
    near.length > 0
      ? `; ids sharing its first characters: ${near.slice(0, 5).map(escapeForTerminal).join(', ')}${given.length < MIN_ID_PREFIX ? ` (a prefix needs at least ${String(MIN_ID_PREFIX)} characters)` : ''}`
      : '; list the stored signals with trailhound signals --state DIR';
  throw new TrailhoundError(TRIAGE_ERRORS.notFound, `no signal ${shown} in the state store ${store.location}${hint}`);
}

// ---------------------------------------------------------------------------------------------
// Rendering

function truncate(text: string, width: number): string {
  if (width <= 1) return text.slice(0, Math.max(0, width));
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function statusText(s: { readonly status: TriageStatus; readonly resolution: Resolution | null }): string {
  return s.resolution !== null ? `${s.status} (${s.resolution})` : s.status;
}

/**
 * Escaped cells in columns, each at most its cap, then the columns in `shrinkOrder` narrowed until
 * the table fits `columns` characters.
 */
function renderColumns(header: readonly string[], rows: readonly (readonly string[])[], caps: readonly number[], shrinkOrder: readonly number[], columns: number): string {
  const cells = rows.map((r) => r.map(escapeForTerminal));
  const widths = header.map((h, i) => Math.min(Math.max(h.length, ...cells.map((r) => r[i]?.length ?? 0)), Math.max(h.length, caps[i] ?? Infinity)));
  const gap = 2;
  const total = (): number => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  for (const i of shrinkOrder) {
    const excess = total() - columns;
    if (excess <= 0) break;
    widths[i] = Math.max(header[i]?.length ?? 0, (widths[i] ?? 0) - excess);
  }
  const line = (r: readonly string[]): string =>
    r
      .map((c, i) => truncate(c, widths[i] ?? c.length).padEnd(widths[i] ?? 0))
      .join(' '.repeat(gap))
      .trimEnd();
  return `${[line(header), ...cells.map(line)].join('\n')}\n`;
}

/** The list as a table: id, severity, status, rule, identity, host, last seen, assignee. */
export function renderSignalList(signals: readonly StoredSignal[], columns = 160): string {
  if (signals.length === 0) return 'No signals.\n';
  const header = ['ID', 'SEVERITY', 'STATUS', 'RULE', 'IDENTITY', 'HOST', 'LAST SEEN', 'ASSIGNEE'];
  const rows = signals.map((s) => [s.signal.id, s.signal.severity, statusText(s), s.signal.ruleId, primaryIdentity(s.signal) ?? '-', s.signal.host ?? '-', s.signal.lastSeen, s.assignee ?? '-']);
  return renderColumns(header, rows, [16, 8, 28, 48, 64, 24, 24, 24], [3, 4, 7, 5, 2], columns);
}

function isoOf(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString() : String(ms);
}

function triageEventText(e: TriageEvent): string {
  const note = e.note !== undefined ? `: ${e.note}` : '';
  switch (e.action) {
    case 'detected':
      return `detected${e.status !== undefined ? ` (${e.status})` : ''}`;
    case 'updated':
      return 'a new version was recorded';
    case 'status':
      return `${e.status ?? '?'}${e.resolution !== undefined ? ` as ${e.resolution}` : ''}${note}`;
    case 'assign':
      return `${e.assignee === null || e.assignee === undefined ? 'unassigned' : `assigned to ${e.assignee}`}${note}`;
    case 'note':
      return `note${note}`;
  }
}

function changeText(h: StoredSignalChange): string {
  const triage = h.triage !== undefined ? `, ${statusText(h.triage)}` : '';
  return `#${String(h.seq)}  ${isoOf(h.recordedMs)}  ${h.kind.padEnd(7)}  ${String(h.signal.eventCount)} events, last seen ${h.signal.lastSeen}, severity ${h.signal.severity}${triage}`;
}

/** `signals show`: everything about one signal, attacker-controlled text escaped. */
export function renderSignalDetail(d: SignalDetail): string {
  const s = d.signal;
  const e = escapeForTerminal;
  const out: string[] = [
    `${e(s.title)}  [${s.severity}] ${e(s.id)}`,
    `  rule:       ${e(s.ruleId)} — ${e(s.ruleName)}`,
    `  status:     ${statusText(d)}${d.assignee !== null ? `, assigned to ${e(d.assignee)}` : ''}`,
    `  identity:   ${e(primaryIdentity(s) ?? '-')}`,
    `  host:       ${e(s.host ?? '-')}`,
    `  group:      ${Object.entries(s.group).map(([k, v]) => `${e(k)}=${e(v)}`).join(', ') || '-'}`,
    `  seen:       ${e(s.firstSeen)} → ${e(s.lastSeen)}, ${String(s.eventCount)} events`,
    `  recorded:   ${isoOf(d.firstRecordedMs)} → ${isoOf(d.lastRecordedMs)}, ${String(d.changeCount)} version${d.changeCount === 1 ? '' : 's'}`,
  ];
  if (s.actors !== undefined && s.actors.length > 0) out.push(`  actors:     ${s.actors.map((a) => e(`${a.arn ?? '?'}${a.sessionName !== null ? ` (${a.sessionName})` : ''}`)).join(', ')}`);
  if (s.suppression !== undefined) out.push(`  suppressed: ${e(s.suppression.source)}: ${e(s.suppression.reason)}`);
  if (s.replacedBy !== undefined) out.push(`  replaced by: ${s.replacedBy.map(e).join(', ') || '(no signal)'}`);
  out.push('', 'Message:', ...s.message.split('\n').filter((l) => l.trim() !== '').map((l) => `  ${e(l)}`));
  out.push('', `Events (${String(s.eventIds.length)}):`, ...s.eventIds.map((id) => `  ${e(id)}`));
  out.push('', 'History:', ...(d.history.length > 0 ? d.history.map((h) => `  ${e(changeText(h))}`) : ['  (pruned)']));
  out.push('', 'Triage:', ...d.triage.map((t) => `  ${isoOf(t.atMs)}  ${e(t.actor)}  ${e(triageEventText(t))}`));
  out.push('', 'Deliveries:');
  if (d.deliveries.length === 0) out.push('  nothing waiting: every change was delivered (or no sink was registered)');
  for (const x of d.deliveries) {
    const what = x.state === 'dead' ? `DEAD after ${String(x.attempts)} attempt${x.attempts === 1 ? '' : 's'}` : x.attempts > 0 ? `pending, ${String(x.attempts)} failed attempt${x.attempts === 1 ? '' : 's'}` : 'pending';
    out.push(`  #${String(x.seq)}  ${e(x.sink)}  ${what}${x.lastError !== null ? `: ${e(x.lastError)}` : ''}`);
  }
  return `${out.join('\n')}\n`;
}

// ---------------------------------------------------------------------------------------------
// Commands

async function listCommand(extra: readonly string[], flags: ListFlags, io: CliIo): Promise<number> {
  if (extra.length > 0) {
    throw new UsageError(`unknown signals command "${escapeForTerminal(extra[0] ?? '')}"; one of list, show, ack, resolve, assign, unassign, note, reopen, suppress (see trailhound signals --help)`);
  }
  const filter: SignalFilter = {
    ...(flags.status !== undefined ? { status: flags.status } : {}),
    ...(flags.severity !== undefined ? { severity: flags.severity } : {}),
    ...(flags.rule !== undefined ? { ruleId: flags.rule } : {}),
    ...(flags.host !== undefined ? { host: flags.host } : {}),
    ...(flags.identity !== undefined ? { identity: flags.identity } : {}),
    limit: flags.limit ?? DEFAULT_LIMIT,
  };
  const signals = await withStore(flags, (store) => store.listSignals(filter));
  if (flags.format === 'json') io.stdout.write(`${JSON.stringify(signals, null, 2)}\n`);
  else io.stdout.write(renderSignalList(signals, io.stdout.columns ?? 160));
  return EXIT_OK;
}

async function showCommand(id: string, flags: StoreFlags & { format?: Format }, io: CliIo): Promise<number> {
  const detail = await withStore(flags, async (store) => {
    const found = await store.getSignal(await resolveSignalId(store, id));
    if (found === undefined) throw new TrailhoundError(TRIAGE_ERRORS.notFound, `the signal ${escapeForTerminal(id)} is gone from the state store`);
    return found;
  });
  io.stdout.write(flags.format === 'json' ? `${JSON.stringify(detail, null, 2)}\n` : renderSignalDetail(detail));
  return EXIT_OK;
}

/** Apply one triage change and say what it did (one line, or the stored signal as JSON). */
async function changeCommand(id: string, flags: WriteFlags, io: CliIo, change: (actor: string) => TriageChange, verb: string): Promise<number> {
  const actor = resolveActor(flags.actor);
  const stored = await withStore(flags, async (store) => store.updateTriage(await resolveSignalId(store, id), change(actor)));
  if (flags.format === 'json') {
    io.stdout.write(`${JSON.stringify(stored, null, 2)}\n`);
  } else {
    const e = escapeForTerminal;
    io.stdout.write(`${verb} ${e(stored.signal.id)} (${e(stored.signal.title)}) as ${e(actor)}: now ${statusText(stored)}${stored.assignee !== null ? `, assigned to ${e(stored.assignee)}` : ''}\n`);
  }
  return EXIT_OK;
}

function withNote(note: string | undefined): { note?: string } {
  return note !== undefined ? { note } : {};
}

function addWriteOptions(command: Command): Command {
  return command
    .option('--state <dir>', 'the state folder of scan, watch or serve (required)')
    .option('--actor <name>', 'who makes the change (default: $TRAILHOUND_ACTOR, else your user name)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'));
}

/** Add `signals` (list by default) and its subcommands to the program. */
export function registerSignalsCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const signals = program
    .command('signals')
    .summary('list stored signals and triage them: show, ack, resolve, assign, note, reopen, suppress')
    .description('List the signals kept in a state store (--state DIR) and change their triage.')
    .addHelpText('after', SIGNALS_HELP);

  signals
    .command('list', { isDefault: true })
    .description('List stored signals, most recent last-seen first (the default command).')
    .argument('[unknown...]')
    .option('--state <dir>', 'the state folder of scan, watch or serve (required)')
    .option('--status <list>', `only these statuses, comma-separated (${TRIAGE_STATUSES.join(', ')})`, parseStatuses)
    .option('--severity <list>', `only these severities, comma-separated (${SEVERITIES.join(', ')})`, parseSeverities)
    .option('--rule <id>', 'only signals of this rule')
    .option('--host <instance>', 'only signals on this instance (the signal host)')
    .option('--identity <arn>', 'only signals of this identity (an ARN or access key id in the group, or an actor ARN)')
    .option('--limit <n>', `at most N signals (default ${String(DEFAULT_LIMIT)})`, parseLimit)
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', `${EXIT_HELP}\n\nExamples:\n  trailhound signals --state ./state --status open --severity high,critical\n  trailhound signals list --state ./state --rule bd9-8o0-553 --format json\n`)
    .action(async (extra: string[], flags: ListFlags) => {
      setExit(await listCommand(extra, flags, io));
    });

  signals
    .command('show')
    .description('Show a signal: details, message, event ids, versions, triage log and pending or dead deliveries.')
    .argument('<id>', `signal id (or a unique prefix of at least ${String(MIN_ID_PREFIX)} characters)`)
    .option('--state <dir>', 'the state folder of scan, watch or serve (required)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', `${EXIT_HELP}\n\nExample:\n  trailhound signals show 2031dab62c1e --state ./state\n`)
    .action(async (id: string, flags: StoreFlags & { format?: Format }) => {
      setExit(await showCommand(id, flags, io));
    });

  const writing: readonly {
    readonly name: string;
    readonly args?: string;
    readonly description: string;
    readonly verb: string;
    readonly configure?: (c: Command) => Command;
    readonly change: (actor: string, flags: WriteFlags & { as?: Resolution }, arg: string | undefined) => TriageChange;
    readonly example: string;
  }[] = [
    {
      name: 'ack',
      description: 'Acknowledge a signal: someone is looking at it.',
      verb: 'acknowledged',
      change: (actor, f) => ({ actor, status: 'acknowledged', ...withNote(f.note) }),
      example: 'trailhound signals ack 2031dab62c1e --state ./state --note "checking with the instance owner"',
    },
    {
      name: 'resolve',
      description: 'Resolve a signal as true-positive, benign or false-positive (sinks get a closed change).',
      verb: 'resolved',
      configure: (c) => c.requiredOption('--as <resolution>', `the resolution: ${RESOLUTIONS.join(', ')}`, parseResolution),
      change: (actor, f) => ({ actor, status: 'resolved', ...(f.as !== undefined ? { resolution: f.as } : {}), ...withNote(f.note) }),
      example: 'trailhound signals resolve 2031dab62c1e --as false-positive --note "the red team" --state ./state',
    },
    {
      name: 'assign',
      args: '<user>',
      description: 'Assign a signal to someone.',
      verb: 'assigned',
      change: (actor, f, user) => ({ actor, assignee: user ?? '', ...withNote(f.note) }),
      example: 'trailhound signals assign 2031dab62c1e bob --state ./state',
    },
    {
      name: 'unassign',
      description: 'Leave a signal unassigned.',
      verb: 'unassigned',
      change: (actor, f) => ({ actor, assignee: null, ...withNote(f.note) }),
      example: 'trailhound signals unassign 2031dab62c1e --state ./state',
    },
    {
      name: 'note',
      args: '<text>',
      description: "Add a note to a signal's triage log.",
      verb: 'noted',
      change: (actor, _f, text) => ({ actor, note: text ?? '' }),
      example: 'trailhound signals note 2031dab62c1e "christophe confirms he did not do it" --state ./state',
    },
    {
      name: 'reopen',
      description: 'Reopen a resolved, suppressed or acknowledged signal (sinks get an update).',
      verb: 'reopened',
      change: (actor, f) => ({ actor, status: 'open', ...withNote(f.note) }),
      example: 'trailhound signals reopen 2031dab62c1e --state ./state --note "it happened again"',
    },
    {
      name: 'suppress',
      description: 'Suppress a signal: known, accepted activity (sinks get a closed change). Needs --note saying why.',
      verb: 'suppressed',
      change: (actor, f) => ({ actor, status: 'suppressed', ...withNote(f.note) }),
      example: 'trailhound signals suppress 2031dab62c1e --note "the nightly AMI build" --state ./state',
    },
  ];

  for (const w of writing) {
    let command = signals
      .command(w.name)
      .description(w.description)
      .argument('<id>', `signal id (or a unique prefix of at least ${String(MIN_ID_PREFIX)} characters)`);
    if (w.args !== undefined) command = command.argument(w.args);
    command = addWriteOptions(command);
    if (w.name === 'suppress') command = command.requiredOption('--note <text>', 'why it is suppressed (kept in the triage log)');
    else if (w.name !== 'note') command = command.option('--note <text>', 'a note kept in the triage log with the change');
    if (w.configure) command = w.configure(command);
    command.addHelpText('after', `${EXIT_HELP}\n\nExample:\n  ${w.example}\n`).action(async (...params: unknown[]) => {
      const id = typeof params[0] === 'string' ? params[0] : '';
      const arg = w.args !== undefined && typeof params[1] === 'string' ? params[1] : undefined;
      const flags = (w.args !== undefined ? params[2] : params[1]) as WriteFlags & { as?: Resolution };
      setExit(await changeCommand(id, flags, io, (actor) => w.change(actor, flags, arg), w.verb));
    });
  }
}
