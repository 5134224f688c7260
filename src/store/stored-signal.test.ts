/**
 * Signals read back from a store: real signals (threshold, sequence with steps and actors,
 * suppressed) come back equal; damaged rows are refused with E_STATE_READ.
 */
import { describe, expect, it } from 'vitest';
import { TrailhoundError } from '../core/errors.js';
import type { Signal } from '../core/types.js';
import { detect, stratusAttack } from '../../test/support/detect.js';
import { SIGNAL_CHANGE_KINDS, isSignalChangeKind, parseStoredSignal } from './stored-signal.js';

const REAL = detect(stratusAttack().all);

function realSignal(): Signal {
  const signal = REAL[0];
  if (!signal) throw new Error('the Stratus attack raised no signal');
  return signal;
}

describe('parseStoredSignal', () => {
  it('the Stratus attack raises signals of several shapes to test with', () => {
    expect(REAL.length).toBeGreaterThanOrEqual(2);
    expect(REAL.some((s) => s.steps !== undefined && s.actors !== undefined)).toBe(true);
    expect(REAL.some((s) => s.steps === undefined)).toBe(true);
  });

  it.each(REAL.map((s) => [s.ruleId, s] as const))('a real %s signal comes back equal', (_rule, signal) => {
    expect(parseStoredSignal(JSON.stringify(signal), 'test')).toEqual(signal);
  });

  it('a live signal withdrawn in favour of others keeps replacedBy', () => {
    const signal: Signal = { ...realSignal(), replacedBy: ['0123456789abcdef'] };
    expect(parseStoredSignal(JSON.stringify(signal), 'test')).toEqual(signal);
  });

  it('a suppressed signal keeps its status and suppression entry', () => {
    const signal: Signal = { ...realSignal(), status: 'suppressed', suppression: { reason: 'golden AMI pipeline', source: 'suppressions.yaml:3:5', owner: 'platform' } };
    expect(parseStoredSignal(JSON.stringify(signal), 'test')).toEqual(signal);
  });

  it.each<[string, () => string, RegExp]>([
    ['text that is not JSON', () => '{"id": ', /not valid JSON/],
    ['a signal without an id', () => JSON.stringify({ ...realSignal(), id: undefined }), /\(id: /],
    ['an unknown severity', () => JSON.stringify({ ...realSignal(), severity: 'catastrophic' }), /severity/],
    ['a negative event count', () => JSON.stringify({ ...realSignal(), eventCount: -1 }), /eventCount/],
    ['steps that are not lists of ids', () => JSON.stringify({ ...realSignal(), steps: { stop: 'e1' } }), /steps/],
    ['an array instead of a signal', () => '[]', /damaged/],
  ])('refuses %s with E_STATE_READ naming where it was', (_name, text, message) => {
    let caught: unknown;
    try {
      parseStoredSignal(text(), 'trailhound.db signal change 7');
    } catch (error) {
      caught = error;
    }
    expect(caught).toBeInstanceOf(TrailhoundError);
    expect((caught as TrailhoundError).code).toBe('E_STATE_READ');
    expect((caught as TrailhoundError).message).toMatch(/^trailhound\.db signal change 7: /);
    expect((caught as TrailhoundError).message).toMatch(message);
  });
});

describe('isSignalChangeKind', () => {
  it.each<[unknown, boolean]>([...SIGNAL_CHANGE_KINDS.map((k): [unknown, boolean] => [k, true]), ['closed', false], ['', false], [1, false], [null, false]])('%j: %s', (value, expected) => {
    expect(isSignalChangeKind(value)).toBe(expected);
  });
});
