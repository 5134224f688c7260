/**
 * Signals read back from a store are data from disk: checked against the `Signal` shape before they
 * reach a sink, so a damaged row is reported (E_STATE_READ) instead of crashing a sink later.
 */
import { TrailhoundError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import type { SignalChange } from '../engine/types.js';
import { signalSchema } from '../core/signal-schema.js';
import type { StoredChangeKind } from './state-store.js';

/** Every kind of signal change the engine emits. */
export const SIGNAL_CHANGE_KINDS = ['created', 'updated'] as const satisfies readonly SignalChange['kind'][];


export function isSignalChangeKind(value: unknown): value is SignalChange['kind'] {
  return typeof value === 'string' && (SIGNAL_CHANGE_KINDS as readonly string[]).includes(value);
}

/** Every kind of change in the signal log: the engine's, and `closed` (a signal resolved or suppressed). */
export const STORED_CHANGE_KINDS = [...SIGNAL_CHANGE_KINDS, 'closed'] as const satisfies readonly StoredChangeKind[];

export function isStoredChangeKind(value: unknown): value is StoredChangeKind {
  return typeof value === 'string' && (STORED_CHANGE_KINDS as readonly string[]).includes(value);
}

/**
 * Parse a signal the store wrote (`JSON.stringify(signal)`). Throws TrailhoundError E_STATE_READ,
 * naming `where`, when the text is not JSON or not a signal.
 */
export function parseStoredSignal(text: string, where: string): Signal {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new TrailhoundError('E_STATE_READ', `${where}: the stored signal is not valid JSON; the state store is damaged`, { cause: error });
  }
  const parsed = signalSchema.safeParse(value);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const detail = issue ? ` (${issue.path.map(String).join('.') || 'signal'}: ${issue.message})` : '';
    throw new TrailhoundError('E_STATE_READ', `${where}: the stored signal is damaged or from another version${detail}`);
  }
  const signal: Signal = parsed.data;
  return signal;
}
