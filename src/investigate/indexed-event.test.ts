import { describe, expect, it } from 'vitest';
import type { JsonObject } from '../core/types.js';
import { fixtureRecords } from '../../test/support/detect.js';
import { indexedEventOf, indexedEventsOf } from './indexed-event.js';

const PASSWORD_DATA = fixtureRecords('stratus-detonation-logs/aws.credential-access.ec2-get-password-data.json') as JsonObject[];
const USER_DATA = fixtureRecords('stratus-detonation-logs/aws.execution.ec2-user-data.json') as JsonObject[];

describe('indexedEventOf', () => {
  it('takes an assumed-role call apart: session ARN, role (session issuer), session name, temporary key', () => {
    const record = PASSWORD_DATA.find((r) => r.eventName === 'GetPasswordData');
    if (record === undefined) throw new Error('fixture');
    expect(indexedEventOf(record)).toMatchObject({
      identityType: 'AssumedRole',
      identityArn: 'arn:aws:sts::457448411975:assumed-role/stratus-red-team-ec2-get-password-data-role/aws-go-sdk-1722375070115152000',
      roleArn: 'arn:aws:iam::457448411975:role/stratus-red-team-ec2-get-password-data-role',
      sessionName: 'aws-go-sdk-1722375070115152000',
      accessKeyId: 'ASIANQQHHS551LWULIWD',
      errorCode: 'Client.UnauthorizedOperation',
      accountId: '457448411975',
    });
  });

  it('keeps the record text it is given, or writes it', () => {
    const record = USER_DATA[0];
    if (record === undefined) throw new Error('fixture');
    expect(indexedEventOf(record)?.raw).toBe(JSON.stringify(record));
    expect(indexedEventOf(record, '{"as":"read"}')?.raw).toBe('{"as":"read"}');
  });

  it.each([
    ['request instanceId', { requestParameters: { instanceId: 'i-1' } }, ['i-1']],
    ['request instancesSet, repeats once', { requestParameters: { instancesSet: { items: [{ instanceId: 'i-1' }, { instanceId: 'i-2' }, { instanceId: 'i-1' }] } } }, ['i-1', 'i-2']],
    ['instances a RunInstances response created', { eventName: 'RunInstances', requestParameters: { instancesSet: { items: [{ imageId: 'ami-1' }] } }, responseElements: { instancesSet: { items: [{ instanceId: 'i-9' }] } } }, ['i-9']],
    ['junk shapes', { requestParameters: { instanceId: 7, instancesSet: { items: 'i-1' } }, responseElements: [1] }, []],
  ] as const)('instance ids from %s', (_what, patch, expected) => {
    const base = USER_DATA[0];
    if (base === undefined) throw new Error('fixture');
    expect(indexedEventOf({ ...base, ...(structuredClone(patch) as JsonObject) })?.instanceIds).toEqual(expected);
  });

  it.each([
    ['no eventTime', { eventTime: null }],
    ['a time that is not a time', { eventTime: 'yesterday' }],
    ['a number for a time', { eventTime: 1722513810 }],
  ])('gives nothing for a record with %s', (_what, patch) => {
    const base = USER_DATA[0];
    if (base === undefined) throw new Error('fixture');
    expect(indexedEventOf({ ...base, ...(patch as JsonObject) })).toBeUndefined();
  });

  it('never throws and reads only strings, whatever the shapes', () => {
    const event = indexedEventOf({ eventTime: '2024-08-01T12:00:00Z', userIdentity: { type: 'Root', arn: 42, accessKeyId: ['x'] }, eventName: {}, readOnly: 'true', sourceIPAddress: '' });
    expect(event).toMatchObject({ identityType: 'Root', sessionName: 'root', identityArn: null, accessKeyId: null, eventName: null, isReadOnly: true, sourceIp: null, eventId: null });
  });

  it('indexedEventsOf leaves out what is not a record object', () => {
    const events = indexedEventsOf([{ value: USER_DATA[0], text: JSON.stringify(USER_DATA[0]) }, { value: [1], text: '[1]' }, undefined, { value: { eventName: 'X' }, text: '{}' }]);
    expect(events.map((e) => e.eventName)).toEqual([USER_DATA[0]?.eventName]);
  });
});
