import { describe, expect, it } from 'vitest';
import type { StoredEvent } from '../store/event-index.js';
import { accessDeniedBursts, pivotsOfIdentity, serviceOf } from './investigate.js';

function denied(atSeconds: number, errorCode = 'AccessDenied', eventName = 'ListUsers'): StoredEvent {
  return {
    eventId: `e${atSeconds}`,
    eventTimeMs: atSeconds * 1000,
    accountId: null,
    region: null,
    eventSource: 'iam.amazonaws.com',
    eventName,
    identityArn: null,
    identityType: null,
    principalId: null,
    accessKeyId: null,
    sessionName: null,
    roleArn: null,
    sourceIp: null,
    userAgent: null,
    errorCode,
    instanceIds: [],
    isReadOnly: null,
    raw: null,
  };
}

describe('investigate helpers', () => {
  it.each([
    ['arn:aws:iam::123456789012:user/alice', { identityArns: ['arn:aws:iam::123456789012:user/alice'] }],
    ['arn:aws:iam::123456789012:role/ci', { roleArns: ['arn:aws:iam::123456789012:role/ci'] }],
    ['arn:aws:sts::123456789012:assumed-role/ci/session', { identityArns: ['arn:aws:sts::123456789012:assumed-role/ci/session'] }],
    ['arn:aws:iam::123456789012:root', { identityArns: ['arn:aws:iam::123456789012:root'] }],
    ['AKIAZI86ACIZ2J9CV86Z', { accessKeyIds: ['AKIAZI86ACIZ2J9CV86Z'] }],
    ['ASIANQQHHS551LWULIWD', { accessKeyIds: ['ASIANQQHHS551LWULIWD'] }],
    ['AIDAV0KQ3LIBUIGZ52WB', { principalIds: ['AIDAV0KQ3LIBUIGZ52WB'] }],
  ])('%s is searched as %j', (identity, pivots) => {
    expect(pivotsOfIdentity(identity)).toEqual(pivots);
  });

  it('names services without the amazonaws.com suffix', () => {
    expect([serviceOf('ec2.amazonaws.com'), serviceOf('signin.aws.example'), serviceOf(null)]).toEqual(['ec2', 'signin.aws.example', '(none)']);
  });

  it('finds AccessDenied bursts: 5 or more denied calls, each within 5 minutes of the previous', () => {
    const events = [
      ...[0, 10, 20, 30, 40, 50].map((s) => denied(s)),
      denied(60, 'ThrottlingException'),
      ...[1000, 1010, 1020, 1030].map((s) => denied(s)),
      ...[2000, 2200, 2400, 2600, 2800].map((s) => denied(s, 'Client.UnauthorizedOperation', 'GetPasswordData')),
    ];
    const bursts = accessDeniedBursts(events.reverse());
    expect(bursts).toEqual([
      { fromMs: 0, toMs: 50_000, count: 6, errorCodes: ['AccessDenied'], apis: ['iam.amazonaws.com ListUsers'] },
      { fromMs: 2_000_000, toMs: 2_800_000, count: 5, errorCodes: ['Client.UnauthorizedOperation'], apis: ['iam.amazonaws.com GetPasswordData'] },
    ]);
  });
});
