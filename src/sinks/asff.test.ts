import { beforeAll, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { asffProblems } from '../../test/support/asff-check.js';
import { detect, fixtureRecords, stratusAttack } from '../../test/support/detect.js';
import { allFixtureSignals } from '../../test/support/fixture-signals.js';
import { asffFinding, asffTypes, clip, defaultProductArn } from './asff.js';
import type { SignalChange } from './sink.js';

const CONTEXT = { accountId: '111122223333', region: 'eu-west-1', productVersion: '0.1.0', nowMs: Date.parse('2026-01-02T03:04:05.000Z') };

type Finding = Record<string, unknown> & { Resources: Record<string, unknown>[]; ProductFields: Record<string, string> };

function finding(change: SignalChange, context = CONTEXT): Finding {
  return asffFinding(change, context) as unknown as Finding;
}

describe('ASFF finding', () => {
  describe('every signal the rules raise on every fixture file', () => {
    let signals: ReturnType<typeof allFixtureSignals> = [];
    beforeAll(() => {
      signals = allFixtureSignals();
    }, 300_000);

    it('has every required top-level attribute within its limits, for each kind of change', () => {
      expect(signals.length).toBeGreaterThan(50);
      const failures: string[] = [];
      for (const { file, signal } of signals) {
        for (const kind of ['created', 'updated', 'closed'] as const) {
          const problems = asffProblems(asffFinding({ kind, signal, triage: { status: 'resolved', resolution: 'benign', assignee: null } }, CONTEXT));
          if (problems.length > 0) failures.push(`${file} ${signal.ruleId} ${kind}: ${problems.join('; ')}`);
        }
      }
      expect(failures.slice(0, 5)).toEqual([]);
    });

    it('keeps the signal id as the finding id and the rule as the generator', () => {
      for (const { signal } of signals) {
        const f = finding({ kind: 'updated', signal });
        expect([f.Id, f.GeneratorId, f.ProductFields['trailhound/RuleId']]).toEqual([signal.id, `trailhound/${signal.ruleId}`, signal.ruleId]);
      }
    });
  });

  describe('the Stratus Red Team user-data attack (flagship rule)', () => {
    const { all } = stratusAttack();
    const signal = detect(all).find((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
    if (signal === undefined) throw new Error('no flagship signal');

    it('is a new, active HIGH finding of the Security Hub account, typed by its MITRE tactic', () => {
      const f = finding({ kind: 'created', signal });
      expect(f).toMatchObject({
        SchemaVersion: '2018-10-08',
        Id: signal.id,
        ProductArn: 'arn:aws:securityhub:eu-west-1:111122223333:product/111122223333/default',
        GeneratorId: 'trailhound/aws-ec2-user-data-modified-then-started',
        AwsAccountId: '111122223333',
        Types: ['TTPs/Privilege Escalation'],
        CreatedAt: '2024-08-01T12:03:30.000Z',
        FirstObservedAt: '2024-08-01T12:03:30.000Z',
        LastObservedAt: '2024-08-01T12:04:19.000Z',
        UpdatedAt: '2026-01-02T03:04:05.000Z',
        Severity: { Label: 'HIGH', Original: 'high' },
        FindingProviderFields: { Severity: { Label: 'HIGH', Original: 'high' }, Types: ['TTPs/Privilege Escalation'] },
        Title: 'AWS EC2 instance stopped, its user data modified, then started',
        RecordState: 'ACTIVE',
        Workflow: { Status: 'NEW' },
      });
      expect(asffProblems(f)).toEqual([]);
    });

    it('names the instance by its ARN in the account and region of the records, and the IAM user', () => {
      expect(finding({ kind: 'created', signal }).Resources).toEqual([
        { Type: 'AwsEc2Instance', Id: 'arn:aws:ec2:ca-northsouth-2r:309303190113:instance/i-DDd6c7B0e18F0E35f', Partition: 'aws', Region: 'ca-northsouth-2r' },
        { Type: 'AwsIamUser', Id: 'arn:aws:iam::309303190113:user/christophe', Partition: 'aws' },
      ]);
    });

    it('keeps what ASFF has no field for in ProductFields', () => {
      expect(finding({ kind: 'created', signal }).ProductFields).toEqual({
        'trailhound/Version': '0.1.0',
        'trailhound/SignalId': signal.id,
        'trailhound/RuleId': 'aws-ec2-user-data-modified-then-started',
        'trailhound/RuleName': signal.ruleName,
        'trailhound/Updates': '0',
        'trailhound/EventCount': '3',
        'trailhound/EventIds': signal.eventIds.join(','),
        'trailhound/Identity': 'arn:aws:iam::309303190113:user/christophe',
        'trailhound/SessionName': 'christophe',
        'trailhound/Tags': signal.tags.join(','),
      });
    });

    it('the long rule guidance is cut to 1024 characters for the description', () => {
      const f = finding({ kind: 'created', signal });
      expect(signal.message.length).toBeGreaterThan(1024);
      expect(f.Description).toHaveLength(1024);
      expect(String(f.Description).endsWith('…')).toBe(true);
      expect(signal.message.startsWith(String(f.Description).slice(0, -1))).toBe(true);
    });

    it('an update leaves the workflow to Security Hub users; a close archives the finding', () => {
      const updated = finding({ kind: 'updated', signal: { ...signal, updates: 1 } });
      expect(updated.Workflow).toBeUndefined();
      expect(updated.RecordState).toBe('ACTIVE');
      const closed = finding({ kind: 'closed', signal, triage: { status: 'resolved', resolution: 'false-positive', assignee: 'dave' } });
      expect([closed.RecordState, closed.Workflow]).toEqual(['ARCHIVED', undefined]);
      expect(closed.ProductFields).toMatchObject({ 'trailhound/TriageStatus': 'resolved', 'trailhound/Resolution': 'false-positive', 'trailhound/Assignee': 'dave' });
    });

    it('a signal a suppression matched is created suppressed; a replaced signal is archived', () => {
      expect(finding({ kind: 'created', signal: { ...signal, status: 'suppressed' } }).Workflow).toEqual({ Status: 'SUPPRESSED' });
      const replaced = finding({ kind: 'updated', signal: { ...signal, replacedBy: ['x1'] } });
      expect([replaced.RecordState, replaced.ProductFields['trailhound/ReplacedBy']]).toEqual(['ARCHIVED', 'x1']);
    });

    it.each([
      ['info', 'INFORMATIONAL'],
      ['low', 'LOW'],
      ['medium', 'MEDIUM'],
      ['high', 'HIGH'],
      ['critical', 'CRITICAL'],
    ] as const)('severity %s → %s', (severity, label) => {
      expect(finding({ kind: 'created', signal: { ...signal, severity } }).Severity).toEqual({ Label: label, Original: severity });
    });
  });

  it('an assumed-role session is an Other resource (its ARN is not the role ARN) and a signal by address gets the address', () => {
    const [assumed] = detect(fixtureRecords('stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json')).filter((s) => s.ruleId === 'ec2-password-data-retrieval');
    if (assumed === undefined) throw new Error('no signal');
    expect(finding({ kind: 'created', signal: assumed }).Resources).toEqual([
      { Type: 'AwsEc2Instance', Id: 'i-x7jwh6qy39glvq1r', Partition: 'aws' },
      { Type: 'Other', Id: assumed.group['@userIdentity.arn'], Partition: 'aws' },
    ]);
    const [byAddress] = detect(fixtureRecords('stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json')).filter((s) => s.ruleId === 'ec2-instance-credentials-used-elsewhere');
    if (byAddress === undefined) throw new Error('no signal');
    expect(finding({ kind: 'created', signal: byAddress }).Action).toEqual({ ActionType: 'AWS_API_CALL', AwsApiCallAction: { RemoteIpDetails: { IpAddressV4: '18.236.253.47' } } });
  });

  it('a signal with neither instance nor identity names the Security Hub account as its resource', () => {
    const signal: Signal = { ...(detect(stratusAttack().all)[0] as Signal), host: null, group: {}, actors: [] };
    expect(finding({ kind: 'created', signal }).Resources).toEqual([{ Type: 'AwsAccount', Id: 'AWS::::Account:111122223333', Partition: 'aws' }]);
  });

  it.each([
    [['tactic:TA0004-privilege-escalation', 'technique:T1037'], ['TTPs/Privilege Escalation']],
    [['tactic:TA0010-exfiltration', 'tactic:TA0007-discovery'], ['Effects/Data Exfiltration', 'TTPs/Discovery']],
    [['tactic:TA0043-reconnaissance'], ['TTPs']],
    [['source:cloudtrail'], ['Unusual Behaviors']],
  ])('the tags %j give the types %j', (tags, types) => {
    expect(asffTypes(tags)).toEqual(types);
  });

  it('titles are cut to 256 characters without splitting a surrogate pair', () => {
    const title = `${'a'.repeat(254)}🙂🙂`;
    const cut = clip(title, 256);
    expect(cut).toHaveLength(255);
    expect(cut).toBe(`${'a'.repeat(254)}…`);
    expect(clip('short', 256)).toBe('short');
  });

  it('the product ARN follows the partition of the region', () => {
    expect(defaultProductArn('cn-north-1', '123456789012')).toBe('arn:aws-cn:securityhub:cn-north-1:123456789012:product/123456789012/default');
    expect(defaultProductArn('us-gov-west-1', '123456789012')).toBe('arn:aws-us-gov:securityhub:us-gov-west-1:123456789012:product/123456789012/default');
  });

  it('a rule grouping by the API call gets an AWS_API_CALL action', () => {
    const signal: Signal = { ...(detect(stratusAttack().all)[0] as Signal), group: { '@evt.name': 'StopLogging', '@eventSource': 'cloudtrail.amazonaws.com' }, host: null, actors: [] };
    const f = finding({ kind: 'created', signal });
    expect(f.Action).toEqual({ ActionType: 'AWS_API_CALL', AwsApiCallAction: { Api: 'StopLogging', ServiceName: 'cloudtrail.amazonaws.com' } });
    expect(asffProblems(f)).toEqual([]);
  });
});
