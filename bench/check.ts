/**
 * Did each tool find what was planted? jq and DuckDB must select exactly the flagship calls of
 * truth.json (by eventID); trailhound must raise exactly the expected flagship signals (rule id and
 * group), no more and no fewer. Signals of the other rules are counted, not judged.
 */
import type { CorpusTruth } from './corpus.js';
import { COMPANION_RULE_ID, DATADOG_RULE_ID } from './scenarios.js';

export interface CheckResult {
  readonly ok: boolean;
  /** One line: what was compared and the outcome. */
  readonly summary: string;
  /** What was missing or extra (the first few of each). */
  readonly details: readonly string[];
}

export interface SignalLike {
  readonly ruleId: string;
  readonly group: Readonly<Record<string, string>>;
}

const SHOW = 5;

function show(label: string, items: readonly string[]): string[] {
  if (items.length === 0) return [];
  const head = items.slice(0, SHOW).join(', ');
  return [`${label} (${items.length}): ${head}${items.length > SHOW ? ', …' : ''}`];
}

/** Compare selected eventIDs with the truth, as sets (a repeated id is reported too). */
export function checkEventIds(tool: string, got: readonly string[], truth: CorpusTruth): CheckResult {
  const expected = new Set(truth.flagshipCallIds);
  const seen = new Set<string>();
  const repeated: string[] = [];
  for (const id of got) {
    if (seen.has(id)) repeated.push(id);
    seen.add(id);
  }
  const missing = [...expected].filter((id) => !seen.has(id));
  const extra = [...seen].filter((id) => !expected.has(id));
  const ok = missing.length === 0 && extra.length === 0 && repeated.length === 0;
  return {
    ok,
    summary: `${tool}: ${seen.size} flagship calls selected, ${expected.size} planted or scheduled${ok ? ' — same set' : ' — MISMATCH'}`,
    details: [...show('missing', missing), ...show('extra', extra), ...show('selected twice', repeated)],
  };
}

function isStringRecord(value: unknown): value is Record<string, string> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && Object.values(value).every((v) => typeof v === 'string');
}

/** Signals from `trailhound scan -f jsonl` output; lines that are not signals are counted. */
export function parseSignalLines(text: string): { signals: SignalLike[]; badLines: number } {
  const signals: SignalLike[] = [];
  let badLines = 0;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      badLines++;
      continue;
    }
    if (typeof value === 'object' && value !== null && 'ruleId' in value && typeof value.ruleId === 'string' && 'group' in value && isStringRecord(value.group)) {
      signals.push({ ruleId: value.ruleId, group: value.group });
    } else {
      badLines++;
    }
  }
  return { signals, badLines };
}

function canonicalGroup(group: Readonly<Record<string, string>>): string {
  return JSON.stringify(Object.keys(group)
    .sort()
    .map((k) => [k, group[k]]));
}

/** Multiset difference a − b. */
function minus(a: readonly string[], b: readonly string[]): string[] {
  const left = new Map<string, number>();
  for (const x of b) left.set(x, (left.get(x) ?? 0) + 1);
  const out: string[] = [];
  for (const x of a) {
    const n = left.get(x) ?? 0;
    if (n > 0) left.set(x, n - 1);
    else out.push(x);
  }
  return out;
}

export interface SignalCheck extends CheckResult {
  /** Signals per rule id of the rules that are not judged. */
  readonly otherSignals: Readonly<Record<string, number>>;
  readonly flagshipSignals: number;
}

/**
 * The flagship signals against the truth. bd9-8o0-553: same multiset of groups. The companion rule
 * (when loaded, or when it raised anything): each expected target matched by one signal whose group
 * values name the instance and nothing but its account and region; every signal matched.
 */
export function checkSignals(signals: readonly SignalLike[], truth: CorpusTruth, options: { readonly isCompanionLoaded: boolean }): SignalCheck {
  const details: string[] = [];
  const otherSignals: Record<string, number> = {};
  for (const s of signals) if (s.ruleId !== DATADOG_RULE_ID && s.ruleId !== COMPANION_RULE_ID) otherSignals[s.ruleId] = (otherSignals[s.ruleId] ?? 0) + 1;

  const expected = truth.expectedSignals.filter((e) => e.ruleId === DATADOG_RULE_ID).map((e) => canonicalGroup(e.group));
  const got = signals.filter((s) => s.ruleId === DATADOG_RULE_ID).map((s) => canonicalGroup(s.group));
  const missing = minus(expected, got);
  const extra = minus(got, expected);
  details.push(...show(`${DATADOG_RULE_ID} missing`, missing), ...show(`${DATADOG_RULE_ID} extra`, extra));
  let ok = missing.length === 0 && extra.length === 0;
  const parts = [`${DATADOG_RULE_ID} ${got.length}/${expected.length}`];

  const companion = signals.filter((s) => s.ruleId === COMPANION_RULE_ID);
  if (options.isCompanionLoaded || companion.length > 0) {
    const unmatched = [...companion];
    const missingTargets: string[] = [];
    for (const e of truth.expectedTargetSignals) {
      const allowed = new Set([e.target.account, e.target.region, e.target.instanceId]);
      const i = unmatched.findIndex((s) => {
        const values = Object.values(s.group);
        return values.includes(e.target.instanceId) && values.every((v) => allowed.has(v));
      });
      if (i >= 0) unmatched.splice(i, 1);
      else missingTargets.push(`${e.target.instanceId} (${e.scenario})`);
    }
    details.push(...show(`${COMPANION_RULE_ID} missing`, missingTargets), ...show(`${COMPANION_RULE_ID} extra`, unmatched.map((s) => canonicalGroup(s.group))));
    ok = ok && missingTargets.length === 0 && unmatched.length === 0;
    parts.push(`${COMPANION_RULE_ID} ${companion.length}/${truth.expectedTargetSignals.length}`);
  } else {
    parts.push(`${COMPANION_RULE_ID} not in the rule pack yet (not checked)`);
  }
  return {
    ok,
    summary: `trailhound: flagship signals raised/expected: ${parts.join(', ')}${ok ? ' — exact' : ' — MISMATCH'}`,
    details,
    otherSignals,
    flagshipSignals: got.length + companion.length,
  };
}
