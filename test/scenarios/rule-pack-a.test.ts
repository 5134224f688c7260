/**
 * Rule pack, part A (logging tampering, credential access, discovery, execution on EC2/SSM, network
 * exposure): the coverage check of these built-in rules.
 *
 * For every rule of the part it:
 * - loads the rule file on its own and requires it to load without any diagnostic;
 * - runs the `tests:` list written in the rule file (the rule test format of docs/rule-tests.md), with
 *   the small event builder below (deep copy of a named base record, deep-merge patch, `after`,
 *   fresh eventIDs) — until the `trailhound rules test` runner replaces it;
 * - scans the Stratus Red Team detonation file of its technique WHOLE and requires a signal;
 * - scans the invictus and traildiscover corpora and compares with what is expected of the rule there;
 * - checks that every base record it uses is a real fixture record, copied unchanged, with its licence.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import { SEVERITIES } from '../../src/core/types.js';
import type { Signal } from '../../src/core/types.js';
import { normaliseRecord } from '../../src/normalise/normalise.js';
import { loadRules } from '../../src/rules/load.js';
import type { CompiledRule } from '../../src/rules/model.js';
import { REPO_ROOT, allFixtureFiles, detect, fixtureRecords, FIXTURES } from '../support/detect.js';
import type { Rec } from '../support/detect.js';

const RULES_DIR = join(REPO_ROOT, 'rules');
const BASES_DIR = join(RULES_DIR, 'bases');

/**
 * The rules of part A. `stratus`: the detonation file of the technique (null when Stratus has none).
 * `invictus`: whether the rule must raise a signal on the invictus corpus (a Stratus-driven
 * simulation, so several techniques really happen in it) or must stay silent.
 * `traildiscover`: the most signals the rule may raise on the traildiscover corpus (one real capture
 * per AWS API, nearly all of them denied calls of one test user).
 */
interface PackRule {
  readonly id: string;
  readonly stratus: string | null;
  readonly invictus: boolean;
  readonly traildiscover: number;
}

const PACK_A: readonly PackRule[] = [
  { id: 'cloudtrail-logging-stopped', stratus: 'aws.defense-evasion.cloudtrail-stop.json', invictus: true, traildiscover: 1 },
  { id: 'cloudtrail-trail-deleted', stratus: 'aws.defense-evasion.cloudtrail-delete.json', invictus: true, traildiscover: 1 },
  { id: 'cloudtrail-event-selectors-reduced', stratus: 'aws.defense-evasion.cloudtrail-event-selectors.json', invictus: true, traildiscover: 0 },
  { id: 'guardduty-disabled-or-suppressed', stratus: null, invictus: false, traildiscover: 0 },
  { id: 'vpc-flow-logs-deleted', stratus: 'aws.defense-evasion.vpc-remove-flow-logs.json', invictus: true, traildiscover: 0 },
  { id: 'route53-resolver-query-logging-deleted', stratus: 'aws.defense-evasion.dns-delete-logs.json', invictus: false, traildiscover: 0 },
  { id: 'ec2-password-data-retrieval', stratus: 'aws.credential-access.ec2-get-password-data.json', invictus: true, traildiscover: 0 },
  { id: 'ec2-instance-credentials-used-elsewhere', stratus: 'aws.credential-access.ec2-steal-instance-credentials.json', invictus: true, traildiscover: 0 },
  { id: 'secretsmanager-bulk-secret-reads', stratus: 'aws.credential-access.secretsmanager-retrieve-secrets.json', invictus: true, traildiscover: 0 },
  { id: 'secretsmanager-batch-secret-retrieval', stratus: 'aws.credential-access.secretsmanager-batch-retrieve-secrets.json', invictus: false, traildiscover: 0 },
  { id: 'ssm-securestring-bulk-decryption', stratus: 'aws.credential-access.ssm-retrieve-securestring-parameters.json', invictus: true, traildiscover: 0 },
  { id: 'ec2-user-data-enumeration', stratus: 'aws.discovery.ec2-download-user-data.json', invictus: true, traildiscover: 0 },
  { id: 'ec2-unusual-instance-type-launch', stratus: 'aws.execution.ec2-launch-unusual-instances.json', invictus: true, traildiscover: 0 },
  { id: 'ssm-send-command-shell-script', stratus: 'aws.execution.ssm-send-command.json', invictus: true, traildiscover: 0 },
  { id: 'ssm-start-session', stratus: 'aws.execution.ssm-start-session.json', invictus: false, traildiscover: 0 },
  { id: 'ec2-security-group-opened-to-world', stratus: 'aws.exfiltration.ec2-security-group-open-port-22-ingress.json', invictus: true, traildiscover: 0 },
  { id: 'discovery-burst-access-denied', stratus: 'aws.discovery.ec2-download-user-data.json', invictus: true, traildiscover: 0 },
];

// ---------------------------------------------------------------------------------------------
// The rule tests format (a stand-in for the `rules test` runner)
// ---------------------------------------------------------------------------------------------

const jsonObject = z.record(z.string(), z.unknown());
const testEventSchema = z.union([
  z.object({ base: z.string().min(1), patch: jsonObject.optional(), after: z.number().nonnegative().optional() }).strict(),
  z.object({ event: jsonObject, after: z.number().nonnegative().optional() }).strict(),
]);
const ruleTestSchema = z
  .object({
    name: z.string().min(1),
    expect: z.enum(['signal', 'none']),
    signals: z.number().int().nonnegative().optional(),
    severity: z.enum(SEVERITIES).optional(),
    title: z.string().optional(),
    group: z.record(z.string(), z.string()).optional(),
    events: z.array(testEventSchema).min(1),
  })
  .strict();
type RuleTest = z.infer<typeof ruleTestSchema>;
type TestEvent = z.infer<typeof testEventSchema>;

const baseFileSchema = z.object({ source: z.string(), licence: z.string(), record: jsonObject }).strict();
type BaseFile = z.infer<typeof baseFileSchema>;

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Sets an own property even for keys such as `__proto__` (never touches the prototype). */
function setOwn(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `patch` deep-merged into a copy of `target`: objects merge key by key, `null` deletes, anything else (arrays too) replaces. */
function mergePatch(target: unknown, patch: unknown): unknown {
  if (!isPlainObject(patch)) return structuredClone(patch);
  const out: Record<string, unknown> = {};
  if (isPlainObject(target)) for (const [key, value] of Object.entries(target)) setOwn(out, key, structuredClone(value));
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else setOwn(out, key, mergePatch(Object.hasOwn(out, key) ? out[key] : undefined, value));
  }
  return out;
}

/** CloudTrail's own time format: seconds precision without milliseconds when they are zero. */
function cloudTrailTime(ms: number): string {
  return new Date(ms).toISOString().replace(/\.000Z$/, 'Z');
}

/** The records of one rule test, built as the format says. */
function buildTestEvents(ruleId: string, testIndex: number, events: readonly TestEvent[], bases: ReadonlyMap<string, Rec>): Rec[] {
  const out: Rec[] = [];
  events.forEach((spec, eventIndex) => {
    let record: unknown;
    let patch: Record<string, unknown> = {};
    if ('base' in spec) {
      const base = bases.get(spec.base);
      if (!base) throw new Error(`${ruleId}: unknown base record "${spec.base}"`);
      patch = spec.patch ?? {};
      record = mergePatch(base, patch);
    } else {
      record = structuredClone(spec.event);
    }
    if (!isPlainObject(record)) throw new Error(`${ruleId}: event ${eventIndex} is not an object`);
    const previous = out.at(-1);
    if (spec.after !== undefined && previous) {
      const before = Date.parse(String(previous.eventTime));
      if (Number.isNaN(before)) throw new Error(`${ruleId}: event ${eventIndex - 1} has no usable eventTime for "after"`);
      record.eventTime = cloudTrailTime(before + spec.after * 1000);
    }
    const setsId = 'base' in spec ? Object.hasOwn(patch, 'eventID') : Object.hasOwn(spec.event, 'eventID');
    if (!setsId) record.eventID = `${ruleId}/${testIndex}/${eventIndex}`;
    out.push(record);
  });
  return out;
}

/** What differs between the signals a test raised and what it expects (empty: the test passes). */
function checkExpectations(test: RuleTest, signals: readonly Signal[]): string[] {
  const failures: string[] = [];
  if (test.expect === 'signal' && signals.length === 0) failures.push('expected a signal, got none');
  if (test.expect === 'none' && signals.length > 0) failures.push(`expected no signal, got ${signals.length}`);
  if (test.signals !== undefined && signals.length !== test.signals) failures.push(`expected ${test.signals} signal(s), got ${signals.length}`);
  const { severity, title, group } = test;
  if (severity !== undefined) {
    for (const s of signals) if (s.severity !== severity) failures.push(`expected severity ${severity}, got ${s.severity}`);
  }
  if (title !== undefined) {
    for (const s of signals) if (!s.title.includes(title)) failures.push(`expected a title containing "${title}", got "${s.title}"`);
  }
  if (group !== undefined && !signals.some((s) => sameGroup(s.group, group))) {
    failures.push(`expected a signal for group ${JSON.stringify(group)}, got ${JSON.stringify(signals.map((s) => s.group))}`);
  }
  return failures;
}

function sameGroup(actual: Readonly<Record<string, string>>, expected: Readonly<Record<string, string>>): boolean {
  const a = Object.keys(actual);
  return a.length === Object.keys(expected).length && a.every((key) => actual[key] === expected[key]);
}

// ---------------------------------------------------------------------------------------------
// Loading the part's rules, their tests and the bases
// ---------------------------------------------------------------------------------------------

function readBases(): Map<string, BaseFile> {
  const bases = new Map<string, BaseFile>();
  for (const file of readdirSync(BASES_DIR).filter((f) => f.endsWith('.json'))) {
    bases.set(file.slice(0, -'.json'.length), baseFileSchema.parse(JSON.parse(readFileSync(join(BASES_DIR, file), 'utf8'))));
  }
  return bases;
}

interface LoadedPackRule {
  readonly spec: PackRule;
  readonly rule: CompiledRule;
  readonly tests: readonly RuleTest[];
  readonly diagnostics: readonly string[];
}

function loadPackRule(spec: PackRule): LoadedPackRule {
  const path = `rules/${spec.id}.yaml`;
  const text = readFileSync(join(REPO_ROOT, path), 'utf8');
  const loaded = loadRules([{ path, text }]);
  const rule = loaded.rules.find((r) => r.id === spec.id);
  if (!rule) throw new Error(`${path} did not load: ${JSON.stringify(loaded.diagnostics)}`);
  const document: unknown = parse(text);
  const rawTests = isPlainObject(document) ? document.tests : undefined;
  const tests = z.array(ruleTestSchema).parse(rawTests);
  return { spec, rule, tests, diagnostics: loaded.diagnostics.map((d) => `${d.code}: ${d.message}`) };
}

const bases = readBases();
const baseRecords = new Map<string, Rec>([...bases].map(([name, base]) => [name, base.record]));
const pack = PACK_A.map(loadPackRule);

const signalsOf = (rule: CompiledRule, records: readonly unknown[]): Signal[] => detect(records, [rule]).filter((s) => s.ruleId === rule.id);

// ---------------------------------------------------------------------------------------------
// The tests
// ---------------------------------------------------------------------------------------------

describe('rule pack A: the rule files', () => {
  it('has at least 16 rules, each in its own file named after its id', () => {
    expect(pack.length).toBeGreaterThanOrEqual(16);
    expect(new Set(pack.map((p) => p.rule.id)).size).toBe(pack.length);
    for (const p of pack) expect(p.rule.file).toBe(`rules/${p.spec.id}.yaml`);
  });

  it.each(pack.map((p) => [p.spec.id, p] as const))('%s loads without any error or warning', (_id, p) => {
    expect(p.diagnostics).toEqual([]);
    expect(p.rule.isEnabled).toBe(true);
  });

  it.each(pack.map((p) => [p.spec.id, p] as const))('%s carries the source, attack, tactic and technique tags', (_id, p) => {
    expect(p.rule.tags).toEqual(expect.arrayContaining(['source:cloudtrail', 'security:attack']));
    expect(p.rule.tags.filter((t) => /^tactic:TA\d{4}-[a-z-]+$/.test(t))).toHaveLength(1);
    expect(p.rule.tags.filter((t) => /^technique:T\d{4}(\.\d{3})?-[a-z-]+$/.test(t))).toHaveLength(1);
  });

  it.each(pack.map((p) => [p.spec.id, p] as const))('%s has a message with goal, strategy and numbered triage steps naming the caller and address', (_id, p) => {
    const message = p.rule.message.source;
    for (const heading of ['## Goal', '## Strategy', '## Triage and response']) expect(message).toContain(heading);
    const triage = message.slice(message.indexOf('## Triage and response'));
    expect(triage).toMatch(/^1\. /m);
    expect(triage).toContain('{{@userIdentity.arn}}');
    expect(triage).toContain('{{@network.client.ip}}');
  });

  it.each(pack.map((p) => [p.spec.id, p] as const))('%s has uniquely named tests, at least one expecting a signal and one expecting none', (_id, p) => {
    expect(new Set(p.tests.map((t) => t.name)).size).toBe(p.tests.length);
    expect(p.tests.some((t) => t.expect === 'signal')).toBe(true);
    expect(p.tests.some((t) => t.expect === 'none')).toBe(true);
  });
});

describe('rule pack A: docs/rule-pack-a.md', () => {
  const rows = readFileSync(join(REPO_ROOT, 'docs', 'rule-pack-a.md'), 'utf8')
    .split('\n')
    .filter((line) => line.startsWith('| `') || line.startsWith('| none'))
    .map((line) => line.split('|').map((cell) => cell.trim()));
  const rowOf = (id: string) => rows.find((cells) => cells[2] === `\`${id}\``);

  it('has one row per rule of the part and no other', () => {
    expect(rows.map((cells) => cells[2]).sort()).toEqual(pack.map((p) => `\`${p.spec.id}\``).sort());
  });

  it.each(pack.map((p) => [p.spec.id, p] as const))('the row of %s names its Stratus technique and exactly its severities', (id, p) => {
    const cells = rowOf(id) ?? [];
    const technique = p.spec.stratus === null ? 'none' : `\`${p.spec.stratus.replace(/\.json$/, '')}\``;
    expect(cells[1]?.startsWith(technique)).toBe(true);
    const listed = (cells[3] ?? '').match(/\b(info|low|medium|high|critical)\b/g) ?? [];
    expect(new Set(listed)).toEqual(new Set(p.rule.cases.map((c) => c.status)));
  });
});

describe('rule pack A: the tests written in the rule files', () => {
  const cases = pack.flatMap((p) => p.tests.map((test, index) => [`${p.spec.id}: ${test.name}`, p, test, index] as const));

  it.each(cases)('%s', (_name, p, test, index) => {
    const records = buildTestEvents(p.rule.id, index, test.events, baseRecords);
    // A record the normaliser refuses would be skipped silently and make `expect: none` pass for nothing.
    records.forEach((record, i) => expect(normaliseRecord(record, { source: 'test', index: i }).ok).toBe(true));
    expect(checkExpectations(test, signalsOf(p.rule, records))).toEqual([]);
  });
});

describe('rule pack A: real corpora', () => {
  const withStratus = pack.filter((p): p is LoadedPackRule & { spec: { stratus: string } } => p.spec.stratus !== null);

  it.each(withStratus.map((p) => [p.spec.id, p.spec.stratus, p] as const))('%s fires on the whole Stratus detonation file %s', (_id, file, p) => {
    expect(signalsOf(p.rule, fixtureRecords(`stratus-detonation-logs/${file}`)).length).toBeGreaterThan(0);
  });

  it.each(withStratus.map((p) => [p.spec.id, p] as const))('%s gives the same signals whatever the order of its Stratus file', (_id, p) => {
    const records = fixtureRecords(`stratus-detonation-logs/${p.spec.stratus}`);
    const expected = signalsOf(p.rule, records);
    fc.assert(
      fc.property(fc.shuffledSubarray(records, { minLength: records.length, maxLength: records.length }), (shuffled) => {
        expect(signalsOf(p.rule, shuffled)).toEqual(expected);
      }),
      { numRuns: 10 },
    );
  });

  const corpus = (folder: string): Rec[] =>
    allFixtureFiles(join(FIXTURES, folder)).flatMap((file) => fixtureRecords(file.slice(FIXTURES.length + 1)));
  const invictus = corpus('invictus-aws-dataset');
  const traildiscover = corpus('traildiscover-log-examples');

  it('reads both corpora (so the checks below compare something)', () => {
    expect(invictus.length).toBeGreaterThan(2500);
    expect(traildiscover.length).toBeGreaterThan(500);
  });

  it.each(pack.map((p) => [p.spec.id, p.spec.invictus, p] as const))('%s on the invictus corpus: fires = %s', (_id, fires, p) => {
    expect(signalsOf(p.rule, invictus).length > 0).toBe(fires);
  });

  it.each(pack.map((p) => [p.spec.id, p.spec.traildiscover, p] as const))('%s raises at most %i signal(s) on the traildiscover corpus', (_id, most, p) => {
    expect(signalsOf(p.rule, traildiscover).length).toBeLessThanOrEqual(most);
  });
});

describe('rule pack A: base records', () => {
  const used = [...new Set(pack.flatMap((p) => p.tests.flatMap((t) => t.events.flatMap((e) => ('base' in e ? [e.base] : [])))))].sort();
  const licences: Readonly<Record<string, string>> = {
    'stratus-detonation-logs': 'Apache-2.0',
    'invictus-aws-dataset': 'MIT',
    'traildiscover-log-examples': 'CC BY 4.0',
  };

  it.each(used.map((name) => [name] as const))('%s is a real fixture record, copied unchanged, with its licence', (name) => {
    const base = bases.get(name);
    expect(base).toBeDefined();
    if (!base) return;
    const [path = '', eventId = ''] = base.source.split('#');
    expect(base.licence).toBe(licences[path.split('/')[0] ?? '']);
    const original = fixtureRecords(path).filter((r) => r.eventID === eventId);
    expect(original).toEqual([base.record]);
  });
});

describe('rule test builder', () => {
  const base: Rec = { eventTime: '2024-08-01T12:00:00Z', eventID: 'original', userIdentity: { type: 'IAMUser', userName: 'alice' }, list: [1, 2, 3] };
  const bases1 = new Map<string, Rec>([['b', base]]);

  it.each<[string, TestEvent[], (records: Rec[]) => unknown, unknown]>([
    ['objects merge key by key', [{ base: 'b', patch: { userIdentity: { arn: 'x' } } }], (r) => r[0]?.userIdentity, { type: 'IAMUser', userName: 'alice', arn: 'x' }],
    ['null deletes a key', [{ base: 'b', patch: { userIdentity: { userName: null } } }], (r) => r[0]?.userIdentity, { type: 'IAMUser' }],
    ['arrays replace whole', [{ base: 'b', patch: { list: [9] } }], (r) => r[0]?.list, [9]],
    ['other values replace', [{ base: 'b', patch: { userIdentity: 'flat' } }], (r) => r[0]?.userIdentity, 'flat'],
    ['each event gets a fresh id', [{ base: 'b' }, { base: 'b' }], (r) => r.map((x) => x.eventID), ['rule/3/0', 'rule/3/1']],
    ['an id set by the patch is kept', [{ base: 'b', patch: { eventID: 'mine' } }], (r) => r[0]?.eventID, 'mine'],
    ['after counts from the previous event', [{ base: 'b' }, { base: 'b', after: 30 }, { base: 'b', after: 90 }], (r) => r.map((x) => x.eventTime), ['2024-08-01T12:00:00Z', '2024-08-01T12:00:30Z', '2024-08-01T12:02:00Z']],
    ['after on the first event changes nothing', [{ base: 'b', after: 30 }], (r) => r[0]?.eventTime, '2024-08-01T12:00:00Z'],
    ['a __proto__ key is an ordinary key', [{ base: 'b', patch: JSON.parse('{"__proto__": {"polluted": true}}') as Rec }], (r) => [Object.hasOwn(r[0] ?? {}, '__proto__'), ({} as Rec).polluted], [true, undefined]],
  ])('%s', (_name, events, pick, expected) => {
    expect(pick(buildTestEvents('rule', 3, events, bases1))).toEqual(expected);
  });

  it('never changes the base record', () => {
    const before = structuredClone(base);
    buildTestEvents('rule', 0, [{ base: 'b', patch: { userIdentity: { userName: null }, list: [] } }], bases1);
    expect(base).toEqual(before);
  });

  it('merging a patch twice gives the same result as once (for patches without null)', () => {
    const leaf = fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.array(fc.integer(), { maxLength: 3 }));
    const objects = fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), fc.oneof(leaf, fc.dictionary(fc.string({ minLength: 1, maxLength: 4 }), leaf)));
    fc.assert(
      fc.property(objects, objects, (target, patch) => {
        const once = mergePatch(target, patch);
        expect(mergePatch(once, patch)).toEqual(once);
      }),
    );
  });

  it.each<[string, RuleTest, Partial<Signal>[], number]>([
    ['expect signal with none raised', { name: 'x', expect: 'signal', events: [{ base: 'b' }] }, [], 1],
    ['expect none with one raised', { name: 'x', expect: 'none', events: [{ base: 'b' }] }, [{ severity: 'low', title: 't', group: {} }], 1],
    ['wrong count', { name: 'x', expect: 'signal', signals: 2, events: [{ base: 'b' }] }, [{ severity: 'low', title: 't', group: {} }], 1],
    ['wrong severity', { name: 'x', expect: 'signal', severity: 'high', events: [{ base: 'b' }] }, [{ severity: 'low', title: 't', group: {} }], 1],
    ['title lacks the text', { name: 'x', expect: 'signal', title: 'Stop', events: [{ base: 'b' }] }, [{ severity: 'low', title: 't', group: {} }], 1],
    ['no signal of that group', { name: 'x', expect: 'signal', group: { a: '1' }, events: [{ base: 'b' }] }, [{ severity: 'low', title: 't', group: { a: '2' } }], 1],
    ['every expectation met', { name: 'x', expect: 'signal', signals: 1, severity: 'low', title: 'ti', group: { a: '1' }, events: [{ base: 'b' }] }, [{ severity: 'low', title: 'title', group: { a: '1' } }], 0],
  ])('checkExpectations: %s → %i failure(s)', (_name, test, signals, failures) => {
    expect(checkExpectations(test, signals as Signal[])).toHaveLength(failures);
  });
});
