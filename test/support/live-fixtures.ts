/**
 * Test support for the live suites: the real Stratus user-data attack
 * (stratus-detonation-logs/aws.execution.ec2-user-data.json) cut into CloudTrail log files with
 * real S3 key names, variants of it (the same records moved in time, with new eventIDs), the
 * signals `scan` gives for them (the reference), and readers of a jsonl sink.
 */
import { readFileSync, existsSync } from 'node:fs';
import { gzipSync } from 'node:zlib';
import type { Signal } from '../../src/core/types.js';
import { builtinRules, detect, fixtureRecords } from './detect.js';
import type { Rec } from './detect.js';

export const ATTACK_FILE = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
export const ACCOUNT = '123456789012';
export const REGION = 'us-east-1';
/** The two rules the attack raises: Datadog's flagship and the companion keyed by the instance. */
export const ATTACK_RULES = ['aws-ec2-user-data-modified-then-started', 'bd9-8o0-553'] as const;

/** The attack's records, oldest first (ties kept in file order). */
export function attackRecords(): Rec[] {
  return fixtureRecords(ATTACK_FILE)
    .map((r, i) => ({ r, i }))
    .sort((a, b) => Date.parse(String(a.r.eventTime)) - Date.parse(String(b.r.eventTime)) || a.i - b.i)
    .map(({ r }) => structuredClone(r));
}

/** The attack moved `shiftMs` later in time, with eventIDs made unique to `tag` (a "second attack"). */
export function attackVariant(tag: string, shiftMs: number): Rec[] {
  return attackRecords().map((r) => ({
    ...r,
    eventTime: new Date(Date.parse(String(r.eventTime)) + shiftMs).toISOString().replace(/\.000Z$/, 'Z'),
    eventID: `${tag}-${String(r.eventID).slice(tag.length + 1)}`,
  }));
}

/** A CloudTrail log object key (`AWSLogs/ACCOUNT/CloudTrail/REGION/YYYY/MM/DD/…_YYYYMMDDTHHmmZ_UNIQUE.json.gz`). */
export function logKey(stampMs: number, unique: string, prefix = ''): string {
  const d = new Date(stampMs);
  const p2 = (n: number) => String(n).padStart(2, '0');
  const day = `${d.getUTCFullYear()}/${p2(d.getUTCMonth() + 1)}/${p2(d.getUTCDate())}`;
  const stamp = `${d.getUTCFullYear()}${p2(d.getUTCMonth() + 1)}${p2(d.getUTCDate())}T${p2(d.getUTCHours())}${p2(d.getUTCMinutes())}Z`;
  return `${prefix}AWSLogs/${ACCOUNT}/CloudTrail/${REGION}/${day}/${ACCOUNT}_CloudTrail_${REGION}_${stamp}_${unique}.json.gz`;
}

export interface LogFile {
  /** The S3 key (also used as a relative path in folders). */
  readonly key: string;
  readonly records: readonly Rec[];
  /** Gzipped `{"Records":[…]}`, as CloudTrail writes it. */
  readonly body: Buffer;
}

/** A CloudTrail log file holding `records`, named after the newest one plus five minutes (a delivery delay). */
export function logFile(records: readonly Rec[], unique: string, prefix = ''): LogFile {
  const newest = Math.max(...records.map((r) => Date.parse(String(r.eventTime))));
  return { key: logKey(newest + 5 * 60_000, unique, prefix), records, body: gzipSync(JSON.stringify({ Records: records })) };
}

/** The records cut into `parts` log files of consecutive records (the StopInstances is in the first, the StartInstances in a later one). */
export function splitIntoLogFiles(records: readonly Rec[], parts: number, tag = 'part', prefix = ''): LogFile[] {
  const size = Math.ceil(records.length / parts);
  const files: LogFile[] = [];
  for (let i = 0; i < parts; i++) {
    const slice = records.slice(i * size, (i + 1) * size);
    if (slice.length > 0) files.push(logFile(slice, `${tag}${i}`, prefix));
  }
  return files;
}

/** What `scan` raises for the records (the final version of each signal). */
export function scanSignals(records: readonly Rec[]): Signal[] {
  return detect(records, builtinRules());
}

export interface SinkContent {
  readonly lines: string[];
  readonly signals: Signal[];
}

/** The lines of a jsonl sink (none when the file does not exist). */
export function readSink(path: string): SinkContent {
  if (!existsSync(path)) return { lines: [], signals: [] };
  const lines = readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
  return { lines, signals: lines.map((l) => JSON.parse(l) as Signal) };
}

/** The (id, updates) pairs that appear more than once: a change delivered twice. */
export function repeatedVersions(signals: readonly Signal[]): string[] {
  const seen = new Map<string, number>();
  for (const s of signals) seen.set(`${s.id}#${s.updates}`, (seen.get(`${s.id}#${s.updates}`) ?? 0) + 1);
  return [...seen].filter(([, n]) => n > 1).map(([k]) => k);
}

/** Distinct signal ids per rule id. */
export function idsByRule(signals: readonly Signal[]): Record<string, string[]> {
  const out: Record<string, Set<string>> = {};
  for (const s of signals) (out[s.ruleId] ??= new Set()).add(s.id);
  return Object.fromEntries(Object.entries(out).map(([rule, ids]) => [rule, [...ids].sort()]));
}
