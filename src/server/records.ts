/**
 * From the text of one delivered payload to CloudTrail records, exactly as `scan` reads a file: the
 * reader's splitter (`JsonRecordSplitter`) cuts the text into JSON values and `expandSplitItem`
 * peels every envelope (a record, an array, `{"Records": […]}`, JSON lines, an EventBridge event, a
 * CloudWatch Logs subscription payload, encoded or decoded). Nothing here throws on any input: bad
 * parts become diagnostics and the rest goes on.
 */
import { quoteForMessage } from '../core/quote.js';
import { expandSplitItem, JsonRecordSplitter } from '../normalise/expand.js';
import type { SplitOutput } from '../normalise/expand.js';
import type { InputRecord, ReadDiagnostic } from '../sources/source.js';

/** Records and problems gathered from the payloads of one request, in order. */
export class RecordCollector {
  readonly records: InputRecord[] = [];
  readonly problems: ReadDiagnostic[] = [];
  /** Characters of record text collected so far. */
  recordChars = 0;

  /**
   * @param source the `origin.source` of every record and the `source` of every diagnostic
   *   (e.g. `firehose:<requestId>`); attacker-influenced, escaped wherever it is printed.
   * @param maxValueChars cap on one JSON value, on one decoded CloudWatch Logs payload and on the
   *   record text collected in all (see `isOverBudget`).
   */
  constructor(
    readonly source: string,
    private readonly maxValueChars: number,
  ) {}

  /** Whether the records collected hold more text than `maxValueChars` (the request is then refused). */
  get isOverBudget(): boolean {
    return this.recordChars > this.maxValueChars;
  }

  /** Adds a problem found outside the JSON text (bad gzip in a record, …). */
  problem(code: string, message: string, index?: number): void {
    this.problems.push(index === undefined ? { source: this.source, code, message } : { source: this.source, code, message, index });
  }

  /**
   * Reads one payload. `where` prefixes its problems (e.g. `records[3]: `) when a request holds
   * several payloads.
   */
  async add(text: string, where = ''): Promise<void> {
    const splitter = new JsonRecordSplitter({ maxValueChars: this.maxValueChars });
    const outputs: SplitOutput[] = [...splitter.push(text), ...splitter.end()];
    for (const output of outputs) {
      if (this.isOverBudget) return;
      if (output.kind === 'problem') {
        this.problems.push({ source: this.source, code: output.code, message: `${where}${output.message}`, byteOffset: output.byteOffset, ...(output.index === undefined ? {} : { index: output.index }) });
        continue;
      }
      const expansion = await expandSplitItem(output, { maxValueChars: this.maxValueChars });
      for (const problem of expansion.problems) {
        this.problems.push({ source: this.source, code: problem.code, message: `${where}value #${output.index}: ${problem.message}`, index: output.index, byteOffset: output.byteOffset });
      }
      for (const record of expansion.records) {
        this.recordChars += record.text.length;
        this.records.push({ value: record.value, text: record.text, origin: { source: this.source, index: this.records.length } });
      }
    }
  }
}

/** A one-line summary of the first problems, for an error response. */
export function summariseProblems(problems: readonly ReadDiagnostic[], max = 3): string {
  const shown = problems.slice(0, max).map((p) => `${p.code}: ${p.message}`);
  const more = problems.length > max ? ` (and ${problems.length - max} more)` : '';
  return `${shown.join('; ')}${more}`;
}

/** `firehose:<id>` / `http:<id>` with the id kept printable and short. */
export function originFor(route: 'firehose' | 'http', requestId: string): string {
  const quoted = quoteForMessage(requestId, 128);
  return `${route}:${quoted.slice(1, -1)}`;
}
