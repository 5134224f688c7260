/**
 * Diagnostics about one YAML/JSON document (a suppression file, a config file), located in the file:
 * the path inside the document, the line and column of the value or key, and a hint. The rule loader
 * has its own richer reporter; this is the small shared part for the other documents trailhound
 * reads. Pure.
 */
import type { Diagnostic, SourcePosition } from '../core/types.js';
import { formatPath } from './read.js';
import type { DocumentPath, Locator } from './read.js';
import { closestName } from './suggest.js';

export interface ReportOptions {
  readonly hint?: string | undefined;
  /** Point at the key naming the last path segment instead of its value. */
  readonly atKey?: boolean;
  readonly position?: SourcePosition | undefined;
}

export class DocumentReporter {
  constructor(
    readonly file: string,
    readonly locator: Locator,
    readonly out: Diagnostic[],
  ) {}

  add(code: string, severity: 'error' | 'warning', message: string, path: DocumentPath, options: ReportOptions = {}): void {
    const position = options.position ?? (options.atKey === true ? this.locator.keyAt(path) : this.locator.valueAt(path));
    this.out.push({
      code,
      severity,
      message,
      file: this.file,
      ...(path.length > 0 ? { path: formatPath(path) } : {}),
      ...(position !== undefined ? { position } : {}),
      ...(options.hint !== undefined ? { hint: options.hint } : {}),
    });
  }

  /** Re-home a diagnostic about a string value (a query) onto the file. */
  inner(diagnostic: Diagnostic, path: DocumentPath, defaultHint: string, code = diagnostic.code): void {
    const position = diagnostic.position ? this.locator.insideString(path, diagnostic.position) : this.locator.valueAt(path);
    this.add(code, diagnostic.severity, diagnostic.message, path, { hint: diagnostic.hint ?? defaultHint, position });
  }

  /** Every key of `value` not in `known` is an error `code`, with the closest known key as the hint. */
  unknownKeys(value: Readonly<Record<string, unknown>>, known: readonly string[], path: DocumentPath, code: string, what: string): void {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const suggestion = closestName(key, known);
      this.add(code, 'error', `unknown field '${key}' in ${what}`, [...path, key], {
        atKey: true,
        hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : `the fields of ${what} are: ${known.join(', ')}`,
      });
    }
  }

  /** zod issues as `code` diagnostics at their paths. */
  issues(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string; readonly code: string }[], path: DocumentPath, code: string, docs: string): void {
    for (const issue of issues) {
      const issuePath = [...path, ...issue.path.filter((s): s is string | number => typeof s === 'string' || typeof s === 'number')];
      const isMissing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
      const field = formatPath(issuePath);
      this.add(code, 'error', isMissing ? `'${field}' is required` : `${field === '' ? 'the document' : `'${field}'`}: ${issue.message}`, issuePath, {
        hint: isMissing ? `add the field (see ${docs})` : `see ${docs} for the fields and their types`,
      });
    }
  }
}
