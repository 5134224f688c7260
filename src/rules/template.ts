/**
 * Signal title and message templates, Datadog style: `{{@userIdentity.session_name}}`, `{{host}}`,
 * `{{rule_name}}`, `{{case_name}}`, `{{events_matched}}`, `{{events_matched_per_query.NAME}}`,
 * `{{first_seen}}`, `{{last_seen}}`, the conditional blocks `{{#is_match}}`, `{{^is_match}}`,
 * `{{#is_exact_match}}`, `{{#if}}` (with `{{else}}`), `{{urlencode "…"}}` and `{{{{raw}}}}`.
 *
 * A template is compiled ONCE into a tree of nodes and then into a list of small render functions;
 * rendering is a single pass that concatenates literal text and values. Values (attacker-controlled
 * CloudTrail strings) are inserted as plain text: they are never parsed as template syntax, and
 * control, line-separator and bidi-override characters in them are replaced by a visible `\uXXXX`
 * so that a value cannot forge lines or terminal escape sequences. Conditions only compare values;
 * nothing a value contains is ever evaluated.
 *
 * Syntax:
 * - `{{expr}}` and `{{{expr}}}` (same thing: there is no HTML escaping to turn off);
 * - `{{! comment }}` and `{{!-- comment --}}` render nothing;
 * - `{{{{raw}}}} … {{{{/raw}}}}` renders its content literally; `{{{{is_match "@a" "x"}}}} … {{{{/is_match}}}}`
 *   (any block helper) renders its content literally when the condition holds;
 * - blocks `{{#helper args}} … {{else}} … {{/helper}}` and inverted `{{^helper args}} … {{/helper}}`:
 *   `is_match` (some value contains one of the strings; `*` is a wildcard; `""` means "not empty"),
 *   `is_exact_match` (some value equals one of the strings; numbers compare by value) and `if`
 *   (the value renders as non-empty text). Another helper renders nothing and warns W_TEMPLATE_UNKNOWN;
 * - `{{urlencode "@attr"}}`: the value, percent-encoded for a URL.
 * Unknown variables render empty and warn W_TEMPLATE_UNKNOWN.
 */
import type { Diagnostic, JsonObject, Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import { parseDecimal } from '../query/decimal.js';
import { getFieldValues } from '../query/field-access.js';
import { compileGlob } from '../query/glob.js';
import type { GlobPart } from '../query/glob.js';
import type { CompiledTemplate, TemplateContext } from './model.js';
import { positionInText } from './position.js';
import { closestName } from './suggest.js';

/** The non-attribute variables a template may use. */
export const TEMPLATE_VARIABLES = ['host', 'rule_name', 'case_name', 'events_matched', 'first_seen', 'last_seen'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** `{{events_matched_per_query.NAME}}`: the signal's events matching the query NAME. */
export const PER_QUERY_VARIABLE_PREFIX = 'events_matched_per_query.';

/** Block helpers: `{{#name …}}`, `{{^name …}}`, `{{{{name …}}}}`. */
export const BLOCK_HELPERS = ['is_match', 'is_exact_match', 'if'] as const;
type BlockHelper = (typeof BLOCK_HELPERS)[number];

/** Longest text one value contributes (before escaping); longer values end with `…`. */
export const MAX_VALUE_LENGTH = 4096;
/** Deeper block nesting than this is refused. */
const MAX_BLOCK_DEPTH = 32;

export interface RuleTemplate extends CompiledTemplate {
  /** Attribute paths (without `@`) the template reads, for field validation. */
  readonly attributes: readonly string[];
}

export interface TemplateOptions {
  /** The rule's query names: `{{events_matched_per_query.NAME}}` naming another query warns. */
  readonly queryNames?: readonly string[];
}

/** An argument of a helper: a quoted string or a bare word (`@attr`, a name, a number). */
export interface TemplateArgument {
  readonly kind: 'string' | 'word';
  readonly value: string;
}

/** What a variable, a helper's first argument or `urlencode`'s argument refers to. */
type Subject =
  | { readonly kind: 'attribute'; readonly path: string }
  | { readonly kind: 'variable'; readonly name: TemplateVariable }
  | { readonly kind: 'queryCount'; readonly query: string }
  | { readonly kind: 'unknown' };

type TemplateNode =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'value'; readonly subject: Subject; readonly isUrlEncoded: boolean }
  | {
      readonly kind: 'block';
      readonly helper: string;
      readonly isInverted: boolean;
      readonly args: readonly TemplateArgument[];
      readonly children: readonly TemplateNode[];
      readonly otherwise: readonly TemplateNode[];
    };

type Part = (context: TemplateContext) => string;
type Predicate = (context: TemplateContext) => boolean;

class TemplateSyntaxError extends Error {
  constructor(
    message: string,
    readonly offset: number,
    readonly hint?: string,
  ) {
    super(message);
  }
}

/** Characters a value may not carry into a message as themselves. */
function mustEscape(code: number): boolean {
  return (
    code <= 0x1f ||
    (code >= 0x7f && code <= 0x9f) ||
    code === 0x061c ||
    code === 0x200e ||
    code === 0x200f ||
    code === 0x2028 ||
    code === 0x2029 ||
    (code >= 0x202a && code <= 0x202e) ||
    (code >= 0x2066 && code <= 0x2069)
  );
}

/**
 * Replace C0/C1 controls (ESC, CR, LF, TAB, DEL…), U+2028/U+2029 and bidi controls (U+061C,
 * U+200E/F, U+202A–U+202E, U+2066–U+2069) by a visible `\uXXXX`.
 */
export function escapeControlCharacters(value: string): string {
  let i = 0;
  while (i < value.length && !mustEscape(value.charCodeAt(i))) i++;
  if (i === value.length) return value;
  let out = value.slice(0, i);
  for (; i < value.length; i++) {
    const code = value.charCodeAt(i);
    out += mustEscape(code) ? `\\u${code.toString(16).padStart(4, '0')}` : value.charAt(i);
  }
  return out;
}

function capLength(text: string): string {
  if (text.length <= MAX_VALUE_LENGTH) return text;
  let end = MAX_VALUE_LENGTH;
  const last = text.charCodeAt(end - 1);
  if (last >= 0xd800 && last <= 0xdbff) end--;
  return `${text.slice(0, end)}…`;
}

function compactJson(value: unknown): string {
  try {
    return JSON.stringify(value) ?? '';
  } catch {
    return '';
  }
}

function scalarText(value: unknown): string {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  if (value === null || value === undefined) return '';
  return compactJson(value);
}

/**
 * The text of one attribute value: strings as they are, numbers and booleans as JSON text, an array
 * as its elements joined with ", " (objects inside it as compact JSON), an object as compact JSON.
 */
export function valueText(value: unknown): string {
  if (Array.isArray(value)) return value.map((item: unknown) => scalarText(item)).join(', ');
  return scalarText(value);
}

/** Plain, capped and escaped: what a value looks like once it is inside a rendered message. */
export function safeValue(text: string): string {
  return escapeControlCharacters(capLength(text));
}

/** Lone surrogates (which `encodeURIComponent` refuses) become U+FFFD. */
function wellFormed(text: string): string {
  let out = '';
  let start = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0xd800 || code > 0xdfff) continue;
    const next = text.charCodeAt(i + 1);
    if (code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
      i++;
      continue;
    }
    out += `${text.slice(start, i)}\ufffd`;
    start = i + 1;
  }
  return start === 0 ? text : out + text.slice(start);
}

/** A value percent-encoded for a URL component (capped first; never throws). */
export function urlEncodeValue(text: string): string {
  return encodeURIComponent(wellFormed(capLength(text)));
}

function isVariable(name: string): name is TemplateVariable {
  return (TEMPLATE_VARIABLES as readonly string[]).includes(name);
}

function isBlockHelper(name: string): name is BlockHelper {
  return (BLOCK_HELPERS as readonly string[]).includes(name);
}

/** `@path`, a variable name or `events_matched_per_query.NAME`; anything else is unknown. */
function subjectOf(text: string): Subject {
  if (text.startsWith('@') && text.length > 1 && !/\s/.test(text)) return { kind: 'attribute', path: text.slice(1) };
  if (isVariable(text)) return { kind: 'variable', name: text };
  if (text.startsWith(PER_QUERY_VARIABLE_PREFIX) && text.length > PER_QUERY_VARIABLE_PREFIX.length) return { kind: 'queryCount', query: text.slice(PER_QUERY_VARIABLE_PREFIX.length) };
  return { kind: 'unknown' };
}

function attributeValues(event: JsonObject | null, path: string): unknown[] {
  if (event === null) return [];
  try {
    return getFieldValues(event, path).filter((v) => v !== null);
  } catch {
    return [];
  }
}

function variableText(context: TemplateContext, name: TemplateVariable): string {
  switch (name) {
    case 'host':
      return context.host ?? '';
    case 'rule_name':
      return context.ruleName;
    case 'case_name':
      return context.caseName;
    case 'events_matched':
      return String(context.eventsMatched);
    case 'first_seen':
      return context.firstSeen;
    case 'last_seen':
      return context.lastSeen;
  }
}

function queryCountText(context: TemplateContext, query: string): string {
  const counts = context.eventsMatchedPerQuery;
  if (counts === undefined || !Object.hasOwn(counts, query)) return '';
  const count = counts[query];
  return typeof count === 'number' ? String(count) : '';
}

/** The text a subject renders as: for an attribute, its first present value. */
function subjectText(subject: Subject, context: TemplateContext): string {
  switch (subject.kind) {
    case 'attribute': {
      const first = attributeValues(context.event, subject.path)[0];
      return first === undefined ? '' : valueText(first);
    }
    case 'variable':
      return variableText(context, subject.name);
    case 'queryCount':
      return queryCountText(context, subject.query);
    case 'unknown':
      return '';
  }
}

/** Every value of a subject, as text: an attribute read through arrays gives one text per element. */
function subjectValues(subject: Subject, context: TemplateContext): string[] {
  if (subject.kind === 'attribute') return attributeValues(context.event, subject.path).map((v) => valueText(v));
  if (subject.kind === 'unknown') return [];
  if (subject.kind === 'variable' && subject.name === 'host' && context.host === null) return [];
  return [subjectText(subject, context)];
}

/** `is_match`: the value contains the text, where `*` stands for any run of characters; `""` matches any non-empty value. */
function containsMatcher(pattern: string): (value: string) => boolean {
  if (pattern === '') return (value) => value !== '';
  const parts: GlobPart[] = [{ kind: 'star' }];
  pattern.split('*').forEach((literal, i) => {
    if (i > 0) parts.push({ kind: 'star' });
    if (literal !== '') parts.push({ kind: 'literal', text: literal });
  });
  parts.push({ kind: 'star' });
  return compileGlob(parts);
}

/** `is_exact_match`: the same text, or two numbers of equal value (`5` and `5.0`). */
function exactMatcher(expected: string): (value: string) => boolean {
  const number = parseDecimal(expected);
  if (number === null) return (value) => value === expected;
  return (value) => value === expected || parseDecimal(value) === number;
}

function parseArguments(text: string, offset: number): TemplateArgument[] {
  const args: TemplateArgument[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charAt(i);
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
      continue;
    }
    if (c === '"' || c === "'") {
      let value = '';
      let j = i + 1;
      let isClosed = false;
      while (j < text.length) {
        const d = text.charAt(j);
        if (d === '\\' && j + 1 < text.length) {
          value += text.charAt(j + 1);
          j += 2;
          continue;
        }
        if (d === c) {
          isClosed = true;
          break;
        }
        value += d;
        j++;
      }
      if (!isClosed) throw new TemplateSyntaxError(`unclosed ${c === '"' ? 'double' : 'single'} quote`, offset + i, `close the string with ${c}`);
      args.push({ kind: 'string', value });
      i = j + 1;
      continue;
    }
    let j = i;
    while (j < text.length && !/\s/.test(text.charAt(j))) j++;
    args.push({ kind: 'word', value: text.slice(i, j) });
    i = j;
  }
  return args;
}

interface Frame {
  readonly helper: string;
  readonly isInverted: boolean;
  readonly args: readonly TemplateArgument[];
  readonly offset: number;
  readonly children: TemplateNode[];
  readonly otherwise: TemplateNode[];
  isInElse: boolean;
}

interface ParseOutput {
  readonly nodes: TemplateNode[];
  readonly warnings: { readonly message: string; readonly offset: number; readonly hint: string }[];
  readonly attributes: string[];
}

const HELPER_USAGE: Readonly<Record<BlockHelper | 'urlencode', string>> = {
  is_match: '{{#is_match "@attribute" "text" …}}',
  is_exact_match: '{{#is_exact_match "@attribute" "text" …}}',
  if: '{{#if @attribute}}',
  urlencode: '{{urlencode "@attribute"}}',
};

/** Variables and attributes a subject may name, for "did you mean". */
function subjectSuggestion(text: string, queryNames: readonly string[] | undefined): string | undefined {
  const perQuery = (queryNames ?? []).map((q) => `${PER_QUERY_VARIABLE_PREFIX}${q}`);
  const known = [...TEMPLATE_VARIABLES, ...perQuery];
  const close = closestName(text, known);
  if (close !== undefined) return close;
  // `evt.name` instead of `@evt.name`: attributes need their `@`.
  if (/^[A-Za-z_][\w.]*$/.test(text) && text.includes('.')) return `@${text}`;
  return undefined;
}

function parseTemplate(text: string, options: TemplateOptions): ParseOutput {
  const root: TemplateNode[] = [];
  const stack: Frame[] = [];
  const warnings: ParseOutput['warnings'] = [];
  const attributes: string[] = [];
  const target = (): TemplateNode[] => {
    const top = stack[stack.length - 1];
    if (top === undefined) return root;
    return top.isInElse ? top.otherwise : top.children;
  };
  const pushText = (value: string): void => {
    if (value === '') return;
    const nodes = target();
    const last = nodes[nodes.length - 1];
    if (last !== undefined && last.kind === 'text') nodes[nodes.length - 1] = { kind: 'text', text: last.text + value };
    else nodes.push({ kind: 'text', text: value });
  };
  /**
   * Resolve what `text` names, warning (at `offset`) when it names nothing trailhound knows. `place`
   * says where it was written: an expression `{{text}}`, or the argument of a helper.
   */
  const subject = (text: string, offset: number, place: { readonly helper?: string; readonly effect: string }): Subject => {
    const found = subjectOf(text);
    const quote = (name: string): string => (place.helper === undefined ? `{{${name}}}` : `"${name}"`);
    const where = place.helper === undefined ? quote(text) : `'${text}' in ${place.helper}`;
    if (found.kind === 'attribute') attributes.push(found.path);
    if (found.kind === 'queryCount' && options.queryNames !== undefined && !options.queryNames.includes(found.query)) {
      const suggestion = closestName(found.query, options.queryNames);
      warnings.push({
        message: `${where} names the query '${found.query}', which the rule does not have; ${place.effect}`,
        offset,
        hint: suggestion !== undefined ? `did you mean ${quote(`${PER_QUERY_VARIABLE_PREFIX}${suggestion}`)}?` : `the rule's queries are: ${options.queryNames.join(', ')}`,
      });
    }
    if (found.kind === 'unknown') {
      const suggestion = subjectSuggestion(text, options.queryNames);
      warnings.push({
        message: `${where} is not a variable trailhound knows; ${place.effect}`,
        offset,
        hint: suggestion !== undefined ? `did you mean ${quote(suggestion)}?` : `use ${quote('@attribute.path')} or one of: ${TEMPLATE_VARIABLES.join(', ')}, ${PER_QUERY_VARIABLE_PREFIX}NAME`,
      });
    }
    return found;
  };
  /** Check a block helper's arguments (errors for a wrong count, warnings for an unknown subject). */
  const checkBlock = (helper: string, args: readonly TemplateArgument[], offset: number): void => {
    if (!isBlockHelper(helper)) return;
    const isComparison = helper !== 'if';
    if (isComparison ? args.length < 2 : args.length !== 1) {
      throw new TemplateSyntaxError(
        isComparison ? `{{#${helper}}} needs an attribute and at least one text to compare with` : '{{#if}} needs exactly one attribute',
        offset,
        `write it as ${HELPER_USAGE[helper]}`,
      );
    }
    const first = args[0];
    if (first !== undefined) subject(first.value, offset, { helper: `{{#${helper}}}`, effect: 'the condition never holds' });
  };

  let pos = 0;
  while (pos < text.length) {
    const open = text.indexOf('{{', pos);
    if (open < 0) {
      pushText(text.slice(pos));
      break;
    }
    pushText(text.slice(pos, open));
    let braces = 0;
    while (text.charAt(open + braces) === '{') braces++;
    let start = open;
    if (braces > 4) {
      pushText('{'.repeat(braces - 4));
      start = open + braces - 4;
      braces = 4;
    }

    if (braces === 4) {
      // {{{{name args}}}} content {{{{/name}}}}: `raw` (or an unknown name) always renders the
      // content literally; a block helper renders it literally when its condition holds.
      const headEnd = text.indexOf('}}}}', start + 4);
      if (headEnd < 0) throw new TemplateSyntaxError('unclosed {{{{', start, 'a raw block starts with {{{{raw}}}}');
      const head = text.slice(start + 4, headEnd).trim();
      const nameEnd = head.search(/\s/);
      const name = nameEnd < 0 ? head : head.slice(0, nameEnd);
      const closer = `{{{{/${name}}}}}`;
      const end = text.indexOf(closer, headEnd + 4);
      if (end < 0) throw new TemplateSyntaxError(`raw block {{{{${name}}}}} is never closed`, start, `end it with ${closer}`);
      const content = text.slice(headEnd + 4, end);
      if (isBlockHelper(name)) {
        const args = parseArguments(nameEnd < 0 ? '' : head.slice(nameEnd), start + 4);
        checkBlock(name, args, start);
        target().push({ kind: 'block', helper: name, isInverted: false, args, children: content === '' ? [] : [{ kind: 'text', text: content }], otherwise: [] });
      } else {
        pushText(content);
      }
      pos = end + closer.length;
      continue;
    }

    if (text.startsWith('{{!--', open)) {
      const end = text.indexOf('--}}', open + 5);
      if (end < 0) throw new TemplateSyntaxError('unclosed comment {{!--', open, 'end the comment with --}}');
      pos = end + 4;
      continue;
    }
    const closeMark = braces === 3 ? '}}}' : '}}';
    const close = text.indexOf(closeMark, open + braces);
    if (close < 0) throw new TemplateSyntaxError(`unclosed ${'{'.repeat(braces)}`, open, `close it with ${closeMark}, or remove it if it was meant as text`);
    const innerStart = open + braces;
    const inner = text.slice(innerStart, close);
    pos = close + closeMark.length;
    const trimmed = inner.trim();
    const trimmedOffset = innerStart + (inner.length - inner.trimStart().length);

    if (trimmed.startsWith('!')) continue;

    if (braces === 2 && (trimmed.startsWith('#') || trimmed.startsWith('^'))) {
      const isInverted = trimmed.startsWith('^');
      const body = trimmed.slice(1).trim();
      if (body === '' && isInverted) {
        elseMarker(stack, open);
        continue;
      }
      const nameEnd = body.search(/\s/);
      const helper = nameEnd < 0 ? body : body.slice(0, nameEnd);
      if (helper === '') throw new TemplateSyntaxError(`a block needs a helper name, as in {{#is_match …}}`, open);
      if (stack.length >= MAX_BLOCK_DEPTH) throw new TemplateSyntaxError(`blocks nested deeper than ${MAX_BLOCK_DEPTH}`, open);
      const argsText = nameEnd < 0 ? '' : body.slice(nameEnd);
      const argsOffset = trimmedOffset + 1 + (trimmed.slice(1).length - trimmed.slice(1).trimStart().length) + (nameEnd < 0 ? body.length : nameEnd);
      const args = parseArguments(argsText, argsOffset);
      checkBlock(helper, args, open);
      stack.push({ helper, isInverted, args, offset: open, children: [], otherwise: [], isInElse: false });
      continue;
    }
    if (braces === 2 && trimmed.startsWith('/')) {
      const name = trimmed.slice(1).trim();
      const frame = stack.pop();
      if (frame === undefined) throw new TemplateSyntaxError(`{{/${name}}} closes a block that was never opened`, open, 'remove it, or open the block with {{#…}}');
      if (frame.helper !== name) {
        const where = positionInText(text, frame.offset);
        throw new TemplateSyntaxError(`{{/${name}}} does not match {{${frame.isInverted ? '^' : '#'}${frame.helper}}} opened at line ${where.line}, column ${where.column}`, open, `close it with {{/${frame.helper}}}`);
      }
      const block: TemplateNode = { kind: 'block', helper: frame.helper, isInverted: frame.isInverted, args: frame.args, children: frame.children, otherwise: frame.otherwise };
      target().push(block);
      if (!isBlockHelper(frame.helper)) {
        const suggestion = closestName(frame.helper, BLOCK_HELPERS);
        warnings.push({
          message: `block {{${frame.isInverted ? '^' : '#'}${frame.helper}}} is not a helper trailhound knows; it renders nothing`,
          offset: frame.offset,
          hint: suggestion !== undefined ? `did you mean {{#${suggestion}}}?` : `the block helpers are: ${BLOCK_HELPERS.join(', ')}`,
        });
      }
      continue;
    }
    if (braces === 2 && trimmed === 'else') {
      elseMarker(stack, open);
      continue;
    }

    const helperMatch = /^urlencode(?:\s+([\s\S]*))?$/.exec(trimmed);
    if (helperMatch !== null) {
      const argsText = helperMatch[1] ?? '';
      const args = parseArguments(argsText, trimmedOffset + trimmed.length - argsText.length);
      const [only] = args;
      if (only === undefined || args.length !== 1) throw new TemplateSyntaxError('{{urlencode}} needs exactly one attribute or variable', open, `write it as ${HELPER_USAGE.urlencode}`);
      target().push({ kind: 'value', subject: subject(only.value, trimmedOffset, { helper: '{{urlencode}}', effect: 'it renders empty' }), isUrlEncoded: true });
      continue;
    }
    target().push({ kind: 'value', subject: subject(trimmed, trimmedOffset, { effect: 'it renders empty' }), isUrlEncoded: false });
  }
  const unclosed = stack[stack.length - 1];
  if (unclosed !== undefined) throw new TemplateSyntaxError(`block {{${unclosed.isInverted ? '^' : '#'}${unclosed.helper}}} is never closed`, unclosed.offset, `close it with {{/${unclosed.helper}}}`);
  return { nodes: root, warnings, attributes };
}

function elseMarker(stack: Frame[], offset: number): void {
  const top = stack[stack.length - 1];
  if (top === undefined) throw new TemplateSyntaxError('{{else}} outside a block', offset, 'use {{else}} only between {{#…}} and {{/…}}');
  if (top.isInElse) throw new TemplateSyntaxError(`second {{else}} in the block {{#${top.helper}}}`, offset);
  top.isInElse = true;
}

/** The condition of a block helper, compiled once; undefined for a helper trailhound does not know. */
function compilePredicate(helper: string, args: readonly TemplateArgument[]): Predicate | undefined {
  const [first, ...rest] = args;
  if (!isBlockHelper(helper) || first === undefined) return undefined;
  const target = subjectOf(first.value);
  if (helper === 'if') return (context) => subjectText(target, context) !== '';
  const tests = rest.map((arg) => (helper === 'is_match' ? containsMatcher(arg.value) : exactMatcher(arg.value)));
  return (context) => subjectValues(target, context).some((value) => tests.some((test) => test(value)));
}

function compileNodes(nodes: readonly TemplateNode[]): Part[] {
  const parts: Part[] = [];
  for (const node of nodes) {
    switch (node.kind) {
      case 'text': {
        const literal = node.text;
        parts.push(() => literal);
        break;
      }
      case 'value': {
        const { subject } = node;
        if (subject.kind === 'unknown') break;
        parts.push(node.isUrlEncoded ? (context) => urlEncodeValue(subjectText(subject, context)) : (context) => safeValue(subjectText(subject, context)));
        break;
      }
      case 'block': {
        const holds = compilePredicate(node.helper, node.args);
        if (holds === undefined) break;
        const main = compileNodes(node.children);
        const otherwise = compileNodes(node.otherwise);
        const { isInverted } = node;
        parts.push((context) => renderParts(holds(context) !== isInverted ? main : otherwise, context));
        break;
      }
    }
  }
  return parts;
}

function renderParts(parts: readonly Part[], context: TemplateContext): string {
  let out = '';
  for (const part of parts) out += part(context);
  return out;
}

/**
 * Compile a title or message template once. Errors (E_TEMPLATE_SYNTAX) and warnings
 * (W_TEMPLATE_UNKNOWN) carry positions relative to `text`.
 */
export function compileTemplate(text: string, options: TemplateOptions = {}): Result<RuleTemplate> {
  let parsed: ParseOutput;
  try {
    parsed = parseTemplate(text, options);
  } catch (error) {
    if (!(error instanceof TemplateSyntaxError)) throw error;
    const diagnostic: Diagnostic = { code: 'E_TEMPLATE_SYNTAX', severity: 'error', message: error.message, position: positionInText(text, error.offset), ...(error.hint !== undefined ? { hint: error.hint } : {}) };
    return fail([diagnostic]);
  }
  const diagnostics: Diagnostic[] = parsed.warnings.map((w) => ({ code: 'W_TEMPLATE_UNKNOWN', severity: 'warning', message: w.message, position: positionInText(text, w.offset), hint: w.hint }));
  const parts = compileNodes(parsed.nodes);
  const constant = parts.length === 0 ? '' : undefined;
  const attributes = [...new Set(parsed.attributes)];
  const template: RuleTemplate = {
    source: text,
    attributes,
    render: (context) => (constant !== undefined ? constant : renderParts(parts, context)),
  };
  return ok(template, diagnostics);
}
