/**
 * The state store's single-writer lock, shared by every implementation: one row (holder token,
 * machine, pid, heartbeat) kept in the store itself and changed only inside the store's own
 * transactions, so taking it is atomic and every checkpoint can check it is still ours (fencing).
 *
 * Why a row with a heartbeat and not an OS file lock: the lock must also work for the PostgreSQL
 * store (no shared file), and a file lock held on the SQLite database itself would keep
 * read-only commands (`trailhound signals`, issue 6) out while `watch` runs.
 *
 * A holder is judged gone, and its lock free to take, when
 * - it runs on this machine (same host and boot) and its process no longer exists — the common case
 *   after `kill -9`: the restart takes over at once;
 * - or its heartbeat is older than the stale limit — a process on another machine or in another
 *   container (no way to check its pid), or one frozen for that long. A frozen holder that wakes up
 *   finds the lock is no longer its own at its next write (E_STATE_LOCK_LOST) and must stop.
 */
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { TrailhoundError } from '../core/errors.js';

export interface LockHolder {
  readonly token: string;
  /** Machine identity: host name and boot id. */
  readonly hostId: string;
  readonly pid: number;
  readonly acquiredMs: number;
  readonly heartbeatMs: number;
}

/** Tokens of the locks held by stores open in this process. */
const heldInThisProcess = new Set<string>();

let machineId: string | undefined;

/** This machine: host name plus the kernel's boot id where there is one (a reboot frees every lock). */
export function thisMachineId(): string {
  if (machineId === undefined) {
    let boot = '';
    try {
      boot = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      // Not Linux: the host name alone.
    }
    machineId = boot ? `${hostname()}#${boot}` : hostname();
  }
  return machineId;
}

/** True when a process with this pid exists (EPERM: it exists but belongs to someone else). */
export function isProcessAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return typeof error === 'object' && error !== null && 'code' in error && error.code === 'EPERM';
  }
}

export type LockVerdict = 'free' | 'mine' | 'held';

export interface LockJudgement {
  readonly nowMs: number;
  readonly staleAfterMs: number;
  readonly me: { readonly token: string; readonly hostId: string; readonly pid: number };
  readonly isAlive?: (pid: number) => boolean;
}

/** Whether `holder` still holds the lock, from the point of view of `me`. */
export function judgeLock(holder: LockHolder | undefined, judgement: LockJudgement): LockVerdict {
  if (holder === undefined) return 'free';
  const { me, nowMs, staleAfterMs } = judgement;
  if (holder.token === me.token) return 'mine';
  if (holder.hostId === me.hostId) {
    if (holder.pid === me.pid) {
      // Our own pid: a store open in this process, or an earlier process that had our pid (a
      // container restarted with the same pid 1) and is gone.
      if (!heldInThisProcess.has(holder.token)) return 'free';
    } else if (!(judgement.isAlive ?? isProcessAlive)(holder.pid)) {
      return 'free';
    }
  }
  return nowMs - holder.heartbeatMs > staleAfterMs ? 'free' : 'held';
}

/** A new holder identity for one open store. */
export function newLockHolder(nowMs: number, hostId: string = thisMachineId()): LockHolder {
  return { token: randomUUID(), hostId, pid: process.pid, acquiredMs: nowMs, heartbeatMs: nowMs };
}

export function registerHeldLock(token: string): void {
  heldInThisProcess.add(token);
}

export function unregisterHeldLock(token: string): void {
  heldInThisProcess.delete(token);
}

export function lockedError(location: string, holder: LockHolder, nowMs: number): TrailhoundError {
  const seconds = Math.max(0, Math.round((nowMs - holder.heartbeatMs) / 1000));
  return new TrailhoundError(
    'E_STATE_LOCKED',
    `the state store ${location} is in use by process ${holder.pid} on ${holder.hostId.split('#')[0] ?? holder.hostId} (last heartbeat ${seconds} s ago); ` +
      'stop that process or use another --state folder (a holder that died is taken over automatically once its heartbeat is stale)',
  );
}

export function lockLostError(location: string): TrailhoundError {
  return new TrailhoundError(
    'E_STATE_LOCK_LOST',
    `the lock on the state store ${location} was taken over by another process (this one was unresponsive for too long); stopping without writing`,
  );
}

/**
 * Refresh the heartbeat every `intervalMs` (an unref'd timer: it never keeps the process alive).
 * `beat` returns false when the lock is no longer ours; then `onLost` runs once and the timer stops.
 */
export function startHeartbeat(intervalMs: number, beat: () => boolean, onLost: () => void): () => void {
  const timer = setInterval(() => {
    let isOurs: boolean;
    try {
      isOurs = beat();
    } catch {
      // A busy or briefly unwritable store: try again at the next beat.
      return;
    }
    if (!isOurs) {
      clearInterval(timer);
      onLost();
    }
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
