import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { extname, isAbsolute, join, relative, resolve } from 'node:path';
import type { Diagnostic } from '../core/types.js';
import { loadRulesWithTests } from '../rules/tests.js';
import type { RuleTestSuite } from '../rules/tests.js';
import type { CompiledRule } from '../rules/model.js';

const RULE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The folder of built-in rules shipped with the package (`rules/` at the package root). */
export const BUILTIN_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

/** True when a rule's `file` (as loadRuleFiles names it: relative to the working directory) is a built-in rule. */
export function isBuiltinRuleFile(file: string): boolean {
  const rel = relative(BUILTIN_RULES_DIR, resolve(file));
  return rel !== '' && !rel.startsWith('..') && !isAbsolute(rel);
}

/** Folders of base records for rule tests (docs/rule-tests.md): not rules, so the rule walk skips them. */
export const BASES_FOLDER = 'bases';

async function collect(path: string, out: string[], diagnostics: Diagnostic[], isTopLevel: boolean, baseFolders: string[]): Promise<void> {
  let info;
  try {
    info = await stat(path);
  } catch (error) {
    diagnostics.push({ code: 'E_RULE_PATH', severity: 'error', file: path, message: `cannot read rule path: ${(error as Error).message}`, hint: 'check the path given to -r/--rules' });
    return;
  }
  if (info.isDirectory()) {
    const entries = (await readdir(path)).sort();
    for (const entry of entries) {
      if (entry.startsWith('.')) continue;
      const child = join(path, entry);
      if (entry === BASES_FOLDER && (await isDirectory(child))) {
        baseFolders.push(child);
        continue;
      }
      await collect(child, out, diagnostics, false, baseFolders);
    }
  } else if (isTopLevel || RULE_EXTENSIONS.has(extname(path).toLowerCase())) {
    out.push(path);
  }
}

async function isDirectory(path: string): Promise<boolean> {
  try {
    return (await stat(path)).isDirectory();
  } catch {
    return false;
  }
}

export interface LoadedRuleSet {
  readonly rules: CompiledRule[];
  readonly diagnostics: Diagnostic[];
  /** The rule files read, as shown in diagnostics. */
  readonly files: string[];
  /** `bases/` folders found inside the given folders (skipped by the rule walk). */
  readonly baseFolders: string[];
  /** The checked tests of every rule document, also of rules left out for an error. */
  readonly testSuites: RuleTestSuite[];
}

/**
 * Read rule files (files, or folders walked for .yaml/.yml/.json, skipping `bases/` folders) and
 * compile them with their tests. File names in diagnostics are shown relative to the working directory.
 */
export async function loadRuleFiles(paths: readonly string[]): Promise<LoadedRuleSet> {
  const diagnostics: Diagnostic[] = [];
  const files: string[] = [];
  const baseFolders: string[] = [];
  for (const p of paths) await collect(p, files, diagnostics, true, baseFolders);
  const texts: { path: string; text: string }[] = [];
  for (const file of files) {
    try {
      texts.push({ path: relative(process.cwd(), file) || file, text: await readFile(file, 'utf8') });
    } catch (error) {
      diagnostics.push({ code: 'E_RULE_PATH', severity: 'error', file, message: `cannot read rule file: ${(error as Error).message}` });
    }
  }
  const loaded = loadRulesWithTests(texts);
  return { rules: loaded.rules, diagnostics: [...diagnostics, ...loaded.diagnostics], files: texts.map((t) => t.path), baseFolders, testSuites: loaded.testSuites };
}
