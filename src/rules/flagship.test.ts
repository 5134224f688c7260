/**
 * The flagship rule file, rules/bd9-8o0-553.yaml (Datadog's bd9-8o0-553): it loads without a single
 * diagnostic, says what Datadog's rule says, and its queries pick the real attack records out of
 * real CloudTrail logs while leaving the near misses alone.
 */
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { normaliseRecord } from '../normalise/normalise.js';
import type { CompiledRule } from './model.js';
import { loadRules } from './load.js';

const RULE_PATH = 'rules/bd9-8o0-553.yaml';
const RULE_TEXT = readFileSync(new URL('../../rules/bd9-8o0-553.yaml', import.meta.url), 'utf8');
const FIXTURES = new URL('../../test/fixtures/cloudtrail/', import.meta.url);

function fixture(path: string): unknown {
  return JSON.parse(readFileSync(new URL(path, FIXTURES), 'utf8'));
}

/** A fixture file holds a record, an array of records, or a {"Records": [...]} log file. */
function recordsOf(path: string): JsonObject[] {
  const value = fixture(path);
  if (Array.isArray(value)) return value as JsonObject[];
  const log = value as JsonObject;
  return Array.isArray(log['Records']) ? (log['Records'] as JsonObject[]) : [log];
}

function normalised(record: JsonObject): JsonObject {
  const result = normaliseRecord(record, { source: 'test', index: 0 });
  if (!result.ok) throw new Error(result.message);
  return result.event.fields;
}

const STRATUS = recordsOf('stratus-detonation-logs/aws.execution.ec2-user-data.json');
function stratus(eventName: string): JsonObject {
  const found = STRATUS.find((r) => r['eventName'] === eventName);
  if (!found) throw new Error(`no ${eventName} in the Stratus run`);
  return found;
}

const loaded = loadRules([{ path: RULE_PATH, text: RULE_TEXT }]);
const rule = loaded.rules[0] as CompiledRule;
const OPSWORKS_AND_CLOUDFORMATION =
  '((-@http.useragent:opsworks.amazonaws.com -@userIdentity.invokedBy:opsworks.amazonaws.com) (-@http.useragent:cloudformation.amazonaws.com -@userIdentity.invokedBy:cloudformation.amazonaws.com))';

describe('rules/bd9-8o0-553.yaml', () => {
  it('loads with no error and no warning', () => {
    expect(loaded.diagnostics).toEqual([]);
    expect(loaded.rules).toHaveLength(1);
  });

  it("keeps Datadog's definition", () => {
    expect(rule.id).toBe('bd9-8o0-553');
    expect(rule.name).toBe('Possible AWS EC2 privilege escalation via the modification of user data');
    expect(rule.isEnabled).toBe(true);
    expect(rule.tags).toEqual(['source:cloudtrail', 'security:attack', 'tactic:TA0004-privilege-escalation', 'technique:T1037-boot-or-logon-initialization-scripts']);
    expect(rule.queries.map((q) => [q.name, q.aggregation, q.groupByFields, q.hasOptionalGroupByFields])).toEqual([
      ['stop_instance', 'count', ['@userIdentity.arn'], false],
      ['modify_instance_attribute', 'count', ['@userIdentity.arn'], false],
      ['start_instance', 'count', ['@userIdentity.arn'], false],
    ]);
    expect(rule.queries.map((q) => q.query.text)).toEqual([
      `source:cloudtrail @eventSource:ec2.amazonaws.com @evt.name:StopInstances ${OPSWORKS_AND_CLOUDFORMATION}`,
      `source:cloudtrail @eventSource:ec2.amazonaws.com @evt.name:ModifyInstanceAttribute @requestParameters.userData:* ${OPSWORKS_AND_CLOUDFORMATION}`,
      `source:cloudtrail @eventSource:ec2.amazonaws.com @evt.name:StartInstances ${OPSWORKS_AND_CLOUDFORMATION}`,
    ]);
    expect(rule.groupByFields).toEqual(['@userIdentity.arn']);
    expect(rule.cases.map((c) => [c.name, c.status, c.condition.text])).toEqual([['', 'low', 'stop_instance > 0 && modify_instance_attribute > 0 && start_instance > 0']]);
    expect(rule.options).toEqual({ detectionMethod: 'threshold', evaluationWindow: 900, keepAlive: 3600, maxSignalDuration: 3600 });
  });

  it('holds its case only when all three calls were counted', () => {
    const [only] = rule.cases;
    expect(only?.condition.holds({ stop_instance: 1, modify_instance_attribute: 1, start_instance: 1 })).toBe(true);
    expect(only?.condition.holds({ stop_instance: 1, modify_instance_attribute: 0, start_instance: 5 })).toBe(false);
    expect(only?.condition.holds({ modify_instance_attribute: 1, start_instance: 1 })).toBe(false);
  });

  const query = (name: string) => {
    const found = rule.queries.find((q) => q.name === name);
    if (!found) throw new Error(`no query ${name}`);
    return found.query;
  };

  it.each([
    { record: 'StopInstances', matches: ['stop_instance'] },
    { record: 'ModifyInstanceAttribute', matches: ['modify_instance_attribute'] },
    { record: 'StartInstances', matches: ['start_instance'] },
    { record: 'DescribeInstances', matches: [] },
  ])('picks the real $record of the Stratus attack run for $matches', ({ record, matches }) => {
    const fields = normalised(stratus(record));
    expect(rule.queries.filter((q) => q.query.matches(fields)).map((q) => q.name)).toEqual(matches);
  });

  it.each([
    { name: "Terraform's ModifyInstanceAttribute of disableApiTermination", path: 'samples/fp__modify-disableApiTermination-terraform__invictus.json' },
    { name: 'a DescribeInstanceAttribute of userData', path: 'samples/fp__describe-userData-success-terraform__invictus.json' },
    { name: 'the --attribute userData --value form (Datadog misses it too)', path: 'samples/fp__modify-attribute-value-form-InvalidParameterValue__traildiscover.json' },
  ])('leaves $name alone', ({ path }) => {
    for (const record of recordsOf(path)) {
      const fields = normalised(record);
      expect(rule.queries.filter((q) => q.query.matches(fields)).map((q) => q.name)).toEqual([]);
    }
  });

  it.each([
    { name: 'AWS OpsWorks by user agent', change: (r: JsonObject): JsonObject => ({ ...r, userAgent: 'opsworks.amazonaws.com' }) },
    { name: 'AWS CloudFormation by user agent', change: (r: JsonObject): JsonObject => ({ ...r, userAgent: 'cloudformation.amazonaws.com' }) },
    { name: 'AWS CloudFormation by invokedBy', change: (r: JsonObject): JsonObject => ({ ...r, userIdentity: { ...(r['userIdentity'] as JsonObject), invokedBy: 'cloudformation.amazonaws.com' } }) },
  ])('leaves out calls made on behalf of $name', ({ change }) => {
    const fields = normalised(change(stratus('StopInstances')));
    expect(query('stop_instance').matches(fields)).toBe(false);
  });

  it('renders a triage message naming the identity and the instance, with the restore command', () => {
    const fields = normalised(stratus('ModifyInstanceAttribute'));
    const message = rule.message.render({ event: fields, ruleName: rule.name, caseName: '', eventsMatched: 3, firstSeen: '2024-08-01T12:03:30.000Z', lastSeen: '2024-08-01T12:04:19.000Z', host: 'i-DDd6c7B0e18F0E35f' });
    expect(message).toMatch(/^## Goal\n/);
    expect(message).toContain('## Strategy');
    expect(message).toContain('## Triage and response');
    expect(message).toContain('`christophe` is allowed to change the user data of `i-DDd6c7B0e18F0E35f`');
    expect(message).toContain('aws ec2 modify-instance-attribute --instance-id i-DDd6c7B0e18F0E35f --attribute userData --value file://');
    expect(message).not.toContain('{{');
    expect(rule.title.render({ event: fields, ruleName: rule.name, caseName: '', eventsMatched: 3, firstSeen: '', lastSeen: '', host: null })).toBe(rule.name);
  });
});
