/**
 * `trailhound serve --listen HOST:PORT`: the HTTP intake (src/server/intake-server.ts, docs/intake.md)
 * wired to the live runtime: each Firehose request or `/intake/cloudtrail` body is one unit of work
 * of the checkpoint protocol, answered only once its signals are delivered; Firehose request ids
 * are recorded in the same checkpoint, so a retry is acknowledged without being processed again.
 *
 * Secrets never come from argv (process listings show it): from the environment
 * (`TRAILHOUND_FIREHOSE_ACCESS_KEYS`, `TRAILHOUND_BEARER_TOKENS`, comma-separated), from files
 * (`--firehose-access-key-file`, `--bearer-token-file`: one secret a line or comma-separated), or
 * from `--intake-config FILE` (YAML or JSON with the intake options, `firehoseAccessKeys` and
 * `bearerTokens` among them). Every source adds to the accepted secrets.
 */
import type { Command } from 'commander';
import { readFile } from 'node:fs/promises';
import { parse as parseYaml } from 'yaml';
import { UsageError, TrailhoundError } from '../core/errors.js';
import { formatDiagnostic } from '../core/types.js';
import { parseDuration, parseListen, splitSecrets } from '../pipeline/live-options.js';
import { createIntakeServer } from '../server/intake-server.js';
import type { IntakeServer } from '../server/intake-server.js';
import { parseIntakeOptions } from '../server/options.js';
import type { ResolvedIntakeOptions } from '../server/options.js';
import type { CliIo } from './main.js';
import { escapeForTerminal } from './render.js';
import { EXIT_ERROR, exitStatusAfter, prepareLive, stopController } from './watch-command.js';
import { addLiveOptions } from './options.js';
import type { LiveCommandContext, LiveFlags, LiveSetup } from './watch-command.js';

export const FIREHOSE_KEYS_ENV = 'TRAILHOUND_FIREHOSE_ACCESS_KEYS';
export const BEARER_TOKENS_ENV = 'TRAILHOUND_BEARER_TOKENS';

export interface ServeFlags extends LiveFlags {
  listen?: string;
  firehoseAccessKeyFile?: string;
  bearerTokenFile?: string;
  intakeConfig?: string;
}

async function readSecretFile(path: string, flag: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`${flag}: cannot read ${JSON.stringify(path)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  const secrets = splitSecrets(text);
  if (secrets.length === 0) throw new UsageError(`${flag}: ${JSON.stringify(path)} holds no secret`);
  return secrets;
}

async function readIntakeConfig(path: string): Promise<Record<string, unknown>> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (error) {
    throw new UsageError(`--intake-config: cannot read ${JSON.stringify(path)}: ${error instanceof Error ? error.message : String(error)}`);
  }
  let value: unknown;
  try {
    value = parseYaml(text);
  } catch (error) {
    throw new UsageError(`--intake-config: ${JSON.stringify(path)} is not valid YAML or JSON: ${error instanceof Error ? error.message : String(error)}`);
  }
  if (value === null || value === undefined) return {};
  if (typeof value !== 'object' || Array.isArray(value)) throw new UsageError(`--intake-config: ${JSON.stringify(path)} must be a mapping of intake options (docs/intake.md)`);
  return value as Record<string, unknown>;
}

/**
 * The intake options from every source: the config file, then the environment and the secret files
 * added to its secrets; `--drain-timeout` sets `drainTimeoutMs` unless the file does.
 */
export async function resolveIntakeOptions(flags: ServeFlags, env: Readonly<Record<string, string | undefined>>, drainTimeoutMs: number): Promise<ResolvedIntakeOptions> {
  const file = flags.intakeConfig !== undefined ? await readIntakeConfig(flags.intakeConfig) : {};
  const fromFile = (name: string): string[] => {
    const value = file[name];
    if (value === undefined) return [];
    if (typeof value === 'string') return splitSecrets(value);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
    throw new UsageError(`--intake-config: ${name} must be a list of strings`);
  };
  const firehoseAccessKeys = [...fromFile('firehoseAccessKeys'), ...splitSecrets(env[FIREHOSE_KEYS_ENV] ?? ''), ...(flags.firehoseAccessKeyFile !== undefined ? await readSecretFile(flags.firehoseAccessKeyFile, '--firehose-access-key-file') : [])];
  const bearerTokens = [...fromFile('bearerTokens'), ...splitSecrets(env[BEARER_TOKENS_ENV] ?? ''), ...(flags.bearerTokenFile !== undefined ? await readSecretFile(flags.bearerTokenFile, '--bearer-token-file') : [])];
  const parsed = parseIntakeOptions({ drainTimeoutMs, ...file, firehoseAccessKeys: [...new Set(firehoseAccessKeys)], bearerTokens: [...new Set(bearerTokens)] });
  if (!parsed.ok) {
    // Never echo a secret: the diagnostics name the field and the rule, not the value.
    throw new UsageError(`invalid intake settings:\n${parsed.diagnostics.map((d) => formatDiagnostic(d)).join('\n')}`);
  }
  if (parsed.value.firehoseAccessKeys.length === 0 && parsed.value.bearerTokens.length === 0) {
    throw new UsageError(`serve needs at least one secret, or every intake route stays off: set ${FIREHOSE_KEYS_ENV} (Firehose access keys) or ${BEARER_TOKENS_ENV} (bearer tokens for /intake/cloudtrail), or use --firehose-access-key-file / --bearer-token-file / --intake-config (generate one with: openssl rand -hex 32)`);
  }
  return parsed.value;
}

/** `trailhound serve` with parsed flags. Returns the exit code. */
export async function runServeCommand(flags: ServeFlags, io: CliIo, context: LiveCommandContext = {}): Promise<number> {
  if (flags.listen === undefined) throw new UsageError('serve needs --listen HOST:PORT, e.g. --listen 0.0.0.0:8080 (behind a TLS-terminating load balancer)');
  const { host, port } = parseListen(flags.listen, '--listen');
  const drainTimeoutMs = flags.drainTimeout === undefined ? 10_000 : parseDuration(flags.drainTimeout, '--drain-timeout');
  const intakeOptions = await resolveIntakeOptions(flags, context.env ?? process.env, drainTimeoutMs);

  const stop = stopController(context);
  let setup: LiveSetup | undefined;
  let server: IntakeServer | undefined;
  try {
    setup = await prepareLive('serve', flags, io, context.hooks, context.env);
    if (setup === undefined) return EXIT_ERROR;
    const live = setup;
    const { runtime } = live;
    void runtime.fatal.then(() => stop.controller.abort());
    server = createIntakeServer(
      intakeOptions,
      {
        onRecords: (records, ctx) => runtime.processRecords(records, ctx.source === 'firehose' ? { source: 'firehose', requestId: ctx.requestId } : { source: 'http' }),
        isDone: (requestId) => runtime.isRequestDone(requestId),
        markDone: (requestId) => runtime.markRequestDone(requestId),
        onProblem: (p) => {
          const where = p.index !== undefined ? ` record ${p.index}` : '';
          live.report({ code: p.code, source: `${p.source}${where}`, message: p.message });
        },
        onError: (error, ctx) => live.report({ code: error instanceof TrailhoundError ? error.code : 'E_LIVE_STEP', source: `${ctx.source}:${ctx.requestId}`, message: `the request failed and was answered with an error (the sender retries): ${error instanceof Error ? error.message : String(error)}` }),
        isReady: () => runtime.fatalError === undefined,
      },
      { metrics: live.metrics },
    );
    const address = await server.listen(host, port);
    const shownHost = address.host.includes(':') ? `[${address.host}]` : address.host;
    const url = `http://${shownHost}:${address.port}`;
    const routes = [intakeOptions.firehoseAccessKeys.length > 0 ? 'POST /intake/firehose' : undefined, intakeOptions.bearerTokens.length > 0 ? 'POST /intake/cloudtrail' : undefined].filter((r) => r !== undefined);
    live.note(`trailhound serve: listening on ${url} (${routes.join(', ')}, GET /healthz, GET /metrics; state ${escapeForTerminal(live.stateDir)}, ${live.rules.length} rules, signals to ${live.sinkKeys.map(escapeForTerminal).join(', ')})\n`);
    context.onReady?.({ listen: url });

    await new Promise<void>((resolve) => {
      if (stop.controller.signal.aborted) resolve();
      else stop.controller.signal.addEventListener('abort', () => resolve(), { once: true });
    });
    // Drain: /healthz turns 503, new requests get 503, requests in flight finish (their steps commit and deliver).
    const closed = await server.close();
    const done = await live.close();
    const fatal = runtime.fatalError;
    const { stats } = runtime;
    const why = stop.reason();
    live.note(`trailhound serve: stopped${why !== undefined ? ` (${why})` : ''}: ${stats.steps} step(s), ${stats.events} event(s), ${stats.changesDelivered} signal change(s) delivered${closed.abandonedRequests > 0 || !done.isDrained ? `; ${closed.abandonedRequests} request(s) cut at the drain deadline (their senders retry)` : ''}\n`);
    return exitStatusAfter(fatal, io);
  } finally {
    stop.dispose();
    await server?.close();
    await setup?.close();
  }
}

const SERVE_HELP = `
Takes CloudTrail pushed over HTTP and raises signals as it arrives (docs/intake.md, docs/live.md):
  POST /intake/firehose     Amazon Data Firehose HTTP endpoint (X-Amz-Firehose-Access-Key)
  POST /intake/cloudtrail   EventBridge API destinations, raw CloudTrail JSON (Authorization: Bearer)
  GET  /healthz, /metrics   health and Prometheus metrics
Secrets are never taken from the command line: set ${FIREHOSE_KEYS_ENV} and/or ${BEARER_TOKENS_ENV}
(comma-separated), or use --firehose-access-key-file, --bearer-token-file or --intake-config.
A request is answered after its signals are delivered. SIGTERM drains and checkpoints (exit 0).

Examples:
  ${FIREHOSE_KEYS_ENV}=$(cat /run/secrets/firehose) trailhound serve --listen 0.0.0.0:8080 --state /var/lib/trailhound
  trailhound serve --listen 127.0.0.1:8080 --state ./state --bearer-token-file ./token --sink jsonl:signals.jsonl
  trailhound serve --listen :8080 --state ./state --intake-config intake.yaml
`;

export function registerServeCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const command = program
    .command('serve')
    .summary('HTTP intake for Firehose, EventBridge and raw CloudTrail, with live signals')
    .description('Listen for CloudTrail pushed over HTTP and run the detection rules live, with checkpoints in --state DIR.')
    .option('--listen <host:port>', 'address to listen on (required), e.g. 0.0.0.0:8080');
  addLiveOptions(command)
    .option('--firehose-access-key-file <file>', 'accepted Firehose access keys, one a line')
    .option('--bearer-token-file <file>', 'accepted bearer tokens for /intake/cloudtrail, one a line')
    .option('--intake-config <file>', 'YAML/JSON intake options: firehoseAccessKeys, bearerTokens, maxBodyBytes, maxDecodedBytes, requestTimeoutMs, drainTimeoutMs')
    .option('--drain-timeout <duration>', 'on SIGTERM, how long requests in flight may take to finish (default 10s)')
    .option('-q, --quiet', 'print only signals and problems')
    .addHelpText('after', SERVE_HELP)
    .action(async (flags: ServeFlags) => {
      setExit(await runServeCommand(flags, io));
    });
}
