import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULE_PACK_DOC_PATH, renderRulePackDoc } from '../../scripts/rule-pack-doc.js';

describe('docs/rule-pack.md', () => {
  it('is what the pack measures now (run `npm run docs` after changing a rule)', () => {
    expect(readFileSync(RULE_PACK_DOC_PATH, 'utf8')).toBe(renderRulePackDoc());
  });
});
