import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../../src/core/types.js';
import { ocsfDetectionFinding } from '../../src/sinks/ocsf-finding.js';
import { detect, fixtureRecords, stratusAttack } from './detect.js';
import { ocsfSchema } from './ocsf-validate.js';

type Doc = Record<string, unknown>;

const [flagship] = detect(stratusAttack().all).filter((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
if (flagship === undefined) throw new Error('no flagship signal');
const [byAddress] = detect(fixtureRecords('stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json')).filter((s) => s.ruleId === 'ec2-instance-credentials-used-elsewhere');
if (byAddress === undefined) throw new Error('no signal grouped by address');

function valid(): Doc {
  return structuredClone(ocsfDetectionFinding({ kind: 'created', signal: flagship as NonNullable<typeof flagship>, triage: { status: 'acknowledged', resolution: null, assignee: 'alice' } }, { productVersion: '1.0.0', nowMs: 1_700_000_000_000 }));
}

/** A copy of the valid document with `edit` applied to it. */
function edited(edit: (doc: Doc & { finding_info: Doc; metadata: Doc; cloud: Doc; actor: Doc }) => void): JsonObject {
  const doc = valid() as Doc & { finding_info: Doc; metadata: Doc; cloud: Doc; actor: Doc };
  edit(doc);
  return doc as JsonObject;
}

function messages(document: unknown): string[] {
  return ocsfSchema()
    .errors(document)
    .map((issue) => `${issue.path}: ${issue.message}`);
}

describe('the OCSF validator (test support)', () => {
  it('accepts the documents trailhound writes', () => {
    expect(ocsfSchema().validate(valid())).toEqual([]);
  });

  it.each([
    ['a missing required attribute of the class', (d: Doc) => delete d.severity_id, /^severity_id: required attribute "severity_id" of detection_finding is missing$/],
    ['a missing required attribute of the parent class (finding)', (d: Doc) => delete d.finding_info, /^finding_info: required attribute/],
    ['a missing required attribute of the base event', (d: Doc) => delete d.metadata, /^metadata: required attribute "metadata"/],
    ['a missing required attribute of a nested object', (d: Doc & { finding_info: Doc }) => delete d.finding_info.uid, /^finding_info\.uid: required attribute "uid" of finding_info/],
    ['a missing required attribute of an object two levels down', (d: Doc & { finding_info: Doc }) => ((d.finding_info.analytic as Doc).type_id = undefined), /^finding_info\.analytic\.type_id: required/],
    ['a missing attribute a profile requires (cloud)', (d: Doc) => delete d.cloud, /^cloud: required attribute "cloud"/],
  ] as const)('rejects %s', (_, edit, expected) => {
    const found = messages(edited(edit));
    expect(found.some((m) => expected.test(m)), found.join('\n')).toBe(true);
  });

  it.each([
    ['a string where the dictionary says integer', (d: Doc) => (d.severity_id = '4'), /^severity_id: expected a 32-bit integer/],
    ['a fraction where the dictionary says timestamp (long)', (d: Doc) => (d.time = 1.5), /^time: expected an integer/],
    ['a number where the dictionary says string', (d: Doc & { finding_info: Doc }) => (d.finding_info.title = 42), /^finding_info\.title: expected a string/],
    ['an object where the dictionary says array', (d: Doc & { finding_info: Doc }) => (d.finding_info.related_events = { uid: 'x' }), /^finding_info\.related_events: "related_events" is an array/],
    ['a string where the dictionary says object', (d: Doc) => (d.cloud = 'AWS'), /^cloud: "cloud" is an object of type cloud/],
    ['a boolean typed as a string', (d: Doc) => (d.is_alert = 'true'), /^is_alert: expected true or false/],
    ['an IP address that is not one', (d: Doc) => (d.evidences = [{ src_endpoint: { ip: 'not-an-ip' } }]), /^evidences\[0\]\.src_endpoint\.ip: "not-an-ip" is not a valid ip_t/],
    ['a null value', (d: Doc) => (d.message = null), /^message: "message" is null/],
  ] as const)('rejects %s', (_, edit, expected) => {
    const found = messages(edited(edit));
    expect(found.some((m) => expected.test(m)), found.join('\n')).toBe(true);
  });

  it.each([
    ['a status_id the Finding enum lacks', (d: Doc) => (d.status_id = 7), /^status_id: 7 is not an id of the status_id enum \(0, 1, 2, 3, 4, 5, 6, 99\)$/],
    ['a severity_id the dictionary enum lacks', (d: Doc) => (d.severity_id = 9), /^severity_id: 9 is not an id/],
    ['an activity_id the Finding enum lacks', (d: Doc) => ((d.activity_id = 4), (d.type_uid = 200404)), /^activity_id: 4 is not an id of the activity_id enum \(0, 1, 2, 3, 99\)$/],
    ['an enum id of a nested object', (d: Doc & { finding_info: Doc }) => ((d.finding_info.analytic as Doc).type_id = 42), /^finding_info\.analytic\.type_id: 42 is not an id/],
    ['a class_uid of another class', (d: Doc) => (d.class_uid = 2005), /^class_uid: unknown class_uid 2005$/],
    ['a category_uid of another category', (d: Doc) => (d.category_uid = 3), /^category_uid: 3 is not an id of the category_uid enum \(2\)$/],
    ['a type_uid that is not class_uid * 100 + activity_id', (d: Doc) => (d.type_uid = 200402), /^type_uid: type_uid must be class_uid \* 100 \+ activity_id = 200401/],
    ['a sibling text that is not the caption of its id', (d: Doc) => (d.severity = 'Low'), /^severity: "severity" must be the caption of severity_id 4, "High"$/],
    ['a type_name that does not match the activity', (d: Doc) => (d.type_name = 'Detection Finding: Close'), /^type_name: type_name must be "Detection Finding: Create"$/],
  ] as const)('rejects %s', (_, edit, expected) => {
    const found = messages(edited(edit));
    expect(found.some((m) => expected.test(m)), found.join('\n')).toBe(true);
  });

  it.each([
    ['an attribute no class in the chain defines', (d: Doc) => (d.colour = 'red'), /^colour: "colour" is not an attribute of detection_finding$/],
    ['an attribute of a nested object it does not define', (d: Doc & { cloud: Doc }) => (d.cloud.vpc = 'x'), /^cloud\.vpc: "vpc" is not an attribute of cloud$/],
    ['a profile attribute without its profile applied', (d: Doc & { metadata: Doc }) => (d.metadata.profiles = ['cloud', 'incident']), /^actor: "actor" is not an attribute of detection_finding \(it needs the "host" profile/],
    ['an unknown profile', (d: Doc & { metadata: Doc }) => (d.metadata.profiles = ['cloud', 'host', 'incident', 'made_up']), /^metadata\.profiles: unknown profile "made_up"$/],
    ['an object breaking its at_least_one constraint', (d: Doc & { finding_info: Doc }) => (d.finding_info.attacks = [{ version: '15' }]), /^finding_info\.attacks\[0\]: attack needs at least one of tactic, technique, sub_technique$/],
    ['an inherited constraint (the _entity of a user)', (d: Doc) => (d.assignee = { type_id: 1 }), /^assignee: user needs at least one of account, name, uid$/],
    ['another schema version', (d: Doc & { metadata: Doc }) => (d.metadata.version = '1.1.0'), /^metadata\.version: the schema here is version 1\.9\.0-dev/],
  ] as const)('rejects %s', (_, edit, expected) => {
    const found = messages(edited(edit));
    expect(found.some((m) => expected.test(m)), found.join('\n')).toBe(true);
  });

  it('warns about a deprecated attribute without rejecting it', () => {
    const doc = edited((d) => {
      (d.finding_info.attacks as Doc[]).push({ tactics: [{ uid: 'TA0004' }], technique: { uid: 'T1037' } });
    });
    expect(ocsfSchema().errors(doc)).toEqual([]);
    expect(ocsfSchema().validate(doc)).toEqual([{ severity: 'warning', path: 'finding_info.attacks[2].tactics', message: '"tactics" is deprecated' }]);
  });

  it('accepts a _dt sibling only with the datetime profile, and only as an RFC 3339 text', () => {
    const withoutProfile = edited((d) => (d.time_dt = '2023-11-14T22:13:20.000Z'));
    expect(messages(withoutProfile)).toEqual(['time_dt: "time_dt" is not an attribute of detection_finding']);
    const withProfile = edited((d) => {
      d.time_dt = '2023-11-14T22:13:20.000Z';
      (d.metadata.profiles as string[]).push('datetime');
    });
    expect(messages(withProfile)).toEqual([]);
    const badText = edited((d) => {
      d.time_dt = 'yesterday';
      (d.metadata.profiles as string[]).push('datetime');
    });
    expect(messages(badText)).toEqual(['time_dt: "yesterday" is not a valid datetime_t']);
  });

  it('a signal grouped by address validates with the evidence of its source', () => {
    const doc = ocsfDetectionFinding({ kind: 'created', signal: byAddress }, { productVersion: '1.0.0', nowMs: 1 });
    expect(ocsfSchema().validate(doc)).toEqual([]);
  });

  it('rejects what is not an object', () => {
    expect(messages([])).toEqual([': an OCSF event is a JSON object']);
  });
});
