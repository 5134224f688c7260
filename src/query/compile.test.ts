import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { JsonObject } from '../core/types.js';
import { compileQuery, compileQueryOrThrow } from './compile.js';

const STRATUS = new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url);
const VALUE_FORM = new URL('../../test/fixtures/cloudtrail/samples/fp__modify-attribute-value-form-InvalidParameterValue__traildiscover.json', import.meta.url);

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

const stratus: unknown = JSON.parse(readFileSync(STRATUS, 'utf8'));
function realRecord(eventName: string): JsonObject {
  const found = Array.isArray(stratus) ? stratus.filter(isObject).find((r) => r.eventName === eventName) : undefined;
  if (!found) throw new Error(`no ${eventName} in the fixture`);
  return structuredClone(found);
}

function readObject(url: URL): JsonObject {
  const parsed: unknown = JSON.parse(readFileSync(url, 'utf8'));
  if (!isObject(parsed)) throw new Error(`${url.pathname} is not an object`);
  return parsed;
}

/** The real StopInstances record, stopping three instances (the first is the real one). */
function stopOfThree(): JsonObject {
  const stop = realRecord('StopInstances');
  const params = stop.requestParameters;
  if (!isObject(params) || !isObject(params.instancesSet) || !Array.isArray(params.instancesSet.items)) throw new Error('unexpected shape');
  params.instancesSet.items.push({ instanceId: 'i-second' }, { instanceId: 'i-third' });
  return stop;
}

/** A real record with top-level fields replaced (a small patch on a named base record). */
function patched(base: JsonObject, patch: JsonObject): JsonObject {
  return { ...structuredClone(base), ...patch };
}

const stop = stopOfThree();
const modify = realRecord('ModifyInstanceAttribute');
const EVENTS = {
  stop,
  start: realRecord('StartInstances'),
  modify,
  valueForm: readObject(VALUE_FORM),
  /** The stop record as the normaliser would decorate it (reserved attributes are top-level). */
  decorated: patched(stop, { source: 'cloudtrail', service: 'ec2', host: 'Web-1', status: 'Info' }),
  ipv6: patched(stop, { sourceIPAddress: '2001:db8:0:1::5' }),
  mappedIpv4: patched(stop, { sourceIPAddress: '::ffff:10.1.2.3' }),
  serviceCaller: patched(stop, { sourceIPAddress: 'ec2.amazonaws.com' }),
  oddValues: patched(stop, {
    emptyString: '',
    emptyArray: [],
    emptyObject: {},
    nullValue: null,
    nulls: [null, null],
    port: '443',
    flag: 'true',
    literalStar: 'Stop*',
    spaced: 'hello world',
    colon: 'hello:world',
    mixed: ['a', 10, false, { deep: 'x' }],
  }),
} satisfies Record<string, JsonObject>;

type EventName = keyof typeof EVENTS;

function check(query: string, event: EventName): boolean {
  return compileQueryOrThrow(query).matches(EVENTS[event]);
}

describe('attribute terms', () => {
  it.each<[string, string, EventName, boolean]>([
    ['an exact value matches', '@eventName:StopInstances', 'stop', true],
    ['another value does not', '@eventName:StartInstances', 'stop', false],
    ['attribute values are case-sensitive', '@eventName:stopinstances', 'stop', false],
    ['a nested path matches', '@userIdentity.userName:christophe', 'stop', true],
    ['a missing field does not match', '@requestParameters.userData:x', 'stop', false],
    ['a prefix wildcard matches', '@eventName:Stop*', 'stop', true],
    ['a suffix wildcard matches', '@eventName:*Instances', 'stop', true],
    ['? matches one character', '@eventName:St?p*', 'stop', true],
    ['? never matches zero characters', '@eventName:Stop?Instances', 'stop', false],
    ['a wildcard pattern respects case', '@eventName:stop*', 'stop', false],
    ['a quoted phrase is exact', '@requestParameters.userData:"<sensitiveDataRemoved>"', 'modify', true],
    ['wildcards inside quotes are literal (no match)', '@eventName:"Stop*"', 'stop', false],
    ['wildcards inside quotes are literal (match)', '@literalStar:"Stop*"', 'oddValues', true],
    ['an escaped star is literal', '@literalStar:Stop\\*', 'oddValues', true],
    ['an escaped star does not act as a wildcard', '@eventName:Stop\\*', 'stop', false],
    ['escaped colons match an ARN', '@userIdentity.arn:arn\\:aws\\:iam\\:\\:309303190113\\:user/christophe', 'stop', true],
    ['escaped angle brackets match', '@requestParameters.userData:\\<sensitiveDataRemoved\\>', 'modify', true],
    ['an escaped space matches a space', '@spaced:hello\\ world', 'oddValues', true],
    ['a quoted phrase with a space matches', '@spaced:"hello world"', 'oddValues', true],
    ['? matches a space', '@spaced:hello?world', 'oddValues', true],
    ['a quoted colon matches', '@colon:"hello:world"', 'oddValues', true],
    ['an object never equals a scalar', '@requestParameters.instancesSet:x', 'stop', false],
    ['an object never matches a wildcard', '@requestParameters.instancesSet:*x*', 'stop', false],
    ['the value-attribute form is found by its attribute', '@requestParameters.attribute:TrailDiscoverAttribute', 'valueForm', true],
  ])('%s: %s on %s → %s', (_name, query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('array fan-out on a StopInstances record with three instances', () => {
  it.each<[string, string, boolean]>([
    ['the first item matches', '@requestParameters.instancesSet.items.instanceId:i-DDd6c7B0e18F0E35f', true],
    ['the last item matches', '@requestParameters.instancesSet.items.instanceId:i-third', true],
    ['an absent id does not match', '@requestParameters.instancesSet.items.instanceId:i-fourth', false],
    ['a wildcard matches some item', '@requestParameters.instancesSet.items.instanceId:i-s*', true],
    ['negation fails when any item matches', '-@requestParameters.instancesSet.items.instanceId:i-third', false],
    ['each AND-ed value may come from a different item', '@requestParameters.instancesSet.items.instanceId:(i-second i-third)', true],
    ['fan-out reaches a leaf under two arrays', '@responseElements.instancesSet.items.currentState.name:stopping', true],
    ['the items array exists', '@requestParameters.instancesSet.items:*', true],
  ])('%s: %s → %s', (_name, query, expected) => {
    expect(check(query, 'stop')).toBe(expected);
  });
});

describe('numbers, booleans and presence', () => {
  it.each<[string, string, EventName, boolean]>([
    ['a number matches its text', '@responseElements.instancesSet.items.currentState.code:64', 'stop', true],
    ['a number matches a quoted text of it', '@responseElements.instancesSet.items.currentState.code:"64"', 'stop', true],
    ['a number matches an equal numeric text', '@responseElements.instancesSet.items.currentState.code:64.0', 'stop', true],
    ['a number does not match another number', '@responseElements.instancesSet.items.currentState.code:65', 'stop', false],
    ['a number matches a wildcard on its text', '@responseElements.instancesSet.items.currentState.code:6*', 'stop', true],
    ['a numeric string matches a number term', '@port:443', 'oddValues', true],
    ['a boolean matches true', '@requestParameters.force:true', 'stop', true],
    ['a boolean matches "true"', '@requestParameters.force:"true"', 'stop', true],
    ['a boolean does not match false', '@requestParameters.force:false', 'stop', false],
    ['boolean text is case-sensitive', '@requestParameters.force:TRUE', 'stop', false],
    ['the string "true" matches true', '@flag:true', 'oddValues', true],
    ['a boolean inside a mixed array matches', '@mixed:false', 'oddValues', true],
    ['a number inside a mixed array matches', '@mixed:10', 'oddValues', true],
    ['@f:* holds for a string', '@eventName:*', 'stop', true],
    ['@f:* holds for a number', '@responseElements.instancesSet.items.currentState.code:*', 'stop', true],
    ['@f:* holds for a boolean', '@requestParameters.force:*', 'stop', true],
    ['@f:* holds for an object with content', '@requestParameters:*', 'stop', true],
    ['@f:* holds for an empty string', '@emptyString:*', 'oddValues', true],
    ['@f:* fails for an empty array', '@emptyArray:*', 'oddValues', false],
    ['@f:* fails for an empty object', '@emptyObject:*', 'oddValues', false],
    ['@f:* fails for null', '@nullValue:*', 'oddValues', false],
    ['@f:* fails for an array of nulls', '@nulls:*', 'oddValues', false],
    ['@f:* fails for a missing field', '@nope:*', 'oddValues', false],
    ['-@f:* holds for a missing field', '-@nope:*', 'oddValues', true],
    ['-@f:* holds for null', '-@nullValue:*', 'oddValues', true],
    ['a null never matches the text null', '@nullValue:null', 'oddValues', false],
    ['an empty phrase matches an empty string', '@emptyString:""', 'oddValues', true],
    ['an empty phrase does not match a missing field', '@nope:""', 'oddValues', false],
  ])('%s: %s on %s → %s', (_name, query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('reserved attributes compare case-insensitively', () => {
  it.each<[string, EventName, boolean]>([
    ['source:cloudtrail', 'decorated', true],
    ['source:CloudTrail', 'decorated', true],
    ['source:CLOUD*', 'decorated', true],
    ['source:aws', 'decorated', false],
    ['host:web-1', 'decorated', true],
    ['service:EC2', 'decorated', true],
    ['status:info', 'decorated', true],
    ['status:INF?', 'decorated', true],
    ['@source:CloudTrail', 'decorated', false],
    ['@host:Web-1', 'decorated', true],
    ['@host:web-1', 'decorated', false],
    ['source:cloudtrail', 'stop', false],
    ['-source:cloudtrail', 'stop', true],
    ['source:>CLOUD', 'decorated', true],
    ['source:[A TO D]', 'decorated', true],
    ['source:[A TO C]', 'decorated', false],
    ['@source:[A TO D]', 'decorated', false],
  ])('%s on %s → %s', (query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('boolean operators and precedence', () => {
  it.each<[string, string, EventName, boolean]>([
    ['implicit AND needs both', '@eventName:StopInstances @userIdentity.userName:christophe', 'stop', true],
    ['implicit AND fails on one', '@eventName:StopInstances @userIdentity.userName:nobody', 'stop', false],
    ['explicit AND', '@eventName:StopInstances AND @requestParameters.force:true', 'stop', true],
    ['OR needs one', '@eventName:StartInstances OR @eventName:StopInstances', 'stop', true],
    ['OR fails on none', '@eventName:StartInstances OR @eventName:RunInstances', 'stop', false],
    ['AND binds tighter than OR (stop)', '@eventName:StartInstances OR @eventName:StopInstances @userIdentity.userName:nobody', 'stop', false],
    ['AND binds tighter than OR (start)', '@eventName:StartInstances OR @eventName:StopInstances @userIdentity.userName:nobody', 'start', true],
    ['parentheses override precedence', '(@eventName:StartInstances OR @eventName:StopInstances) @userIdentity.userName:christophe', 'stop', true],
    ['NOT binds tighter than AND', 'NOT @eventName:StartInstances @userIdentity.userName:christophe', 'stop', true],
    ['NOT applies to the next term only', 'NOT @eventName:StopInstances OR @userIdentity.userName:christophe', 'stop', true],
    ['NOT of a group negates the group', 'NOT (@eventName:StopInstances OR @eventName:StartInstances)', 'start', false],
    ['- negates', '-@eventName:StopInstances', 'stop', false],
    ['! negates', '!@eventName:StartInstances', 'stop', true],
    ['a negated term passes when the field is missing', '-@requestParameters.userData:x', 'stop', true],
    ['NOT of a missing field passes', 'NOT @missing.field:x', 'stop', true],
    ['double negation is identity', 'NOT NOT @eventName:StopInstances', 'stop', true],
    ['a value list is an OR', '@eventName:(StopInstances OR StartInstances)', 'start', true],
    ['a value list without OR is an AND', '@eventName:(StopInstances StartInstances)', 'stop', false],
    ['a value list can negate', '@eventName:(*Instances -StartInstances)', 'stop', true],
    ['a value list can negate (fail)', '@eventName:(*Instances -StopInstances)', 'stop', false],
    ['empty query matches', '', 'stop', true],
    ['* matches', '*', 'stop', true],
    ['NOT * matches nothing', 'NOT *', 'stop', false],
  ])('%s: %s on %s → %s', (_name, query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('comparisons and ranges', () => {
  const code = '@responseElements.instancesSet.items.currentState.code';
  it.each<[string, string, EventName, boolean]>([
    ['> below', `${code}:>63`, 'stop', true],
    ['> equal', `${code}:>64`, 'stop', false],
    ['>= equal', `${code}:>=64`, 'stop', true],
    ['< above', `${code}:<65`, 'stop', true],
    ['< equal', `${code}:<64`, 'stop', false],
    ['<= equal', `${code}:<=64`, 'stop', true],
    ['numeric, not lexical (9 < 64)', `${code}:>9`, 'stop', true],
    ['a negative bound', `${code}:>-1`, 'stop', true],
    ['a decimal bound', `${code}:<64.5`, 'stop', true],
    ['a numeric string takes part', '@port:>400', 'oddValues', true],
    ['a non-numeric string never compares to a number', '@eventName:>0', 'stop', false],
    ['a boolean never compares', '@requestParameters.force:>0', 'stop', false],
    ['lexical comparison of timestamps (after)', '@eventTime:>2024-08-01T12\\:00\\:00Z', 'stop', true],
    ['lexical comparison of timestamps (before)', '@eventTime:<2024-08-01T12\\:00\\:00Z', 'stop', false],
    ['lexical comparison ignores numbers', `${code}:>A`, 'stop', false],
    ['inclusive range includes the bound', `${code}:[64 TO 80]`, 'stop', true],
    ['exclusive range excludes the bound', `${code}:{64 TO 80}`, 'stop', false],
    ['mixed brackets: inclusive lower', `${code}:[64 TO 80}`, 'stop', true],
    ['mixed brackets: exclusive upper', `${code}:[1 TO 64}`, 'stop', false],
    ['open upper end', `${code}:[64 TO *]`, 'stop', true],
    ['open lower end', `${code}:[* TO 63]`, 'stop', false],
    ['an empty range matches nothing', `${code}:[80 TO 1]`, 'stop', false],
    ['a range matches any item of an array', '@mixed:[5 TO 15]', 'oddValues', true],
    ['lexical inclusive range on a timestamp', '@eventTime:["2024-08-01T12:03:30Z" TO "2024-08-01T12:03:30Z"]', 'stop', true],
    ['lexical exclusive range on a timestamp', '@eventTime:{"2024-08-01T12:03:30Z" TO "2024-08-01T13:00:00Z"}', 'stop', false],
    ['a numeric range on a numeric string', '@port:[443 TO 443]', 'oddValues', true],
  ])('%s: %s on %s → %s', (_name, query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('CIDR()', () => {
  it.each<[string, EventName, boolean]>([
    ['CIDR(@sourceIPAddress, 251.228.0.0/16)', 'stop', true],
    ['CIDR(@sourceIPAddress, 251.228.255.218/32)', 'stop', true],
    ['CIDR(@sourceIPAddress, 10.0.0.0/8)', 'stop', false],
    ['CIDR(@sourceIPAddress, 10.0.0.0/8, 251.0.0.0/8)', 'stop', true],
    ['NOT CIDR(@sourceIPAddress, 10.0.0.0/8)', 'stop', true],
    ['-CIDR(@sourceIPAddress, 251.0.0.0/8)', 'stop', false],
    ['CIDR(@sourceIPAddress, 2001:db8::/32)', 'ipv6', true],
    ['CIDR(@sourceIPAddress, 2001:db8:0:1::/64)', 'ipv6', true],
    ['CIDR(@sourceIPAddress, 2001:db8:0:2::/64)', 'ipv6', false],
    ['CIDR(@sourceIPAddress, 10.0.0.0/8)', 'ipv6', false],
    ['CIDR(@sourceIPAddress, 10.0.0.0/8)', 'mappedIpv4', true],
    ['CIDR(@sourceIPAddress, 0.0.0.0/0)', 'serviceCaller', false],
    ['CIDR(@missing, 0.0.0.0/0)', 'stop', false],
    ['CIDR(@responseElements.instancesSet.items.currentState.code, 0.0.0.0/0)', 'stop', false],
  ])('%s on %s → %s', (query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('free text', () => {
  it.each<[string, string, EventName, boolean]>([
    ['a word found inside a value matches', 'christoph', 'stop', true],
    ['free text is case-insensitive', 'CHRISTOPHE', 'stop', true],
    ['a phrase is searched as a whole', '"sensitiveDataRemoved>"', 'modify', true],
    ['a phrase absent from the event does not match', '"sensitiveDataRemoved"', 'stop', false],
    ['wildcards work inside free text', 'stratus*team', 'stop', true],
    ['wildcards in quotes are literal', '"stratus*team"', 'stop', false],
    ['keys are not searched', 'tlsDetails', 'stop', false],
    ['numbers are searched by their text', '309303190113', 'stop', true],
    ['two words are AND-ed', 'christophe stopping', 'stop', true],
    ['two words are AND-ed (fail)', 'christophe pending', 'stop', false],
    ['*:value matches a whole value', '*:christophe', 'stop', true],
    ['*:value does not match a part', '*:christ', 'stop', false],
    ['*:value with a wildcard', '*:christ*', 'stop', true],
    ['*:value is case-insensitive', '*:StopINSTANCES', 'stop', true],
    ['a negated free-text word', '-christophe', 'stop', false],
  ])('%s: %s on %s → %s', (_name, query, event, expected) => {
    expect(check(query, event)).toBe(expected);
  });
});

describe('hostile inputs', () => {
  it.each<[string, string, JsonObject, boolean]>([
    ['a pathological wildcard against a long string', '@f:*a*a*a*a*a*a*a*a*b', { f: 'a'.repeat(300_000) }, false],
    ['a pathological wildcard that matches', '@f:*a*a*a*a*a*a*a*a*b', { f: `${'a'.repeat(300_000)}b` }, true],
    ['a pathological free-text pattern', 'a*a*a*a*a*a*a*a*b', { f: 'a'.repeat(300_000) }, false],
    ['a huge numeric-looking string in a comparison', '@f:>1', { f: `${'9'.repeat(500_000)}x` }, false],
    ['a huge string in CIDR()', 'CIDR(@f, 10.0.0.0/8)', { f: `10.${'1'.repeat(500_000)}` }, false],
    ['inherited property names are not fields', '@constructor:*', {}, false],
    ['inherited property names are not fields (negated)', '-@toString:*', {}, true],
    ['a __proto__ key from JSON is an own field', '@__proto__.polluted:yes', JSON.parse('{"__proto__":{"polluted":"yes"}}') as JsonObject, true],
    ['a regex-looking value is just text', '@f:.\\*', { f: '.*' }, true],
    ['a regex-looking value does not act as a regex', '@f:a.c', { f: 'abc' }, false],
  ])('%s', (_name, query, event, expected) => {
    expect(compileQueryOrThrow(query).matches(event)).toBe(expected);
  });

  it('never throws on events that are not what the types promise', () => {
    const query = compileQueryOrThrow('@a.b:x* OR @a:>1 OR CIDR(@a, 10.0.0.0/8) OR free OR *:x OR @a:[1 TO 2]');
    const weird: unknown[] = [{ a: { b: Symbol('s') } }, { a: () => 1 }, { a: 10n }, { a: undefined }, { a: new Date(0) }];
    for (const event of weird) expect(() => query.matches(event as JsonObject)).not.toThrow();
  });
});

describe('compileQuery results', () => {
  it('returns the text, the AST and warnings on success', () => {
    const result = compileQuery('evt.name:StopInstances');
    expect(result.ok && result.value.text).toBe('evt.name:StopInstances');
    expect(result.ok && result.value.ast.kind).toBe('term');
    expect(result.diagnostics.map((d) => d.code)).toEqual(['W_QUERY_UNPREFIXED_ATTRIBUTE']);
  });

  it('returns E_QUERY_SYNTAX diagnostics on failure', () => {
    const result = compileQuery('@eventName:');
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => [d.code, d.position?.column])).toEqual([['E_QUERY_SYNTAX', 12]]);
  });

  it('compileQueryOrThrow throws a TrailhoundError with the formatted diagnostic', () => {
    let thrown: unknown;
    try {
      compileQueryOrThrow('(@eventName:StopInstances');
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(TrailhoundError);
    expect(thrown instanceof TrailhoundError && thrown.code).toBe('E_QUERY_SYNTAX');
    expect(thrown instanceof TrailhoundError && thrown.message).toContain('1:1: error E_QUERY_SYNTAX: unclosed parenthesis opened at column 1');
  });
});
