/**
 * Checking and compiling Datadog's `options.sequenceDetectionOptions` (the `sequence_detection`
 * method):
 *
 * ```yaml
 * sequenceDetectionOptions:
 *   steps:            # the chain, entry step first, terminal step last
 *     - { name: stopped, condition: stop_instance > 0, evaluationWindow: 900 }
 *     - { name: started, condition: start_instance > 0, evaluationWindow: 900 }
 *   stepTransitions:  # parent → child, child at most evaluationWindow seconds after the parent
 *     - { parent: stopped, child: started, evaluationWindow: 900 }
 * ```
 *
 * Pure: the loader passes the raw value and the rule's query names, and re-homes the issues onto
 * the rule file (paths here are relative to `options`). Every problem is reported, never just the
 * first. The checked options list the steps in CHAIN order (the order the transitions give).
 */
import { z } from 'zod';
import type { Diagnostic } from '../core/types.js';
import { compileCondition } from './condition.js';
import type { SequenceDetectionOptions, SequenceStep, SequenceTransition } from './model.js';
import { closestName } from './suggest.js';

/** Windows Datadog allows for a step and for a transition, in seconds. */
export const SEQUENCE_WINDOWS_SECONDS = [0, 60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600] as const;
/** Datadog's limits: steps per rule, and the sum of the transition windows (seconds). */
export const MAX_SEQUENCE_STEPS = 10;
export const MAX_SEQUENCE_SECONDS = 86400;

/** Step names are named by case conditions, so they are identifiers like query names. */
const STEP_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export const sequenceStepSchema = z.object({
  name: z.string(),
  condition: z.string(),
  evaluationWindow: z.number().int().nonnegative(),
});

export const sequenceTransitionSchema = z.object({
  parent: z.string(),
  child: z.string(),
  evaluationWindow: z.number().int().nonnegative(),
});

/** The whole object, for tools; the checker below goes piece by piece so that it reports everything. */
export const sequenceDetectionOptionsSchema = z.object({
  steps: z.array(sequenceStepSchema).min(1).max(MAX_SEQUENCE_STEPS),
  stepTransitions: z.array(sequenceTransitionSchema).nullish(),
});

export const SEQUENCE_OPTIONS_FIELDS: Readonly<Record<keyof typeof sequenceDetectionOptionsSchema.shape, string>> = {
  steps: 'The steps, entry step first and terminal step last (at most 10).',
  stepTransitions: 'parent → child links between consecutive steps, each with its window.',
};
export const SEQUENCE_STEP_FIELDS: Readonly<Record<keyof typeof sequenceStepSchema.shape, string>> = {
  name: 'Step name: letters, digits and _, unique; named by transitions and case conditions.',
  condition: 'Condition over query counts, as in a case (`stop_instance > 0`).',
  evaluationWindow: 'Seconds of event time over which the step condition counts events.',
};
export const SEQUENCE_TRANSITION_FIELDS: Readonly<Record<keyof typeof sequenceTransitionSchema.shape, string>> = {
  parent: 'The earlier step.',
  child: 'The step that must follow it.',
  evaluationWindow: 'Seconds after the parent within which the child must happen.',
};

export type IssuePath = readonly (string | number)[];

/** One problem, located relative to the rule's `options`. */
export interface SequenceIssue {
  readonly code: string;
  readonly severity: 'error' | 'warning';
  readonly message: string;
  readonly path: IssuePath;
  readonly hint?: string;
  /** Point at the key rather than the value. */
  readonly atKey?: boolean;
  /** A diagnostic about the string at `path` (a step condition), positioned inside that string. */
  readonly inner?: Diagnostic;
}

export interface CompiledSequenceOptions {
  /** Undefined when any error was found. */
  readonly options: SequenceDetectionOptions | undefined;
  readonly issues: readonly SequenceIssue[];
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  return typeof value === 'object' ? 'a mapping' : `a ${typeof value}`;
}

const ROOT = 'sequenceDetectionOptions';

class Collector {
  readonly issues: SequenceIssue[] = [];

  error(code: string, message: string, path: IssuePath, extra: { hint?: string; atKey?: boolean } = {}): void {
    this.issues.push({ code, severity: 'error', message, path, ...(extra.hint !== undefined ? { hint: extra.hint } : {}), ...(extra.atKey === true ? { atKey: true } : {}) });
  }

  warn(code: string, message: string, path: IssuePath, hint: string): void {
    this.issues.push({ code, severity: 'warning', message, path, hint });
  }

  get hasErrors(): boolean {
    return this.issues.some((i) => i.severity === 'error');
  }

  /** Unknown keys are errors with a "did you mean". */
  keys(value: Record<string, unknown>, known: readonly string[], path: IssuePath, what: string): void {
    for (const key of Object.keys(value)) {
      if (known.includes(key)) continue;
      const suggestion = closestName(key, known);
      this.error('E_RULE_UNKNOWN_FIELD', `unknown field '${key}' in ${what}`, [...path, key], {
        atKey: true,
        hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : `the fields of ${what} are: ${known.join(', ')}`,
      });
    }
  }

  /** zod's issues as E_RULE_SCHEMA, located under `path`. */
  schema(issues: readonly { readonly path: readonly PropertyKey[]; readonly message: string; readonly code: string }[], path: IssuePath): void {
    for (const issue of issues) {
      const at = [...path, ...issue.path.filter((s): s is string | number => typeof s === 'string' || typeof s === 'number')];
      const field = at.map((s) => (typeof s === 'number' ? `[${s}]` : `.${s}`)).join('').replace(/^\./, '');
      const isMissing = issue.code === 'invalid_type' && issue.message.endsWith('received undefined');
      this.error('E_RULE_SCHEMA', isMissing ? `'options.${field}' is required` : `'options.${field}': ${issue.message}`, at, {
        hint: isMissing ? 'add the field (see the sequence section of docs/rule-format.md)' : 'see the sequence section of docs/rule-format.md',
      });
    }
  }

  window(seconds: number, path: IssuePath, what: string): void {
    const windows: readonly number[] = SEQUENCE_WINDOWS_SECONDS;
    if (windows.includes(seconds)) return;
    const nearest = windows.reduce((best, w) => (Math.abs(w - seconds) < Math.abs(best - seconds) ? w : best), windows[0] ?? 0);
    this.error('E_RULE_WINDOW', `${what} ${seconds} is not one of Datadog's values for sequence windows (seconds): ${windows.join(', ')}`, path, { hint: `the nearest allowed value is ${nearest}` });
  }
}

interface CheckedStep extends SequenceStep {
  readonly index: number;
}

interface CheckedTransition extends SequenceTransition {
  readonly index: number;
}

function checkSteps(raw: unknown, queryNames: readonly string[], out: Collector): CheckedStep[] {
  const path = [ROOT, 'steps'];
  if (!Array.isArray(raw)) {
    if (raw === undefined || raw === null) out.error('E_RULE_SCHEMA', `'options.${ROOT}.steps' is required`, [ROOT], { hint: 'list the steps of the sequence, entry step first (see docs/rule-format.md)' });
    else out.error('E_RULE_SCHEMA', `'options.${ROOT}.steps' must be a list of steps, found ${describe(raw)}`, path);
    return [];
  }
  const list: readonly unknown[] = raw;
  if (list.length === 0) out.error('E_RULE_SEQUENCE', 'a sequence needs at least one step', path, { hint: 'add the steps, entry step first' });
  if (list.length > MAX_SEQUENCE_STEPS) out.error('E_RULE_SEQUENCE', `a sequence has at most ${MAX_SEQUENCE_STEPS} steps in Datadog; this one has ${list.length}`, path, { hint: 'split the sequence into several rules' });
  const steps: CheckedStep[] = [];
  const seen = new Map<string, number>();
  list.forEach((item, index) => {
    const at = [...path, index];
    if (isObject(item)) out.keys(item, Object.keys(SEQUENCE_STEP_FIELDS), at, 'a sequence step');
    const parsed = sequenceStepSchema.safeParse(item);
    if (!parsed.success) {
      out.schema(parsed.error.issues, at);
      return;
    }
    const { name, condition: text, evaluationWindow } = parsed.data;
    let isValid = true;
    if (!STEP_NAME.test(name)) {
      out.error('E_RULE_SCHEMA', `step name '${name}' is not a valid name`, [...at, 'name'], { hint: 'use letters, digits and _, starting with a letter, so that transitions and cases can name it' });
      isValid = false;
    }
    const first = seen.get(name);
    if (first !== undefined) {
      out.error('E_RULE_SEQUENCE', `steps[${first}] and steps[${index}] are both named '${name}'`, [...at, 'name'], { hint: 'give every step a different name' });
      isValid = false;
    } else {
      seen.set(name, index);
    }
    out.window(evaluationWindow, [...at, 'evaluationWindow'], `steps[${index}].evaluationWindow`);
    const compiled = compileCondition(text, queryNames);
    for (const d of compiled.diagnostics) {
      out.issues.push({ code: d.code, severity: d.severity, message: d.message, path: [...at, 'condition'], inner: d, ...(d.hint !== undefined ? { hint: d.hint } : {}) });
    }
    if (compiled.ok && isValid) steps.push({ index, name, condition: compiled.value, evaluationWindow });
  });
  return steps;
}

function checkTransitions(raw: unknown, stepNames: readonly string[], out: Collector): CheckedTransition[] {
  const path = [ROOT, 'stepTransitions'];
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    out.error('E_RULE_SCHEMA', `'options.${ROOT}.stepTransitions' must be a list of transitions, found ${describe(raw)}`, path);
    return [];
  }
  const list: readonly unknown[] = raw;
  const transitions: CheckedTransition[] = [];
  list.forEach((item, index) => {
    const at = [...path, index];
    if (isObject(item)) out.keys(item, Object.keys(SEQUENCE_TRANSITION_FIELDS), at, 'a step transition');
    const parsed = sequenceTransitionSchema.safeParse(item);
    if (!parsed.success) {
      out.schema(parsed.error.issues, at);
      return;
    }
    const { parent, child, evaluationWindow } = parsed.data;
    let isValid = true;
    for (const [key, name] of [['parent', parent], ['child', child]] as const) {
      if (stepNames.includes(name)) continue;
      isValid = false;
      const suggestion = closestName(name, stepNames);
      out.error('E_RULE_SEQUENCE_UNKNOWN_STEP', `stepTransitions[${index}].${key} names step '${name}', but the steps are: ${stepNames.length > 0 ? stepNames.join(', ') : 'none'}`, [...at, key], {
        hint: suggestion !== undefined ? `did you mean '${suggestion}'?` : 'name a step listed in steps',
      });
    }
    out.window(evaluationWindow, [...at, 'evaluationWindow'], `stepTransitions[${index}].evaluationWindow`);
    if (isValid) transitions.push({ index, parent, child, evaluationWindow });
  });
  return transitions;
}

/** Every cycle among the transitions, each once, as the list of its step names (first name repeated at the end). */
function findCycles(transitions: readonly CheckedTransition[]): { readonly names: string[]; readonly closing: CheckedTransition }[] {
  const children = new Map<string, CheckedTransition[]>();
  for (const t of transitions) children.set(t.parent, [...(children.get(t.parent) ?? []), t]);
  const state = new Map<string, 'open' | 'done'>();
  const cycles: { names: string[]; closing: CheckedTransition }[] = [];
  const stack: string[] = [];
  // Iterative DFS: the graph is at most a few steps, but the input is a user's file.
  const visit = (start: string): void => {
    const work: { readonly node: string; next: number }[] = [{ node: start, next: 0 }];
    state.set(start, 'open');
    stack.push(start);
    while (work.length > 0) {
      const top = work[work.length - 1];
      if (top === undefined) break;
      const edges = children.get(top.node) ?? [];
      const edge = edges[top.next++];
      if (edge === undefined) {
        state.set(top.node, 'done');
        stack.pop();
        work.pop();
        continue;
      }
      const seen = state.get(edge.child);
      if (seen === 'open') {
        const from = stack.indexOf(edge.child);
        cycles.push({ names: [...stack.slice(from), edge.child], closing: edge });
      } else if (seen === undefined) {
        state.set(edge.child, 'open');
        stack.push(edge.child);
        work.push({ node: edge.child, next: 0 });
      }
    }
  };
  for (const t of transitions) if (!state.has(t.parent)) visit(t.parent);
  return cycles;
}

/**
 * Check `options.sequenceDetectionOptions` of a `sequence_detection` rule and compile its step
 * conditions against the rule's query names. The returned options list the steps in chain order.
 */
export function compileSequenceOptions(raw: unknown, queryNames: readonly string[]): CompiledSequenceOptions {
  const out = new Collector();
  if (raw === undefined || raw === null) {
    out.error('E_RULE_SCHEMA', `'options.${ROOT}' is required for a sequence_detection rule`, [], { hint: 'add sequenceDetectionOptions with the steps and their transitions (see docs/rule-format.md)' });
    return { options: undefined, issues: out.issues };
  }
  if (!isObject(raw)) {
    out.error('E_RULE_SCHEMA', `'options.${ROOT}' must be a mapping with steps and stepTransitions, found ${describe(raw)}`, [ROOT]);
    return { options: undefined, issues: out.issues };
  }
  out.keys(raw, Object.keys(SEQUENCE_OPTIONS_FIELDS), [ROOT], 'sequenceDetectionOptions');
  const steps = checkSteps(raw['steps'], queryNames, out);
  const rawSteps = Array.isArray(raw['steps']) ? (raw['steps'] as unknown[]) : [];
  const declared = rawSteps.flatMap((s) => (isObject(s) && typeof s['name'] === 'string' ? [s['name']] : []));
  const transitions = checkTransitions(raw['stepTransitions'], declared, out);
  const tPath = (t: CheckedTransition): IssuePath => [ROOT, 'stepTransitions', t.index];

  for (const cycle of findCycles(transitions)) {
    out.error('E_RULE_SEQUENCE_CYCLE', `the step transitions form a cycle: ${cycle.names.join(' → ')}`, tPath(cycle.closing), { hint: 'a sequence is a chain: each step leads to the next, and nothing leads back' });
  }
  const parentOf = new Map<string, CheckedTransition>();
  const childOf = new Map<string, CheckedTransition>();
  for (const t of transitions) {
    if (t.parent === t.child) continue; // already a cycle
    const sameLink = childOf.get(t.parent);
    if (sameLink !== undefined && sameLink.child === t.child) {
      out.error('E_RULE_SEQUENCE', `stepTransitions[${sameLink.index}] and stepTransitions[${t.index}] both link '${t.parent}' to '${t.child}'`, tPath(t), { hint: 'keep one transition per pair of steps' });
      continue;
    }
    if (sameLink !== undefined) {
      out.error('E_RULE_SEQUENCE', `step '${t.parent}' leads to both '${sameLink.child}' and '${t.child}': Datadog sequences are linear`, tPath(t), { hint: 'give each step at most one child; use another rule for another branch' });
    } else {
      childOf.set(t.parent, t);
    }
    const otherParent = parentOf.get(t.child);
    if (otherParent !== undefined) {
      out.error('E_RULE_SEQUENCE', `step '${t.child}' follows both '${otherParent.parent}' and '${t.parent}': Datadog sequences are linear`, tPath(t), { hint: 'give each step at most one parent' });
    } else {
      parentOf.set(t.child, t);
    }
  }
  if (out.hasErrors || steps.length !== rawSteps.length) return { options: undefined, issues: out.issues };

  // A linear chain through every step: the entry step is the one without a parent.
  const byName = new Map(steps.map((s) => [s.name, s]));
  const entries = steps.filter((s) => !parentOf.has(s.name));
  if (entries.length !== 1) {
    const loose = entries.slice(1).map((s) => s.name);
    const first = entries[1];
    out.error('E_RULE_SEQUENCE', `the steps do not form one chain: ${loose.map((n) => `'${n}'`).join(', ')} ${loose.length === 1 ? 'is' : 'are'} not linked to the steps before ${loose.length === 1 ? 'it' : 'them'}`, first ? [ROOT, 'steps', first.index, 'name'] : [ROOT, 'stepTransitions'], {
      hint: 'add a stepTransition from the previous step to each of them',
    });
    return { options: undefined, issues: out.issues };
  }
  const chain: CheckedStep[] = [];
  const links: SequenceTransition[] = [];
  let total = 0;
  for (let step = entries[0]; step !== undefined && chain.length < steps.length; ) {
    chain.push(step);
    const link = childOf.get(step.name);
    if (link === undefined) break;
    links.push({ parent: link.parent, child: link.child, evaluationWindow: link.evaluationWindow });
    total += link.evaluationWindow;
    step = byName.get(link.child);
  }
  if (chain.length !== steps.length) {
    out.error('E_RULE_SEQUENCE', 'the steps do not form one chain', [ROOT, 'stepTransitions'], { hint: 'link each step to the next with a stepTransition' });
    return { options: undefined, issues: out.issues };
  }
  if (total > MAX_SEQUENCE_SECONDS) {
    out.error('E_RULE_SEQUENCE', `the step transitions add up to ${total} s; Datadog allows a sequence at most ${MAX_SEQUENCE_SECONDS} s (24 hours)`, [ROOT, 'stepTransitions'], { hint: 'shorten the transition windows' });
    return { options: undefined, issues: out.issues };
  }
  if (chain.some((s, i) => s.index !== i)) {
    out.warn('W_RULE_SEQUENCE_ORDER', `the steps are not listed in the order of their transitions (${chain.map((s) => s.name).join(' → ')})`, [ROOT, 'steps'], 'list the entry step first and the terminal step last, as Datadog expects; trailhound follows the transitions');
  }
  return {
    options: { steps: chain.map(({ name, condition, evaluationWindow }) => ({ name, condition, evaluationWindow })), stepTransitions: links },
    issues: out.issues,
  };
}
