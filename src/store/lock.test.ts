/**
 * When a state-store lock holder counts as gone: judged from its machine, pid and heartbeat.
 */
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { isProcessAlive, judgeLock, newLockHolder, registerHeldLock, unregisterHeldLock } from './lock.js';
import type { LockHolder, LockVerdict } from './lock.js';

const NOW = 1_722_513_600_000;
const STALE = 30_000;
const HERE = 'host-a#boot-1';
const ME = { token: 'my-token', hostId: HERE, pid: process.pid };
const OTHER_PID = process.pid + 1;

function holder(patch: Partial<LockHolder>): LockHolder {
  return { token: 'their-token', hostId: HERE, pid: OTHER_PID, acquiredMs: NOW - 60_000, heartbeatMs: NOW - 1_000, ...patch };
}

describe('judgeLock', () => {
  it.each<[string, LockHolder | undefined, boolean, LockVerdict]>([
    ['no holder: free', undefined, true, 'free'],
    ['our own token: mine', holder({ token: 'my-token' }), true, 'mine'],
    ['a live process on this machine with a fresh heartbeat: held', holder({}), true, 'held'],
    ['a process on this machine that no longer exists (kill -9): free at once, heartbeat fresh or not', holder({}), false, 'free'],
    ['a live process on this machine with a stale heartbeat (frozen): free', holder({ heartbeatMs: NOW - STALE - 1 }), true, 'free'],
    ['a heartbeat exactly at the stale limit: still held', holder({ heartbeatMs: NOW - STALE }), true, 'held'],
    ['our pid on this machine but not a store of this process (a restarted container): free', holder({ pid: process.pid }), true, 'free'],
    ['another machine with a fresh heartbeat, whatever our pid table says: held', holder({ hostId: 'host-b#boot-9' }), false, 'held'],
    ['another machine with a stale heartbeat: free', holder({ hostId: 'host-b#boot-9', heartbeatMs: NOW - STALE - 1 }), true, 'free'],
    ['this host after a reboot (another boot id): judged by heartbeat only', holder({ hostId: 'host-a#boot-0' }), false, 'held'],
  ])('%s', (_name, current, isAlive, verdict) => {
    expect(judgeLock(current, { nowMs: NOW, staleAfterMs: STALE, me: ME, isAlive: () => isAlive })).toBe(verdict);
  });

  it('a store open in this process with our pid holds the lock until it is unregistered', () => {
    const token = 'open-in-this-process';
    registerHeldLock(token);
    const current = holder({ token, pid: process.pid });
    expect(judgeLock(current, { nowMs: NOW, staleAfterMs: STALE, me: ME })).toBe('held');
    unregisterHeldLock(token);
    expect(judgeLock(current, { nowMs: NOW, staleAfterMs: STALE, me: ME })).toBe('free');
  });

  it('new holders get distinct tokens, this process id and the given time', () => {
    const a = newLockHolder(NOW, HERE);
    const b = newLockHolder(NOW + 5, HERE);
    expect(a.token).not.toBe(b.token);
    expect([a.pid, a.hostId, a.heartbeatMs, b.acquiredMs]).toEqual([process.pid, HERE, NOW, NOW + 5]);
  });
});

describe('isProcessAlive', () => {
  it.each<[string, () => number, boolean]>([
    ['this process', () => process.pid, true],
    ['a child that has exited', () => spawnSync(process.execPath, ['-e', '0']).pid ?? 0, false],
    ['pid 0 (not a process id)', () => 0, false],
    ['a negative pid', () => -5, false],
  ])('%s: %s', (_name, pid, isAlive) => {
    expect(isProcessAlive(pid())).toBe(isAlive);
  });
});
