import { Command, CommanderError, Option } from 'commander';
import { readFileSync } from 'node:fs';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { SEVERITIES, isSeverity, severityRank } from '../core/types.js';
import type { Severity } from '../core/types.js';
import { runScan } from '../pipeline/scan.js';
import { defaultThreads } from '../pipeline/scan-read.js';
import { loadDetectionSetup, signalsToShow } from './scan-settings.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import { newValueHistoryStoreOf } from '../store/state-store.js';
import { isBuiltinRuleFile } from './rule-files.js';
import { indexedEventsOf } from '../investigate/indexed-event.js';
import { DEFAULT_EVENT_RETENTION_MS } from '../store/event-index.js';
import { parseDuration } from '../pipeline/live-options.js';
import { escapeForTerminal, renderJson, renderJsonl, renderSummary, renderTable } from './render.js';
import { registerRulesCommand } from './rules-command.js';
import { registerServeCommand } from './serve-command.js';
import { registerWatchCommand } from './watch-command.js';
import { registerSignalsCommand } from './signals-command.js';
import { recordScanSignals } from '../store/signal-triage.js';
import { registerInvestigateCommand } from './investigate-command.js';
import { registerRespondCommand } from './respond-command.js';
import { collectRepeatable } from './options.js';
import { deliverScanSignals, parseScanSinks } from './scan-sinks.js';
import { registerDeliveriesCommand } from './deliveries-command.js';

/** Where the CLI writes; injectable so tests can run commands in-process. */
export interface CliIo {
  readonly stdout: NodeJS.WritableStream & { isTTY?: boolean; columns?: number };
  readonly stderr: NodeJS.WritableStream & { isTTY?: boolean };
  readonly stdin: NodeJS.ReadableStream;
}

const EXIT_OK = 0;
const EXIT_ERROR = 1;
const EXIT_FINDINGS = 2;

type Format = 'table' | 'json' | 'jsonl';

interface ScanFlags {
  rules?: string[];
  defaultRules: boolean;
  format?: Format;
  failOn?: string;
  strict?: boolean;
  quiet?: boolean;
  progress: boolean;
  state?: string;
  config?: string;
  suppressions?: string[];
  showSuppressed?: boolean;
  threads?: string;
  prefilter: boolean;
  sink?: string[];
  index: boolean;
  retain?: string;
}

export function packageVersion(): string {
  const pkg: unknown = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
  return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : '0.0.0';
}

const SCAN_HELP = `
Inputs are sniffed by content: CloudTrail log files ({"Records":[...]}, plain or gzipped, any name),
JSON arrays of records, single records, JSON lines, EventBridge "AWS API Call via CloudTrail" events
and CloudWatch Logs subscription payloads. Folders are read recursively; CloudTrail-Digest and
CloudTrail-Insight objects are skipped. Use - to read standard input.

Signals go to stdout (a table on a terminal, JSON lines when piped, or --format); progress, warnings,
bad-input reports and the summary go to stderr.

Exit status: 0 the scan completed (with or without signals), 1 usage or runtime error (or bad input
with --strict), 2 --fail-on was given and a signal at or above that severity was raised.

Examples:
  trailhound scan examples/
  trailhound scan AWSLogs/ --format jsonl > signals.jsonl
  zcat trail.json.gz | trailhound scan - --fail-on medium
  trailhound scan logs/ -r my-rules/ --no-default-rules
  trailhound scan today/ --state ~/.trailhound   # new_value rules remember earlier scans
  trailhound scan logs/ --config trailhound.yaml --suppressions suppressions.yaml --show-suppressed
  trailhound scan logs/ --sink slack:env:SLACK_WEBHOOK_URL   # also post each signal to Slack
`;

async function scanCommand(paths: string[], flags: ScanFlags, io: CliIo): Promise<number> {
  if (paths.length === 0) throw new UsageError('scan needs at least one PATH (a file, a folder, or - for standard input)');
  if (flags.failOn !== undefined && !isSeverity(flags.failOn)) {
    throw new UsageError(`--fail-on must be one of ${SEVERITIES.join(', ')} (got "${flags.failOn}")`);
  }
  const failOn: Severity | undefined = flags.failOn;
  const sinkSpecs = parseScanSinks(flags.sink);
  const threads = flags.threads === undefined ? defaultThreads() : Number(flags.threads);
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new UsageError(`--threads must be a whole number from 1 to 256 (got "${flags.threads}")`);
  const quiet = flags.quiet === true;
  const note = (text: string) => {
    if (!quiet) io.stderr.write(text);
  };

  const setup = await loadDetectionSetup(flags, io.stderr, note);
  if (setup === undefined) return EXIT_ERROR;
  const { rules, settings, plan } = setup;

  const format: Format = flags.format ?? (io.stdout.isTTY ? 'table' : 'jsonl');
  const showProgress = flags.progress && !quiet && io.stderr.isTTY === true;
  let problems = 0;
  // --state DIR: DIR/trailhound.db (docs/state.md), locked for the scan's duration.
  const eventRetentionMs = flags.retain === undefined ? DEFAULT_EVENT_RETENTION_MS : parseDuration(flags.retain, '--retain', 3653 * 86_400_000);
  const stateStore = flags.state !== undefined ? await openSqliteStateStore({ dir: flags.state }) : undefined;
  const indexStore = stateStore !== undefined && flags.index ? stateStore : undefined;
  let newestIndexedMs: number | undefined;
  const result = await runScan({
    paths,
    rules,
    stdin: io.stdin,
    threads,
    isPrefilterEnabled: flags.prefilter,
    ...(plan ? { suppressions: plan } : {}),
    ...(settings.environments ? { environments: settings.environments } : {}),
    ...(stateStore ? { newValueHistory: newValueHistoryStoreOf(stateStore) } : {}),
    ...(indexStore
      ? {
          // Every record read goes into the event index for `trailhound investigate` (docs/investigate.md).
          onRecords: async (records) => {
            const events = indexedEventsOf(records.map((r) => ({ value: r.value, text: r.text ?? JSON.stringify(r.value) })));
            for (const e of events) if (newestIndexedMs === undefined || e.eventTimeMs > newestIndexedMs) newestIndexedMs = e.eventTimeMs;
            await indexStore.indexEvents(events);
          },
        }
      : {}),
    onProblem: (p) => {
      problems++;
      const where = p.index !== undefined ? ` record ${p.index}` : p.byteOffset !== undefined ? ` byte ${p.byteOffset}` : '';
      // Errors in input are always shown (even with -q): they mean records were not read.
      io.stderr.write(`${showProgress ? '\r\x1b[K' : ''}bad input: ${escapeForTerminal(p.source)}${where}: ${p.code}: ${escapeForTerminal(p.message)}\n`);
    },
    ...(showProgress
      ? {
          onProgress: (p) => {
            const rate = p.elapsedMs > 0 ? Math.round((p.records * 1000) / p.elapsedMs) : 0;
            io.stderr.write(`\r\x1b[K${p.files} files, ${p.records} records, ${(p.bytes / 1e6).toFixed(0)} MB, ${rate} records/s`);
          },
        }
      : {}),
  })
    .then(async (scanned) => {
      // The scan's signals are kept in the store too, for `trailhound signals` (docs/triage.md).
      if (indexStore && newestIndexedMs !== undefined) await indexStore.pruneEvents(newestIndexedMs - eventRetentionMs);
      if (stateStore) {
        const recorded = await recordScanSignals(stateStore, signalsToShow(scanned, true));
        if (recorded.created + recorded.updated > 0) note(`recorded ${recorded.created} new and ${recorded.updated} updated signal(s) in ${stateStore.location} (trailhound signals --state DIR)\n`);
      }
      return scanned;
    })
    .finally(() => stateStore?.close());
  if (showProgress) io.stderr.write('\r\x1b[K');
  // Built-in rules that run on every event do so by design (root activity, stolen credentials);
  // the warning is for the rules a user brings.
  const builtinIds = new Set(rules.filter((r) => isBuiltinRuleFile(r.file)).map((r) => r.id));
  for (const rule of result.summary.unindexedRules.filter((id) => !builtinIds.has(id))) {
    note(`warning W_RULE_UNINDEXED: rule ${rule} names no eventName, so it is evaluated on every event (slower)\n`);
  }

  const signals = result.signals;
  const shown = signalsToShow(result, flags.showSuppressed === true);
  if (format === 'table') io.stdout.write(renderTable(shown, io.stdout.columns ?? 160));
  else if (format === 'json') io.stdout.write(renderJson(shown));
  else io.stdout.write(renderJsonl(shown));
  note(renderSummary(result.summary));
  // --sink: the reported signals also go to each sink (docs/outputs.md).
  const undelivered = await deliverScanSignals(sinkSpecs, signals, { env: process.env, productVersion: packageVersion(), stderr: io.stderr });
  if (undelivered > 0) {
    io.stderr.write(`trailhound: ${undelivered} signal delivery(ies) to --sink failed (see the problems above)\n`);
    return EXIT_ERROR;
  }

  if (flags.strict === true && problems > 0) {
    io.stderr.write(`trailhound: --strict: ${problems} bad input(s)\n`);
    return EXIT_ERROR;
  }
  if (failOn !== undefined && signals.some((s) => severityRank(s.severity) >= severityRank(failOn))) return EXIT_FINDINGS;
  return EXIT_OK;
}

function buildProgram(io: CliIo, setExit: (code: number) => void): Command {
  const program = new Command('trailhound')
    .description('Threat detection for AWS CloudTrail logs with Datadog-compatible rules')
    .version(packageVersion(), '-V, --version')
    .showHelpAfterError('(run with --help for usage)')
    .configureOutput({
      writeOut: (s) => io.stdout.write(s),
      writeErr: (s) => io.stderr.write(s),
    })
    .exitOverride();

  program
    .command('scan')
    .summary('scan CloudTrail files, folders or stdin and print signals')
    .description('Run the detection rules over CloudTrail logs and print the signals they raise.')
    .argument('[paths...]', 'files, folders (recursive) or - for standard input')
    .option('-r, --rules <path>', 'add rules from a file or folder (repeatable)', collectRepeatable)
    .option('--no-default-rules', 'do not load the built-in rules')
    .addOption(new Option('-f, --format <format>', 'output format (default: table on a terminal, jsonl otherwise)').choices(['table', 'json', 'jsonl']))
    .addOption(new Option('--fail-on <severity>', 'exit 2 when a signal at or above this severity is raised').choices([...SEVERITIES]))
    .option('--strict', 'exit 1 when any input is bad (unreadable, invalid JSON, not CloudTrail)')
    .option('-q, --quiet', 'print only signals and errors')
    .option('--no-progress', 'do not show progress on a terminal')
    .option('--config <file>', 'read a config file: account environments and suppressions (docs/configuration.md)')
    .option('--suppressions <file>', 'read suppression entries from a YAML file (repeatable; docs/suppressions.md)', collectRepeatable)
    .option('--show-suppressed', 'also print suppressed signals, marked status: suppressed with their reason')
    .option('--state <dir>', 'keep what new_value rules learn, the signals raised (trailhound signals) and an index of every record read (trailhound investigate) in DIR/trailhound.db (default: every scan learns afresh; docs/state.md)')
    .option('--no-index', 'with --state: do not index the records for trailhound investigate (indexing parses every record in one thread: a scan with --state is slower)')
    .option('--retain <duration>', 'with --state: how long indexed events are kept, back from the newest event time (default 30d; docs/investigate.md)')
    .option('--threads <n>', `read files with N threads side by side (default: the number of cores, here ${defaultThreads()}); 1 reads in one thread; the results are the same`)
    .option('--no-prefilter', 'parse every record, even those no rule can match (slower; the results are the same)')
    .option('--sink <spec>', 'also send the signals to jsonl:PATH, ocsf:PATH, webhook:URL, slack:URL, pagerduty:ROUTING_KEY or securityhub[:REGION] (repeatable; a URL or key may be env:NAME; docs/outputs.md)', collectRepeatable)
    .addHelpText('after', SCAN_HELP)
    .action(async (paths: string[], flags: ScanFlags) => {
      setExit(await scanCommand(paths, flags, io));
    });

  registerRulesCommand(program, io, setExit);
  registerWatchCommand(program, io, setExit);
  registerServeCommand(program, io, setExit);
  registerDeliveriesCommand(program, io, setExit);
  registerSignalsCommand(program, io, setExit);
  registerInvestigateCommand(program, io, setExit);
  registerRespondCommand(program, io, setExit);
  return program;
}

/** Run the CLI with `argv` (without node and script) and return the exit code. Never calls process.exit. */
export async function main(argv: readonly string[], io: CliIo = { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin }): Promise<number> {
  let exitCode = EXIT_OK;
  const program = buildProgram(io, (code) => {
    exitCode = code;
  });
  try {
    if (argv.length === 0) {
      program.outputHelp();
      return EXIT_OK;
    }
    await program.parseAsync([...argv], { from: 'user' });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) {
      // Help and version exit through here with code 0; parse errors were already printed.
      return error.exitCode === 0 ? EXIT_OK : EXIT_ERROR;
    }
    if (error instanceof UsageError) {
      io.stderr.write(`trailhound: ${error.message}\n`);
      return EXIT_ERROR;
    }
    if (error instanceof TrailhoundError) {
      io.stderr.write(`trailhound: ${error.code}: ${error.message}\n`);
      return EXIT_ERROR;
    }
    io.stderr.write(`trailhound: unexpected error: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    return EXIT_ERROR;
  }
}
