/**
 * Read stage of the rule loader: YAML or JSON text → documents, with a locator that turns a path
 * inside a document (`['queries', 1, 'query']`) into a line and column of the file. JSON is parsed
 * with the same YAML parser (JSON is YAML 1.2), so both get positions. Pure: no `node:`.
 */
import { LineCounter, isMap, isScalar, parseAllDocuments } from 'yaml';
import type { Document, Node as YamlNode, Scalar } from 'yaml';
import type { Diagnostic, SourcePosition } from '../core/types.js';

export type DocumentPath = readonly (string | number)[];

/** Aliases a document may expand (a guard against "billion laughs" documents). */
const MAX_ALIAS_COUNT = 100;

/** `queries[1].query`, `data.attributes.name`, `[0].cases[0].condition`. */
export function formatPath(path: DocumentPath): string {
  let out = '';
  for (const segment of path) {
    if (typeof segment === 'number') out += `[${segment}]`;
    else if (/^[A-Za-z_$][\w$]*$/.test(segment)) out += out === '' ? segment : `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** Turns document paths into file positions. */
export interface Locator {
  /** Position of the value at `path`, or of its nearest ancestor that exists. */
  valueAt(path: DocumentPath): SourcePosition | undefined;
  /** Position of the key naming the last segment of `path` (falls back to `valueAt`). */
  keyAt(path: DocumentPath): SourcePosition | undefined;
  /**
   * Position of a point inside the string at `path`, given as a 1-based line/column of the string's
   * value. Exact for plain and quoted one-line scalars without escapes and for literal (`|`) block
   * scalars; otherwise the position of the string itself.
   */
  insideString(path: DocumentPath, inner: SourcePosition): SourcePosition | undefined;
}

export interface ReadDocument {
  readonly value: unknown;
  readonly locator: Locator;
}

export interface ReadResult {
  readonly documents: readonly ReadDocument[];
  readonly diagnostics: readonly Diagnostic[];
}

/** Offset in `value` of a 1-based line/column, or undefined when it is outside the value. */
function offsetInValue(value: string, inner: SourcePosition): number | undefined {
  let offset = 0;
  for (let line = 1; line < inner.line; line++) {
    const next = value.indexOf('\n', offset);
    if (next < 0) return undefined;
    offset = next + 1;
  }
  const result = offset + inner.column - 1;
  return result >= 0 && result <= value.length ? result : undefined;
}

class DocumentLocator implements Locator {
  constructor(
    private readonly doc: Document.Parsed,
    private readonly text: string,
    private readonly lines: LineCounter,
  ) {}

  private at(offset: number): SourcePosition {
    const { line, col } = this.lines.linePos(offset);
    return { line, column: col };
  }

  private node(path: DocumentPath): YamlNode | undefined {
    for (let length = path.length; length >= 0; length--) {
      const found: unknown = length === 0 ? this.doc.contents : this.doc.getIn(path.slice(0, length), true);
      if (found !== null && typeof found === 'object' && 'range' in found) return found as YamlNode;
    }
    return undefined;
  }

  valueAt(path: DocumentPath): SourcePosition | undefined {
    const range = this.node(path)?.range;
    return range ? this.at(range[0]) : undefined;
  }

  keyAt(path: DocumentPath): SourcePosition | undefined {
    const last = path[path.length - 1];
    if (typeof last === 'string') {
      const parent = path.length === 1 ? this.doc.contents : this.doc.getIn(path.slice(0, -1), true);
      if (isMap(parent)) {
        for (const pair of parent.items) {
          if (isScalar(pair.key) && String(pair.key.value) === last && pair.key.range) return this.at(pair.key.range[0]);
        }
      }
    }
    return this.valueAt(path);
  }

  insideString(path: DocumentPath, inner: SourcePosition): SourcePosition | undefined {
    const found: unknown = this.doc.getIn(path, true);
    if (!isScalar(found) || typeof found.value !== 'string' || !found.range) return this.valueAt(path);
    const exact = this.exactOffset(found as Scalar<string>, found.range, inner);
    return exact === undefined ? this.at(found.range[0]) : this.at(exact);
  }

  private exactOffset(node: Scalar<string>, range: readonly [number, number, number], inner: SourcePosition): number | undefined {
    const value = node.value;
    const offset = offsetInValue(value, inner);
    if (offset === undefined) return undefined;
    switch (node.type) {
      case 'PLAIN':
        return this.text.slice(range[0], range[1]) === value ? range[0] + offset : undefined;
      case 'QUOTE_DOUBLE':
      case 'QUOTE_SINGLE':
        return this.text.slice(range[0] + 1, range[1] - 1) === value ? range[0] + 1 + offset : undefined;
      case 'BLOCK_LITERAL':
        return this.literalOffset(range, inner);
      default:
        return undefined;
    }
  }

  /** Line k of a literal block scalar's value is source line (header + k), after the block's indentation. */
  private literalOffset(range: readonly [number, number, number], inner: SourcePosition): number | undefined {
    const headerLine = this.lines.linePos(range[0]).line;
    const starts = this.lines.lineStarts;
    let indent: number | undefined;
    for (let line = headerLine + 1; line <= starts.length; line++) {
      const start = starts[line - 1] ?? 0;
      if (start >= range[1]) break;
      const end = starts[line] ?? this.text.length;
      const content = this.text.slice(start, end).replace(/\r?\n$/, '');
      if (content.trim() === '') continue;
      indent = content.length - content.trimStart().length;
      break;
    }
    const lineStart = starts[headerLine + inner.line - 1];
    if (indent === undefined || lineStart === undefined) return undefined;
    const offset = lineStart + indent + inner.column - 1;
    return offset < range[1] ? offset : undefined;
  }
}

/**
 * Parse a rule file into its documents (a YAML stream may hold several). A document with a syntax
 * error is reported (E_RULE_SYNTAX, with its position) and left out; empty documents are left out.
 */
export function readRuleFile(file: { readonly path: string; readonly text: string }): ReadResult {
  const lines = new LineCounter();
  const diagnostics: Diagnostic[] = [];
  const documents: ReadDocument[] = [];
  const parsed = parseAllDocuments(file.text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  const position = (offset: number): SourcePosition => {
    const { line, col } = lines.linePos(offset);
    return { line, column: col };
  };
  for (const doc of parsed) {
    if (doc.errors.length > 0) {
      // The parser often reports one mistake several times on the same line; keep one per line.
      const reported = new Set<number>();
      for (const error of doc.errors) {
        const at = position(error.pos[0]);
        if (reported.has(at.line)) continue;
        reported.add(at.line);
        diagnostics.push({
          code: 'E_RULE_SYNTAX',
          severity: 'error',
          message: `${/\.json$/i.test(file.path) ? 'JSON' : 'YAML'} syntax error: ${error.message}`,
          file: file.path,
          position: at,
          hint: 'fix the syntax at this position; YAML indentation must be consistent and JSON needs commas and double quotes',
        });
      }
      continue;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
    } catch (error) {
      diagnostics.push({
        code: 'E_RULE_SYNTAX',
        severity: 'error',
        message: `the document cannot be read: ${error instanceof Error ? error.message : String(error)}`,
        file: file.path,
        position: position(doc.range[0]),
        hint: 'use fewer YAML aliases (*name) in a rule file',
      });
      continue;
    }
    if (value === null || value === undefined) continue;
    documents.push({ value, locator: new DocumentLocator(doc, file.text, lines) });
  }
  return { documents, diagnostics };
}
