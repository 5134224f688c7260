/**
 * How `trailhound respond` prints a response plan and the outcome of `--execute`: text for a
 * terminal, or one JSON document. Every value from CloudTrail or AWS in the prose is escaped for the
 * terminal; commands are printed as built, since each value in them is already shell-quoted (and a
 * quoted value holds no control character, see src/respond/shell-quote.ts).
 */
import type { ExecutionReport, StepOutcome } from '../respond/execute.js';
import type { ResponseIdentity } from '../respond/identity.js';
import type { ResponsePlan } from '../respond/plan.js';
import { escapeForTerminal } from './render.js';

const WIDTH = 100;

/** Wrap `text` at spaces to `width` columns, each line prefixed with `indent`. */
function wrap(text: string, indent: string, width = WIDTH): string[] {
  const lines: string[] = [];
  let line = '';
  for (const word of text.split(/ +/)) {
    if (line !== '' && indent.length + line.length + 1 + word.length > width) {
      lines.push(`${indent}${line}`);
      line = word;
    } else line = line === '' ? word : `${line} ${word}`;
  }
  if (line !== '') lines.push(`${indent}${line}`);
  return lines;
}

/** One line about an identity, for the plan's header. */
export function describeIdentity(identity: ResponseIdentity): string {
  switch (identity.kind) {
    case 'iam-user':
      return `IAM user ${identity.userName} (${identity.arn}); console use ${identity.console.state === 'not-seen' ? 'not seen' : identity.console.state}${identity.accessKeyIds.length > 0 ? `; keys used: ${identity.accessKeyIds.join(', ')}` : ''}`;
    case 'assumed-role':
      return `assumed role ${identity.roleName}${identity.sessionName !== null ? `, session ${identity.sessionName}` : ''}${identity.federationProvider !== null ? `, federated through ${identity.federationProvider}` : ''}${identity.isServiceLinked ? ' (service-linked)' : ''}`;
    case 'sso':
      return `IAM Identity Center user ${identity.sessionName ?? '(unknown)'} through ${identity.roleName}`;
    case 'federated-user':
      return `federated user ${identity.name} (GetFederationToken${identity.issuerUserName !== null ? ` by IAM user ${identity.issuerUserName}` : ', issuer unknown'})`;
    case 'root':
      return `root user of account ${identity.accountId ?? '(unknown)'}; console use ${identity.console.state === 'not-seen' ? 'not seen' : identity.console.state}`;
    case 'other':
      return `${identity.arn}${identity.type !== null ? ` (${identity.type})` : ''}: ${identity.reason}`;
  }
}

/** The plan as text; `executeHint` is the command line that would run it (absent: the plan is about to run). */
export function renderPlanText(plan: ResponsePlan, executeHint?: string): string {
  const e = escapeForTerminal;
  const out: string[] = [];
  out.push(`Response plan for signal ${e(plan.signalId)} · ${plan.severity} · ${e(plan.ruleId)}`, e(plan.title));
  out.push(`account ${e(plan.accountId ?? 'unknown')} · region ${e(plan.region ?? 'unknown')}`);
  if (plan.identities.length === 0) out.push('identity: none known');
  for (const identity of plan.identities) out.push(`identity: ${e(describeIdentity(identity))}`);
  out.push(`instance${plan.instanceIds.length === 1 ? '' : 's'}: ${plan.instanceIds.length > 0 ? e(plan.instanceIds.join(', ')) : 'none'}`);
  if (plan.notes.length > 0) {
    out.push('');
    for (const note of plan.notes) out.push(...wrap(`! ${e(note)}`, '', WIDTH).map((l, i) => (i === 0 ? l : `  ${l}`)));
  }
  plan.steps.forEach((step, i) => {
    out.push('', `${i + 1}. ${e(step.title)}  [${step.action !== null ? 'automated' : 'manual'}]`);
    out.push(...wrap(e(step.why), '   '));
    for (const command of step.commands) out.push(`   $ ${command}`);
  });
  const automated = plan.steps.filter((s) => s.action !== null).length;
  out.push('');
  if (executeHint === undefined) return `${out.join('\n')}\n`;
  if (automated === 0) out.push('Dry run: nothing was changed. Every step of this plan is manual: run the commands yourself.');
  else {
    out.push(...wrap(`Dry run: nothing was changed. Run the commands yourself, or run the ${automated} automated step${automated === 1 ? '' : 's'} with the AWS SDK (after a confirmation; manual steps are left to you):`, ''));
    out.push(`   $ ${executeHint}`);
  }
  return `${out.join('\n')}\n`;
}

const MARK: Record<StepOutcome['status'], string> = { ok: 'ok', failed: 'FAILED', manual: 'manual', 'not-run': 'not run' };

/** One outcome as a line (or a few): `2. ok  Deactivate …: deactivated AKIA…`. */
export function renderOutcomeText(outcome: StepOutcome): string {
  const code = outcome.errorCode !== undefined ? ` (${escapeForTerminal(outcome.errorCode)})` : '';
  const head = `${outcome.index + 1}. ${MARK[outcome.status]}${code}  ${escapeForTerminal(outcome.step.title)}`;
  if (outcome.status === 'not-run' || outcome.status === 'manual') return `${head}\n`;
  return `${[head, ...wrap(escapeForTerminal(outcome.detail), '   ')].join('\n')}\n`;
}

/** The text of the note logged on the signal for one executed step. */
export function outcomeNote(outcome: StepOutcome, total: number): string {
  const status = outcome.status === 'failed' ? `failed (${outcome.errorCode ?? 'Error'})` : outcome.status;
  return `respond --execute, step ${outcome.index + 1}/${total} "${outcome.step.title}": ${status}: ${outcome.detail}`;
}

function outcomeJson(o: StepOutcome): Record<string, unknown> {
  return { index: o.index, id: o.step.id, status: o.status, detail: o.detail, ...(o.errorCode !== undefined ? { errorCode: o.errorCode } : {}) };
}

/** The plan (and the execution, when there was one) as one JSON document. */
export function renderPlanJson(plan: ResponsePlan, report?: ExecutionReport): string {
  const document = report === undefined ? { plan } : { plan, execution: { isComplete: report.isComplete, outcomes: report.outcomes.map(outcomeJson) } };
  return `${JSON.stringify(document, null, 2)}\n`;
}
