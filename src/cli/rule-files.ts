import { readdir, readFile, stat } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, relative, extname } from 'node:path';
import type { Diagnostic } from '../core/types.js';
import { loadRules } from '../rules/load.js';
import type { CompiledRule } from '../rules/model.js';

const RULE_EXTENSIONS = new Set(['.yaml', '.yml', '.json']);

/** The folder of built-in rules shipped with the package (`rules/` at the package root). */
export const BUILTIN_RULES_DIR = fileURLToPath(new URL('../../rules/', import.meta.url));

async function collect(path: string, out: string[], diagnostics: Diagnostic[], isTopLevel: boolean): Promise<void> {
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
      await collect(join(path, entry), out, diagnostics, false);
    }
  } else if (isTopLevel || RULE_EXTENSIONS.has(extname(path).toLowerCase())) {
    out.push(path);
  }
}

export interface LoadedRuleSet {
  readonly rules: CompiledRule[];
  readonly diagnostics: Diagnostic[];
}

/**
 * Read rule files (files, or folders walked for .yaml/.yml/.json) and compile them. File names in
 * diagnostics are shown relative to the working directory.
 */
export async function loadRuleFiles(paths: readonly string[]): Promise<LoadedRuleSet> {
  const diagnostics: Diagnostic[] = [];
  const files: string[] = [];
  for (const p of paths) await collect(p, files, diagnostics, true);
  const texts: { path: string; text: string }[] = [];
  for (const file of files) {
    try {
      texts.push({ path: relative(process.cwd(), file) || file, text: await readFile(file, 'utf8') });
    } catch (error) {
      diagnostics.push({ code: 'E_RULE_PATH', severity: 'error', file, message: `cannot read rule file: ${(error as Error).message}` });
    }
  }
  const loaded = loadRules(texts);
  return { rules: loaded.rules, diagnostics: [...diagnostics, ...loaded.diagnostics] };
}
