/**
 * `trailhound respond SIGNAL_ID`: the response playbook for a signal (docs/respond.md). Prints the
 * plan (dry run, the default); with `--execute`, after an explicit confirmation, runs its automated
 * steps with the AWS SDK in order, stops at the first failure, and logs every step in the signal's
 * notes when the signal is in a state store (`--state DIR`, opened for shared access so it works
 * beside a running watch or serve).
 */
import { EC2Client } from '@aws-sdk/client-ec2';
import { IAMClient } from '@aws-sdk/client-iam';
import { Option } from 'commander';
import type { Command } from 'commander';
import { existsSync } from 'node:fs';
import { mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { quoteForMessage } from '../core/quote.js';
import { signalSchema } from '../core/signal-schema.js';
import type { Signal } from '../core/types.js';
import { executePlan } from '../respond/execute.js';
import type { ExecutionReport, ResponseClients } from '../respond/execute.js';
import type { ResponseEvidence } from '../respond/identity.js';
import { PlanOptionError, buildResponsePlan } from '../respond/plan.js';
import type { PlanPart, ResponsePlan } from '../respond/plan.js';
import { shellCommand } from '../respond/shell-quote.js';
import { evidenceFromEventIndex } from '../respond/store-evidence.js';
import { STATE_DB_FILE, openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { StateStore } from '../store/state-store.js';
import type { CliIo } from './main.js';
import { escapeForTerminal } from './render.js';
import { outcomeNote, renderOutcomeText, renderPlanJson, renderPlanText } from './respond-render.js';
import { collectRepeatable } from './options.js';
import { resolveActor, resolveSignalId } from './signals-command.js';

const EXIT_OK = 0;
const EXIT_ERROR = 1;

/** EC2 takes at most 16 KB of user data (before base64). */
const MAX_USER_DATA_BYTES = 16 * 1024;

interface RespondFlags {
  state?: string;
  signals?: string;
  format?: 'text' | 'json';
  execute?: boolean;
  yes?: boolean;
  region?: string;
  profile?: string;
  userData?: string;
  instance?: string[];
  only?: PlanPart;
  evidenceDir?: string;
  actor?: string;
}

/** What a caller other than a shell can give the command (tests). */
export interface RespondContext {
  /** The clients `--execute` uses (default: real ones for --region and --profile). */
  readonly clients?: (options: { readonly region: string | undefined; readonly profile: string | undefined }) => ResponseClients;
  /** Waiting for instances to stop (default: poll every 5 s for 10 minutes). */
  readonly pollMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly now?: () => number;
  readonly env?: NodeJS.ProcessEnv;
}

const HELP = `
The plan is filled in from the signal and the type of each identity behind it:
  IAM user       list its access keys, deactivate them (kept, not deleted), delete its console
                 password when the console was used or that is unknown
  assumed role   revoke its active sessions (an inline AWSRevokeOlderSessions deny policy on
                 aws:TokenIssueTime before now), then show who may assume the role (trust policy)
  root           the root-account checklist (nothing automated)
  IAM Identity Center, SAML/OIDC federation, GetFederationToken users: the identity-provider steps
and for the signal's instance: keep its current (attacker's) user data as evidence, stop it,
snapshot every attached EBS volume, find the last good user data and restore it from a file.

Dry run by default: the plan and the exact AWS CLI commands are printed and nothing is changed.
--execute runs the automated steps in order with the AWS SDK (credentials from the usual chain,
--profile, --region), stops at the first failure, and logs each step in the signal's notes
(trailhound signals show ID). It asks you to type the signal id first; --yes skips that for
automation, and without --yes it refuses to run when standard input is not a terminal.

The signal comes from the state store (--state DIR; with its event index, the plan knows which
keys were used and whether the console was) or from a file of scan output (--signals FILE).

Exit status: 0 the plan was printed, or every automated step succeeded; 1 a usage error, an
unknown signal, no confirmation, or a step failed (the steps after it were not run).

Examples:
  trailhound respond 2031dab62c1e --state ./state
  trailhound respond 2031dab62c1e --state ./state --format json
  trailhound scan logs/ -f jsonl > signals.jsonl && trailhound respond 2031dab62c1e3f43 --signals signals.jsonl
  trailhound respond 2031dab62c1e --state ./state --user-data good-user-data.sh --execute --profile incident
  trailhound respond 2031dab62c1e --state ./state --only identity --execute --yes
`;

function parseSignalsFile(text: string, path: string): Signal[] {
  const trimmed = text.trim();
  if (trimmed === '') return [];
  const values: unknown[] = [];
  try {
    if (trimmed.startsWith('[')) values.push(...(JSON.parse(trimmed) as unknown[]));
    else for (const line of trimmed.split('\n')) if (line.trim() !== '') values.push(JSON.parse(line));
  } catch (error) {
    throw new UsageError(`${quoteForMessage(path, 200)} is not scan output (JSON lines or a JSON array of signals): ${error instanceof Error ? error.message : String(error)}`);
  }
  return values.map((value, i) => {
    const parsed = signalSchema.safeParse(value);
    if (!parsed.success) throw new UsageError(`${quoteForMessage(path, 200)}: signal ${i + 1} is not a trailhound signal (${parsed.error.issues[0]?.message ?? 'invalid'} at ${parsed.error.issues[0]?.path.join('.') ?? '?'})`);
    return parsed.data;
  });
}

async function signalFromFile(path: string, id: string): Promise<Signal> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`cannot read --signals ${quoteForMessage(path, 200)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const signals = parseSignalsFile(text, path);
  const exact = signals.filter((s) => s.id === id);
  const matches = exact.length > 0 ? exact : id.length >= 6 ? signals.filter((s) => s.id.startsWith(id)) : [];
  const ids = [...new Set(matches.map((s) => s.id))];
  if (ids.length > 1) throw new UsageError(`${quoteForMessage(id, 40)} is the start of several signal ids in ${quoteForMessage(path, 200)} (${ids.slice(0, 5).join(', ')}); give more of it`);
  // A signal updated several times appears once per version in jsonl output: the last one is the latest.
  const latest = matches.at(-1);
  if (latest === undefined) throw new TrailhoundError('E_SIGNAL_NOT_FOUND', `no signal ${quoteForMessage(id, 40)} in ${quoteForMessage(path, 200)} (${signals.length} signals in it)`);
  return latest;
}

async function openStore(dir: string): Promise<StateStore> {
  if (!existsSync(join(dir, STATE_DB_FILE))) {
    throw new UsageError(`no state store in ${quoteForMessage(dir, 200)} (${STATE_DB_FILE} is missing); give the folder of scan --state, watch --state or serve --state, or take the signal from scan output with --signals FILE`);
  }
  return openSqliteStateStore({ dir, access: 'shared' });
}

async function checkUserDataFile(path: string): Promise<void> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) throw new UsageError(`--user-data ${quoteForMessage(path, 200)} is not a file`);
    size = info.size;
  } catch (error) {
    if (error instanceof UsageError) throw error;
    throw new UsageError(`cannot read --user-data ${quoteForMessage(path, 200)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (size > MAX_USER_DATA_BYTES) throw new UsageError(`--user-data ${quoteForMessage(path, 200)} is ${size} bytes; EC2 takes at most ${MAX_USER_DATA_BYTES} bytes of user data (give the script itself, not base64)`);
}

/** Read one line from standard input (the confirmation). */
async function readLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  const lines = createInterface({ input, terminal: false });
  try {
    for await (const line of lines) return line;
    return undefined;
  } finally {
    lines.close();
  }
}

function defaultClients(options: { readonly region: string | undefined; readonly profile: string | undefined }): ResponseClients {
  const config = { ...(options.region !== undefined ? { region: options.region } : {}), ...(options.profile !== undefined ? { profile: options.profile } : {}) };
  return { iam: new IAMClient(config), ec2: new EC2Client(config) };
}

async function writeNewFile(path: string, text: string): Promise<boolean> {
  await mkdir(dirname(path), { recursive: true });
  try {
    await writeFile(path, text, { flag: 'wx' });
    return true;
  } catch (error) {
    if (typeof error === 'object' && error !== null && 'code' in error && error.code === 'EEXIST') return false;
    throw error;
  }
}

async function confirm(plan: ResponsePlan, flags: RespondFlags, io: CliIo): Promise<boolean> {
  if (flags.yes === true) return true;
  if ((io.stdin as { isTTY?: boolean }).isTTY !== true) {
    throw new UsageError('--execute changes your AWS account: run it on a terminal and type the signal id when asked, or add --yes (automation)');
  }
  const automated = plan.steps.filter((s) => s.action !== null).length;
  const where = [plan.accountId !== null ? `account ${plan.accountId}` : undefined, flags.profile !== undefined ? `profile ${flags.profile}` : undefined, plan.region !== null ? `region ${plan.region}` : undefined].filter(Boolean).join(', ');
  io.stderr.write(`About to run ${automated} automated step${automated === 1 ? '' : 's'} against AWS${where !== '' ? ` (${escapeForTerminal(where)})` : ''}.\nType the signal id (${plan.signalId}) to go on: `);
  const answer = (await readLine(io.stdin))?.trim();
  return answer === plan.signalId;
}

async function respondCommand(idArgument: string, flags: RespondFlags, io: CliIo, context: RespondContext): Promise<number> {
  const id = idArgument.trim();
  if (id === '') throw new UsageError('respond needs a SIGNAL_ID (see trailhound signals --state DIR)');
  if (flags.state === undefined && flags.signals === undefined) throw new UsageError('respond needs --state DIR (the state folder of scan, watch or serve) or --signals FILE (scan output) to find the signal');
  if (flags.yes === true && flags.execute !== true) throw new UsageError('--yes only confirms --execute; without --execute nothing runs');
  if (flags.userData !== undefined) await checkUserDataFile(flags.userData);
  const format = flags.format ?? 'text';
  const now = context.now ?? Date.now;

  const store = flags.state !== undefined ? await openStore(flags.state) : undefined;
  try {
    let signal: Signal;
    let isInStore = false;
    if (flags.signals !== undefined) {
      signal = await signalFromFile(flags.signals, id);
      isInStore = store !== undefined && (await store.getSignal(signal.id)) !== undefined;
    } else {
      const found = store !== undefined ? await store.getSignal(await resolveSignalId(store, id)) : undefined;
      if (found === undefined) throw new TrailhoundError('E_SIGNAL_NOT_FOUND', `no signal ${quoteForMessage(id, 40)} in the state store`);
      signal = found.signal;
      isInStore = true;
    }
    const evidence: ResponseEvidence | undefined = store !== undefined ? await evidenceFromEventIndex(store, signal) : undefined;

    let plan: ResponsePlan;
    try {
      plan = buildResponsePlan(signal, {
        nowMs: now(),
        ...(evidence !== undefined ? { evidence } : {}),
        ...(flags.region !== undefined ? { region: flags.region } : {}),
        ...(flags.profile !== undefined ? { profile: flags.profile } : {}),
        ...(flags.userData !== undefined ? { userDataFile: flags.userData } : {}),
        ...(flags.instance !== undefined ? { instanceIds: flags.instance } : {}),
        ...(flags.only !== undefined ? { parts: [flags.only] } : {}),
        ...(flags.evidenceDir !== undefined ? { evidenceDir: flags.evidenceDir } : {}),
      });
    } catch (error) {
      if (error instanceof PlanOptionError) throw new UsageError(escapeForTerminal(error.message));
      throw error;
    }

    if (flags.execute !== true) {
      const source = flags.state !== undefined ? ['--state', flags.state] : ['--signals', flags.signals ?? ''];
      const same = [
        ...(flags.region !== undefined ? ['--region', flags.region] : []),
        ...(flags.profile !== undefined ? ['--profile', flags.profile] : []),
        ...(flags.userData !== undefined ? ['--user-data', flags.userData] : []),
        ...(flags.instance ?? []).flatMap((i) => ['--instance', i]),
        ...(flags.only !== undefined ? ['--only', flags.only] : []),
        ...(flags.evidenceDir !== undefined ? ['--evidence-dir', flags.evidenceDir] : []),
      ];
      const hint = shellCommand(['trailhound', 'respond', plan.signalId, ...source, ...same, '--execute']);
      io.stdout.write(format === 'json' ? renderPlanJson(plan) : renderPlanText(plan, hint));
      return EXIT_OK;
    }

    const automated = plan.steps.filter((s) => s.action !== null).length;
    if (automated === 0) {
      if (format === 'json') io.stdout.write(renderPlanJson(plan, { outcomes: [], isComplete: true }));
      else io.stdout.write(`${renderPlanText(plan)}\nNothing to execute: every step of this plan is manual.\n`);
      return EXIT_OK;
    }
    if (format === 'text') io.stdout.write(renderPlanText(plan));
    if (!(await confirm(plan, flags, io))) {
      io.stderr.write('not confirmed: nothing was changed\n');
      return EXIT_ERROR;
    }
    const actor = resolveActor(flags.actor, context.env);
    if (store !== undefined && !isInStore) io.stderr.write(`warning: signal ${plan.signalId} is not in the state store: the steps are not logged in its notes\n`);
    const logNote = async (text: string): Promise<void> => {
      if (store === undefined || !isInStore) return;
      try {
        await store.addNote(plan.signalId, actor, text);
      } catch (error) {
        io.stderr.write(`warning: could not log the step in the signal's notes: ${escapeForTerminal(error instanceof Error ? error.message : String(error))}\n`);
      }
    };

    const clients = (context.clients ?? defaultClients)({ region: flags.region ?? plan.region ?? undefined, profile: flags.profile });
    await logNote(`respond --execute started by ${actor}: ${automated} automated step(s) of ${plan.steps.length}${flags.profile !== undefined ? `, profile ${flags.profile}` : ''}${plan.region !== null ? `, region ${plan.region}` : ''}`);
    if (format === 'text') io.stdout.write('\nExecuting:\n');
    const report: ExecutionReport = await executePlan(plan, {
      clients,
      readFile: async (path) => new Uint8Array(await readFile(path)),
      writeNewFile,
      ...(context.pollMs !== undefined ? { pollMs: context.pollMs } : {}),
      ...(context.sleep !== undefined ? { sleep: context.sleep } : {}),
      onStepStart: (step, index) => {
        if (format === 'text' && io.stdout.isTTY === true) io.stdout.write(`${index + 1}. running  ${escapeForTerminal(step.title)}\r\x1b[K`);
      },
      onOutcome: async (outcome) => {
        if (format === 'text') io.stdout.write(renderOutcomeText(outcome));
        if (outcome.status === 'ok' || outcome.status === 'failed') await logNote(outcomeNote(outcome, plan.steps.length));
      },
    });
    if (format === 'json') io.stdout.write(renderPlanJson(plan, report));
    if (!report.isComplete) {
      const failed = report.outcomes.find((o) => o.status === 'failed');
      io.stderr.write(`trailhound: step ${(failed?.index ?? 0) + 1} failed (${escapeForTerminal(failed?.errorCode ?? 'Error')}); the steps after it were not run. Fix the cause and run respond --execute again: steps already done are safe to repeat.\n`);
      return EXIT_ERROR;
    }
    const manual = report.outcomes.filter((o) => o.status === 'manual').length;
    if (format === 'text') io.stdout.write(`\nDone: ${automated} automated step${automated === 1 ? '' : 's'} succeeded${manual > 0 ? `; ${manual} manual step${manual === 1 ? '' : 's'} left to you (above)` : ''}.\n`);
    return EXIT_OK;
  } finally {
    await store?.close();
  }
}

export function registerRespondCommand(program: Command, io: CliIo, setExit: (code: number) => void, context: RespondContext = {}): void {
  program
    .command('respond')
    .summary('print (or run) the response playbook for a signal')
    .description('Print the response steps for a signal, with the exact AWS CLI commands, filled in from the signal and the type of its identity; --execute runs the automated steps with the AWS SDK after a confirmation.')
    .argument('<signal-id>', 'the signal id (or, with --state, a unique prefix of it)')
    .option('--state <dir>', 'the state folder of scan --state, watch or serve: the signal, its events, and where the steps are logged')
    .option('--signals <file>', 'take the signal from scan output (JSON lines or a JSON array) instead of the store')
    .addOption(new Option('-f, --format <format>', 'output format (default text)').choices(['text', 'json']))
    .option('--execute', 'run the automated steps with the AWS SDK (asks for the signal id first)')
    .option('--yes', 'with --execute: do not ask (automation)')
    .option('--region <region>', 'AWS region of the EC2 steps and the SDK clients (default: the signal\'s region)')
    .option('--profile <name>', 'AWS profile for the SDK and in the printed commands')
    .option('--user-data <file>', 'the last good user data (the script itself, at most 16 KB): makes the restore step automated')
    .option('--instance <id>', 'only this instance of the signal (repeatable)', collectRepeatable)
    .addOption(new Option('--only <part>', 'only the identity steps or only the instance steps').choices(['identity', 'instance']))
    .option('--evidence-dir <dir>', 'where --execute saves evidence files (the instance\'s current user data; default: the current folder)')
    .option('--actor <name>', 'who runs the steps, in the signal\'s notes (default $TRAILHOUND_ACTOR, else your user name)')
    .addHelpText('after', HELP)
    .action(async (id: string, flags: RespondFlags) => {
      setExit(await respondCommand(id, flags, io, context));
    });
}
