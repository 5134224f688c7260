import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { FIELDS_DOC_PATH, renderFieldsDoc } from '../../scripts/gen-docs.js';
import { FIELD_CATALOGUE } from './catalogue.js';

describe('docs/fields.md', () => {
  it('is exactly what `npm run docs` generates from the catalogue (run it after changing the catalogue)', () => {
    expect(readFileSync(FIELDS_DOC_PATH, 'utf8')).toBe(renderFieldsDoc());
  });

  it.each(FIELD_CATALOGUE.map((spec) => ({ path: spec.path, written: spec.isReserved ? `| \`${spec.path}\` |` : `| \`@${spec.path}\` |` })))('has a row for $path', ({ written }) => {
    expect(renderFieldsDoc()).toContain(written);
  });

  it('explains the host choice', () => {
    expect(renderFieldsDoc()).toContain('### `host`: the instance acted on');
  });
});
