/**
 * Signal title and message templates, Datadog style: `{{@userIdentity.session_name}}`, `{{host}}`,
 * `{{rule_name}}`, `{{case_name}}`, `{{events_matched}}`, `{{first_seen}}`, `{{last_seen}}`.
 *
 * A template is compiled ONCE into a tree of nodes and then into a list of small render functions;
 * rendering is a single pass that concatenates literal text and values. Values (attacker-controlled
 * CloudTrail strings) are inserted as plain text: they are never parsed as template syntax, and
 * control, line-separator and bidi-override characters in them are replaced by a visible `\uXXXX`
 * so that a value cannot forge lines or terminal escape sequences.
 *
 * Syntax recognised now, so that later constructs slot in without changing the parser:
 * - `{{expr}}` and `{{{expr}}}` (same thing: there is no HTML escaping to turn off);
 * - `{{! comment }}` and `{{!-- comment --}}` render nothing;
 * - `{{{{raw}}}} … {{{{/raw}}}}` renders its content literally;
 * - blocks `{{#helper args}} … {{else}} … {{/helper}}` and inverted `{{^helper args}} … {{/helper}}`
 *   are parsed and checked for balance; no block helper is implemented yet (`is_match`, `if` come
 *   later), so a block renders nothing and warns W_TEMPLATE_UNKNOWN.
 * Unknown variables render empty and warn W_TEMPLATE_UNKNOWN.
 */
import type { Diagnostic, JsonObject, Result } from '../core/types.js';
import { fail, ok } from '../core/types.js';
import { getFieldValues } from '../query/field-access.js';
import type { CompiledTemplate, TemplateContext } from './model.js';
import { positionInText } from './position.js';
import { closestName } from './suggest.js';

/** The non-attribute variables a template may use. */
export const TEMPLATE_VARIABLES = ['host', 'rule_name', 'case_name', 'events_matched', 'first_seen', 'last_seen'] as const;
export type TemplateVariable = (typeof TEMPLATE_VARIABLES)[number];

/** Longest text one value contributes (before escaping); longer values end with `…`. */
export const MAX_VALUE_LENGTH = 4096;
/** Deeper block nesting than this is refused. */
const MAX_BLOCK_DEPTH = 32;

export interface RuleTemplate extends CompiledTemplate {
  /** Attribute paths (without `@`) the template reads, for field validation. */
  readonly attributes: readonly string[];
}

/** An argument of a block helper: a quoted string or a bare word (`@attr`, a name, a number). */
export interface TemplateArgument {
  readonly kind: 'string' | 'word';
  readonly value: string;
}

type TemplateNode =
  | { readonly kind: 'text'; readonly text: string }
  | { readonly kind: 'attribute'; readonly path: string }
  | { readonly kind: 'variable'; readonly name: TemplateVariable }
  | { readonly kind: 'empty' }
  | {
      readonly kind: 'block';
      readonly helper: string;
      readonly isInverted: boolean;
      readonly args: readonly TemplateArgument[];
      readonly children: readonly TemplateNode[];
      readonly otherwise: readonly TemplateNode[];
    };

type Part = (context: TemplateContext) => string;

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

function attributeText(event: JsonObject | null, path: string): string {
  if (event === null) return '';
  let values: readonly unknown[];
  try {
    values = getFieldValues(event, path);
  } catch {
    return '';
  }
  const first = values.find((v) => v !== null && v !== undefined);
  return first === undefined ? '' : valueText(first);
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

function isVariable(name: string): name is TemplateVariable {
  return (TEMPLATE_VARIABLES as readonly string[]).includes(name);
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

function parseTemplate(text: string): ParseOutput {
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
      // {{{{name}}}} raw content {{{{/name}}}}
      const headEnd = text.indexOf('}}}}', start + 4);
      if (headEnd < 0) throw new TemplateSyntaxError('unclosed {{{{', start, 'a raw block starts with {{{{raw}}}}');
      const name = text.slice(start + 4, headEnd).trim();
      const closer = `{{{{/${name}}}}}`;
      const end = text.indexOf(closer, headEnd + 4);
      if (end < 0) throw new TemplateSyntaxError(`raw block {{{{${name}}}}} is never closed`, start, `end it with ${closer}`);
      pushText(text.slice(headEnd + 4, end));
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
      if (!BLOCK_HELPERS.has(frame.helper)) {
        warnings.push({ message: `block {{${frame.isInverted ? '^' : '#'}${frame.helper}}} is not supported yet and renders nothing`, offset: frame.offset, hint: 'conditional blocks (is_match, if) come in a later version' });
      }
      for (const arg of frame.args) if (arg.value.startsWith('@') && arg.value.length > 1) attributes.push(arg.value.slice(1));
      continue;
    }
    if (braces === 2 && trimmed === 'else') {
      elseMarker(stack, open);
      continue;
    }

    if (trimmed.startsWith('@') && trimmed.length > 1 && !/\s/.test(trimmed)) {
      const path = trimmed.slice(1);
      attributes.push(path);
      target().push({ kind: 'attribute', path });
      continue;
    }
    if (isVariable(trimmed)) {
      target().push({ kind: 'variable', name: trimmed });
      continue;
    }
    const suggestion = closestName(trimmed, TEMPLATE_VARIABLES);
    warnings.push({
      message: `{{${trimmed}}} is not a variable trailhound knows; it renders empty`,
      offset: trimmedOffset,
      hint: suggestion !== undefined ? `did you mean {{${suggestion}}}?` : `use {{@attribute.path}} or one of: ${TEMPLATE_VARIABLES.join(', ')}`,
    });
    target().push({ kind: 'empty' });
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

/** Block helpers by name: each decides whether the block's main branch renders. None yet. */
const BLOCK_HELPERS: ReadonlyMap<string, (args: readonly TemplateArgument[], context: TemplateContext) => boolean> = new Map();

function compileNodes(nodes: readonly TemplateNode[]): Part[] {
  const parts: Part[] = [];
  for (const node of nodes) {
    switch (node.kind) {
      case 'text': {
        const literal = node.text;
        parts.push(() => literal);
        break;
      }
      case 'attribute': {
        const { path } = node;
        parts.push((context) => safeValue(attributeText(context.event, path)));
        break;
      }
      case 'variable': {
        const { name } = node;
        parts.push((context) => safeValue(variableText(context, name)));
        break;
      }
      case 'empty':
        break;
      case 'block': {
        const helper = BLOCK_HELPERS.get(node.helper);
        if (helper === undefined) break;
        const main = compileNodes(node.children);
        const otherwise = compileNodes(node.otherwise);
        const { args, isInverted } = node;
        parts.push((context) => {
          const chosen = helper(args, context) !== isInverted ? main : otherwise;
          return renderParts(chosen, context);
        });
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
export function compileTemplate(text: string): Result<RuleTemplate> {
  let parsed: ParseOutput;
  try {
    parsed = parseTemplate(text);
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
