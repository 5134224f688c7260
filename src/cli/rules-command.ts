/**
 * `trailhound rules list | validate | test`: look at, check and test detection rules.
 * Rule tests and base records are described in docs/rule-tests.md.
 */
import { InvalidArgumentError, Option } from 'commander';
import type { Command } from 'commander';
import { readdir, readFile, realpath, stat } from 'node:fs/promises';
import { dirname, join, relative } from 'node:path';
import { formatDiagnostic, severityRank } from '../core/types.js';
import type { Diagnostic, Severity } from '../core/types.js';
import { createEngine } from '../engine/engine.js';
import type { CompiledRule } from '../rules/model.js';
import { checkRuleTestBases, loadRuleTestBases, runRuleTests } from '../rules/tests.js';
import type { LoadedRuleTestBases, RuleTestResult } from '../rules/tests.js';
import type { CliIo } from './main.js';
import { escapeForTerminal } from './render.js';
import { BASES_FOLDER, BUILTIN_RULES_DIR, loadRuleFiles } from './rule-files.js';
import type { LoadedRuleSet } from './rule-files.js';

const EXIT_OK = 0;
const EXIT_ERROR = 1;

type ListFormat = 'table' | 'json';

const LIST_HELP = `
Without PATH, lists the built-in rules. Folders are read recursively for .yaml, .yml and .json
rule files; bases/ folders (records for rule tests) are skipped. SEVERITY is the highest severity
of the rule's cases; TACTIC and TECHNIQUE come from its tactic:… and technique:… tags.
Rule errors are printed on stderr (exit 1); the rules that loaded are listed all the same.

Examples:
  trailhound rules list
  trailhound rules list my-rules/
  trailhound rules list --format json | jq -r '.[] | select(.isEnabled) | .id'
`;

const VALIDATE_HELP = `
Without PATH, checks the built-in rules. Reports every problem of every file at once: rule
fields, queries, conditions, templates, tests and the base records tests name. Each line gives
the file:line:column, the severity, a stable code (docs/rule-format.md, docs/rule-tests.md), the
path inside the document and a hint.

Exit status: 0 no errors (warnings allowed), 1 at least one error.

Examples:
  trailhound rules validate
  trailhound rules validate my-rules/
  trailhound rules validate my-rules/new-rule.yaml --format json
`;

const TEST_HELP = `
Without PATH, tests the built-in rules. Each rule's tests (its file's tests: list) run the rule
alone over events built from base records: the built-in rules/bases/, every bases/ folder inside
the given folders, and the bases/ folder beside a given file. See docs/rule-tests.md.

--minimum-tests N makes every rule need at least N tests; from N = 2 on, at least one of them
must expect a signal and one expect none. A rule short of that counts as a failure.

Exit status: 0 every test passed, 1 a test failed, a rule is short of --minimum-tests, or a rule,
test or base file has an error.

Examples:
  trailhound rules test
  trailhound rules test my-rules/ --minimum-tests 2
  trailhound rules test rules/cloudtrail-logging-stopped.yaml
`;

function pathsOrBuiltin(paths: readonly string[]): string[] {
  return paths.length > 0 ? [...paths] : [BUILTIN_RULES_DIR];
}

function write(stream: NodeJS.WritableStream, lines: readonly string[]): void {
  if (lines.length > 0) stream.write(`${lines.join('\n')}\n`);
}

/** A diagnostic as safe terminal lines (file contents can hold control characters). */
function diagnosticText(d: Diagnostic): string {
  return formatDiagnostic(d).split('\n').map(escapeForTerminal).join('\n');
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

function countErrors(diagnostics: readonly Diagnostic[]): number {
  return diagnostics.filter((d) => d.severity === 'error').length;
}

// ---------------------------------------------------------------------------------------------
// list

export interface RuleListEntry {
  readonly id: string;
  readonly name: string;
  /** Highest severity of the rule's cases. */
  readonly severity: Severity | null;
  readonly tactics: readonly string[];
  readonly techniques: readonly string[];
  readonly isEnabled: boolean;
  readonly tags: readonly string[];
  readonly tests: number;
  readonly file: string;
}

function tagValues(tags: readonly string[], key: string): string[] {
  const prefix = `${key}:`;
  return tags.filter((t) => t.startsWith(prefix)).map((t) => t.slice(prefix.length));
}

export function ruleListEntry(rule: CompiledRule): RuleListEntry {
  let severity: Severity | null = null;
  for (const c of rule.cases) if (severity === null || severityRank(c.status) > severityRank(severity)) severity = c.status;
  return {
    id: rule.id,
    name: rule.name,
    severity,
    tactics: tagValues(rule.tags, 'tactic'),
    techniques: tagValues(rule.tags, 'technique'),
    isEnabled: rule.isEnabled,
    tags: rule.tags,
    tests: rule.tests?.length ?? 0,
    file: rule.file,
  };
}

function truncate(text: string, width: number): string {
  return text.length > width ? `${text.slice(0, Math.max(0, width - 1))}…` : text;
}

/** A table of rules that fits `columns` characters by shrinking the name column first. */
export function renderRuleTable(entries: readonly RuleListEntry[], columns = 160): string {
  if (entries.length === 0) return 'No rules.\n';
  const header = ['ID', 'NAME', 'SEVERITY', 'TACTIC', 'TECHNIQUE', 'ENABLED'];
  const rows = entries.map((e) => [e.id, e.name, e.severity ?? '-', e.tactics.join(', ') || '-', e.techniques.join(', ') || '-', e.isEnabled ? 'yes' : 'no'].map(escapeForTerminal));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  const gap = 2;
  const total = (): number => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  for (const i of [1, 4, 3]) {
    const excess = total() - columns;
    if (excess <= 0) break;
    widths[i] = Math.max(header[i]?.length ?? 0, 12, (widths[i] ?? 0) - excess);
  }
  const line = (cells: readonly string[]): string =>
    cells
      .map((c, i) => truncate(c, widths[i] ?? c.length).padEnd(widths[i] ?? 0))
      .join(' '.repeat(gap))
      .trimEnd();
  return `${[line(header), ...rows.map(line)].join('\n')}\n`;
}

async function listCommand(paths: readonly string[], flags: { format?: ListFormat }, io: CliIo): Promise<number> {
  const ruleSet = await loadRuleFiles(pathsOrBuiltin(paths));
  write(io.stderr, ruleSet.diagnostics.map(diagnosticText));
  const entries = ruleSet.rules.map(ruleListEntry);
  if (flags.format === 'json') io.stdout.write(`${JSON.stringify(entries, null, 2)}\n`);
  else io.stdout.write(renderRuleTable(entries, io.stdout.columns ?? 160));
  const errors = countErrors(ruleSet.diagnostics);
  if (errors > 0) io.stderr.write(`trailhound: ${plural(errors, 'rule error')}; run trailhound rules validate for details\n`);
  return errors > 0 ? EXIT_ERROR : EXIT_OK;
}

// ---------------------------------------------------------------------------------------------
// Base records

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

/** The base folders for `paths`: built-in first, then those inside the given folders, then beside given files. */
async function baseFoldersFor(paths: readonly string[], ruleSet: LoadedRuleSet): Promise<string[]> {
  const candidates = [join(BUILTIN_RULES_DIR, BASES_FOLDER), ...ruleSet.baseFolders];
  for (const path of paths) {
    if (!(await isDirectory(path))) candidates.push(join(dirname(path), BASES_FOLDER));
  }
  const seen = new Set<string>();
  const folders: string[] = [];
  for (const folder of candidates) {
    if (!(await isDirectory(folder))) continue;
    const real = await realpath(folder);
    if (seen.has(real)) continue;
    seen.add(real);
    folders.push(folder);
  }
  return folders;
}

async function loadBases(paths: readonly string[], ruleSet: LoadedRuleSet): Promise<LoadedRuleTestBases> {
  const files: { path: string; text: string }[] = [];
  const unreadable: Diagnostic[] = [];
  for (const folder of await baseFoldersFor(paths, ruleSet)) {
    const entries = (await readdir(folder)).filter((e) => e.toLowerCase().endsWith('.json') && !e.startsWith('.')).sort();
    for (const entry of entries) {
      const file = join(folder, entry);
      const shown = relative(process.cwd(), file) || file;
      try {
        files.push({ path: shown, text: await readFile(file, 'utf8') });
      } catch (error) {
        unreadable.push({ code: 'E_RULE_TEST_BASE_FILE', severity: 'error', file: shown, message: `cannot read base file: ${(error as Error).message}`, hint: 'check the file permissions' });
      }
    }
  }
  const loaded = loadRuleTestBases(files);
  return { ...loaded, diagnostics: [...unreadable, ...loaded.diagnostics] };
}

// ---------------------------------------------------------------------------------------------
// validate

async function validateCommand(paths: readonly string[], flags: { format?: 'text' | 'json' }, io: CliIo): Promise<number> {
  const rulePaths = pathsOrBuiltin(paths);
  const ruleSet = await loadRuleFiles(rulePaths);
  const bases = await loadBases(rulePaths, ruleSet);
  const diagnostics = [...ruleSet.diagnostics, ...bases.diagnostics, ...checkRuleTestBases(ruleSet.testSuites, bases.bases)];
  const errors = countErrors(diagnostics);
  const warnings = diagnostics.length - errors;
  const tests = ruleSet.rules.reduce((n, r) => n + (r.tests?.length ?? 0), 0);
  if (flags.format === 'json') {
    io.stdout.write(`${JSON.stringify({ files: ruleSet.files.length, rules: ruleSet.rules.length, tests, bases: bases.bases.size, errors, warnings, diagnostics }, null, 2)}\n`);
  } else {
    write(io.stdout, diagnostics.map(diagnosticText));
    io.stdout.write(
      `${plural(ruleSet.files.length, 'file')}, ${plural(ruleSet.rules.length, 'rule')}, ${plural(tests, 'test')}, ${plural(bases.bases.size, 'base record')}: ${plural(errors, 'error')}, ${plural(warnings, 'warning')}\n`,
    );
  }
  return errors > 0 ? EXIT_ERROR : EXIT_OK;
}

// ---------------------------------------------------------------------------------------------
// test

/** Why a rule falls short of `--minimum-tests n`, or undefined when it does not. */
export function minimumTestsShortfall(rule: CompiledRule, n: number): string | undefined {
  const tests = rule.tests ?? [];
  const problems: string[] = [];
  if (tests.length < n) problems.push(`has ${plural(tests.length, 'test')}, needs ${n}`);
  if (n >= 2) {
    if (!tests.some((t) => t.expect === 'signal')) problems.push('no test expects a signal');
    if (!tests.some((t) => t.expect === 'none')) problems.push('no test expects none');
  }
  return problems.length > 0 ? problems.join('; ') : undefined;
}

function where(rule: CompiledRule, position: { line: number; column: number } | undefined): string {
  return position !== undefined ? `${rule.file}:${position.line}:${position.column}` : rule.file;
}

function resultLines(rule: CompiledRule, result: RuleTestResult, position: { line: number; column: number } | undefined): string[] {
  const head = `${result.passed ? 'PASS' : 'FAIL'}  ${rule.id} › ${result.name}`;
  if (result.passed) return [escapeForTerminal(head)];
  return [escapeForTerminal(`${head}  (${where(rule, position)})`), ...result.failures.map((f) => `      - ${escapeForTerminal(f)}`)];
}

interface TestFlags {
  minimumTests?: number;
}

async function testCommand(paths: readonly string[], flags: TestFlags, io: CliIo): Promise<number> {
  const rulePaths = pathsOrBuiltin(paths);
  const ruleSet = await loadRuleFiles(rulePaths);
  const bases = await loadBases(rulePaths, ruleSet);
  const diagnostics = [...ruleSet.diagnostics, ...bases.diagnostics, ...checkRuleTestBases(ruleSet.testSuites, bases.bases)];
  write(io.stderr, diagnostics.map(diagnosticText));
  const errors = countErrors(diagnostics);

  let passed = 0;
  let failed = 0;
  let shortRules = 0;
  for (const rule of ruleSet.rules) {
    const tests = rule.tests ?? [];
    const results = runRuleTests(rule, bases.bases, createEngine);
    results.forEach((result, i) => {
      if (result.passed) passed++;
      else failed++;
      write(io.stdout, resultLines(rule, result, tests[i]?.position));
    });
    if (flags.minimumTests !== undefined) {
      const shortfall = minimumTestsShortfall(rule, flags.minimumTests);
      if (shortfall !== undefined) {
        shortRules++;
        write(io.stdout, [escapeForTerminal(`FAIL  ${rule.id} › --minimum-tests ${flags.minimumTests}: ${shortfall}  (${rule.file})`)]);
      }
    }
  }

  const parts = [`${plural(passed + failed, 'test')} of ${plural(ruleSet.rules.length, 'rule')}: ${passed} passed, ${failed} failed`];
  if (flags.minimumTests !== undefined) parts.push(`${plural(shortRules, 'rule')} short of --minimum-tests ${flags.minimumTests}`);
  if (errors > 0) parts.push(`${plural(errors, 'error')} in rule, test or base files (above)`);
  io.stdout.write(`${parts.join('; ')}\n`);
  return failed > 0 || shortRules > 0 || errors > 0 ? EXIT_ERROR : EXIT_OK;
}

function parseCount(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('expected a whole number, e.g. 2');
  return Number(value);
}

/** Add `rules list|validate|test` to the program. */
export function registerRulesCommand(program: Command, io: CliIo, setExit: (code: number) => void): void {
  const rules = program
    .command('rules')
    .summary('list, validate and test detection rules')
    .description('Look at, check and test detection rules: the built-in ones, or the files and folders given.')
    .addHelpText(
      'after',
      `
Examples:
  trailhound rules list
  trailhound rules validate my-rules/
  trailhound rules test --minimum-tests 2
`,
    );

  rules
    .command('list')
    .description('List rules: id, name, highest severity, MITRE tactic and technique, enabled.')
    .argument('[paths...]', 'rule files or folders (default: the built-in rules)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['table', 'json']).default('table'))
    .addHelpText('after', LIST_HELP)
    .action(async (paths: string[], flags: { format?: ListFormat }) => {
      setExit(await listCommand(paths, flags, io));
    });

  rules
    .command('validate')
    .description('Check rules, their tests and base records; print every problem with its code and position.')
    .argument('[paths...]', 'rule files or folders (default: the built-in rules)')
    .addOption(new Option('-f, --format <format>', 'output format').choices(['text', 'json']).default('text'))
    .addHelpText('after', VALIDATE_HELP)
    .action(async (paths: string[], flags: { format?: 'text' | 'json' }) => {
      setExit(await validateCommand(paths, flags, io));
    });

  rules
    .command('test')
    .description("Run the rules' tests and print PASS or FAIL for each, with what differed.")
    .argument('[paths...]', 'rule files or folders (default: the built-in rules)')
    .option('--minimum-tests <n>', 'every rule needs at least n tests (from 2: one expecting a signal, one expecting none)', parseCount)
    .addHelpText('after', TEST_HELP)
    .action(async (paths: string[], flags: TestFlags) => {
      setExit(await testCommand(paths, flags, io));
    });
}
