/**
 * `trailhound investigate` output: a terminal report (summary, then the timeline with failed calls
 * marked) or JSON. Every CloudTrail string is attacker-controlled and goes through
 * `escapeForTerminal` in the text form; JSON.stringify escapes it in the JSON form.
 */
import type { InvestigationReport, TimelineEntry } from '../investigate/investigate.js';
import { serviceOf } from '../investigate/investigate.js';
import { escapeForTerminal } from './render.js';

export interface RenderOptions {
  /** ANSI colour for failed calls and new values (a terminal without NO_COLOR). */
  readonly isColor: boolean;
}

const e = escapeForTerminal;

function iso(ms: number): string {
  return Number.isFinite(ms) ? new Date(ms).toISOString().replace('.000Z', 'Z') : String(ms);
}

function durationText(ms: number): string {
  if (ms < 2 * 3_600_000) return `${Math.round(ms / 60_000)}m`;
  return `${(ms / 3_600_000).toFixed(1).replace(/\.0$/, '')}h`;
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? '' : 's'}`;
}

export function renderInvestigationJson(report: InvestigationReport): string {
  const time = (ms: number | null): string | null => (ms === null ? null : iso(ms));
  return `${JSON.stringify(
    {
      ...report,
      window: { ...report.window, from: iso(report.window.fromMs), to: iso(report.window.toMs) },
      indexedRange: { ...report.indexedRange, oldest: time(report.indexedRange.oldestMs), newest: time(report.indexedRange.newestMs) },
      timeline: report.timeline.map((t) => ({ time: iso(t.timeMs), ...t })),
    },
    null,
    2,
  )}\n`;
}

function timelineLine(t: TimelineEntry, paint: (code: string, text: string) => string): string {
  const api = `${serviceOf(t.eventSource)}:${t.eventName ?? '?'}`;
  const parts = [iso(t.timeMs), e(api)];
  if (t.instanceIds.length > 0) parts.push(e(t.instanceIds.join(',')));
  parts.push(e(t.sessionName ?? t.identityArn ?? '-'), e(t.sourceIp ?? '-'), e(t.userAgent ?? '-'));
  let line = `${t.errorCode !== null ? '! ' : '  '}${parts.join('  ')}`;
  if (t.errorCode !== null) line = paint('31', `${line}  ERROR ${e(t.errorCode)}`);
  if (t.isSignalEvent) line += '  <- signal event';
  return `  ${line}`;
}

/** The terminal report. */
export function renderInvestigationText(report: InvestigationReport, options: RenderOptions): string {
  const paint = (code: string, text: string): string => (options.isColor ? `\u001b[${code}m${text}\u001b[0m` : text);
  const flag = (isNew: boolean | null): string => (isNew === true ? paint('33', '  NEW') : '');
  const { target, summary, pivots } = report;
  const out: string[] = [];
  if (target.kind === 'signal') {
    out.push(`Investigation of signal ${e(target.signalId ?? target.label)}${target.title !== null ? ` — ${e(target.title)}` : ''}${target.severity !== null ? ` [${e(target.severity)}]` : ''}`);
    if (target.ruleId !== null) out.push(`Rule       ${e(target.ruleId)}`);
  } else {
    out.push(`Investigation of ${e(target.label)}`);
  }
  out.push(`Window     ${iso(report.window.fromMs)} → ${iso(report.window.toMs)} (${durationText(report.window.toMs - report.window.fromMs)})`);
  for (const arn of pivots.identityArns) out.push(`Identity   ${e(arn)}`);
  for (const arn of pivots.roleArns) out.push(`Role       ${e(arn)} (every session)`);
  for (const key of pivots.accessKeyIds) out.push(`Access key ${e(key)}`);
  for (const id of pivots.principalIds) out.push(`Principal  ${e(id)}`);
  for (const host of target.hosts) out.push(`Instance   ${e(host)}`);
  const range = report.indexedRange;
  out.push(`Index      ${range.oldestMs === null || range.newestMs === null ? 'empty' : `${iso(range.oldestMs)} → ${iso(range.newestMs)}`}`);
  if (pivots.identityArns.length + pivots.roleArns.length + pivots.accessKeyIds.length + pivots.principalIds.length === 0) {
    out.push('', 'No identity to search for: the signal names none and none of its events is in the index.');
    return `${out.join('\n')}\n`;
  }

  out.push('', 'SUMMARY');
  out.push(
    `  ${plural(report.total, 'call')}, ${summary.errors} failed, ${plural(summary.identities.length, 'identity')}`.replace('identitys', 'identities') +
      `, ${plural(summary.sourceIps.length, 'source IP')}, ${plural(summary.userAgents.length, 'user agent')}`,
  );
  if (!report.hasHistory) out.push('  (the index holds nothing before the window, so nothing is flagged NEW)');
  if (summary.services.length > 0) out.push('  APIs by service:');
  for (const s of summary.services) {
    out.push(`    ${e(s.service)} (${s.count})`);
    for (const api of s.apis) out.push(`      ${e(api.eventName ?? '?')} ×${api.count}${api.errorCount > 0 ? paint('31', ` (${api.errorCount} failed)`) : ''}${flag(api.isNew)}`);
  }
  if (report.hasHistory) out.push(`  Never called before the window: ${summary.newApis.length === 0 ? 'none' : summary.newApis.map(e).join(', ')}`);
  out.push('  Source IPs:');
  for (const ip of summary.sourceIps) out.push(`    ${e(ip.value)} ×${ip.count} (${iso(ip.firstMs)} → ${iso(ip.lastMs)})${flag(ip.isNew)}`);
  out.push('  User agents:');
  for (const agent of summary.userAgents) out.push(`    ${e(agent.value)} ×${agent.count}${flag(agent.isNew)}`);
  if (summary.identities.length > 1) {
    out.push('  Identities (sessions):');
    for (const id of summary.identities) out.push(`    ${e(id.value)} ×${id.count}`);
  }
  out.push(`  Instances stopped, modified or started: ${summary.instances.length === 0 ? 'none' : ''}`.trimEnd());
  for (const i of summary.instances) {
    const actions = i.actions.map((a) => `${e(a.eventName ?? '?')} ×${a.count} at ${iso(a.firstMs)}${a.errorCount > 0 ? ` (${a.errorCount} failed)` : ''}`).join(', ');
    out.push(`    ${e(i.instanceId)}${i.isSignalHost ? ' (the signal’s instance)' : ''}: ${actions}`);
  }
  out.push(`  Failed calls: ${summary.errors === 0 ? 'none' : summary.errorCodes.map((c) => `${e(c.value)} ×${c.count}`).join(', ')}`);
  for (const b of summary.accessDeniedBursts) {
    out.push(paint('31', `    AccessDenied burst: ${b.count} calls ${iso(b.fromMs)} → ${iso(b.toMs)} (${b.errorCodes.map(e).join(', ')}): ${b.apis.slice(0, 8).map(e).join(', ')}${b.apis.length > 8 ? ', …' : ''}`));
  }
  out.push(`  Other signals on these identities or instances: ${summary.otherSignals.length === 0 ? 'none' : ''}`.trimEnd());
  for (const s of summary.otherSignals) out.push(`    ${e(s.id)} [${e(s.severity)}, ${e(s.status)}] ${e(s.title)} (last seen ${e(s.lastSeen)}; via ${s.via.map(e).join(', ')})`);

  out.push('', `TIMELINE (${report.timeline.length < report.total ? `the first ${report.timeline.length} of ${plural(report.total, 'call')}; --limit shows more` : plural(report.total, 'call')}, oldest first; ! = failed)`);
  for (const t of report.timeline) out.push(timelineLine(t, paint));
  return `${out.join('\n')}\n`;
}
