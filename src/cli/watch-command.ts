/**
 * `trailhound watch s3://bucket/prefix | sqs://QUEUE-URL | PATH`: live detection over CloudTrail log
 * objects as they are delivered (docs/live.md). Also the setup `trailhound serve` shares with it:
 * rules, config and suppressions as `scan` loads them, the state store (`--state DIR`, required),
 * the sinks, the metrics, the live runtime (src/pipeline/live.ts), and the shutdown on SIGTERM or
 * SIGINT (stop reading, drain the unit under way, close sinks, release the store, exit 0).
 */
import type { Command } from 'commander';
import { resolve } from 'node:path';
import { Writable } from 'node:stream';
import { TrailhoundError, UsageError } from '../core/errors.js';
import { DEFAULT_ALLOWED_LATENESS_MS, MAX_ALLOWED_LATENESS_MS } from '../engine/live-types.js';
import { openLiveRuntime } from '../pipeline/live.js';
import type { LiveProblem, LiveRuntime, LiveRuntimeHooks, LiveSinkBinding } from '../pipeline/live.js';
import { parseDuration, parseList, parseListen, parseSince, parseWatchTarget } from '../pipeline/live-options.js';
import { runWatch } from '../pipeline/live-watch.js';
import { createLiveMetrics } from '../pipeline/metrics.js';
import type { LiveMetrics } from '../pipeline/metrics.js';
import type { EnvironmentSettings } from '../rules/environment.js';
import type { CompiledRule } from '../rules/model.js';
import { createIntakeServer } from '../server/intake-server.js';
import type { IntakeServer } from '../server/intake-server.js';
import type { OutboxSinkBinding } from '../pipeline/outbox-delivery.js';
import { isOutboxSink, openSink, outboxBatchSizeOf, parseSinkSpec, sinkKeyOf } from '../sinks/spec.js';
import type { StateStore } from '../store/state-store.js';
import { DEFAULT_EVENT_RETENTION_MS } from '../store/event-index.js';
import { openSqliteStateStore } from '../store/sqlite-state-store.js';
import type { CliIo } from './main.js';
import { packageVersion } from './main.js';
import { escapeForTerminal } from './render.js';
import { loadDetectionSetup } from './scan-settings.js';
import { addLiveOptions, collectRepeatable } from './options.js';

export const EXIT_OK = 0;
export const EXIT_ERROR = 1;

/** Flags `watch` and `serve` share. */
export interface LiveFlags {
  /** watch --once: process what is there, then exit (serve has no such flag). */
  once?: boolean;
  rules?: string[];
  defaultRules: boolean;
  config?: string;
  suppressions?: string[];
  state?: string;
  allowedLateness?: string;
  retain?: string;
  sink?: string[];
  drainTimeout?: string;
  quiet?: boolean;
}

export interface WatchFlags extends LiveFlags {
  pollInterval?: string;
  since?: string;
  accounts?: string[];
  regions?: string[];
  endpointUrl?: string;
  sqsEndpointUrl?: string;
  region?: string;
  metricsListen?: string;
  once?: boolean;
  visibilityTimeout?: string;
}

/** What a caller other than a shell gives a live command (tests, the kill-test runner). */
export interface LiveCommandContext {
  /** Aborting it stops the command as SIGTERM does. */
  readonly signal?: AbortSignal;
  /** Test hooks passed to the runtime. */
  readonly hooks?: LiveRuntimeHooks;
  /** Environment for secrets (default `process.env`). */
  readonly env?: Readonly<Record<string, string | undefined>>;
  /** Called once the command is reading (serve: listening), with the addresses it listens on. */
  readonly onReady?: (info: { readonly listen?: string; readonly metrics?: string }) => void;
  /** Whether SIGTERM and SIGINT stop the command (default true). */
  readonly isHandlingSignals?: boolean;
}

/** Everything a live command runs with, ready; `close` releases it all (idempotent). */
export interface LiveSetup {
  readonly runtime: LiveRuntime;
  readonly store: StateStore;
  readonly metrics: LiveMetrics;
  readonly stateDir: string;
  readonly drainTimeoutMs: number;
  readonly sinkKeys: readonly string[];
  readonly rules: readonly CompiledRule[];
  note(text: string): void;
  report(problem: LiveProblem): void;
  close(): Promise<{ readonly isDrained: boolean }>;
}

/** Loads rules and settings, opens the store, the sinks and the runtime. Throws UsageError / TrailhoundError; returns undefined after printing rule or config errors. */
export async function prepareLive(command: 'watch' | 'serve', flags: LiveFlags, io: CliIo, hooks?: LiveRuntimeHooks, env: Readonly<Record<string, string | undefined>> = process.env): Promise<LiveSetup | undefined> {
  if (flags.state === undefined || flags.state.trim() === '') {
    throw new UsageError(`${command} needs --state DIR: the folder where checkpoints, deduplication and the detection state are kept, so that a restart loses nothing and repeats nothing (e.g. --state /var/lib/trailhound)`);
  }
  const stateDir = resolve(flags.state);
  const allowedLatenessMs = flags.allowedLateness === undefined ? DEFAULT_ALLOWED_LATENESS_MS : parseDuration(flags.allowedLateness, '--allowed-lateness');
  if (allowedLatenessMs > MAX_ALLOWED_LATENESS_MS) throw new UsageError('--allowed-lateness may be at most 7d');
  const drainTimeoutMs = flags.drainTimeout === undefined ? 10_000 : parseDuration(flags.drainTimeout, '--drain-timeout');
  const eventRetentionMs = flags.retain === undefined ? DEFAULT_EVENT_RETENTION_MS : parseDuration(flags.retain, '--retain', 3653 * 86_400_000);
  const flagSpecs = (flags.sink ?? []).map((text) => {
    const parsed = parseSinkSpec(text);
    if (!parsed.ok) throw new UsageError(parsed.diagnostics.map((d) => `--sink: ${d.message}${d.hint ? ` (${d.hint})` : ''}`).join('; '));
    return parsed.value;
  });
  const quiet = flags.quiet === true;
  const note = (text: string): void => {
    if (!quiet) io.stderr.write(text);
  };
  const report = (p: LiveProblem): void => {
    // Problems are always shown, like scan's bad-input lines: they mean something was not read.
    io.stderr.write(`problem: ${escapeForTerminal(p.source)}: ${p.code}: ${escapeForTerminal(p.message)}\n`);
  };

  const setup = await loadDetectionSetup(flags, io.stderr, note);
  if (setup === undefined) return undefined;
  const { rules, settings, plan } = setup;
  const environments: EnvironmentSettings | undefined = settings.environments;
  // --sink values and the config file's sinks; stdout when neither names one.
  const allSpecs = [...flagSpecs, ...(settings.sinks ?? [])];
  const specs = (allSpecs.length > 0 ? allSpecs : [{ kind: 'stdout' as const }]).map((spec) => (spec.kind === 'jsonl' ? { ...spec, path: resolve(spec.path) } : spec));
  const keyed = specs.map((spec) => {
    try {
      return { spec, key: sinkKeyOf(spec, env) };
    } catch (error) {
      throw new UsageError(`sink ${spec.kind}: ${error instanceof Error ? error.message : String(error)} (set it, or change the sink's configuration; docs/outputs.md)`);
    }
  });
  const repeated = keyed.find((k, i) => keyed.findIndex((other) => other.key === k.key) !== i);
  if (repeated !== undefined) throw new UsageError(`the sink ${repeated.key} is given twice (--sink and the config file together name each sink once)`);
  const productVersion = packageVersion();

  const metrics = createLiveMetrics();
  const store = await openSqliteStateStore({ dir: stateDir });
  const sinks: LiveSinkBinding[] = [];
  const outboxSinks: OutboxSinkBinding[] = [];
  let runtime: LiveRuntime;
  try {
    for (const { spec, key } of keyed) {
      if (isOutboxSink(spec)) {
        const retry = 'retry' in spec ? spec.retry : undefined;
        const batchSize = outboxBatchSizeOf(spec);
        outboxSinks.push({ key, open: () => openSink(spec, { env, productVersion }), ...(retry !== undefined ? { retry } : {}), ...(batchSize !== undefined ? { batchSize } : {}) });
      } else if (spec.kind === 'stdout') {
        const stream = io.stdout instanceof Writable ? io.stdout : undefined;
        sinks.push({ key, sink: await openSink(spec, stream !== undefined ? { stdout: { stream } } : {}) });
      } else {
        sinks.push({ key, sink: await openSink(spec, { env, productVersion }) });
      }
    }
    runtime = await openLiveRuntime({
      rules,
      store,
      sinks,
      outboxSinks,
      metrics,
      allowedLatenessMs,
      eventRetentionMs,
      ...(environments !== undefined ? { environments } : {}),
      ...(plan !== undefined ? { suppressions: plan } : {}),
      onProblem: report,
      ...(hooks !== undefined ? { hooks } : {}),
    });
  } catch (error) {
    await Promise.allSettled(sinks.map((s) => s.sink.close()));
    await store.close();
    throw error;
  }
  if (runtime.stats.changesRedelivered > 0) note(`trailhound ${command}: delivered again ${runtime.stats.changesRedelivered} signal change(s) left in the outbox by the previous run\n`);
  let closing: Promise<{ readonly isDrained: boolean }> | undefined;
  return {
    runtime,
    store,
    metrics,
    stateDir,
    drainTimeoutMs,
    sinkKeys: keyed.map((s) => s.key),
    rules,
    note,
    report,
    close() {
      closing ??= (async () => {
        const result = await runtime.close({ drainTimeoutMs, deliversBackoff: flags.once === true });
        await store.close();
        return result;
      })();
      return closing;
    },
  };
}

/** An AbortController that SIGTERM, SIGINT, the context's signal and a fatal runtime error abort. */
/** The exit status of a live run that stopped, saying why on stderr when a fatal error stopped it. */
export function exitStatusAfter(fatal: Error | undefined, io: CliIo): number {
  if (fatal === undefined) return EXIT_OK;
  io.stderr.write(`trailhound: ${fatal instanceof TrailhoundError ? `${fatal.code}: ` : ''}${escapeForTerminal(fatal.message)}; stopped (a restart delivers what is missing)\n`);
  return EXIT_ERROR;
}

export function stopController(context: LiveCommandContext): { readonly controller: AbortController; readonly dispose: () => void; readonly reason: () => string | undefined } {
  const controller = new AbortController();
  let reason: string | undefined;
  const stop = (why: string) => () => {
    reason ??= why;
    controller.abort();
  };
  const onTerm = stop('SIGTERM');
  const onInt = stop('SIGINT');
  const onContext = stop('stopped');
  const isHandlingSignals = context.isHandlingSignals ?? true;
  if (isHandlingSignals) {
    process.once('SIGTERM', onTerm);
    process.once('SIGINT', onInt);
  }
  if (context.signal?.aborted === true) onContext();
  else context.signal?.addEventListener('abort', onContext, { once: true });
  return {
    controller,
    reason: () => reason,
    dispose() {
      if (isHandlingSignals) {
        process.off('SIGTERM', onTerm);
        process.off('SIGINT', onInt);
      }
      context.signal?.removeEventListener('abort', onContext);
    },
  };
}

/** Resolves with `promise`'s outcome, or 'timeout' after `ms`. */
export async function within<T>(promise: Promise<T>, ms: number): Promise<T | 'timeout'> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), ms);
  });
  try {
    return await Promise.race([promise, deadline]);
  } finally {
    clearTimeout(timer);
  }
}

/** A server for /healthz and /metrics only (no intake route is enabled without a secret). */
async function startMetricsServer(listen: string, metrics: LiveMetrics, isReady: () => boolean): Promise<{ server: IntakeServer; url: string }> {
  const { host, port } = parseListen(listen, '--metrics-listen');
  const server = createIntakeServer(
    {},
    {
      onRecords: () => Promise.reject(new Error('no intake on the metrics listener')),
      isDone: () => Promise.resolve(false),
      markDone: () => Promise.resolve(),
      isReady,
    },
    { metrics },
  );
  const address = await server.listen(host, port);
  const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
  return { server, url: `http://${shownHost}:${address.port}` };
}

const ACCOUNT_PATTERN = /^\d{12}$/;
const REGION_PATTERN = /^[a-z0-9-]+$/;

/** `trailhound watch TARGET` with parsed flags. Returns the exit code. */
export async function runWatchCommand(targetText: string | undefined, flags: WatchFlags, io: CliIo, context: LiveCommandContext = {}): Promise<number> {
  if (targetText === undefined) throw new UsageError('watch needs what to watch: s3://bucket/prefix, sqs://QUEUE-URL or a local folder');
  const target = parseWatchTarget(targetText);
  const pollIntervalMs = flags.pollInterval === undefined ? undefined : parseDuration(flags.pollInterval, '--poll-interval');
  if (pollIntervalMs !== undefined && pollIntervalMs < 10) throw new UsageError('--poll-interval must be at least 10ms');
  const sinceEpochMs = flags.since === undefined ? undefined : parseSince(flags.since, Date.now());
  const accounts = parseList(flags.accounts, '--accounts', ACCOUNT_PATTERN, 'a 12-digit AWS account id');
  const regions = parseList(flags.regions, '--regions', REGION_PATTERN, 'a region name such as us-east-1');
  const visibilityTimeoutSeconds = flags.visibilityTimeout === undefined ? undefined : Math.ceil(parseDuration(flags.visibilityTimeout, '--visibility-timeout') / 1000);
  if (target.kind !== 's3' && (accounts !== undefined || regions !== undefined || sinceEpochMs !== undefined)) {
    throw new UsageError('--accounts, --regions and --since apply to s3:// watches only (SQS and folders hand over what is delivered)');
  }
  for (const [flag, value] of [
    ['--endpoint-url', flags.endpointUrl],
    ['--sqs-endpoint-url', flags.sqsEndpointUrl],
  ] as const) {
    if (value !== undefined && !/^https?:\/\/[^\s]+$/.test(value)) throw new UsageError(`${flag} takes a URL such as http://127.0.0.1:4566 (got ${JSON.stringify(value.slice(0, 60))})`);
  }
  if (flags.metricsListen !== undefined) parseListen(flags.metricsListen, '--metrics-listen');

  const stop = stopController(context);
  let setup: LiveSetup | undefined;
  let metricsServer: { server: IntakeServer; url: string } | undefined;
  try {
    setup = await prepareLive('watch', flags, io, context.hooks, context.env);
    if (setup === undefined) return EXIT_ERROR;
    const live = setup;
    let isReady = false;
    if (flags.metricsListen !== undefined) {
      metricsServer = await startMetricsServer(flags.metricsListen, live.metrics, () => isReady && !stop.controller.signal.aborted);
      live.note(`trailhound watch: metrics on ${metricsServer.url}/metrics\n`);
    }
    void live.runtime.fatal.then(() => stop.controller.abort());
    const watching = runWatch({
      target,
      runtime: live.runtime,
      stateDir: live.stateDir,
      signal: stop.controller.signal,
      isOnce: flags.once === true,
      ...(pollIntervalMs !== undefined ? { pollIntervalMs } : {}),
      ...(sinceEpochMs !== undefined ? { sinceEpochMs } : {}),
      ...(accounts !== undefined ? { accounts } : {}),
      ...(regions !== undefined ? { regions } : {}),
      ...(flags.region !== undefined ? { region: flags.region } : {}),
      ...(flags.endpointUrl !== undefined ? { endpoint: flags.endpointUrl } : {}),
      ...(flags.sqsEndpointUrl !== undefined ? { sqsEndpoint: flags.sqsEndpointUrl } : {}),
      ...(visibilityTimeoutSeconds !== undefined ? { visibilityTimeoutSeconds } : {}),
      drainTimeoutMs: live.drainTimeoutMs,
      onProblem: (problem) => live.report(problem),
      onStarted: (description) => {
        isReady = true;
        live.note(`trailhound watch: ${escapeForTerminal(description)} (state ${escapeForTerminal(live.stateDir)}, ${live.rules.length} rules, signals to ${live.sinkKeys.map(escapeForTerminal).join(', ')})\n`);
        context.onReady?.(metricsServer !== undefined ? { metrics: metricsServer.url } : {});
      },
    });
    // The source drains the unit under way when stopped; past the deadline, it is left (not acknowledged).
    const stopped = new Promise<void>((resolve) => {
      if (stop.controller.signal.aborted) resolve();
      else stop.controller.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    await Promise.race([watching, stopped]);
    const outcome = await within(watching, stop.controller.signal.aborted ? live.drainTimeoutMs : 0x7fffffff);
    const closed = await live.close();
    const fatal = live.runtime.fatalError;
    const { stats } = live.runtime;
    const why = stop.reason();
    live.note(`trailhound watch: stopped${why !== undefined ? ` (${why})` : ''}: ${stats.steps} step(s), ${stats.events} event(s), ${stats.changesDelivered} signal change(s) delivered${outcome === 'timeout' || !closed.isDrained ? '; work still under way at the drain deadline was left for a retry' : ''}\n`);
    return exitStatusAfter(fatal, io);
  } finally {
    stop.dispose();
    await metricsServer?.server.close();
    await setup?.close();
  }
}

const WATCH_HELP = `
Watches CloudTrail as it is delivered and runs the rules on event time (docs/live.md):
  s3://BUCKET/PREFIX   lists the trail's folders every --poll-interval (default 60s)
  sqs://QUEUE-URL      reads S3 / EventBridge / CloudTrail SNS notifications from a queue
  PATH                 picks up new files in a local folder (default every 2s)
Signals are written as JSON lines, one per signal change (an update repeats the signal's id), to
stdout or to each --sink. Problems go to stderr. SIGTERM or SIGINT drains and checkpoints (exit 0).
AWS credentials come from the standard chain (environment, profiles, SSO, instance roles).

Examples:
  trailhound watch s3://my-trail-bucket/team --state /var/lib/trailhound --since 2h --sink jsonl:/var/log/trailhound/signals.jsonl
  trailhound watch sqs://https://sqs.us-east-1.amazonaws.com/123456789012/trail-logs --state ./state
  trailhound watch ./AWSLogs --state ./state --once
  SLACK_URL=https://hooks.slack.com/services/… trailhound watch s3://bucket --state ./state --sink jsonl:signals.jsonl --sink slack:env:SLACK_URL
Network sinks (webhook:, slack:, pagerduty:) are delivered from the state store's outbox with retries;
one that is down never stops detection (docs/outputs.md). A webhook is signed when
TRAILHOUND_WEBHOOK_SECRET is set.
  trailhound watch s3://bucket --state ./state --accounts 111122223333 --regions us-east-1,eu-west-1 --metrics-listen 127.0.0.1:9464
`;

export function registerWatchCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const command = program
    .command('watch')
    .summary('watch S3, an SQS queue or a folder and raise signals as CloudTrail arrives')
    .description('Run the detection rules live over CloudTrail log files as they are delivered, with checkpoints in --state DIR.')
    .argument('[target]', 's3://bucket/prefix, sqs://QUEUE-URL or a local folder');
  addLiveOptions(command)
    .option('--poll-interval <duration>', 'pause between listings (default 60s for S3, 2s for a folder)')
    .option('--since <duration>', 'S3: on the first start, read log files delivered this far back (2h, 7d) or since a UTC time (2024-08-01T00:00:00Z)')
    .option('--accounts <ids>', 'S3: only these 12-digit account ids (comma-separated, repeatable)', collectRepeatable)
    .option('--regions <names>', 'S3: only these regions (comma-separated, repeatable)', collectRepeatable)
    .option('--region <name>', 'AWS region of the clients (default: the SDK configuration)')
    .option('--endpoint-url <url>', 'S3 endpoint, for S3-compatible stores and local tests (path-style)')
    .option('--sqs-endpoint-url <url>', 'SQS endpoint (default: the queue URL)')
    .option('--visibility-timeout <duration>', 'SQS: visibility asked for each message while it is processed (default 300s)')
    .option('--metrics-listen <host:port>', 'serve /healthz and /metrics (Prometheus) on this address')
    .option('--drain-timeout <duration>', 'on SIGTERM, how long the unit of work under way may take to finish (default 10s)')
    .option('--once', 'process what is there now, then exit (cron, tests)')
    .option('-q, --quiet', 'print only signals and problems')
    .addHelpText('after', WATCH_HELP)
    .action(async (target: string | undefined, flags: WatchFlags) => {
      setExit(await runWatchCommand(target, flags, io));
    });
}
