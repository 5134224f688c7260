import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { requiredValues } from '../query/analyse.js';
import { compileQueryOrThrow } from '../query/compile.js';
import { extendQuery } from './query-extension.js';

const QUERY = compileQueryOrThrow('source:cloudtrail @evt.name:(StopInstances OR StartInstances)');
const event = (name: string, type: string) => ({ source: 'cloudtrail', evt: { name }, userIdentity: { type } });

describe('extendQuery', () => {
  it.each([
    { name: 'an empty extension', extension: '' },
    { name: 'a blank extension', extension: '   ' },
  ])('gives the query back unchanged for $name', ({ extension }) => {
    const result = extendQuery(QUERY, extension);
    expect(result.ok && result.value).toBe(QUERY);
  });

  it.each([
    { name: 'the query and the extension', fields: event('StopInstances', 'IAMUser'), expected: true },
    { name: 'the query but not the extension', fields: event('StopInstances', 'AWSService'), expected: false },
    { name: 'the extension but not the query', fields: event('RunInstances', 'IAMUser'), expected: false },
  ])('matches an event that matches $name: $expected', ({ fields, expected }) => {
    const result = extendQuery(QUERY, '-@userIdentity.type:AWSService');
    expect(result.ok && result.value.matches(fields)).toBe(expected);
  });

  it('shows both parts in its text and keeps the event names for the rule index', () => {
    const result = extendQuery(QUERY, '-@userIdentity.type:AWSService');
    if (!result.ok) throw new Error('expected the extension to compile');
    expect(result.value.text).toBe('(source:cloudtrail @evt.name:(StopInstances OR StartInstances)) (-@userIdentity.type:AWSService)');
    expect([...(requiredValues(result.value.ast, 'evt.name') ?? [])].sort()).toEqual(['StartInstances', 'StopInstances']);
  });

  it('fails with E_QUERY_SYNTAX positioned in the extension', () => {
    const result = extendQuery(QUERY, 'x @a:(b');
    expect(result.ok).toBe(false);
    expect(result.diagnostics[0]?.code).toBe('E_QUERY_SYNTAX');
    expect(result.diagnostics[0]?.position?.line).toBe(1);
  });

  it('is the AND of the two queries on any event', () => {
    const extension = compileQueryOrThrow('-@userIdentity.type:AWSService');
    const result = extendQuery(QUERY, '-@userIdentity.type:AWSService');
    if (!result.ok) throw new Error('expected the extension to compile');
    fc.assert(
      fc.property(fc.constantFrom('StopInstances', 'StartInstances', 'RunInstances'), fc.constantFrom('IAMUser', 'AWSService', 'Root'), (name, type) => {
        const fields = event(name, type);
        expect(result.value.matches(fields)).toBe(QUERY.matches(fields) && extension.matches(fields));
      }),
    );
  });
});
