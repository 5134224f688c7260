import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableHash } from '../core/hash.js';
import type { JsonObject, JsonValue, RecordOrigin } from '../core/types.js';
import { FIELD_CATALOGUE, isKnownField } from '../fields/catalogue.js';
import { RECORD_ERROR_CODES, canonicalJson, normaliseRecord, parseEventTime } from './normalise.js';

const FIXTURES = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));
const ORIGIN: RecordOrigin = { source: 'test', index: 0 };

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** The records of a fixture file: a JSON array, a `{"Records": [...]}` log file, or one object. */
function readRecords(file: string): JsonValue[] {
  const parsed = JSON.parse(readFileSync(join(FIXTURES, file), 'utf8')) as JsonValue;
  if (Array.isArray(parsed)) return parsed;
  if (isObject(parsed) && Array.isArray(parsed.Records)) return parsed.Records;
  return [parsed];
}

function recordById(file: string, eventId: string): JsonObject {
  const found = readRecords(file).find((r) => isObject(r) && r.eventID === eventId);
  if (!isObject(found)) throw new Error(`fixture ${file} has no record ${eventId}`);
  return found;
}

function onlyRecord(file: string): JsonObject {
  const [found] = readRecords(file);
  if (!isObject(found)) throw new Error(`fixture ${file} is not one record`);
  return found;
}

/** A deep copy, so a test can build a variant of a real record. */
function copy<T extends JsonValue>(value: T): T {
  return structuredClone(value);
}

function normaliseOk(record: unknown): JsonObject {
  const result = normaliseRecord(record, ORIGIN);
  if (!result.ok) throw new Error(`expected the record to normalise: ${result.code} ${result.message}`);
  return result.event.fields;
}

/** The value at a dotted path of normalised fields (no arrays), or undefined. */
function at(fields: JsonObject, path: string): JsonValue | undefined {
  let current: JsonValue | undefined = fields;
  for (const segment of path.split('.')) {
    if (!isObject(current) || !Object.hasOwn(current, segment)) return undefined;
    current = current[segment];
  }
  return current;
}

const USER_DATA = 'stratus-detonation-logs/aws.execution.ec2-user-data.json';
const INVICTUS_AR = 'invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1205Z_UljXNp9xLp8nsAGc.json';
const INVICTUS_SERVICE = 'invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1215Z_YMDRJwtmC82bUwAo.json';
const INVICTUS_S3 = 'invictus-aws-dataset/CloudTrail/218007301253_CloudTrail_us-east-1_20230710T1230Z_ZtUNbBkwAu98FPZb.json';
const FEDERATION = 'stratus-detonation-logs/aws.persistence.sts-federation-token.json';
const STEAL_CREDS = 'stratus-detonation-logs/aws.credential-access.ec2-steal-instance-credentials.json';
const SERIAL_CONSOLE = 'stratus-detonation-logs/aws.lateral-movement.ec2-serial-console-send-ssh-public-key.json';
const AWS_SERVICE = 'samples/fp__awsservice-identity-assumerole-ec2__invictus.json';
const PANTHER_STOP = 'panther-tests/aws_ec2_stopinstances__tp__cloudtrail-instances-were-stopped.json';
const PANTHER_STOP_ERROR = 'panther-tests/aws_ec2_stopinstances__fp__error-stopping-cloudtrail-instances.json';
const PANTHER_USER_DATA = 'panther-tests/aws_ec2_startup_script_change__tp__modifyinstanceattributeuserdata.json';
const PANTHER_AUTOSCALING = 'panther-tests/aws_modify_cloud_compute_infrastructure__fp__terminate-instance-from-autoscaling.json';
const MALFORMED_STOP = 'samples/fp__stop-InvalidInstanceID.Malformed__traildiscover.json';

const iamUserRecord = (): JsonObject => recordById(USER_DATA, 'f634894e-d625-4b7b-b1c1-50354cc1100e');
const instanceCallerRecord = (): JsonObject => recordById(STEAL_CREDS, 'b379479b-05c9-4c3c-af4b-cbd43acf29e1');

interface IdentityCase {
  readonly name: string;
  readonly record: () => JsonObject;
  readonly sessionName: string | undefined;
  readonly assumedRole: string | undefined;
  readonly host: string | undefined;
  readonly accountId: string | undefined;
}

const IDENTITY_CASES: readonly IdentityCase[] = [
  {
    name: 'an IAM user is named by its userName, and the instance it modifies is the host',
    record: iamUserRecord,
    sessionName: 'christophe',
    assumedRole: undefined,
    host: 'i-DDd6c7B0e18F0E35f',
    accountId: '309303190113',
  },
  {
    name: 'an assumed role is named by its session, with its role name beside it',
    record: () => recordById(INVICTUS_AR, 'f4574dc5-9747-435c-bb53-22f2454be3b7'),
    sessionName: 'aws-go-sdk-1688990565286187801',
    assumedRole: 'stratus-red-team-get-usr-data-role',
    host: 'i-8107c9c0',
    accountId: '123837392027',
  },
  {
    name: 'a federated user is named by the last segment of its ARN',
    record: () => recordById(FEDERATION, '91529247-c4c4-4793-afc8-d70bbcfe9d19'),
    sessionName: 'stratus_red_team',
    assumedRole: undefined,
    host: undefined,
    accountId: '742491224508',
  },
  {
    name: 'the root user is named root',
    record: () => {
      const record = iamUserRecord();
      record.userIdentity = { type: 'Root', principalId: '309303190113', arn: 'arn:aws:iam::309303190113:root', accountId: '309303190113', accessKeyId: 'ASIAZI86ACIZ2J9CV86Z' };
      return record;
    },
    sessionName: 'root',
    assumedRole: undefined,
    host: 'i-DDd6c7B0e18F0E35f',
    accountId: '309303190113',
  },
  {
    name: 'a service event whose userIdentity has no type gets no session name',
    record: () => recordById(INVICTUS_SERVICE, 'dee00220-14e7-4b85-b76f-3a7c1afae272'),
    sessionName: undefined,
    assumedRole: undefined,
    host: undefined,
    accountId: '123837392027',
  },
  {
    name: 'an AWS service assuming an instance role is neither named nor a host',
    record: () => onlyRecord(AWS_SERVICE),
    sessionName: undefined,
    assumedRole: undefined,
    host: undefined,
    accountId: undefined,
  },
  {
    name: 'instance-profile credentials make the calling instance the host when the call names none',
    record: instanceCallerRecord,
    sessionName: 'i-786a3A8B5C0d92eF4',
    assumedRole: 'stratus-red-team-ec2-steal-credentials-role',
    host: 'i-786a3A8B5C0d92eF4',
    accountId: '017622104382',
  },
  {
    name: 'an instance caller listing instances with an empty instancesSet is its own host',
    record: () => recordById(STEAL_CREDS, '394cf343-b9cf-48ce-8a94-e188656ae8ba'),
    sessionName: 'i-786a3A8B5C0d92eF4',
    assumedRole: 'stratus-red-team-ec2-steal-credentials-role',
    host: 'i-786a3A8B5C0d92eF4',
    accountId: '017622104382',
  },
  {
    name: 'the instance a call acts on wins over the calling instance',
    record: () => ({ ...instanceCallerRecord(), requestParameters: { instanceId: 'i-0123456789abcdef0', attribute: 'userData' } }),
    sessionName: 'i-786a3A8B5C0d92eF4',
    assumedRole: 'stratus-red-team-ec2-steal-credentials-role',
    host: 'i-0123456789abcdef0',
    accountId: '017622104382',
  },
  {
    name: 'a session name that merely starts with i- is not an instance',
    record: () => {
      const record = instanceCallerRecord();
      const userIdentity = copy(record.userIdentity ?? null);
      if (!isObject(userIdentity)) throw new Error('fixture changed');
      userIdentity.arn = 'arn:aws:sts::017622104382:assumed-role/stratus-red-team-ec2-steal-credentials-role/i-am-alice';
      return { ...record, userIdentity };
    },
    sessionName: 'i-am-alice',
    assumedRole: 'stratus-red-team-ec2-steal-credentials-role',
    host: undefined,
    accountId: '017622104382',
  },
  {
    name: 'a multi-instance call names its first instance as host',
    record: () => onlyRecord(PANTHER_STOP),
    sessionName: 'Nikki',
    assumedRole: undefined,
    host: 'i-EXAMPLE56126103cb',
    accountId: '777788889999',
  },
  {
    name: 'an assumed-role ARN without a session segment (anonymised) derives no names',
    record: () => {
      const found = readRecords(SERIAL_CONSOLE).find((r) => isObject(r) && r.eventName === 'SendSerialConsoleSSHPublicKey');
      if (!isObject(found)) throw new Error('fixture changed');
      return found;
    },
    sessionName: undefined,
    assumedRole: undefined,
    host: 'i-EFCb4e480CAbc4CF9',
    accountId: '844015365555',
  },
];

describe('normaliseRecord: identity and host', () => {
  it.each(IDENTITY_CASES)('$name', ({ record, sessionName, assumedRole, host, accountId }) => {
    const fields = normaliseOk(record());
    expect(at(fields, 'userIdentity.session_name')).toBe(sessionName);
    expect(at(fields, 'userIdentity.assumed_role')).toBe(assumedRole);
    expect(at(fields, 'host')).toBe(host);
    expect(at(fields, 'usr.account_id')).toBe(accountId);
  });

  it('the first instance of a multi-instance call is the first item, not any later one', () => {
    const record = onlyRecord(PANTHER_STOP);
    const items = at(record, 'requestParameters.instancesSet.items');
    if (!Array.isArray(items)) throw new Error('fixture changed');
    const reversed = { ...record, requestParameters: { instancesSet: { items: [...items].reverse() } } };
    const last = items[items.length - 1];
    expect(at(normaliseOk(reversed), 'host')).toBe(isObject(last) ? last.instanceId : undefined);
    expect(at(normaliseOk(reversed), 'host')).not.toBe(at(normaliseOk(record), 'host'));
  });
});

describe('normaliseRecord: Datadog pipeline attributes', () => {
  it.each([
    { name: 'a successful call', record: iamUserRecord, status: 'info', level: 'Info', errorKind: undefined, errorMessage: undefined },
    {
      name: 'a failed call with a code and a message',
      record: () => onlyRecord(MALFORMED_STOP),
      status: 'error',
      level: 'Error',
      errorKind: 'Client.InvalidInstanceID.Malformed',
      errorMessage: "The instance ID 'TrailDiscoverInstanceID' is malformed",
    },
    {
      name: 'a failed S3 call from a real log file',
      record: () => recordById(INVICTUS_S3, '145575a3-003d-4952-ba15-a419c3cb1636'),
      status: 'error',
      level: 'Error',
      errorKind: 'NoSuchCORSConfiguration',
      errorMessage: 'The CORS configuration does not exist',
    },
    { name: 'a failed call with a code and no message', record: () => onlyRecord(PANTHER_STOP_ERROR), status: 'error', level: 'Error', errorKind: 'SomeErrorCode', errorMessage: undefined },
    { name: 'an empty errorCode counts as success', record: () => ({ ...iamUserRecord(), errorCode: '' }), status: 'info', level: 'Info', errorKind: undefined, errorMessage: undefined },
  ])('$name sets status $status and level $level', ({ record, status, level, errorKind, errorMessage }) => {
    const fields = normaliseOk(record());
    expect(fields.status).toBe(status);
    expect(fields.level).toBe(level);
    expect(at(fields, 'error.kind')).toBe(errorKind);
    expect(at(fields, 'error.message')).toBe(errorMessage);
  });

  it.each([
    { name: 'an IAM user record from Stratus', record: iamUserRecord },
    { name: 'an assumed-role record from Invictus', record: () => recordById(INVICTUS_AR, 'f4574dc5-9747-435c-bb53-22f2454be3b7') },
    { name: 'a Panther record', record: () => onlyRecord(PANTHER_USER_DATA) },
  ])('$name gets source, service, evt.name, http.useragent and network.client.ip', ({ record }) => {
    const raw = record();
    const fields = normaliseOk(raw);
    expect(fields.source).toBe('cloudtrail');
    expect(fields.service).toBe('cloudtrail');
    expect(fields.evt).toEqual({ name: raw.eventName });
    expect(at(fields, 'http.useragent')).toBe(raw.userAgent);
    expect(at(fields, 'network.client.ip')).toBe(raw.sourceIPAddress);
    expect(typeof raw.eventName).toBe('string');
    expect(typeof raw.userAgent).toBe('string');
  });

  it('keeps every raw field with its value', () => {
    const raw = recordById(INVICTUS_AR, 'f4574dc5-9747-435c-bb53-22f2454be3b7');
    const fields = normaliseOk(raw);
    for (const [key, value] of Object.entries(raw)) {
      if (key === 'userIdentity') continue;
      expect(fields[key]).toEqual(value);
    }
    const { session_name: _s, assumed_role: _a, ...identity } = fields.userIdentity as JsonObject;
    expect(identity).toEqual(raw.userIdentity);
  });

  it('does not modify the record it is given', () => {
    const raw = instanceCallerRecord();
    const before = copy(raw);
    normaliseOk(raw);
    expect(raw).toEqual(before);
    expect(isObject(raw.userIdentity) && Object.hasOwn(raw.userIdentity, 'session_name')).toBe(false);
  });
});

describe('normaliseRecord: event time', () => {
  it.each([
    { name: 'ISO 8601 with Z', text: '2024-08-01T12:04:18Z', expected: Date.UTC(2024, 7, 1, 12, 4, 18) },
    { name: 'ISO 8601 with milliseconds', text: '2024-08-01T12:04:18.250Z', expected: Date.UTC(2024, 7, 1, 12, 4, 18, 250) },
    { name: 'ISO 8601 with an offset', text: '2024-08-01T14:04:18+02:00', expected: Date.UTC(2024, 7, 1, 12, 4, 18) },
    { name: 'ISO 8601 with a negative offset', text: '2024-08-01T07:34:18-04:30', expected: Date.UTC(2024, 7, 1, 12, 4, 18) },
    { name: 'Panther with nanoseconds, read as UTC', text: '2022-09-30 15:11:25.000000000', expected: Date.UTC(2022, 8, 30, 15, 11, 25) },
    { name: 'Panther with nanoseconds, truncated to milliseconds', text: '2022-09-30 15:11:25.123456789', expected: Date.UTC(2022, 8, 30, 15, 11, 25, 123) },
    { name: 'Panther without a fraction', text: '2021-10-29 23:50:09', expected: Date.UTC(2021, 9, 29, 23, 50, 9) },
    { name: 'a leap day', text: '2024-02-29T00:00:00Z', expected: Date.UTC(2024, 1, 29) },
  ])('parses $name', ({ text, expected }) => {
    expect(parseEventTime(text)).toBe(expected);
    const result = normaliseRecord({ ...iamUserRecord(), eventTime: text }, ORIGIN);
    expect(result.ok && result.event.time).toBe(expected);
  });

  it('a year below 100 is that year, not 19xx', () => {
    const parsed = parseEventTime('0099-01-01T00:00:00Z');
    expect(parsed === undefined ? undefined : new Date(parsed).getUTCFullYear()).toBe(99);
  });

  it.each([
    { file: PANTHER_USER_DATA, expected: Date.UTC(2022, 8, 30, 15, 11, 25) },
    { file: PANTHER_AUTOSCALING, expected: Date.UTC(2021, 9, 29, 23, 50, 9) },
  ])('reads the Panther time of $file', ({ file, expected }) => {
    const result = normaliseRecord(onlyRecord(file), ORIGIN);
    expect(result.ok && result.event.time).toBe(expected);
  });

  it.each(['', 'yesterday', '2024-08-01', '1722513858', '2024-02-30T00:00:00Z', '2023-02-29T00:00:00Z', '2024-13-01T00:00:00Z', '2024-00-10T00:00:00Z', '2024-08-00T00:00:00Z', '2024-08-01T24:00:00Z', '2024-08-01T12:60:00Z', '2024-08-01T12:04:60Z', '2024-08-01T12:04:18.Z', ' 2024-08-01T12:04:18Z', '2024-08-01T12:04:18Z ', '2024-08-01T12:04:18+25:00', '2024-08-01T12:04:18.1234567890Z', '２０２４-08-01T12:04:18Z'])(
    'refuses the time %j',
    (text) => {
      expect(parseEventTime(text)).toBeUndefined();
      const result = normaliseRecord({ ...iamUserRecord(), eventTime: text }, ORIGIN);
      expect(result.ok ? 'accepted' : result.code).toBe(RECORD_ERROR_CODES.badTime);
    },
  );
});

describe('normaliseRecord: refused records', () => {
  const without = (key: string) => (): JsonObject => {
    const { [key]: _dropped, ...rest } = iamUserRecord();
    return rest;
  };

  it.each([
    { name: 'a record without eventTime', record: without('eventTime'), code: RECORD_ERROR_CODES.noTime, mentions: 'eventTime' },
    { name: 'a record whose eventTime is null', record: () => ({ ...iamUserRecord(), eventTime: null }), code: RECORD_ERROR_CODES.noTime, mentions: 'eventTime' },
    {
      name: 'a Logstash record with only @timestamp',
      record: () => ({ ...without('eventTime')(), '@timestamp': '2020-09-14T00:44:23.000Z', '@version': '1' }),
      code: RECORD_ERROR_CODES.noTime,
      mentions: '@timestamp',
    },
    { name: 'a record whose eventTime is a number', record: () => ({ ...iamUserRecord(), eventTime: 1722513858000 }), code: RECORD_ERROR_CODES.badTime, mentions: 'a number' },
    { name: 'a record whose eventTime is not a time', record: () => ({ ...iamUserRecord(), eventTime: 'Aug 1, 2024' }), code: RECORD_ERROR_CODES.badTime, mentions: 'Aug 1, 2024' },
    { name: 'a record without eventName', record: without('eventName'), code: RECORD_ERROR_CODES.noName, mentions: 'no eventName' },
    { name: 'a record with an empty eventName', record: () => ({ ...iamUserRecord(), eventName: '' }), code: RECORD_ERROR_CODES.noName, mentions: 'empty string' },
    { name: 'a record whose eventName is a number', record: () => ({ ...iamUserRecord(), eventName: 42 }), code: RECORD_ERROR_CODES.noName, mentions: 'a number' },
    { name: 'a record whose eventName is an object', record: () => ({ ...iamUserRecord(), eventName: { name: 'x' } }), code: RECORD_ERROR_CODES.noName, mentions: 'an object' },
    {
      name: 'a Panther record with lower-case keys (no userData)',
      record: () => onlyRecord('panther-tests/aws_ec2_startup_script_change__fp__modifyinstanceattribute-nouserdata.json'),
      code: RECORD_ERROR_CODES.keyCase,
      mentions: '"eventtime"',
    },
    {
      name: 'a Panther record with lower-case keys (no ModifyInstanceAttribute)',
      record: () => onlyRecord('panther-tests/aws_ec2_startup_script_change__fp__nomodifyinstanceattribute.json'),
      code: RECORD_ERROR_CODES.keyCase,
      mentions: 'case-sensitive',
    },
    {
      name: 'a record with a good eventTime but a lower-case eventname',
      record: () => {
        const { eventName, ...rest } = iamUserRecord();
        return { ...rest, eventname: eventName ?? null };
      },
      code: RECORD_ERROR_CODES.keyCase,
      mentions: '"eventname"',
    },
  ])('$name is refused with $code', ({ record, code, mentions }) => {
    const result = normaliseRecord(record(), ORIGIN);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.code).toBe(code);
    expect(result.message).toContain(mentions);
  });

  it.each([
    { name: 'null', value: null },
    { name: 'an array of records', value: [{ eventName: 'X' }] },
    { name: 'a string', value: '{"eventName":"X"}' },
    { name: 'a number', value: 7 },
    { name: 'undefined', value: undefined },
  ])('$name is not a record', ({ value }) => {
    const result = normaliseRecord(value, { source: 'logs/a.json', index: 3 });
    expect(result.ok ? 'accepted' : result.code).toBe(RECORD_ERROR_CODES.notObject);
    expect(result.ok ? '' : result.message).toContain('record 3 of logs/a.json');
  });

  it('quotes a long bad value only in part', () => {
    const result = normaliseRecord({ ...iamUserRecord(), eventTime: 'x'.repeat(10_000) }, ORIGIN);
    expect(result.ok ? 0 : result.message.length).toBeGreaterThan(0);
    expect(result.ok ? Infinity : result.message.length).toBeLessThan(400);
  });
});

describe('normaliseRecord: hostile shapes', () => {
  const base = iamUserRecord;
  it.each([
    { name: 'userIdentity is a string', patch: { userIdentity: 'admin' }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'userIdentity is an array', patch: { userIdentity: [{ type: 'Root' }] }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'userIdentity is null', patch: { userIdentity: null }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'the assumed-role arn is a number', patch: { userIdentity: { type: 'AssumedRole', arn: 42, accountId: 7 } }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'the assumed-role arn has no role or session', patch: { userIdentity: { type: 'AssumedRole', arn: 'arn:aws:sts::1:assumed-role/' } }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'the arn is an IAM role, not an assumed role', patch: { userIdentity: { type: 'AssumedRole', arn: 'arn:aws:iam::1:role/admin/i-0123456789abcdef0' } }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'the federated arn is empty after the slash', patch: { userIdentity: { type: 'FederatedUser', arn: 'arn:aws:sts::1:federated-user/' } }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'userName is an object', patch: { userIdentity: { type: 'IAMUser', userName: { $ne: '' } } }, sessionName: undefined, host: 'i-DDd6c7B0e18F0E35f', account: undefined },
    { name: 'requestParameters is a string', patch: { requestParameters: 'i-0123456789abcdef0' }, sessionName: 'christophe', host: undefined, account: '309303190113' },
    { name: 'instancesSet.items is not an array', patch: { requestParameters: { instancesSet: { items: { instanceId: 'i-1' } } } }, sessionName: 'christophe', host: undefined, account: '309303190113' },
    { name: 'instancesSet is an array', patch: { requestParameters: { instancesSet: [{ instanceId: 'i-1' }] } }, sessionName: 'christophe', host: undefined, account: '309303190113' },
    {
      name: 'instancesSet.items holds junk before a real entry',
      patch: { requestParameters: { instancesSet: { items: [null, 5, 'i-x', [], { instanceId: 7 }, { instanceId: '' }, { instanceId: 'i-abc' }] } } },
      sessionName: 'christophe',
      host: 'i-abc',
      account: '309303190113',
    },
    {
      name: 'instanceId is empty, so the instance set decides',
      patch: { requestParameters: { instanceId: '', instancesSet: { items: [{ instanceId: 'i-second' }] } } },
      sessionName: 'christophe',
      host: 'i-second',
      account: '309303190113',
    },
    { name: 'instanceId is a number', patch: { requestParameters: { instanceId: 12345 } }, sessionName: 'christophe', host: undefined, account: '309303190113' },
  ])('$name: nothing throws and only well-typed values are derived', ({ patch, sessionName, host, account }) => {
    const fields = normaliseOk({ ...base(), ...patch });
    expect(at(fields, 'userIdentity.session_name')).toBe(sessionName);
    expect(at(fields, 'host')).toBe(host);
    expect(at(fields, 'usr.account_id')).toBe(account);
  });

  it.each([
    { name: 'a forged evt.name', patch: { evt: { name: 'GetCallerIdentity' } }, path: 'evt.name', expected: 'ModifyInstanceAttribute' },
    { name: 'a forged status on a failed call', patch: { status: 'info', errorCode: 'AccessDenied' }, path: 'status', expected: 'error' },
    { name: 'a forged host when the call names no instance', patch: { host: 'i-0123456789abcdef0', requestParameters: null }, path: 'host', expected: undefined },
    { name: 'a forged error without errorCode', patch: { error: { kind: 'AccessDenied' } }, path: 'error.kind', expected: undefined },
    { name: 'a forged source', patch: { source: 'okta' }, path: 'source', expected: 'cloudtrail' },
    { name: 'a forged session_name', patch: { userIdentity: { type: 'AWSService', session_name: 'root' } }, path: 'userIdentity.session_name', expected: undefined },
    { name: 'a forged assumed_role', patch: { userIdentity: { type: 'IAMUser', userName: 'bob', assumed_role: 'Admin' } }, path: 'userIdentity.assumed_role', expected: undefined },
  ])('$name in the raw record is replaced by the derived value', ({ patch, path, expected }) => {
    expect(at(normaliseOk({ ...base(), ...patch }), path)).toBe(expected);
  });

  it('a "__proto__" key stays a plain key and pollutes nothing', () => {
    const { userIdentity: _identity, ...rest } = base();
    const text = JSON.stringify(rest).replace(/^\{/, '{"__proto__":{"polluted":"yes"},"userIdentity":{"__proto__":{"type":"Root"},"type":"IAMUser","userName":"eve"},');
    const raw: unknown = JSON.parse(text);
    const fields = normaliseOk(raw);
    expect(Object.getPrototypeOf(fields)).toBe(Object.prototype);
    expect(Object.hasOwn(fields, '__proto__')).toBe(true);
    expect((fields as Record<string, unknown>).polluted).toBeUndefined();
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect(at(fields, 'userIdentity.session_name')).toBe('eve');
  });

  it('a deeply nested record without eventID still gets a key', () => {
    const depth = 200_000;
    const nested: unknown = JSON.parse(`${'['.repeat(depth)}${']'.repeat(depth)}`);
    const { eventID: _id, ...rest } = base();
    const result = normaliseRecord({ ...rest, requestParameters: nested }, ORIGIN);
    expect(result.ok && result.event.key).toMatch(/^[0-9a-f]{16}$/);
  });
});

describe('normaliseRecord: event key', () => {
  it('uses eventID when the record has one', () => {
    const raw = iamUserRecord();
    const result = normaliseRecord(raw, ORIGIN);
    expect(result.ok && result.event.key).toBe('f634894e-d625-4b7b-b1c1-50354cc1100e');
    expect(result.ok && result.event.eventId).toBe('f634894e-d625-4b7b-b1c1-50354cc1100e');
  });

  it.each([
    { name: 'a Panther record without eventID', record: () => onlyRecord(PANTHER_USER_DATA) },
    { name: 'a record with an empty eventID', record: () => ({ ...iamUserRecord(), eventID: '' }) },
    { name: 'a record whose eventID is a number', record: () => ({ ...iamUserRecord(), eventID: 5 }) },
  ])('$name is keyed by a content hash', ({ record }) => {
    const raw = record();
    const result = normaliseRecord(raw, ORIGIN);
    expect(result.ok && result.event.key).toBe(stableHash(canonicalJson(raw)));
    expect(result.ok && 'eventId' in result.event).toBe(false);
    const changed = normaliseRecord({ ...raw, awsRegion: 'eu-west-3' }, ORIGIN);
    expect(changed.ok && changed.event.key).not.toBe(result.ok && result.event.key);
  });

  it('keeps the origin it was given', () => {
    const origin = { source: 's3://bucket/key.json.gz', index: 41 };
    const result = normaliseRecord(iamUserRecord(), origin);
    expect(result.ok && result.event.origin).toEqual(origin);
  });

  it.each([
    { name: 'nested objects', value: { b: { d: 1, c: [2, { f: null, e: 'x' }] }, a: true }, expected: '{"a":true,"b":{"c":[2,{"e":"x","f":null}],"d":1}}' },
    { name: 'an empty object and array', value: { z: {}, y: [] }, expected: '{"y":[],"z":{}}' },
    { name: 'strings needing escapes', value: ['"\n\u2028'], expected: '["\\"\\n\u2028"]' },
  ])('canonical JSON of $name sorts keys at every depth', ({ value, expected }) => {
    expect(canonicalJson(value)).toBe(expected);
  });
});

/** A copy of a JSON value with every object's keys in a shuffled order. */
function shuffledKeys(value: JsonValue, order: (keys: string[]) => string[]): JsonValue {
  if (Array.isArray(value)) return value.map((item) => shuffledKeys(item, order));
  if (!isObject(value)) return value;
  const out: JsonObject = {};
  for (const key of order(Object.keys(value))) {
    Object.defineProperty(out, key, { value: shuffledKeys(value[key] ?? null, order), enumerable: true, writable: true, configurable: true });
  }
  return out;
}

describe('normaliseRecord: properties', () => {
  it('never throws and never modifies its input, whatever the JSON', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (value) => {
        const before = structuredClone(value);
        const result = normaliseRecord(value, ORIGIN);
        expect(typeof result.ok).toBe('boolean');
        expect(value).toEqual(before);
      }),
      { numRuns: 500 },
    );
  });

  const hostileRecord = fc.record(
    {
      eventTime: fc.oneof(fc.constantFrom('2024-08-01T12:04:18Z', '2022-09-30 15:11:25.000000000'), fc.jsonValue()),
      eventName: fc.oneof(fc.constantFrom('StopInstances', 'ModifyInstanceAttribute'), fc.jsonValue()),
      eventID: fc.oneof(fc.uuid(), fc.jsonValue()),
      errorCode: fc.jsonValue(),
      userAgent: fc.jsonValue(),
      userIdentity: fc.oneof(
        fc.record(
          {
            type: fc.oneof(fc.constantFrom('IAMUser', 'AssumedRole', 'Root', 'FederatedUser', 'AWSService'), fc.jsonValue()),
            arn: fc.oneof(fc.constantFrom('arn:aws:sts::1:assumed-role/R/i-0123456789abcdef0', 'arn:aws:sts::1:federated-user/f', 'arn:aws:sts::1:assumed-role/R'), fc.string(), fc.jsonValue()),
            userName: fc.jsonValue(),
            accountId: fc.jsonValue(),
            session_name: fc.jsonValue(),
          },
          { requiredKeys: [] },
        ),
        fc.jsonValue(),
      ),
      requestParameters: fc.oneof(
        fc.record({ instanceId: fc.jsonValue(), instancesSet: fc.oneof(fc.record({ items: fc.oneof(fc.array(fc.jsonValue()), fc.jsonValue()) }), fc.jsonValue()) }, { requiredKeys: [] }),
        fc.jsonValue(),
      ),
      evt: fc.jsonValue(),
      host: fc.jsonValue(),
    },
    { requiredKeys: ['eventTime', 'eventName'] },
  );

  it('on CloudTrail-shaped records with hostile values: no throw, no mutation, raw fields kept, derived values typed', () => {
    const owned = new Set(FIELD_CATALOGUE.filter((s) => s.origin === 'derived' && !s.path.startsWith('userIdentity.')).map((s) => s.path.split('.')[0]));
    fc.assert(
      fc.property(hostileRecord, (value) => {
        const record = value as JsonObject;
        const before = structuredClone(record);
        const result = normaliseRecord(record, ORIGIN);
        expect(record).toEqual(before);
        if (!result.ok) return;
        const { fields } = result.event;
        for (const [key, raw] of Object.entries(record)) {
          if (key === 'userIdentity' || owned.has(key)) continue;
          expect(fields[key]).toBe(raw);
        }
        for (const path of ['host', 'evt.name', 'http.useragent', 'userIdentity.session_name', 'userIdentity.assumed_role', 'usr.account_id', 'error.kind']) {
          const derived = at(fields, path);
          expect(derived === undefined || (typeof derived === 'string' && derived.length > 0)).toBe(true);
        }
        expect(Number.isFinite(result.event.time)).toBe(true);
      }),
      { numRuns: 500 },
    );
  });

  it('the content-hash key does not depend on key order', () => {
    const keyOrder = fc.func(fc.integer()).map((rank) => (keys: string[]) => [...keys].sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0)));
    fc.assert(
      fc.property(fc.dictionary(fc.string(), fc.jsonValue()), keyOrder, (extra, order) => {
        const { eventID: _id, ...rest } = iamUserRecord();
        const record: JsonObject = { ...(extra as JsonObject), ...rest };
        const shuffled = shuffledKeys(record, order);
        const a = normaliseRecord(record, ORIGIN);
        const b = normaliseRecord(shuffled, ORIGIN);
        expect(a.ok && a.event.key).toBe(b.ok && b.event.key);
      }),
      { numRuns: 200 },
    );
  });
});

/** Every record of every JSON fixture file, deep-frozen so any mutation throws. */
function allFixtureRecords(): { file: string; record: JsonValue }[] {
  const files = (readdirSync(FIXTURES, { recursive: true }) as string[]).filter((f) => /\.json(\.cloudtrail)?$/.test(f) && !f.includes('README'));
  return files.flatMap((file) => {
    let records: JsonValue[];
    try {
      records = readRecords(file);
    } catch {
      return [];
    }
    return records.map((record) => ({ file, record: deepFreeze(record) }));
  });
}

function deepFreeze<T extends JsonValue>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const child of Object.values(value)) deepFreeze(child);
    Object.freeze(value);
  }
  return value;
}

/** Leaf paths (through objects, not arrays) of a JSON object. */
function leafPaths(value: JsonObject, prefix = ''): string[] {
  return Object.entries(value).flatMap(([key, child]) => (isObject(child) && Object.keys(child).length > 0 ? leafPaths(child, `${prefix}${key}.`) : [`${prefix}${key}`]));
}

describe('normaliseRecord over every real fixture record', () => {
  const corpus = allFixtureRecords();

  it('reads a corpus large enough to mean something', () => {
    expect(corpus.length).toBeGreaterThan(3000);
  });

  it('normalises every record except the two lower-cased Panther ones, without touching them', () => {
    const refused = corpus.flatMap(({ file, record }) => {
      const result = normaliseRecord(record, ORIGIN);
      return result.ok ? [] : [`${file}: ${result.code}`];
    });
    expect(refused.sort()).toEqual([
      `panther-tests/aws_ec2_startup_script_change__fp__modifyinstanceattribute-nouserdata.json: ${RECORD_ERROR_CODES.keyCase}`,
      `panther-tests/aws_ec2_startup_script_change__fp__nomodifyinstanceattribute.json: ${RECORD_ERROR_CODES.keyCase}`,
    ]);
  });

  it('writes only derived attributes that the catalogue lists', () => {
    const derivedRoots = new Set(FIELD_CATALOGUE.filter((s) => s.origin === 'derived').map((s) => s.path.split('.')[0]));
    const written = new Set<string>();
    for (const { record } of corpus) {
      const result = normaliseRecord(record, ORIGIN);
      if (!result.ok) continue;
      for (const path of leafPaths(result.event.fields)) {
        const root = path.split('.')[0] ?? path;
        if ((derivedRoots.has(root) && root !== 'userIdentity') || /^userIdentity\.(session_name|assumed_role)$/.test(path)) written.add(path);
      }
    }
    expect([...written].filter((path) => !isKnownField(path))).toEqual([]);
    const derivedPaths = FIELD_CATALOGUE.filter((s) => s.origin === 'derived').map((s) => s.path);
    expect(derivedPaths.filter((path) => !written.has(path))).toEqual([]);
  });
});
