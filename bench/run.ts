/**
 * `npm run bench`: generate (or reuse) the corpus, measure every row side by side on the same
 * files, check that every tool found what was planted, print and write bench/RESULTS.md.
 * Exit status 1 when any check fails. See bench/README.md.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { readFile, rm, writeFile } from 'node:fs/promises';
import { availableParallelism, cpus, loadavg, release, tmpdir, totalmem, type } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { checkEventIds, checkSignals, parseSignalLines } from './check.js';
import type { CheckResult, SignalCheck } from './check.js';
import { ensureCorpus } from './corpus.js';
import type { Corpus } from './corpus.js';
import { hasGnuTime, measure, median } from './measure.js';
import type { CommandSpec, Measurement } from './measure.js';
import { corpusParams, DEFAULT_SEED } from './plan.js';
import { formatInt, renderReport } from './report.js';
import type { MachineInfo, RowResult, ScalingRow, Target } from './report.js';
import { COMPANION_RULE_ID } from './scenarios.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const RESULTS_PATH = join(REPO, 'bench', 'RESULTS.md');
const PROBES = join(REPO, 'bench', 'probes');

const HELP = `Usage: npm run bench -- [options]

Measures trailhound scan beside its peers on a generated CloudTrail corpus and writes bench/RESULTS.md.

Options:
  --records N     records in the corpus (default 1000000); generated once, cached in bench/.corpus/
  --runs K        runs of each row (default 3); median and min are reported
  --only ROWS     comma-separated rows or groups to run: gunzip, gunzip-all, parse, trailhound
                  (trailhound-1, trailhound-all, trailhound-lean: the pack without its heaviest
                  rule), jq, duckdb (duckdb-1, duckdb-all)
  --scaling       also run trailhound on N/10, 3N/10 and N records (100k, 300k, 1M by default)
  --seed TEXT     corpus seed (default ${DEFAULT_SEED})
  --no-build      measure dist/ as it is (default: npm run build first)
  --store [...]   (first) run the store benchmark instead: the event index queries of
                  trailhound investigate on a 10,000,000-event store (bench/store/run.ts --help)
  -h, --help      this text

Exit status: 0 when every tool found exactly the planted events, 1 otherwise.
`;

/** Row ids and groups `--only` accepts. */
const ROW_NAMES: readonly string[] = ['gunzip', 'gunzip-all', 'parse', 'trailhound', 'trailhound-1', 'trailhound-all', 'trailhound-lean', 'jq', 'duckdb', 'duckdb-1', 'duckdb-all'];

interface Options {
  readonly records: number;
  readonly runs: number;
  readonly only: ReadonlySet<string> | undefined;
  readonly isScaling: boolean;
  readonly seed: string;
  readonly isBuild: boolean;
}

function parseOptions(argv: readonly string[]): Options | 'help' {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      records: { type: 'string' },
      runs: { type: 'string' },
      only: { type: 'string' },
      scaling: { type: 'boolean' },
      seed: { type: 'string' },
      'no-build': { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
  });
  if (values.help === true) return 'help';
  const positive = (text: string | undefined, name: string, fallback: number) => {
    if (text === undefined) return fallback;
    const n = Number(text.replaceAll('_', '').replaceAll(',', ''));
    if (!Number.isInteger(n) || n < 1) throw new Error(`--${name} must be a positive whole number (got "${text}")`);
    return n;
  };
  const only = values.only === undefined ? undefined : new Set(values.only.split(',').map((s) => s.trim()).filter(Boolean));
  const unknown = [...(only ?? [])].filter((name) => !ROW_NAMES.includes(name));
  if (unknown.length > 0) throw new Error(`--only: unknown row(s) ${unknown.join(', ')}; the rows are ${ROW_NAMES.join(', ')}`);
  return {
    records: positive(values.records, 'records', 1_000_000),
    runs: positive(values.runs, 'runs', 3),
    only,
    isScaling: values.scaling === true,
    seed: values.seed ?? DEFAULT_SEED,
    isBuild: values['no-build'] !== true,
  };
}

function say(text: string): void {
  process.stderr.write(`${text}\n`);
}

function commandOutput(command: string, args: readonly string[]): string | undefined {
  try {
    return execFileSync(command, [...args], { cwd: REPO, encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return undefined;
  }
}

function cpuModel(): string {
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'));
    if (m?.[1]) return m[1].trim();
  } catch {
    // not Linux: fall through
  }
  return cpus()[0]?.model ?? 'unknown';
}

function duckdbPackageVersion(): string {
  try {
    const pkg: unknown = JSON.parse(readFileSync(join(REPO, 'node_modules', '@duckdb', 'node-api', 'package.json'), 'utf8'));
    return typeof pkg === 'object' && pkg !== null && 'version' in pkg && typeof pkg.version === 'string' ? pkg.version : 'not installed';
  } catch {
    return 'not installed';
  }
}

/** Whether the built-in rule pack holds the companion rule (by file name or `id:` line). */
function isCompanionInPack(): boolean {
  const dir = join(REPO, 'rules');
  return readdirSync(dir).some((name) => {
    if (!/\.(ya?ml|json)$/.test(name)) return false;
    if (name.replace(/\.(ya?ml|json)$/, '') === COMPANION_RULE_ID) return true;
    return new RegExp(`^\\s*"?id"?\\s*:\\s*['"]?${COMPANION_RULE_ID}\\b`, 'm').test(readFileSync(join(dir, name), 'utf8'));
  });
}

function build(): string {
  say('building trailhound (npm run build)…');
  const result = spawnSync(process.execPath, [join(REPO, 'node_modules', 'typescript', 'bin', 'tsc'), '-p', 'tsconfig.build.json'], { cwd: REPO, encoding: 'utf8' });
  if (result.status === 0) return 'built from the working tree for this run';
  const errors = `${result.stdout}${result.stderr}`.split('\n').filter((l) => l.includes('error TS')).length;
  say(`warning: the build reported ${errors} type error(s); measuring what tsc emitted anyway`);
  return `built from the working tree for this run; tsc reported ${errors} type error(s) in work in progress and emitted anyway`;
}

/** The jq program: the flagship calls' eventIDs, one per line. */
const JQ_FILTER =
  '.Records[] | select(.eventSource == "ec2.amazonaws.com" and ((.eventName == "StopInstances" or .eventName == "StartInstances") or (.eventName == "ModifyInstanceAttribute" and (.requestParameters.userData != null or .requestParameters.attribute == "userData")))) | .eventID';

interface RowSpec {
  readonly id: string;
  readonly group: string;
  readonly label: string;
  readonly threads: string;
  readonly command: CommandSpec;
  check(run: Measurement, stdout: string): CheckResult;
}

function json(text: string): Record<string, unknown> {
  const value: unknown = JSON.parse(text);
  if (typeof value !== 'object' || value === null) throw new Error('probe output is not a JSON object');
  return value as Record<string, unknown>;
}

function failed(name: string, run: Measurement): CheckResult | undefined {
  if (run.exitCode === 0) return undefined;
  const firstLines = run.stderr.trim().split('\n').slice(0, 3).join(' / ');
  return { ok: false, summary: `${name}: exited with status ${run.exitCode}`, details: firstLines ? [firstLines.slice(0, 400)] : [] };
}

interface Context {
  readonly corpus: Corpus;
  readonly listPath: string;
  readonly cores: number;
  readonly trailhoundThreads: boolean;
  readonly isCompanionLoaded: boolean;
  readonly signalChecks: SignalCheck[];
}

/**
 * The rule that makes the full pack parse most records: it names no event and matches every call
 * made with a person's credentials (bench/README.md). The `trailhound-lean` row runs without it.
 */
const HEAVY_RULE = 'ec2-instance-credentials-used-elsewhere';

/** A folder with every built-in rule but HEAVY_RULE (rebuilt on each run, beside the corpora). */
function leanRulesDir(): string {
  const dir = join(REPO, 'bench', '.corpus', `rules-without-${HEAVY_RULE}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  for (const name of readdirSync(join(REPO, 'rules'))) {
    if (!/\.ya?ml$/.test(name) || name.startsWith(`${HEAVY_RULE}.`)) continue;
    copyFileSync(join(REPO, 'rules', name), join(dir, name));
  }
  return dir;
}

function trailhoundRow(ctx: Context, id: string, label: string, threads: number | undefined, rulesDir?: string): RowSpec {
  const args = [
    join(REPO, 'bin', 'trailhound.js'),
    'scan',
    ctx.corpus.logsDir,
    '-f',
    'jsonl',
    '-q',
    ...(threads === undefined ? [] : ['--threads', String(threads)]),
    ...(rulesDir === undefined ? [] : ['--no-default-rules', '--rules', rulesDir]),
  ];
  return {
    id,
    group: 'trailhound',
    label,
    threads: threads === undefined ? '1 (no --threads option)' : String(threads),
    command: { command: process.execPath, args, cwd: REPO },
    check(run, stdout) {
      const bad = failed(label, run);
      if (bad) return bad;
      const { signals, badLines } = parseSignalLines(stdout);
      const result = checkSignals(signals, ctx.corpus.truth, { isCompanionLoaded: ctx.isCompanionLoaded });
      ctx.signalChecks.push(result);
      if (badLines > 0) return { ...result, ok: false, details: [...result.details, `${badLines} output line(s) are not signals`] };
      return { ...result, summary: result.summary.replace(/^trailhound/, label) };
    },
  };
}

function rowSpecs(ctx: Context): RowSpec[] {
  const { corpus, listPath, cores } = ctx;
  const m = corpus.manifest;
  const gunzipCheck = (label: string) => (run: Measurement, stdout: string) => {
    const bad = failed(label, run);
    if (bad) return bad;
    const out = json(stdout);
    const ok = out['bytes'] === m.uncompressedBytes && out['files'] === m.files.length;
    return { ok, summary: `${label}: ${String(out['files'])} files, ${String(out['bytes'])} bytes decompressed (expected ${m.files.length}, ${m.uncompressedBytes})`, details: [] };
  };
  const rows: RowSpec[] = [
    {
      id: 'gunzip',
      group: 'gunzip',
      label: 'Node gunzip only',
      threads: '1',
      command: { command: process.execPath, args: [join(PROBES, 'gunzip.js'), '--list', listPath], cwd: REPO },
      check: gunzipCheck('Node gunzip only'),
    },
  ];
  if (cores > 1) {
    rows.push({
      id: 'gunzip-all',
      group: 'gunzip',
      label: `Node gunzip only, ${cores} threads`,
      threads: String(cores),
      command: { command: process.execPath, args: [join(PROBES, 'gunzip.js'), '--list', listPath, '--threads', String(cores)], cwd: REPO },
      check: gunzipCheck(`Node gunzip only, ${cores} threads`),
    });
  }
  rows.push({
    id: 'parse',
    group: 'parse',
    label: 'Node gunzip + JSON.parse',
    threads: '1',
    command: { command: process.execPath, args: [join(PROBES, 'parse.js'), '--list', listPath], cwd: REPO },
    check(run, stdout) {
      const bad = failed('Node gunzip + JSON.parse', run);
      if (bad) return bad;
      const out = json(stdout);
      return { ok: out['records'] === m.records, summary: `Node gunzip + JSON.parse: ${String(out['records'])} records parsed (expected ${m.records})`, details: [] };
    },
  });
  if (ctx.trailhoundThreads) {
    rows.push(trailhoundRow(ctx, 'trailhound-1', 'trailhound scan, 1 worker', 1));
    rows.push(trailhoundRow(ctx, 'trailhound-all', `trailhound scan, ${cores} workers`, cores));
    rows.push(trailhoundRow(ctx, 'trailhound-lean', `trailhound scan, ${cores} workers, pack without ${HEAVY_RULE}`, cores, leanRulesDir()));
  } else {
    rows.push(trailhoundRow(ctx, 'trailhound', 'trailhound scan', undefined));
  }
  rows.push({
    id: 'jq',
    group: 'jq',
    label: 'zcat | jq (flagship filter)',
    threads: '1 + zcat',
    command: { command: 'sh', args: ['-c', 'xargs -d "\\n" -a "$0" zcat -- | jq -r "$1"', listPath, JQ_FILTER], cwd: REPO },
    check(run, stdout) {
      const bad = failed('zcat | jq', run);
      if (bad) return bad;
      return checkEventIds('zcat | jq', stdout.split('\n').filter(Boolean), corpus.truth);
    },
  });
  const glob = join(corpus.logsDir, '**', '*.json.gz');
  for (const [id, threads, label] of [
    ['duckdb-1', '1', 'DuckDB read_json, typed, 1 thread'],
    ['duckdb-all', 'all', `DuckDB read_json, typed, ${cores} threads`],
  ] as const) {
    rows.push({
      id,
      group: 'duckdb',
      label,
      threads: threads === 'all' ? String(cores) : threads,
      command: { command: process.execPath, args: [join(PROBES, 'duckdb.js'), '--glob', glob, '--threads', threads], cwd: REPO },
      check(run, stdout) {
        const bad = failed(label, run);
        if (bad) return bad;
        const out = json(stdout);
        const ids = Array.isArray(out['eventIds']) ? out['eventIds'].map(String) : [];
        const result = checkEventIds(label, ids, corpus.truth);
        const countOk = out['records'] === m.records;
        return {
          ok: result.ok && countOk,
          summary: `${result.summary}; ${String(out['records'])} records read (expected ${m.records})`,
          details: result.details,
        };
      },
    });
  }
  return rows;
}

async function runRow(spec: RowSpec, runs: number, records: number, bytes: number): Promise<RowResult> {
  const wallMs: number[] = [];
  const loads: number[] = [];
  let peak: number | undefined;
  let check: CheckResult | undefined;
  const outputHashes: string[] = [];
  const stdoutPath = join(tmpdir(), `trailhound-bench-${process.pid}-${spec.id}.out`);
  for (let i = 0; i < runs; i++) {
    const run = await measure(spec.command, stdoutPath);
    wallMs.push(run.wallMs);
    loads.push(run.loadBefore);
    if (run.peakRssKiB !== undefined) peak = Math.max(peak ?? 0, run.peakRssKiB);
    let result: CheckResult;
    try {
      const stdout = await readFile(stdoutPath, 'utf8');
      outputHashes.push(createHash('sha256').update(stdout).digest('hex'));
      result = spec.check(run, stdout);
    } catch (error) {
      result = { ok: false, summary: `${spec.label}: output could not be read: ${error instanceof Error ? error.message : String(error)}`, details: [] };
    }
    // Keep the first failure, else the last success.
    if (check === undefined || check.ok) check = result;
    say(`  ${spec.label}: run ${i + 1}/${runs}: ${(run.wallMs / 1000).toFixed(2)} s, ${run.peakRssKiB === undefined ? '?' : (run.peakRssKiB / 1024).toFixed(0)} MiB, load ${run.loadBefore.toFixed(1)}${result.ok ? '' : ` — ${result.summary}`}`);
  }
  const med = median(wallMs);
  return {
    id: spec.id,
    label: spec.label,
    threads: spec.threads,
    wallMs,
    medianMs: med,
    minMs: Math.min(...wallMs),
    recordsPerSecond: records / (med / 1000),
    megabytesPerSecond: bytes / 1e6 / (med / 1000),
    peakRssMiB: peak === undefined ? undefined : peak / 1024,
    loads,
    check,
    outputHashes,
  };
}

/** `scan --threads 1` and `--threads N` must print the same bytes, run after run. */
function sameOutputCheck(rows: readonly RowResult[]): CheckResult | undefined {
  const one = rows.find((r) => r.id === 'trailhound-1' && r.skipped === undefined);
  const all = rows.find((r) => r.id === 'trailhound-all' && r.skipped === undefined);
  if (!one || !all) return undefined;
  const hashes = new Set([...one.outputHashes, ...all.outputHashes]);
  const ok = hashes.size === 1 && one.outputHashes.length > 0 && all.outputHashes.length > 0;
  return {
    ok,
    summary: `trailhound: the output of ${one.label} and ${all.label} is ${ok ? 'byte-identical in every run' : 'NOT byte-identical across threads or runs'}`,
    details: ok ? [] : [`${hashes.size} different outputs among ${one.outputHashes.length + all.outputHashes.length} runs`],
  };
}

function skippedRow(spec: { id: string; label: string; threads: string }, why: string): RowResult {
  return {
    ...spec,
    skipped: why,
    wallMs: [],
    medianMs: Number.NaN,
    minMs: Number.NaN,
    recordsPerSecond: Number.NaN,
    megabytesPerSecond: Number.NaN,
    peakRssMiB: undefined,
    loads: [],
    check: undefined,
    outputHashes: [],
  };
}

async function prepareCorpus(records: number, seed: string): Promise<{ corpus: Corpus; listPath: string }> {
  let lastShown = 0;
  const corpus = await ensureCorpus(corpusParams(records, { seed }), {
    onProgress: (done, total) => {
      const now = Date.now();
      if (now - lastShown > 2000 || done === total) {
        lastShown = now;
        say(`  generating ${formatInt(records)} records: ${done}/${total} files`);
      }
    },
  });
  say(`corpus ${corpus.isReused ? 'reused' : 'generated'}: ${corpus.dir} (${formatInt(corpus.manifest.records)} records, ${corpus.manifest.files.length} files, ${(corpus.manifest.gzipBytes / 1e6).toFixed(0)} MB gzipped)`);
  const listPath = join(corpus.dir, 'files.txt');
  await writeFile(listPath, corpus.manifest.files.map((f) => join(corpus.dir, f.relPath)).join('\n') + '\n');
  // Warm the page cache, so the first row is not the one that pays for the disk.
  for (const f of corpus.manifest.files) await readFile(join(corpus.dir, f.relPath));
  return { corpus, listPath };
}

function isSelected(only: ReadonlySet<string> | undefined, id: string, group: string): boolean {
  return only === undefined || only.has(id) || only.has(group);
}

function targetsOf(rows: readonly RowResult[], scaling: readonly ScalingRow[] | undefined, cores: number, hasThreads: boolean): Target[] {
  const get = (id: string) => rows.find((r) => r.id === id && r.skipped === undefined);
  const all = get(hasThreads ? 'trailhound-all' : 'trailhound');
  const one = get(hasThreads ? 'trailhound-1' : 'trailhound');
  const duck = get('duckdb-all');
  const floor = get('gunzip');
  const parse = get('parse');
  const rate = (r: RowResult | undefined) => (r ? `${formatInt(r.recordsPerSecond)} records/s` : 'not measured');
  const verdict = (ok: boolean | undefined): Target['verdict'] => (ok === undefined ? 'not measured' : ok ? 'met' : 'not met');
  const allLabel = hasThreads ? `all cores (${cores} workers)` : 'all cores (no --threads yet: the single-threaded scan)';
  const out: Target[] = [
    {
      name: `full pack, ${allLabel}, ≥ 1.25 × DuckDB (all threads)`,
      required: duck ? `≥ ${formatInt(1.25 * duck.recordsPerSecond)} records/s` : 'DuckDB not measured',
      measured: `${rate(all)}${all && duck ? ` (${(all.recordsPerSecond / duck.recordsPerSecond).toFixed(2)}×)` : ''}`,
      verdict: verdict(all && duck ? all.recordsPerSecond >= 1.25 * duck.recordsPerSecond : undefined),
    },
    {
      name: `full pack, ${allLabel}, ≥ 45% of the gunzip floor × ${cores} cores`,
      required: floor ? `≥ ${formatInt(0.45 * floor.recordsPerSecond * cores)} records/s` : 'gunzip not measured',
      measured: `${rate(all)}${all && floor ? ` (${((100 * all.recordsPerSecond) / (floor.recordsPerSecond * cores)).toFixed(0)}%)` : ''}`,
      verdict: verdict(all && floor ? all.recordsPerSecond >= 0.45 * floor.recordsPerSecond * cores : undefined),
    },
    {
      name: 'one worker ≥ 2 × gunzip + JSON.parse',
      required: parse ? `≥ ${formatInt(2 * parse.recordsPerSecond)} records/s` : 'parse not measured',
      measured: `${rate(one)}${one && parse ? ` (${(one.recordsPerSecond / parse.recordsPerSecond).toFixed(2)}×)` : ''}`,
      verdict: verdict(one && parse ? one.recordsPerSecond >= 2 * parse.recordsPerSecond : undefined),
    },
  ];
  // The full pack's runs (not the lean row, which leaves a rule out).
  const rss = [...rows.filter((r) => r.id.startsWith('trailhound') && r.id !== 'trailhound-lean' && r.skipped === undefined), ...(scaling ?? [])]
    .map((r) => r.peakRssMiB)
    .filter((v): v is number => v !== undefined);
  out.push({
    name: 'peak RSS under 300 MB, whatever the corpus size',
    required: '< 300 MB (286 MiB)',
    measured: rss.length > 0 ? `${Math.max(...rss).toFixed(0)} MiB (largest trailhound run${scaling ? ', scaling runs included' : ''})` : 'not measured',
    verdict: verdict(rss.length > 0 ? Math.max(...rss) * 1.048576 < 300 : undefined),
  });
  if (scaling && scaling.length >= 2) {
    const first = scaling[0];
    const last = scaling[scaling.length - 1];
    const perRecord = scaling.map((s) => s.medianMs / s.records);
    const spread = Math.max(...perRecord) / Math.min(...perRecord);
    out.push({
      name: 'time linear in input (time per record within 25% across sizes)',
      required: 'max/min time per record ≤ 1.25',
      measured: `${spread.toFixed(2)} (${first ? formatInt(first.records) : '?'} → ${last ? formatInt(last.records) : '?'} records)`,
      verdict: verdict(spread <= 1.25),
    });
  } else {
    out.push({ name: 'time linear in input', required: 'scaling table', measured: 'not measured (run with --scaling)', verdict: 'not measured' });
  }
  return out;
}

async function main(argv: readonly string[]): Promise<number> {
  // `npm run bench -- --store [options]`: the store benchmark (bench/store/run.ts) instead, with its options.
  if (argv[0] === '--store') {
    const store = spawnSync(process.execPath, ['--import', 'tsx', join(REPO, 'bench', 'store', 'run.ts'), ...argv.slice(1)], { cwd: REPO, stdio: 'inherit' });
    return store.status ?? 1;
  }
  let options: Options | 'help';
  try {
    options = parseOptions(argv);
  } catch (error) {
    process.stderr.write(`bench: ${error instanceof Error ? error.message : String(error)}\n\n${HELP}`);
    return 1;
  }
  if (options === 'help') {
    process.stdout.write(HELP);
    return 0;
  }
  const loadAtStart = loadavg();
  const cores = availableParallelism();
  const buildNote = options.isBuild ? build() : 'dist/ as found (--no-build)';
  const scanHelp = spawnSync(process.execPath, [join(REPO, 'bin', 'trailhound.js'), 'scan', '--help'], { cwd: REPO, encoding: 'utf8' });
  const trailhoundThreads = /--threads\b/.test(`${scanHelp.stdout}`);
  const jqVersion = commandOutput('jq', ['--version']);
  const isCompanionLoaded = isCompanionInPack();

  const { corpus, listPath } = await prepareCorpus(options.records, options.seed);
  const ctx: Context = { corpus, listPath, cores, trailhoundThreads, isCompanionLoaded, signalChecks: [] };
  const rows: RowResult[] = [];
  const checks: CheckResult[] = [];
  const notes: string[] = [];
  if (!trailhoundThreads) notes.push('`trailhound scan` has no `--threads` option yet (worker threads are not implemented): it ran once per run, single-threaded, and stands for both the one-worker and the all-cores targets.');
  notes.push(
    'Every row is a separate process started for each run; wall time includes its start-up (and, for trailhound, loading and compiling the rule pack). The files are read from a warm page cache. MB/s is uncompressed JSON.',
  );
  let duckdbVersion: string | undefined;
  for (const spec of rowSpecs(ctx)) {
    if (!isSelected(options.only, spec.id, spec.group)) continue;
    if (spec.group === 'jq' && jqVersion === undefined) {
      rows.push(skippedRow(spec, 'jq is not installed'));
      continue;
    }
    say(`measuring ${spec.label} (${options.runs} run(s))…`);
    const row = await runRow(spec, options.runs, corpus.manifest.records, corpus.manifest.uncompressedBytes);
    rows.push(row);
    if (row.check) checks.push(row.check);
    if (spec.group === 'duckdb' && duckdbVersion === undefined) {
      try {
        const out = json(await readFile(join(tmpdir(), `trailhound-bench-${process.pid}-${spec.id}.out`), 'utf8'));
        if (typeof out['version'] === 'string') duckdbVersion = out['version'];
      } catch {
        // the check above reports the failure
      }
    }
  }
  const sameOutput = sameOutputCheck(rows);
  if (sameOutput) checks.push(sameOutput);
  notes.push(`The jq and DuckDB rows select: ${corpus.truth.flagshipFilter}. Their check compares the selected eventIDs with truth.json.`);

  let scaling: ScalingRow[] | undefined;
  if (options.isScaling) {
    scaling = [];
    const sizes = [...new Set([Math.round(options.records / 10), Math.round((options.records * 3) / 10), options.records])].filter((n) => n >= 1);
    for (const records of sizes) {
      const isMain = records === options.records;
      const sized = isMain ? { corpus, listPath } : await prepareCorpus(records, options.seed);
      const sizedCtx: Context = { ...ctx, corpus: sized.corpus, listPath: sized.listPath };
      const spec = trailhoundThreads ? trailhoundRow(sizedCtx, 'trailhound-all', `trailhound scan, ${cores} workers`, cores) : trailhoundRow(sizedCtx, 'trailhound', 'trailhound scan', undefined);
      const measured = isMain ? rows.find((r) => r.id === spec.id && r.skipped === undefined) : undefined;
      say(`scaling: ${formatInt(records)} records${measured ? ' (measured above)' : ''}…`);
      const row = measured ?? (await runRow(spec, options.runs, sized.corpus.manifest.records, sized.corpus.manifest.uncompressedBytes));
      if (!measured && row.check) checks.push({ ...row.check, summary: `scaling ${formatInt(records)}: ${row.check.summary}` });
      scaling.push({ records, label: spec.label, medianMs: row.medianMs, minMs: row.minMs, recordsPerSecond: row.recordsPerSecond, peakRssMiB: row.peakRssMiB, loads: row.loads, check: row.check });
    }
  }

  const otherSignals = ctx.signalChecks[ctx.signalChecks.length - 1]?.otherSignals ?? {};
  const gitCommit = commandOutput('git', ['rev-parse', '--short', 'HEAD']) ?? 'unknown commit';
  const dirty = commandOutput('git', ['status', '--porcelain'])?.split('\n').filter(Boolean).length ?? 0;
  const machine: MachineInfo = {
    cpu: cpuModel(),
    cores,
    memoryGiB: totalmem() / 1024 ** 3,
    os: `${type()} ${release()}`,
    node: process.version,
    duckdb: duckdbVersion ?? `@duckdb/node-api ${duckdbPackageVersion()}`,
    jq: jqVersion ?? 'not installed',
    peakRssSource: hasGnuTime() ? 'GNU time (/usr/bin/time -f %M)' : '/proc/<pid>/status VmHWM, polled every 20 ms',
    commit: `commit ${gitCommit}${dirty > 0 ? ` with ${dirty} uncommitted change(s) in the working tree` : ''}`,
  };
  const report = renderReport({
    date: new Date().toISOString(),
    command: `npm run bench -- ${argv.join(' ')}`.trim(),
    runs: options.runs,
    machine,
    build: buildNote,
    corpus: { manifest: corpus.manifest, truth: corpus.truth, isReused: corpus.isReused, dir: corpus.dir },
    rows,
    notes,
    checks,
    otherSignals,
    targets: targetsOf(rows, scaling, cores, trailhoundThreads),
    scaling,
    loadAtStart,
    loadAtEnd: loadavg(),
  });
  process.stdout.write(report);
  await writeFile(RESULTS_PATH, report);
  for (const row of rows) await rm(join(tmpdir(), `trailhound-bench-${process.pid}-${row.id}.out`), { force: true });
  say(`\nwrote ${RESULTS_PATH}`);
  const failures = checks.filter((c) => !c.ok);
  if (failures.length > 0) {
    say(`\nBENCH CHECK FAILED: ${failures.length} tool(s) did not find exactly the planted events:`);
    for (const f of failures) {
      say(`  ${f.summary}`);
      for (const d of f.details) say(`    ${d}`);
    }
    return 1;
  }
  return 0;
}

process.exitCode = await main(process.argv.slice(2));
