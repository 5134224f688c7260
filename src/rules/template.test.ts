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
    { name: 'an unsupported block as nothing', text: 'a{{#is_match "@evt.name" "Stop*"}}yes{{else}}no{{/is_match}}b', ctx: {}, expected: 'ab' },
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
    { text: '{{userIdentity.arn}}', column: 3, message: /not a variable/, hint: /@attribute/ },
    { text: '{{#is_match "@a" "b"}}x{{/is_match}}', column: 1, message: /\{\{#is_match\}\} is not supported yet/, hint: /later version/ },
    { text: '{{^if @a}}x{{/if}}', column: 1, message: /\{\{\^if\}\}/, hint: /later version/ },
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
