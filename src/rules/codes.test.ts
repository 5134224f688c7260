import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { RULE_DIAGNOSTIC_CODES } from './codes.js';

const DOC = readFileSync(new URL('../../docs/rule-format.md', import.meta.url), 'utf8');

/** The rows of the diagnostics table in docs/rule-format.md: code → severity. */
function documentedCodes(): Map<string, string> {
  const rows = new Map<string, string>();
  for (const match of DOC.matchAll(/^\| `([EW]_[A-Z_]+)` \| (error|warning) \|/gm)) {
    if (match[1] !== undefined && match[2] !== undefined) rows.set(match[1], match[2]);
  }
  return rows;
}

describe('diagnostic codes', () => {
  it('are documented in docs/rule-format.md, each with its severity, and nothing else is', () => {
    const documented = documentedCodes();
    const expected = new Map(Object.entries(RULE_DIAGNOSTIC_CODES).map(([code, info]) => [code, info.severity as string]));
    expect(documented).toEqual(expected);
  });

  it.each(Object.entries(RULE_DIAGNOSTIC_CODES))('%s is named after its severity', (code, info) => {
    expect(code.startsWith(info.severity === 'error' ? 'E_' : 'W_')).toBe(true);
  });
});
