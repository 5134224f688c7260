import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import type { JsonObject, Signal } from '../core/types.js';
import { detect, fixtureRecords, stratusAttack } from '../../test/support/detect.js';
import { allFixtureSignals } from '../../test/support/fixture-signals.js';
import { OCSF_SCHEMA_DIR, ocsfSchema } from '../../test/support/ocsf-validate.js';
import { OCSF_SCHEMA_VERSION, ocsfDetectionFinding } from './ocsf-finding.js';
import type { SignalChange } from './sink.js';

const CONTEXT = { productVersion: '0.1.0', nowMs: Date.parse('2026-01-02T03:04:05.000Z') };

type Doc = Record<string, unknown> & { finding_info: Record<string, unknown>; metadata: Record<string, unknown> };

function doc(change: SignalChange): Doc {
  return ocsfDetectionFinding(change, CONTEXT) as unknown as Doc;
}

function fixtureSignal(file: string, ruleId: string): Signal {
  const signal = detect(fixtureRecords(file)).find((s) => s.ruleId === ruleId);
  if (signal === undefined) throw new Error(`${file} raises no ${ruleId} signal`);
  return signal;
}

const TRIAGES: readonly (SignalChange['triage'] & object)[] = [
  { status: 'open', resolution: null, assignee: null },
  { status: 'acknowledged', resolution: null, assignee: 'alice@example.com' },
  { status: 'resolved', resolution: 'true-positive', assignee: 'alice@example.com' },
  { status: 'resolved', resolution: 'false-positive', assignee: null },
  { status: 'resolved', resolution: 'benign', assignee: null },
  { status: 'suppressed', resolution: null, assignee: null },
];

/** Every change kind with and without each triage state. */
function variants(signal: Signal): SignalChange[] {
  const kinds = ['created', 'updated', 'closed'] as const;
  return kinds.flatMap((kind) => [{ kind, signal }, ...TRIAGES.map((triage) => ({ kind, signal, triage }))]);
}

describe('OCSF Detection Finding', () => {
  it('follows the schema version of the schema source the tests validate against', () => {
    const version = JSON.parse(readFileSync(join(OCSF_SCHEMA_DIR, 'version.json'), 'utf8')) as { version: string };
    expect(OCSF_SCHEMA_VERSION).toBe(version.version);
    expect(ocsfSchema().classUids()).toContain(2004);
  });

  describe('every signal the rules raise on every fixture file', () => {
    let signals: ReturnType<typeof allFixtureSignals> = [];
    beforeAll(() => {
      signals = allFixtureSignals();
    }, 300_000);

    it('the fixtures raise signals of many rules, with and without identity, instance and region', () => {
      expect(new Set(signals.map((s) => s.signal.ruleId)).size).toBeGreaterThan(20);
      expect(signals.some((s) => s.signal.host === null)).toBe(true);
      expect(signals.some((s) => s.signal.group['@network.client.ip'] !== undefined)).toBe(true);
      expect(signals.some((s) => s.signal.group['@awsRegion'] !== undefined)).toBe(true);
    });

    it('maps to documents the OCSF schema accepts, for each activity and triage status', () => {
      const failures: string[] = [];
      let checked = 0;
      for (const { file, signal } of signals) {
        for (const change of variants(signal)) {
          checked++;
          const errors = ocsfSchema().errors(ocsfDetectionFinding(change, CONTEXT));
          if (errors.length > 0) failures.push(`${file} ${signal.ruleId} ${change.kind} ${change.triage?.status ?? '-'}: ${JSON.stringify(errors)}`);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
      expect(checked).toBe(signals.length * 21);
    });

    it('gives the finding the signal id, the rule as analytic and the classification of its activity', () => {
      for (const { signal } of signals) {
        const created = doc({ kind: 'created', signal });
        expect(created.finding_info.uid).toBe(signal.id);
        expect(created.finding_info.analytic).toEqual({ uid: signal.ruleId, name: signal.ruleName, type_id: 1, type: 'Rule' });
        expect(created.finding_info.related_events).toEqual(signal.eventIds.map((uid) => ({ uid })));
        expect([created.class_uid, created.category_uid, created.type_uid]).toEqual([2004, 2, 200401]);
      }
    });
  });

  describe('the Stratus Red Team user-data attack (flagship rule)', () => {
    const { all, stop, modify, start } = stratusAttack();
    const signal = detect(all).find((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
    if (signal === undefined) throw new Error('the flagship rule raises no signal on its own attack');
    const created = doc({ kind: 'created', signal });

    it('is a high-severity Detection Finding: Create, new and alertable', () => {
      expect(created).toMatchObject({
        activity_id: 1,
        activity_name: 'Create',
        class_uid: 2004,
        class_name: 'Detection Finding',
        category_uid: 2,
        type_uid: 200401,
        type_name: 'Detection Finding: Create',
        severity_id: 4,
        severity: 'High',
        status_id: 1,
        status: 'New',
        is_alert: true,
        time: CONTEXT.nowMs,
        message: 'AWS EC2 instance stopped, its user data modified, then started',
      });
      expect(ocsfSchema().validate(created)).toEqual([]);
    });

    it('names the rule, the MITRE tactic and techniques, and the three CloudTrail events', () => {
      expect(created.finding_info).toMatchObject({
        uid: signal.id,
        title: signal.title,
        created_time: CONTEXT.nowMs,
        first_seen_time: Date.parse('2024-08-01T12:03:30.000Z'),
        last_seen_time: Date.parse('2024-08-01T12:04:19.000Z'),
        related_events_count: 3,
      });
      expect(created.finding_info.desc).toBe(signal.message);
      expect(created.finding_info.related_events).toEqual([stop, modify, start].map((r) => ({ uid: r.eventID })));
      expect(created.finding_info.attacks).toEqual([
        {
          tactic: { uid: 'TA0004', name: 'Privilege Escalation', src_url: 'https://attack.mitre.org/tactics/TA0004/' },
          technique: { uid: 'T1037', name: 'Boot or Logon Initialization Scripts', src_url: 'https://attack.mitre.org/techniques/T1037/' },
        },
        {
          tactic: { uid: 'TA0004', name: 'Privilege Escalation', src_url: 'https://attack.mitre.org/tactics/TA0004/' },
          technique: { uid: 'T1059', src_url: 'https://attack.mitre.org/techniques/T1059/' },
        },
      ]);
    });

    it('places it in the account and region of the records, with the IAM user as actor and the instance as resource', () => {
      expect(created.cloud).toEqual({ provider: 'AWS', account: { uid: '309303190113', type_id: 10, type: 'AWS Account' }, region: 'ca-northsouth-2r' });
      expect(created.actor).toEqual({
        user: { uid: 'arn:aws:iam::309303190113:user/christophe', name: 'christophe', type_id: 1, type: 'User', account: { uid: '309303190113', type_id: 10, type: 'AWS Account' } },
      });
      expect(created.resources).toEqual([
        { uid: 'i-DDd6c7B0e18F0E35f', type: 'AWS::EC2::Instance', role_id: 1, role: 'Target', region: 'ca-northsouth-2r', owner: { account: { uid: '309303190113', type_id: 10, type: 'AWS Account' } } },
      ]);
      expect(created.metadata).toMatchObject({ product: { name: 'trailhound', vendor_name: 'trailhound', version: '0.1.0' }, version: OCSF_SCHEMA_VERSION, uid: `${signal.id}:create:0`, profiles: ['cloud', 'host'] });
    });

    it('an update is activity 2 with a modified time and no created time', () => {
      const updated = doc({ kind: 'updated', signal: { ...signal, updates: 2 } });
      expect([updated.activity_id, updated.type_uid, updated.type_name]).toEqual([2, 200402, 'Detection Finding: Update']);
      expect(updated.finding_info.modified_time).toBe(CONTEXT.nowMs);
      expect(updated.finding_info.created_time).toBeUndefined();
      expect(updated.metadata.uid).toBe(`${signal.id}:update:2`);
    });

    it.each([
      ['open', null, 1, 'New', undefined],
      ['acknowledged', null, 2, 'In Progress', undefined],
      ['resolved', 'true-positive', 4, 'Resolved', [2, 'True Positive']],
      ['resolved', 'false-positive', 4, 'Resolved', [1, 'False Positive']],
      ['resolved', 'benign', 4, 'Resolved', [5, 'Benign']],
      ['suppressed', null, 3, 'Suppressed', undefined],
    ] as const)('triage %s (%s) → status_id %i (%s) and the verdict', (status, resolution, statusId, statusName, verdict) => {
      const kind = status === 'resolved' || status === 'suppressed' ? 'closed' : 'updated';
      const d = doc({ kind, signal, triage: { status, resolution, assignee: 'bob' } });
      expect([d.status_id, d.status]).toEqual([statusId, statusName]);
      expect(verdict === undefined ? undefined : [d.verdict_id, d.verdict]).toEqual(verdict);
      expect(d.assignee).toEqual({ name: 'bob' });
      expect(d.metadata.profiles).toEqual(['cloud', 'host', 'incident']);
      expect(d.is_alert).toBe(kind !== 'closed' && status !== 'suppressed');
      if (kind === 'closed') expect([d.activity_id, d.type_uid, d.activity_name]).toEqual([3, 200403, 'Close']);
      expect(ocsfSchema().validate(d)).toEqual([]);
    });

    it('a signal a suppression matched is status 3 (suppressed), and a replaced one status 99 with its replacements', () => {
      const suppressed = doc({ kind: 'created', signal: { ...signal, status: 'suppressed', suppression: { reason: 'lab account', source: 'suppressions.yaml:3:5' } } });
      expect([suppressed.status_id, suppressed.status, suppressed.is_alert]).toEqual([3, 'Suppressed', false]);
      expect((suppressed.unmapped as JsonObject).suppression).toEqual({ reason: 'lab account', source: 'suppressions.yaml:3:5' });
      const replaced = doc({ kind: 'updated', signal: { ...signal, replacedBy: ['abc'] } });
      expect([replaced.status_id, replaced.status, replaced.is_alert]).toEqual([99, 'Replaced', false]);
      expect((replaced.unmapped as JsonObject).replaced_by).toEqual(['abc']);
      expect(ocsfSchema().errors(suppressed)).toEqual([]);
      expect(ocsfSchema().errors(replaced)).toEqual([]);
    });

    it.each([
      ['info', 1, 'Informational'],
      ['low', 2, 'Low'],
      ['medium', 3, 'Medium'],
      ['high', 4, 'High'],
      ['critical', 5, 'Critical'],
    ] as const)('severity %s → severity_id %i', (severity, id, name) => {
      const d = doc({ kind: 'created', signal: { ...signal, severity } });
      expect([d.severity_id, d.severity]).toEqual([id, name]);
    });
  });

  it('an assumed-role caller: the session name is the user name and the role the session issuer', () => {
    const signal = fixtureSignal('stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json', 'ec2-password-data-retrieval');
    const d = doc({ kind: 'created', signal });
    expect(d.actor).toEqual({
      user: {
        uid: 'arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000',
        name: 'aws-go-sdk-1722375070115152000',
        type_id: 99,
        type: 'AssumedRole',
        account: { uid: '457448411975', type_id: 10, type: 'AWS Account' },
      },
      session: { issuer: 'stratus-red-team-ec2-get-password-data-role' },
    });
    expect(d.cloud).toEqual({ provider: 'AWS', account: { uid: '457448411975', type_id: 10, type: 'AWS Account' } });
    expect(d.finding_info.attacks).toEqual([
      {
        tactic: { uid: 'TA0006', name: 'Credential Access', src_url: 'https://attack.mitre.org/tactics/TA0006/' },
        technique: { uid: 'T1552', name: 'Unsecured Credentials', src_url: 'https://attack.mitre.org/techniques/T1552/' },
      },
    ]);
  });

  it('a signal grouped by source address: the address as evidence, no actor', () => {
    const signal = fixtureSignal('stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json', 'ec2-instance-credentials-used-elsewhere');
    const d = doc({ kind: 'created', signal });
    expect(d.evidences).toEqual([{ src_endpoint: { ip: '18.236.253.47' } }]);
    expect(d.actor).toBeUndefined();
    expect(d.metadata.profiles).toEqual(['cloud']);
    expect(ocsfSchema().validate(d)).toEqual([]);
  });

  it('a sub-technique tag becomes the technique and its sub-technique', () => {
    const signal = fixtureSignal('stratus-detonation-logs/aws.lateral-movement.ec2-instance-connect.json', 'ec2-instance-connect-ssh-key-pushed');
    const d = doc({ kind: 'created', signal });
    expect(d.finding_info.attacks).toEqual([
      {
        tactic: { uid: 'TA0008', name: 'Lateral Movement', src_url: 'https://attack.mitre.org/tactics/TA0008/' },
        technique: { uid: 'T1021', src_url: 'https://attack.mitre.org/techniques/T1021/' },
        sub_technique: { uid: 'T1021.008', name: 'Direct Cloud VM Connections', src_url: 'https://attack.mitre.org/techniques/T1021/008/' },
      },
    ]);
  });

  it('attacker-controlled text stays data: the document is valid and the text round-trips through JSON', () => {
    const { all } = stratusAttack();
    const [base] = detect(all);
    if (base === undefined) throw new Error('no signal');
    const hostile = 'line\nbreak "quote" \\ \u2028 <!channel> \u0000 🙂';
    const signal: Signal = { ...base, title: hostile, message: hostile, group: { ...base.group, '@userIdentity.arn': `arn:aws:sts::123456789012:assumed-role/r/${hostile}` }, tags: [...base.tags, `tactic:${hostile}`] };
    const d = JSON.parse(JSON.stringify(ocsfDetectionFinding({ kind: 'created', signal }, CONTEXT))) as Doc;
    expect(d.message).toBe(hostile);
    expect((d.actor as { user: { name: string } }).user.name).toBe(hostile);
    expect(ocsfSchema().errors(d)).toEqual([]);
  });

  it('a rule grouping by the API call gets the api object', () => {
    const [base] = detect(stratusAttack().all);
    if (base === undefined) throw new Error('no signal');
    const signal: Signal = { ...base, group: { '@evt.name': 'ModifyInstanceAttribute', '@eventSource': 'ec2.amazonaws.com', '@userIdentity.arn': 'arn:aws:iam::123456789012:root' } };
    const d = doc({ kind: 'created', signal });
    expect(d.api).toEqual({ operation: 'ModifyInstanceAttribute', service: { name: 'ec2.amazonaws.com' } });
    expect((d.actor as { user: unknown }).user).toEqual({ uid: 'arn:aws:iam::123456789012:root', name: 'root', type_id: 2, type: 'Admin', account: { uid: '123456789012', type_id: 10, type: 'AWS Account' } });
    expect(ocsfSchema().errors(d)).toEqual([]);
  });

  it('any IPv4 or IPv6 source address is valid evidence, anything else a host name', () => {
    const [base] = detect(stratusAttack().all);
    if (base === undefined) throw new Error('no signal');
    fc.assert(
      fc.property(fc.oneof(fc.ipV4(), fc.ipV6(), fc.constantFrom('ec2.amazonaws.com', 'AWS Internal', 'a:b')), (address) => {
        const d = doc({ kind: 'created', signal: { ...base, group: { '@network.client.ip': address } } });
        expect(ocsfSchema().errors(d)).toEqual([]);
        expect(d.evidences).toEqual([{ src_endpoint: /^[0-9.]+$/.test(address) || address.includes('::') || address.split(':').length > 3 ? { ip: address } : { hostname: address } }]);
      }),
      { numRuns: 200 },
    );
  });
});
