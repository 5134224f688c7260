import { describe, expect, it } from 'vitest';
import type { CompiledTemplate, TemplateContext } from './model.js';
import { composeTitle, groupTitleSuffix } from './title.js';

const NAME: CompiledTemplate = { source: 'EC2 user data changed by {{@userIdentity.arn}}', render: (c) => `EC2 user data changed (${c.ruleName})` };

function context(overrides: Partial<TemplateContext> = {}): TemplateContext {
  return { event: null, ruleName: 'r', caseName: '', eventsMatched: 1, firstSeen: '', lastSeen: '', host: null, ...overrides };
}

describe('composeTitle', () => {
  const group = { '@userIdentity.arn': 'arn:aws:iam::309303190113:user/christophe', '@awsRegion': 'us-east-1' };
  it.each([
    { name: 'the name alone', extended: false, ctx: {}, expected: 'EC2 user data changed (r)' },
    { name: 'the case name appended', extended: false, ctx: { caseName: 'attempt' }, expected: 'EC2 user data changed (r) (attempt)' },
    { name: 'no group values without hasExtendedTitle', extended: false, ctx: { group }, expected: 'EC2 user data changed (r)' },
    { name: 'the group values with hasExtendedTitle', extended: true, ctx: { group }, expected: 'EC2 user data changed (r) [@userIdentity.arn: arn:aws:iam::309303190113:user/christophe, @awsRegion: us-east-1]' },
    { name: 'case name then group values', extended: true, ctx: { group, caseName: 'x' }, expected: 'EC2 user data changed (r) (x) [@userIdentity.arn: arn:aws:iam::309303190113:user/christophe, @awsRegion: us-east-1]' },
    { name: 'nothing for an empty group', extended: true, ctx: { group: {} }, expected: 'EC2 user data changed (r)' },
    { name: 'nothing when the engine gives no group', extended: true, ctx: {}, expected: 'EC2 user data changed (r)' },
  ])('renders $name', ({ extended, ctx, expected }) => {
    expect(composeTitle(NAME, { hasExtendedTitle: extended }).render(context(ctx))).toBe(expected);
  });

  it('keeps the source of the name template', () => {
    expect(composeTitle(NAME, { hasExtendedTitle: true }).source).toBe(NAME.source);
  });

  it('inserts group values as escaped text: no forged line, no template syntax', () => {
    expect(groupTitleSuffix({ '@userIdentity.arn': 'evil\n{{#if}}\u001b[2J' })).toBe(' [@userIdentity.arn: evil\\u000a{{#if}}\\u001b[2J]');
  });
});
