import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { JsonObject } from '../core/types.js';
import type { TemplateContext } from './model.js';
import type { RuleTemplate } from './template.js';
import { MAX_VALUE_LENGTH, compileTemplate, escapeControlCharacters, valueText } from './template.js';

const STRATUS = new URL('../../test/fixtures/cloudtrail/stratus-detonation-logs/aws.execution.ec2-user-data.json', import.meta.url);
const records = JSON.parse(readFileSync(STRATUS, 'utf8')) as JsonObject[];

function record(eventName: string): JsonObject {
  const found = records.find((r) => r['eventName'] === eventName);
  if (!found) throw new Error(`no ${eventName} record in the fixture`);
  return structuredClone(found);
}

/** A real ModifyInstanceAttribute record with the attribute Datadog derives for the session name. */
function modifyEvent(sessionName = 'christophe'): JsonObject {
  const r = record('ModifyInstanceAttribute');
  const identity = r['userIdentity'] as JsonObject;
  return { ...r, userIdentity: { ...identity, session_name: sessionName } };
}

function context(overrides: Partial<TemplateContext> = {}): TemplateContext {
  return {
    event: modifyEvent(),
    ruleName: 'Possible AWS EC2 privilege escalation',
    caseName: 'user data',
    eventsMatched: 3,
    firstSeen: '2024-08-01T12:03:30.000Z',
    lastSeen: '2024-08-01T12:04:19.000Z',
    host: 'i-DDd6c7B0e18F0E35f',
    ...overrides,
  };
}

function compiled(text: string): RuleTemplate {
  const result = compileTemplate(text);
  if (!result.ok) throw new Error(`expected the template to compile: ${JSON.stringify(result.diagnostics)}`);
  return result.value;
}

describe('compileTemplate: rendering', () => {
  const modify = modifyEvent();
  const stop = record('StopInstances');
  it.each([
    { name: 'an attribute from the event', text: 'by {{@userIdentity.session_name}}', ctx: {}, expected: 'by christophe' },
    { name: 'a nested request parameter', text: '{{@requestParameters.instanceId}}', ctx: {}, expected: (modify['requestParameters'] as JsonObject)['instanceId'] as string },
    { name: 'a boolean as its JSON text', text: 'readOnly={{@readOnly}}', ctx: {}, expected: 'readOnly=false' },
    { name: 'an object as compact JSON', text: '{{@requestParameters}}', ctx: {}, expected: JSON.stringify(modify['requestParameters']) },
    { name: 'the first value reached through an array', text: '{{@requestParameters.instancesSet.items.instanceId}}', ctx: { event: stop }, expected: 'i-DDd6c7B0e18F0E35f' },
    { name: 'a missing attribute as nothing', text: '[{{@requestParameters.nothing}}]', ctx: {}, expected: '[]' },
    { name: 'attributes as nothing when there is no event', text: '[{{@userIdentity.arn}}]', ctx: { event: null }, expected: '[]' },
    { name: 'host', text: 'on {{host}}', ctx: {}, expected: 'on i-DDd6c7B0e18F0E35f' },
    { name: 'a missing host as nothing', text: 'on [{{host}}]', ctx: { host: null }, expected: 'on []' },
    { name: 'rule_name and case_name', text: '{{rule_name}} / {{case_name}}', ctx: {}, expected: 'Possible AWS EC2 privilege escalation / user data' },
    { name: 'events_matched', text: '{{events_matched}} events', ctx: { eventsMatched: 42 }, expected: '42 events' },
    { name: 'first_seen and last_seen', text: '{{first_seen}}..{{last_seen}}', ctx: {}, expected: '2024-08-01T12:03:30.000Z..2024-08-01T12:04:19.000Z' },
    { name: 'spaces inside the braces', text: '{{ host }}|{{  @userIdentity.userName }}', ctx: {}, expected: 'i-DDd6c7B0e18F0E35f|christophe' },
    { name: 'triple braces like double ones', text: '{{{host}}}', ctx: {}, expected: 'i-DDd6c7B0e18F0E35f' },
    { name: 'comments as nothing', text: 'a{{! a note }}b{{!-- {{host}} --}}c', ctx: {}, expected: 'abc' },
    { name: 'a raw block literally', text: '{{{{raw}}}}{{host}} {{#x}}{{{{/raw}}}}', ctx: {}, expected: '{{host}} {{#x}}' },
    { name: 'text without tags unchanged, newlines included', text: '## Goal\nline two\n', ctx: {}, expected: '## Goal\nline two\n' },
    { name: 'single braces as text', text: '{a} } {', ctx: {}, expected: '{a} } {' },
    { name: 'an unknown variable as nothing', text: '[{{nope}}]', ctx: {}, expected: '[]' },
    { name: 'an unknown block helper as nothing', text: 'a{{#is_matching "@evt.name" "Stop*"}}yes{{else}}no{{/is_matching}}b', ctx: {}, expected: 'ab' },
  ])('renders $name', ({ text, ctx, expected }) => {
    expect(compiled(text).render(context(ctx))).toBe(expected);
  });

  it('inserts an attacker-controlled value as text, never as template syntax', () => {
    const template = compiled('session {{@userIdentity.session_name}} on {{host}}');
    const rendered = template.render(context({ event: modifyEvent('{{rule_name}} {{#x}}'), host: '{{case_name}}' }));
    expect(rendered).toBe('session {{rule_name}} {{#x}} on {{case_name}}');
  });

  it('caps a huge value', () => {
    const rendered = compiled('{{@userIdentity.session_name}}').render(context({ event: modifyEvent('x'.repeat(MAX_VALUE_LENGTH * 3)) }));
    expect(rendered).toBe(`${'x'.repeat(MAX_VALUE_LENGTH)}…`);
  });

  it('lists the attributes it reads, block arguments included', () => {
    expect(compiled('{{@a.b}} {{@c}} {{@a.b}} {{#is_match "@d.e" "x"}}{{/is_match}} {{host}}').attributes).toEqual(['a.b', 'c', 'd.e']);
  });
});

describe('compileTemplate: control characters in values', () => {
  it.each([
    { name: 'ESC (terminal sequences)', value: '\u001b[31mred\u001b[0m', expected: '\\u001b[31mred\\u001b[0m' },
    { name: 'LF (forged lines)', value: 'a\nSIGNAL: fake', expected: 'a\\u000aSIGNAL: fake' },
    { name: 'CR', value: 'a\rb', expected: 'a\\u000db' },
    { name: 'TAB and NUL', value: 'a\tb\u0000', expected: 'a\\u0009b\\u0000' },
    { name: 'DEL', value: 'a\u007f', expected: 'a\\u007f' },
    { name: 'C1 CSI', value: 'a\u009b31m', expected: 'a\\u009b31m' },
    { name: 'U+2028 and U+2029', value: 'a\u2028b\u2029c', expected: 'a\\u2028b\\u2029c' },
    { name: 'a bidi override (U+202E)', value: 'exe.\u202etxt', expected: 'exe.\\u202etxt' },
    { name: 'bidi isolates (U+2066–U+2069)', value: '\u2066a\u2069', expected: '\\u2066a\\u2069' },
    { name: 'plain text with accents and emoji unchanged', value: 'Zoë 🐕 naïve', expected: 'Zoë 🐕 naïve' },
  ])('escapes $name', ({ value, expected }) => {
    expect(escapeControlCharacters(value)).toBe(expected);
    expect(compiled('[{{@userIdentity.session_name}}]').render(context({ event: modifyEvent(value) }))).toBe(`[${expected}]`);
    expect(compiled('[{{host}}]').render(context({ host: value }))).toBe(`[${expected}]`);
  });

  it('leaves the template text itself alone (its own newlines stay)', () => {
    expect(compiled('a\n{{host}}\n').render(context({ host: 'h' }))).toBe('a\nh\n');
  });
});

describe('valueText', () => {
  it.each([
    { value: 'text', expected: 'text' },
    { value: 3.5, expected: '3.5' },
    { value: true, expected: 'true' },
    { value: null, expected: '' },
    { value: ['a', 1, false], expected: 'a, 1, false' },
    { value: [{ k: 'v' }, 'x'], expected: '{"k":"v"}, x' },
    { value: { k: ['v', 1] }, expected: '{"k":["v",1]}' },
  ])('renders $value as $expected', ({ value, expected }) => {
    expect(valueText(value)).toBe(expected);
  });
});

describe('compileTemplate: diagnostics', () => {
  it.each([
    { text: 'hello {{host', line: 1, column: 7, message: /unclosed \{\{/ },
    { text: 'x {{{host}}', line: 1, column: 3, message: /unclosed \{\{\{/ },
    { text: '{{#is_match "@a" "b"}}x', line: 1, column: 1, message: /never closed/ },
    { text: 'a {{/is_match}}', line: 1, column: 3, message: /never opened/ },
    { text: '{{#a}}{{/b}}', line: 1, column: 7, message: /does not match \{\{#a\}\}/ },
    { text: 'x {{else}}', line: 1, column: 3, message: /outside a block/ },
    { text: '{{#a}}{{else}}{{else}}{{/a}}', line: 1, column: 15, message: /second \{\{else\}\}/ },
    { text: '{{#is_match "@a" "b}}{{/is_match}}', line: 1, column: 18, message: /unclosed double quote/ },
    { text: "{{#is_match '@a}}{{/is_match}}", line: 1, column: 13, message: /unclosed single quote/ },
    { text: '{{{{raw}}}}x', line: 1, column: 1, message: /never closed/ },
    { text: 'ok\n  {{!-- open', line: 2, column: 3, message: /unclosed comment/ },
    { text: 'line one\n  {{#if @x}}\n', line: 2, column: 3, message: /never closed/ },
    { text: '{{#}}{{/}}', line: 1, column: 1, message: /helper name/ },
  ])('$text fails with E_TEMPLATE_SYNTAX at $line:$column', ({ text, line, column, message }) => {
    const result = compileTemplate(text);
    expect(result.ok).toBe(false);
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]).toMatchObject({ code: 'E_TEMPLATE_SYNTAX', severity: 'error', position: { line, column } });
    expect(result.diagnostics[0]?.message).toMatch(message);
  });

  it('refuses blocks nested too deep', () => {
    const result = compileTemplate('{{#a}}'.repeat(40) + '{{/a}}'.repeat(40));
    expect(result.ok).toBe(false);
    expect(result.diagnostics[0]?.message).toMatch(/nested deeper/);
  });

  it.each([
    { text: 'on {{hots}}', column: 6, message: /\{\{hots\}\}/, hint: /did you mean \{\{host\}\}/ },
    { text: 'a\nb {{ rulename }}', line: 2, column: 6, message: /\{\{rulename\}\}/, hint: /did you mean \{\{rule_name\}\}/ },
    { text: '{{userIdentity.arn}}', column: 3, message: /not a variable/, hint: /did you mean \{\{@userIdentity\.arn\}\}/ },
    { text: '{{zzz}}', column: 3, message: /not a variable/, hint: /\{\{@attribute\.path\}\}/ },
    { text: '{{#is_mach "@a" "b"}}x{{/is_mach}}', column: 1, message: /\{\{#is_mach\}\} is not a helper/, hint: /did you mean \{\{#is_match\}\}/ },
    { text: '{{^iff @a}}x{{/iff}}', column: 1, message: /\{\{\^iff\}\}/, hint: /did you mean \{\{#if\}\}/ },
    { text: '{{#if evt.name}}x{{/if}}', column: 1, message: /'evt\.name' in \{\{#if\}\}.*never holds/, hint: /did you mean "@evt\.name"/ },
    { text: '{{#is_match "hots" "x"}}x{{/is_match}}', column: 1, message: /'hots' in \{\{#is_match\}\}/, hint: /did you mean "host"/ },
    { text: 'x {{urlencode "nope"}}', column: 5, message: /'nope' in \{\{urlencode\}\}.*renders empty/, hint: /"@attribute\.path"/ },
  ])('$text compiles with a W_TEMPLATE_UNKNOWN warning', ({ text, line, column, message, hint }) => {
    const result = compileTemplate(text);
    expect(result.ok).toBe(true);
    expect(result.diagnostics).toHaveLength(1);
    expect(result.diagnostics[0]).toMatchObject({ code: 'W_TEMPLATE_UNKNOWN', severity: 'warning', position: { line: line ?? 1, column } });
    expect(result.diagnostics[0]?.message).toMatch(message);
    expect(result.diagnostics[0]?.hint).toMatch(hint);
  });

  it('has no diagnostics for the known variables and attributes', () => {
    expect(compileTemplate('{{@x.y}} {{host}} {{rule_name}} {{case_name}} {{events_matched}} {{first_seen}} {{last_seen}}').diagnostics).toEqual([]);
  });
});

describe('compileTemplate: properties', () => {
  it('never throws on arbitrary templates, and rendering never throws either', () => {
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('{', '}', '#', '/', '^', '!', '-', '@', 'a', ' ', '"', '\n', 'else', 'raw', 'host') }), (text) => {
        const result = compileTemplate(text);
        if (result.ok) expect(typeof result.value.render(context())).toBe('string');
        else expect(result.diagnostics[0]?.code).toBe('E_TEMPLATE_SYNTAX');
      }),
    );
  });

  it('renders any value as exactly its text when it has no control characters, and never lets one through', () => {
    const template = compiled('<{{@userIdentity.session_name}}>');
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (value) => {
        const rendered = template.render(context({ event: modifyEvent(value) }));
        expect(rendered).not.toMatch(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u); // eslint-disable-line no-control-regex
        if (!/[\u0000-\u001f\u007f-\u009f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]/u.test(value)) expect(rendered).toBe(`<${value}>`); // eslint-disable-line no-control-regex
      }),
    );
  });
});

describe('compileTemplate: conditional blocks', () => {
  const stop = record('StopInstances');
  const items = ((stop['requestParameters'] as JsonObject)['instancesSet'] as JsonObject)['items'] as JsonObject[];
  const twoInstances: JsonObject = {
    ...stop,
    requestParameters: { instancesSet: { items: [...items, { instanceId: 'i-0second0instance0' }] } },
  };
  const counts = { stop_instance: 1, modify_instance_attribute: 2, start_instance: 0 };
  it.each([
    { name: 'is_match: a substring matches', text: '{{#is_match "@eventName" "Instance"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_match: text that is not in the value does not', text: '{{#is_match "@eventName" "Terminate"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'no' },
    { name: 'is_match: * spans any run of characters', text: '{{#is_match "@eventName" "Modify*Attribute"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_match: * keeps the order of the pieces', text: '{{#is_match "@eventName" "Attribute*Modify"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'no' },
    { name: 'is_match: one of several texts is enough', text: '{{#is_match "@eventName" "Stop" "Modify"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_match: case matters', text: '{{#is_match "@eventName" "modify"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'no' },
    { name: 'is_match: "" holds for a present value', text: '{{#is_match "@userIdentity.arn" ""}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_match: "" does not hold for a missing attribute', text: '{{#is_match "@errorCode" ""}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'no' },
    { name: 'is_match: a missing attribute never matches', text: '{{#is_match "@errorCode" "*"}}yes{{else}}no{{/is_match}}', ctx: {}, expected: 'no' },
    { name: 'is_match: no event, no match', text: '{{#is_match "@eventName" "M"}}yes{{else}}no{{/is_match}}', ctx: { event: null }, expected: 'no' },
    { name: 'is_match: any element of an array', text: '{{#is_match "@requestParameters.instancesSet.items.instanceId" "second"}}yes{{else}}no{{/is_match}}', ctx: { event: twoInstances }, expected: 'yes' },
    { name: 'is_match: a bare @attribute', text: '{{#is_match @eventName "Modify"}}yes{{/is_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_match: a variable', text: '{{#is_match "host" "i-DD"}}on an instance{{/is_match}}', ctx: {}, expected: 'on an instance' },
    { name: 'is_match: no host, no match', text: '{{#is_match "host" ""}}yes{{else}}no{{/is_match}}', ctx: { host: null }, expected: 'no' },
    { name: '^is_match: renders when nothing matches', text: '{{^is_match "@eventName" "Stop"}}not a stop{{/is_match}}', ctx: {}, expected: 'not a stop' },
    { name: '^is_match: renders its else when something matches', text: '{{^is_match "@eventName" "Modify"}}a{{else}}b{{/is_match}}', ctx: {}, expected: 'b' },
    { name: 'is_exact_match: the same text', text: '{{#is_exact_match "@eventName" "ModifyInstanceAttribute"}}yes{{else}}no{{/is_exact_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_exact_match: a substring is not enough', text: '{{#is_exact_match "@eventName" "Modify"}}yes{{else}}no{{/is_exact_match}}', ctx: {}, expected: 'no' },
    { name: 'is_exact_match: * is plain text', text: '{{#is_exact_match "@eventName" "Modify*"}}yes{{else}}no{{/is_exact_match}}', ctx: {}, expected: 'no' },
    { name: 'is_exact_match: numbers by value', text: '{{#is_exact_match "@eventVersion" "1.090"}}yes{{else}}no{{/is_exact_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_exact_match: a boolean by its text', text: '{{#is_exact_match "@readOnly" "false"}}yes{{else}}no{{/is_exact_match}}', ctx: {}, expected: 'yes' },
    { name: 'is_exact_match: a per-query count', text: '{{#is_exact_match "events_matched_per_query.modify_instance_attribute" "2"}}twice{{/is_exact_match}}', ctx: { eventsMatchedPerQuery: counts }, expected: 'twice' },
    { name: '^is_exact_match', text: '{{^is_exact_match "@eventName" "StopInstances"}}not a stop{{/is_exact_match}}', ctx: {}, expected: 'not a stop' },
    { name: 'if: a present attribute', text: '{{#if @userIdentity.arn}}by {{@userIdentity.arn}}{{else}}by nobody{{/if}}', ctx: { event: { userIdentity: { arn: 'arn:aws:iam::1:user/a' } } }, expected: 'by arn:aws:iam::1:user/a' },
    { name: 'if: a missing attribute takes the else branch', text: '{{#if @errorCode}}failed: {{@errorCode}}{{else}}succeeded{{/if}}', ctx: {}, expected: 'succeeded' },
    { name: 'if: an empty string counts as missing', text: '{{#if @errorCode}}failed{{else}}succeeded{{/if}}', ctx: { event: { errorCode: '' } }, expected: 'succeeded' },
    { name: 'if: false is a value', text: '{{#if @readOnly}}readOnly={{@readOnly}}{{/if}}', ctx: {}, expected: 'readOnly=false' },
    { name: 'if: an object is a value', text: '{{#if @requestParameters}}has parameters{{/if}}', ctx: {}, expected: 'has parameters' },
    { name: '^if: renders when missing', text: '{{^if @errorCode}}no error{{/if}}', ctx: {}, expected: 'no error' },
    { name: 'blocks nest', text: '{{#if @eventName}}{{#is_match "@eventName" "Stop"}}stop{{else}}{{#is_match "@eventName" "Modify"}}modify{{/is_match}}{{/is_match}}{{/if}}', ctx: {}, expected: 'modify' },
    { name: 'a raw block with a helper: literal content when it holds', text: '{{{{is_match "@eventName" "Modify"}}}}{{ .matched }}{{#x}}{{{{/is_match}}}}', ctx: {}, expected: '{{ .matched }}{{#x}}' },
    { name: 'a raw block with a helper: nothing when it does not', text: 'a{{{{is_match "@eventName" "Stop"}}}}{{ .matched }}{{{{/is_match}}}}b', ctx: {}, expected: 'ab' },
    { name: 'a raw block: always literal', text: '{{{{raw}}}}{{#if @x}}{{/if}}{{{{/raw}}}}', ctx: {}, expected: '{{#if @x}}{{/if}}' },
  ])('$name', ({ text, ctx, expected }) => {
    const result = compileTemplate(text);
    expect(result.diagnostics).toEqual([]);
    expect(compiled(text).render(context(ctx))).toBe(expected);
  });

  it.each([
    { text: '{{#is_match "@a"}}x{{/is_match}}', message: /needs an attribute and at least one text/ },
    { text: '{{#is_exact_match}}x{{/is_exact_match}}', message: /needs an attribute and at least one text/ },
    { text: '{{#if}}x{{/if}}', message: /exactly one attribute/ },
    { text: '{{#if @a @b}}x{{/if}}', message: /exactly one attribute/ },
    { text: '{{{{if}}}}x{{{{/if}}}}', message: /exactly one attribute/ },
    { text: 'x {{urlencode}}', message: /urlencode\}\} needs exactly one/ },
    { text: '{{urlencode "@a" "@b"}}', message: /urlencode\}\} needs exactly one/ },
  ])('refuses $text with E_TEMPLATE_SYNTAX', ({ text, message }) => {
    const result = compileTemplate(text);
    expect(result.ok).toBe(false);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['E_TEMPLATE_SYNTAX']);
    expect(result.diagnostics[0]?.message).toMatch(message);
  });

  it('lists as attributes only what a helper reads, not the texts it compares with', () => {
    expect(compiled('{{#is_match "@d.e" "@not.an.attribute"}}{{/is_match}} {{urlencode "@u.v"}} {{#if @f}}{{/if}}').attributes).toEqual(['d.e', 'u.v', 'f']);
  });
});

describe('compileTemplate: events_matched_per_query and urlencode', () => {
  const counts = { stop_instance: 1, modify_instance_attribute: 2, start_instance: 3 };
  it.each([
    { name: 'a per-query count', text: '{{events_matched_per_query.start_instance}} starts', ctx: { eventsMatchedPerQuery: counts }, expected: '3 starts' },
    { name: 'a per-query count of 0', text: '[{{events_matched_per_query.a}}]', ctx: { eventsMatchedPerQuery: { a: 0 } }, expected: '[0]' },
    { name: 'nothing when the engine gave no counts', text: '[{{events_matched_per_query.a}}]', ctx: {}, expected: '[]' },
    { name: 'nothing for a name that is not an own key', text: '[{{events_matched_per_query.constructor}}]', ctx: { eventsMatchedPerQuery: counts }, expected: '[]' },
    { name: 'urlencode of an ARN', text: 'https://console/?arn={{urlencode "@userIdentity.arn"}}', ctx: { event: { userIdentity: { arn: 'arn:aws:iam::1:user/a b&c' } } }, expected: 'https://console/?arn=arn%3Aaws%3Aiam%3A%3A1%3Auser%2Fa%20b%26c' },
    { name: 'urlencode of a bare @attribute', text: '{{urlencode @eventName}}', ctx: {}, expected: 'ModifyInstanceAttribute' },
    { name: 'urlencode of a variable', text: '{{ urlencode "rule_name" }}', ctx: { ruleName: 'a/b c' }, expected: 'a%2Fb%20c' },
    { name: 'urlencode of a missing attribute', text: '[{{urlencode "@errorCode"}}]', ctx: {}, expected: '[]' },
    { name: 'urlencode of control characters and template syntax', text: '{{urlencode "@eventName"}}', ctx: { event: { eventName: '{{#if}}\n\u001b}}' } }, expected: '%7B%7B%23if%7D%7D%0A%1B%7D%7D' },
    { name: 'urlencode of a lone surrogate', text: '{{urlencode "@eventName"}}', ctx: { event: { eventName: 'a\ud800b\udc00' } }, expected: 'a%EF%BF%BDb%EF%BF%BD' },
    { name: 'urlencode keeps a surrogate pair', text: '{{urlencode "@eventName"}}', ctx: { event: { eventName: '🐕' } }, expected: '%F0%9F%90%95' },
  ])('renders $name', ({ text, ctx, expected }) => {
    expect(compiled(text).render(context(ctx))).toBe(expected);
  });

  it.each([
    { text: '{{events_matched_per_query.stop_instanc}}', hint: /did you mean \{\{events_matched_per_query\.stop_instance\}\}/ },
    { text: '{{#if events_matched_per_query.zzzz}}x{{/if}}', hint: /the rule's queries are: stop_instance, start_instance/ },
  ])('warns when $text names a query the rule does not have', ({ text, hint }) => {
    const result = compileTemplate(text, { queryNames: ['stop_instance', 'start_instance'] });
    expect(result.ok).toBe(true);
    expect(result.diagnostics.map((d) => d.code)).toEqual(['W_TEMPLATE_UNKNOWN']);
    expect(result.diagnostics[0]?.hint).toMatch(hint);
  });

  it('accepts a per-query count of a query the rule has', () => {
    expect(compileTemplate('{{events_matched_per_query.start_instance}}', { queryNames: ['start_instance'] }).diagnostics).toEqual([]);
  });
});

describe('compileTemplate: values are never template syntax', () => {
  const hostile = ['{{#if @x}}', '{{/is_match}}', '}}', '{{{{raw}}}}', '{{else}}', '{{rule_name}}', '{{{{/raw}}}}\u001b[2J\n'];
  const template = compiled(
    [
      '{{#if @userIdentity.session_name}}<{{@userIdentity.session_name}}>{{else}}none{{/if}}',
      '{{#is_match "@userIdentity.session_name" "{{"}}|braces{{/is_match}}',
      '{{{{is_match "@userIdentity.session_name" "}}"}}}}|raw{{{{/is_match}}}}',
      '|{{urlencode "@userIdentity.session_name"}}',
    ].join(''),
  );
  it.each(hostile)('renders the session name %j as inert text', (value) => {
    const rendered = template.render(context({ event: modifyEvent(value) }));
    const shown = escapeControlCharacters(value);
    expect(rendered).toBe(`<${shown}>${value.includes('{{') ? '|braces' : ''}${value.includes('}}') ? '|raw' : ''}|${encodeURIComponent(value)}`);
  });

  it('is_match and is_exact_match agree with plain string tests on any value', () => {
    const match = compiled('{{#is_match "@userIdentity.session_name" "a*b"}}M{{/is_match}}{{#is_exact_match "@userIdentity.session_name" "ab"}}E{{/is_exact_match}}');
    fc.assert(
      fc.property(fc.string({ unit: fc.constantFrom('a', 'b', '*', '{', '}', '#', '\n') , maxLength: 12 }), (value) => {
        const first = value.indexOf('a');
        const expectMatch = first >= 0 && value.indexOf('b', first + 1) >= 0;
        expect(match.render(context({ event: modifyEvent(value) }))).toBe(`${expectMatch ? 'M' : ''}${value === 'ab' ? 'E' : ''}`);
      }),
    );
  });
});
