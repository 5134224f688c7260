import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { loadRules } from '../../src/rules/load.js';
import { REPO_ROOT } from '../support/detect.js';

function yamlBlocks(markdown: string): string[] {
  return [...markdown.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1] ?? '');
}

describe('rules shown in the docs', () => {
  const docs = ['README.md', 'docs/rule-format.md'];
  const cases = docs.flatMap((doc) =>
    yamlBlocks(readFileSync(join(REPO_ROOT, doc), 'utf8'))
      .filter((block) => /^queries:/m.test(block))
      .map((block, i) => [`${doc} rule #${i + 1}`, block] as const),
  );

  it('the README has at least one complete rule example', () => {
    expect(cases.some(([name]) => name.startsWith('README.md'))).toBe(true);
  });

  it.each(cases)('%s loads without errors', (name, block) => {
    const { rules, diagnostics } = loadRules([{ path: `${name.replace(/[^a-z0-9]+/gi, '-')}.yaml`, text: block }]);
    expect(diagnostics.filter((d) => d.severity === 'error')).toEqual([]);
    expect(rules).toHaveLength(1);
  });
});
