/**
 * Coverage check for rule pack B (persistence, privilege escalation, exfiltration, lateral movement,
 * initial access, impact): every rule loads cleanly, passes the tests written inside its file, fires
 * on the Stratus detonation of its technique scanned whole, and stays quiet (or fires for a stated
 * reason) on the other corpora.
 *
 * The small rule-test builder below follows the shared rule-test format (base + deep-merge patch +
 * `after`, fresh eventIDs); it stands in until the `rules test` runner lands.
 */
import { readFileSync } from 'node:fs';
import { basename, join, relative } from 'node:path';
import fc from 'fast-check';
import { parse } from 'yaml';
import { z } from 'zod';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../../src/core/types.js';
import { loadRules } from '../../src/rules/load.js';
import type { CompiledRule } from '../../src/rules/model.js';
import { FIXTURES, REPO_ROOT, allFixtureFiles, detect, fixtureRecords } from '../support/detect.js';

/** Pack B: each rule and the Stratus techniques (detonation file names) it must fire on. */
const PACK_B: readonly (readonly [ruleId: string, stratus: readonly string[]])[] = [
  ['iam-access-key-created-for-another-user', ['aws.persistence.iam-backdoor-user', 'aws.persistence.iam-create-admin-user']],
  ['iam-login-profile-created-for-user', ['aws.persistence.iam-create-user-login-profile']],
  ['iam-login-profile-updated', ['aws.privilege-escalation.iam-update-user-login-profile']],
  ['iam-user-created-with-admin-policy', ['aws.persistence.iam-create-admin-user']],
  ['iam-role-trust-policy-opened-to-aws-principal', ['aws.persistence.iam-backdoor-role']],
  ['iam-role-created-with-admin-and-aws-trust', ['aws.persistence.iam-create-backdoor-role']],
  ['iam-admin-policy-attached', ['aws.persistence.iam-create-admin-user', 'aws.persistence.iam-create-backdoor-role']],
  ['lambda-function-code-updated', ['aws.persistence.lambda-overwrite-code']],
  ['lambda-layer-added-to-function', ['aws.persistence.lambda-layer-extension']],
  ['lambda-function-invocable-by-anyone', ['aws.persistence.lambda-backdoor-function']],
  ['rolesanywhere-trust-anchor-created', ['aws.persistence.rolesanywhere-create-trust-anchor']],
  ['sts-federation-token-by-iam-user', ['aws.persistence.sts-federation-token']],
  ['ec2-instance-connect-ssh-key-pushed', ['aws.lateral-movement.ec2-instance-connect']],
  ['ec2-serial-console-ssh-key-pushed', ['aws.lateral-movement.ec2-serial-console-send-ssh-public-key']],
  ['ec2-ami-shared-with-another-account', ['aws.exfiltration.ec2-share-ami']],
  ['ebs-snapshot-shared-with-another-account', ['aws.exfiltration.ec2-share-ebs-snapshot']],
  ['rds-snapshot-shared-with-another-account', ['aws.exfiltration.rds-share-snapshot']],
  ['console-login-without-mfa', ['aws.initial-access.console-login-without-mfa']],
  ['root-user-activity', []],
  ['organizations-leave-attempt', ['aws.defense-evasion.organizations-leave']],
  ['bedrock-model-invocation', ['aws.impact.bedrock-invoke-model']],
];

// ---------------------------------------------------------------------------------------------
// The rule-test format, checked with a schema (rule files are input like any other).

const jsonValue = z.unknown();
const eventSpec = z
  .object({
    base: z.string().min(1).optional(),
    event: z.record(z.string(), jsonValue).optional(),
    patch: z.record(z.string(), jsonValue).optional(),
    after: z.number().nonnegative().optional(),
  })
  .strict()
  .refine((e) => (e.base === undefined) !== (e.event === undefined), { message: 'an event needs exactly one of base or event' });
const ruleTest = z
  .object({
    name: z.string().min(1),
    expect: z.enum(['signal', 'none']),
    signals: z.number().int().nonnegative().optional(),
    severity: z.enum(['info', 'low', 'medium', 'high', 'critical']).optional(),
    title: z.string().optional(),
    group: z.record(z.string(), z.string()).optional(),
    events: z.array(eventSpec).min(1),
  })
  .strict();
type RuleTest = z.infer<typeof ruleTest>;
type EventSpec = z.infer<typeof eventSpec>;

const baseFile = z.object({ source: z.string().regex(/^[^#]+#.+$/), licence: z.enum(['Apache-2.0', 'MIT', 'CC BY 4.0']), record: z.record(z.string(), jsonValue) }).strict();

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Deep merge: objects merge key by key, `null` deletes a key, anything else (arrays too) replaces. */
function mergePatch(base: unknown, patch: unknown): Json {
  if (!isMap(patch)) return structuredClone(patch) as Json;
  const out: JsonMap = isMap(base) ? structuredClone(base) : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = mergePatch(out[key], value);
  }
  return out;
}

function isoSeconds(ms: number): string {
  const iso = new Date(ms).toISOString();
  return ms % 1000 === 0 ? iso.replace('.000Z', 'Z') : iso;
}

const BASES_DIR = join(REPO_ROOT, 'rules', 'bases');
const baseCache = new Map<string, JsonMap>();
function loadBase(name: string): JsonMap {
  const cached = baseCache.get(name);
  if (cached) return cached;
  const parsed = baseFile.parse(JSON.parse(readFileSync(join(BASES_DIR, `${name}.json`), 'utf8')));
  const record = parsed.record as JsonMap;
  baseCache.set(name, record);
  return record;
}

/** The events of one rule test, built as the format says. */
function buildEvents(ruleId: string, testIndex: number, specs: readonly EventSpec[]): JsonMap[] {
  const events: JsonMap[] = [];
  specs.forEach((spec, index) => {
    const start = spec.base !== undefined ? loadBase(spec.base) : (spec.event as JsonMap);
    const merged = mergePatch(start, spec.patch ?? {});
    if (!isMap(merged)) throw new Error('an event must be an object');
    const event: JsonMap = merged;
    if (spec.after !== undefined) {
      const previous = events[index - 1];
      if (!previous || typeof previous['eventTime'] !== 'string') throw new Error(`${ruleId}: 'after' needs a previous event with an eventTime`);
      event['eventTime'] = isoSeconds(Date.parse(previous['eventTime']) + spec.after * 1000);
    }
    if (!isMap(spec.patch) || !('eventID' in spec.patch)) event['eventID'] = `${ruleId}/${testIndex}/${index}`;
    events.push(event);
  });
  return events;
}

// ---------------------------------------------------------------------------------------------

interface PackRule {
  readonly id: string;
  readonly compiled: CompiledRule;
  readonly tests: readonly RuleTest[];
}

function loadPackRule(id: string): PackRule {
  const file = `rules/${id}.yaml`;
  const text = readFileSync(join(REPO_ROOT, file), 'utf8');
  const loaded = loadRules([{ path: file, text }]);
  const [compiled] = loaded.rules;
  if (!compiled || loaded.diagnostics.length > 0) throw new Error(`${file} does not load cleanly: ${JSON.stringify(loaded.diagnostics)}`);
  const raw: unknown = parse(text);
  const tests = z.object({ tests: z.array(ruleTest).min(2) }).passthrough().parse(raw).tests;
  return { id, compiled, tests };
}

const rules = PACK_B.map(([id]) => loadPackRule(id));
const allCompiled = rules.map((r) => r.compiled);
const packIds = new Set(rules.map((r) => r.id));
const packSignals = (records: readonly unknown[]): Signal[] => detect(records, allCompiled).filter((s) => packIds.has(s.ruleId));
const firingRules = (records: readonly unknown[]): string[] => [...new Set(packSignals(records).map((s) => s.ruleId))].sort();
const signalsOf = (records: readonly unknown[], rule: CompiledRule): Signal[] => detect(records, [rule]).filter((s) => s.ruleId === rule.id);
const stratus = (technique: string) => fixtureRecords(`stratus-detonation-logs/${technique}.json`);

describe('pack B rules load and carry their own tests', () => {
  it.each(rules.map((r) => [r.id, r] as const))('%s loads without any diagnostic, with the house tags and both kinds of test', (_id, rule) => {
    expect(rule.compiled.id).toBe(rule.id);
    expect(rule.compiled.tags).toEqual(expect.arrayContaining(['source:cloudtrail', 'security:attack']));
    expect(rule.compiled.tags.some((t) => /^tactic:TA\d{4}-[a-z-]+$/.test(t))).toBe(true);
    expect(rule.compiled.tags.some((t) => /^technique:T\d{4}(\.\d{3})?-[a-z0-9-]+$/.test(t))).toBe(true);
    expect(rule.tests.some((t) => t.expect === 'signal')).toBe(true);
    expect(rule.tests.some((t) => t.expect === 'none')).toBe(true);
    expect(new Set(rule.tests.map((t) => t.name)).size).toBe(rule.tests.length);
    for (const section of ['## Goal', '## Strategy', '## Triage and response', '{{@userIdentity.arn}}', '{{@network.client.ip}}']) {
      expect(rule.compiled.message.source).toContain(section);
    }
  });
});

describe('pack B rule tests', () => {
  const cases = rules.flatMap((rule) => rule.tests.map((test, index) => [`${rule.id}: ${test.name}`, rule, test, index] as const));
  it.each(cases)('%s', (_name, rule, test, index) => {
    const events = buildEvents(rule.id, index, test.events);
    const signals = signalsOf(events, rule.compiled);
    if (test.expect === 'none') {
      expect(signals).toEqual([]);
      return;
    }
    expect(signals.length).toBeGreaterThan(0);
    if (test.signals !== undefined) expect(signals).toHaveLength(test.signals);
    if (test.severity !== undefined) expect(signals.map((s) => s.severity)).toEqual(signals.map(() => test.severity));
    if (test.title !== undefined) for (const s of signals) expect(s.title).toContain(test.title);
    if (test.group !== undefined) expect(signals.map((s) => s.group)).toContainEqual(test.group);
  });
});

describe('pack B rules fire on the Stratus detonation of their technique, scanned whole', () => {
  const cases = rules.flatMap((rule) => (PACK_B.find(([id]) => id === rule.id)?.[1] ?? []).map((t) => [rule.id, t, rule] as const));
  it.each(cases)('%s fires on %s', (_id, technique, rule) => {
    expect(signalsOf(stratus(technique), rule.compiled).length).toBeGreaterThan(0);
  });
});

describe('pack B on whole corpora', () => {
  const relativeFiles = allFixtureFiles().map((f) => relative(FIXTURES, f));

  // Every Stratus detonation file (both packs' techniques): exactly the pack-B rules mapped to it fire.
  const stratusFiles = relativeFiles.filter((f) => f.startsWith('stratus-detonation-logs/'));
  it.each(stratusFiles)('%s raises exactly the pack-B signals mapped to its technique', (file) => {
    const technique = basename(file, '.json');
    const expected = PACK_B.filter(([, techniques]) => techniques.includes(technique))
      .map(([id]) => id)
      .sort();
    expect(firingRules(fixtureRecords(file))).toEqual(expected);
  });

  // The invictus simulation ran many Stratus techniques on 2023-07-10; each of these signals is a
  // technique really executed there (the rule that stays quiet had no detonation in that run).
  const INVICTUS_EXPECTED: Record<string, string> = {
    'organizations-leave-attempt': 'LeaveOrganization refused with AccessDenied (organizations-leave)',
    'ec2-ami-shared-with-another-account': 'launch permission added for 012345678901 (ec2-share-ami)',
    'ebs-snapshot-shared-with-another-account': 'create-volume permission added for 012345678912 (ec2-share-ebs-snapshot)',
    'rds-snapshot-shared-with-another-account': 'restore shared with 193672423079 (rds-share-snapshot)',
    'iam-user-created-with-admin-policy': 'malicious-iam-user created and given AdministratorAccess (iam-create-admin-user)',
    'iam-login-profile-created-for-user': 'passwords for two Stratus users (console-login-without-mfa setup, iam-create-user-login-profile)',
    'console-login-without-mfa': 'the Stratus user signs in with a password only (console-login-without-mfa)',
    'iam-admin-policy-attached': 'AdministratorAccess on malicious-iam-user and on the backdoor-r role',
    'iam-role-trust-policy-opened-to-aws-principal': 'account 193672423079 added to the role trust (iam-backdoor-role)',
    'iam-access-key-created-for-another-user': 'keys for backdoor-u-user and malicious-iam-user (iam-backdoor-user, iam-create-admin-user)',
    'lambda-function-invocable-by-anyone': 'AddPermission with principal * (lambda-backdoor-function)',
    'lambda-function-code-updated': 'UpdateFunctionCode of the olc function (lambda-overwrite-code)',
    'rolesanywhere-trust-anchor-created': 'malicious trust anchor and profile (rolesanywhere-create-trust-anchor)',
  };
  it('the invictus corpus raises only the pack-B signals of techniques it really contains', () => {
    const records = relativeFiles.filter((f) => f.startsWith('invictus-aws-dataset/')).flatMap((f) => fixtureRecords(f));
    expect(records.length).toBeGreaterThan(2000);
    expect(firingRules(records)).toEqual(Object.keys(INVICTUS_EXPECTED).sort());
  });

  it('the trust-policy rule sees the invictus backdoor but not its later revert to an EC2-only trust', () => {
    const records = relativeFiles.filter((f) => f.startsWith('invictus-aws-dataset/')).flatMap((f) => fixtureRecords(f));
    const rule = rules.find((r) => r.id === 'iam-role-trust-policy-opened-to-aws-principal');
    const signals = rule ? signalsOf(records, rule.compiled) : [];
    expect(signals.map((s) => [s.eventCount, s.firstSeen])).toEqual([[1, '2023-07-10T12:24:11.000Z']]);
  });

  // traildiscover holds one capture per API, nearly all refused calls: only the LeaveOrganization
  // attempts fire, because for that rule the refused attempt itself is the finding.
  it.each(relativeFiles.filter((f) => f.startsWith('traildiscover-log-examples/')).map((f) => [f] as const))('%s', (file) => {
    const expected = /(^|[/-])LeaveOrganization\.json/.test(file) ? ['organizations-leave-attempt'] : [];
    expect(firingRules(fixtureRecords(file))).toEqual(expected);
  });

  it.each(relativeFiles.filter((f) => f.startsWith('panther-tests/') || f.startsWith('samples/')).map((f) => [f] as const))('%s raises no pack-B signal', (file) => {
    expect(firingRules(fixtureRecords(file))).toEqual([]);
  });

  it('the order records arrive in does not change the pack-B signals of the Stratus files', () => {
    const techniques = [...new Set(PACK_B.flatMap(([, t]) => t))];
    const records = techniques.flatMap((t) => stratus(t));
    const summary = (signals: Signal[]) => signals.map((s) => `${s.ruleId}|${s.severity}|${JSON.stringify(s.group)}|${[...s.eventIds].sort().join(',')}`).sort();
    const expected = summary(packSignals(records));
    expect(expected.length).toBeGreaterThanOrEqual(PACK_B.filter(([, t]) => t.length > 0).length);
    fc.assert(
      fc.property(fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }), (shuffled) => {
        expect(summary(packSignals(shuffled))).toEqual(expected);
      }),
      { numRuns: 25 },
    );
  });
});

describe('bedrock-model-invocation volume thresholds', () => {
  const rule = rules.find((r) => r.id === 'bedrock-model-invocation');
  const invocations = (count: number, spacingSeconds: number) =>
    buildEvents('bedrock-volume', 0, [{ base: 'stratus-bedrock-invoke-model' }, ...Array.from({ length: count - 1 }, () => ({ base: 'stratus-bedrock-invoke-model', after: spacingSeconds }))]);
  it.each<[string, () => unknown[], string | null]>([
    ['100 invocations within the hour are heavy use (medium)', () => invocations(100, 30), 'medium'],
    ['99 invocations are not enough', () => invocations(99, 30), null],
    ['100 invocations spread over more than an hour are not enough', () => invocations(100, 40), null],
    ['model access enabled, then 100 invocations, is high', () => [...buildEvents('bedrock-enable', 0, [{ base: 'stratus-bedrock-model-entitlement' }]), ...invocations(100, 30)], 'high'],
  ])('%s', (_name, records, severity) => {
    if (!rule) throw new Error('bedrock-model-invocation is not in the pack');
    const signals = signalsOf(records(), rule.compiled);
    expect(signals.map((s) => s.severity)).toEqual(severity === null ? [] : [severity]);
  });
});

describe('base records of pack B', () => {
  const names = [...new Set(rules.flatMap((r) => r.tests.flatMap((t) => t.events.flatMap((e) => (e.base === undefined ? [] : [e.base])))))].sort();
  it.each(names)('%s is a real fixture record, copied unchanged', (name) => {
    const parsed = baseFile.parse(JSON.parse(readFileSync(join(BASES_DIR, `${name}.json`), 'utf8')));
    const [file = '', eventId] = parsed.source.split('#');
    const licence = file.startsWith('stratus-detonation-logs/') ? 'Apache-2.0' : file.startsWith('invictus-aws-dataset/') ? 'MIT' : 'CC BY 4.0';
    expect(parsed.licence).toBe(licence);
    const original = fixtureRecords(file).filter((r) => r['eventID'] === eventId);
    expect(original).toEqual([parsed.record]);
  });
});

describe('the rule-test builder', () => {
  it.each<[string, unknown, unknown, unknown]>([
    ['objects merge key by key', { a: { b: 1, c: 2 } }, { a: { c: 3 } }, { a: { b: 1, c: 3 } }],
    ['null deletes a key', { a: 1, b: 2 }, { b: null }, { a: 1 }],
    ['arrays replace whole', { a: [1, 2, 3] }, { a: [4] }, { a: [4] }],
    ['a scalar replaces an object', { a: { b: 1 } }, { a: 'x' }, { a: 'x' }],
    ['a new nested object drops its nulls', { a: 1 }, { b: { c: null, d: 2 } }, { a: 1, b: { d: 2 } }],
  ])('%s', (_name, base, patch, expected) => {
    expect(mergePatch(base, patch)).toEqual(expected);
  });

  it('gives fresh event ids and times events `after` the previous one, leaving the base untouched', () => {
    const base = loadBase('stratus-iam-create-admin-user-create');
    const before = JSON.stringify(base);
    const events = buildEvents('r', 2, [{ base: 'stratus-iam-create-admin-user-create' }, { base: 'stratus-iam-create-admin-user-create', after: 90 }]);
    expect(events.map((e) => e['eventID'])).toEqual(['r/2/0', 'r/2/1']);
    const times = events.map((e) => e['eventTime']);
    expect(times).toEqual([base['eventTime'], expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/)]);
    const [first, second] = times.map((t) => (typeof t === 'string' ? Date.parse(t) : Number.NaN));
    expect((second ?? Number.NaN) - (first ?? Number.NaN)).toBe(90_000);
    expect(JSON.stringify(base)).toBe(before);
  });
});
