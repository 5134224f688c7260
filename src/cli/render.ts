import type { Signal } from '../core/types.js';
import type { ScanSummary } from '../pipeline/scan.js';

/**
 * Make an attacker-controlled string safe to print on a terminal: control characters (C0, C1, DEL),
 * line and paragraph separators and bidi overrides become visible `\uXXXX` escapes, so a value can
 * neither forge lines nor send terminal escape sequences.
 */
export function escapeForTerminal(text: string): string {
  // eslint-disable-next-line no-control-regex
  return text.replace(/[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function truncate(text: string, width: number): string {
  if (width <= 1) return text.slice(0, Math.max(0, width));
  return text.length > width ? `${text.slice(0, width - 1)}…` : text;
}

function groupText(signal: Signal): string {
  const values = Object.values(signal.group);
  return values.length === 0 ? '-' : values.join(' · ');
}

/** A fixed-width table for a terminal of `columns` characters. */
export function renderTable(signals: readonly Signal[], columns = 160): string {
  if (signals.length === 0) return 'No signals.\n';
  const header = ['SEVERITY', 'RULE', 'GROUP', 'HOST', 'FIRST SEEN', 'LAST SEEN', 'EVENTS'];
  const rows = signals.map((s) => [`${s.severity.toUpperCase()}${s.status === 'suppressed' ? ' (SUPPRESSED)' : ''}`, s.ruleId, groupText(s), s.host ?? '-', s.firstSeen, s.lastSeen, String(s.eventCount)].map(escapeForTerminal));
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]?.length ?? 0)));
  // Shrink the widest free-text columns (group, rule) until the table fits the terminal.
  const gap = 2;
  const total = () => widths.reduce((a, b) => a + b, 0) + gap * (widths.length - 1);
  for (const i of [2, 1, 3]) {
    const excess = total() - columns;
    if (excess <= 0) break;
    widths[i] = Math.max(header[i]?.length ?? 0, (widths[i] ?? 0) - excess);
  }
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => truncate(c, widths[i] ?? c.length).padEnd(widths[i] ?? 0))
      .join(' '.repeat(gap))
      .trimEnd();
  const out = [line(header), ...rows.map(line)];
  for (const s of signals) {
    out.push('', `${escapeForTerminal(s.title)}  [${s.severity}] ${s.id}`);
    if (s.suppression) out.push(`  suppressed by ${escapeForTerminal(s.suppression.source)}: ${escapeForTerminal(s.suppression.reason)}`);
    out.push(
      ...s.message
        .split('\n')
        .map((l) => `  ${escapeForTerminal(l)}`)
        .filter((l) => l.trim() !== ''),
    );
  }
  return `${out.join('\n')}\n`;
}

export function renderJsonl(signals: readonly Signal[]): string {
  return signals.map((s) => `${JSON.stringify(s)}\n`).join('');
}

export function renderJson(signals: readonly Signal[]): string {
  return `${JSON.stringify(signals, null, 2)}\n`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

/** The end-of-scan summary written to stderr. */
export function renderSummary(summary: ScanSummary): string {
  const mb = (summary.bytes / 1e6).toFixed(1);
  const secs = (summary.durationMs / 1000).toFixed(2);
  const lines = [
    `scanned ${plural(summary.files, 'file')} (${mb} MB), ${plural(summary.records, 'record')}, ${plural(summary.events, 'event')} in ${secs}s with ${plural(summary.rules, 'rule')}`,
    `skipped ${plural(summary.skippedFiles, 'file')} (digest/insight), ${plural(summary.badInputs, 'bad input')}, ${plural(summary.duplicates, 'duplicate')}`,
  ];
  const bySeverity = Object.entries(summary.signalsBySeverity)
    .map(([k, v]) => `${k}: ${v}`)
    .join(', ');
  const total = Object.values(summary.signalsByRule).reduce((a, b) => a + b, 0);
  lines.push(`${plural(total, 'signal')}${total > 0 ? ` (${bySeverity})` : ''}`);
  for (const [rule, n] of Object.entries(summary.signalsByRule).sort()) lines.push(`  ${rule}: ${n}`);
  if (summary.suppressedSignals !== undefined) lines.push(`${plural(summary.suppressedSignals, 'suppressed signal')} (printed with --show-suppressed)`);
  return `${lines.join('\n')}\n`;
}
