import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIELD_CATALOGUE, isKnownField, lookupField, suggestField } from './catalogue.js';

describe('lookupField', () => {
  it.each([
    { path: 'evt.name', origin: 'derived', type: 'string', datadog: 'evt.name' },
    { path: '@evt.name', origin: 'derived', type: 'string', datadog: 'evt.name' },
    { path: 'userIdentity.session_name', origin: 'derived', type: 'string', datadog: 'userIdentity.session_name' },
    { path: 'host', origin: 'derived', type: 'string', datadog: 'host' },
    { path: 'eventName', origin: 'raw', type: 'string', datadog: undefined },
    { path: 'readOnly', origin: 'raw', type: 'boolean', datadog: undefined },
    { path: 'requestParameters', origin: 'raw', type: 'object', datadog: undefined },
    { path: 'resources', origin: 'raw', type: 'array<object>', datadog: undefined },
    { path: 'requestParameters.instancesSet.items.instanceId', origin: 'raw', type: 'string', datadog: undefined },
  ])('finds $path as a $origin $type', ({ path, origin, type, datadog }) => {
    const spec = lookupField(path);
    expect(spec?.origin).toBe(origin);
    expect(spec?.type).toBe(type);
    expect(spec?.origin === 'derived' ? spec.datadog : undefined).toBe(datadog);
  });

  it.each(['requestParameters.bucketName', 'eventname', 'evt', '', '@', 'nope'])('has no entry for %j', (path) => {
    expect(lookupField(path)).toBeUndefined();
  });
});

describe('isKnownField', () => {
  it.each([
    { path: 'eventName', known: true },
    { path: '@eventName', known: true },
    { path: 'source', known: true },
    { path: 'evt', known: true },
    { path: 'network.client', known: true },
    { path: 'network.client.ip', known: true },
    { path: 'userIdentity.sessionContext.sessionIssuer.userName', known: true },
    { path: 'requestParameters.bucketName', known: true },
    { path: 'requestParameters.a.b.c', known: true },
    { path: 'responseElements.credentials.accessKeyId', known: true },
    { path: 'userIdentity.sessionContext.webIdFederationData.federatedProvider', known: true },
    { path: 'resources.ARN', known: true },
    { path: 'eventname', known: false },
    { path: 'EventName', known: false },
    { path: 'evt.nam', known: false },
    { path: 'userIdentity.sessionName', known: false },
    { path: 'userIdentity.foo', known: false },
    { path: 'tlsDetails.foo', known: false },
    { path: 'requestParameters.', known: false },
    { path: 'requestParameters..bucketName', known: false },
    { path: 'edgeDeviceDetails.', known: false },
    { path: 'requestParametersX.bucketName', known: false },
    { path: '', known: false },
    { path: '@', known: false },
  ])('$path known: $known', ({ path, known }) => {
    expect(isKnownField(path)).toBe(known);
  });
});

describe('suggestField', () => {
  it.each([
    { path: 'eventname', suggestion: 'eventName' },
    { path: '@EVENTNAME', suggestion: 'eventName' },
    { path: 'sourceIpAddress', suggestion: 'sourceIPAddress' },
    { path: 'evt.nme', suggestion: 'evt.name' },
    { path: 'evt.naem', suggestion: 'evt.name' },
    { path: 'userIdentity.sessionName', suggestion: 'userIdentity.session_name' },
    { path: 'userIdentity.sesion_name', suggestion: 'userIdentity.session_name' },
    { path: 'usr.acount_id', suggestion: 'usr.account_id' },
    { path: 'userIdentity.assumedRole', suggestion: 'userIdentity.assumed_role' },
    { path: 'requestParameter.bucketName', suggestion: 'requestParameters.bucketName' },
    { path: 'RequestParameters.instanceId', suggestion: 'requestParameters.instanceId' },
    { path: 'reponseElements.credentials', suggestion: 'responseElements.credentials' },
    { path: 'requestParameters..bucketName', suggestion: 'requestParameters.bucketName' },
    { path: 'evt.name.', suggestion: 'evt.name' },
    { path: '.eventName', suggestion: 'eventName' },
    { path: 'userIdentity.sessionContext.sessionIssuer.username', suggestion: 'userIdentity.sessionContext.sessionIssuer.userName' },
  ])('suggests $suggestion for $path', ({ path, suggestion }) => {
    expect(suggestField(path)).toBe(suggestion);
  });

  it.each(['completely.unrelated.thing', 'eventName', 'requestParameters.anything', 'x', '', `${'evt.name'.repeat(40)}`])('suggests nothing for %j', (path) => {
    expect(suggestField(path)).toBeUndefined();
  });

  it('never throws, and only suggests paths a rule may use', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.constantFrom(...FIELD_CATALOGUE.map((s) => s.path)).chain((p) => fc.string({ maxLength: 3 }).map((junk) => p + junk))), (path) => {
        const suggestion = suggestField(path);
        expect(suggestion === undefined || isKnownField(suggestion)).toBe(true);
        expect(suggestion === undefined || !isKnownField(path)).toBe(true);
      }),
      { numRuns: 2000 },
    );
  });
});

describe('the catalogue table', () => {
  const paths = FIELD_CATALOGUE.map((spec) => spec.path);

  it('lists each path once', () => {
    expect(paths.length).toBeGreaterThan(50);
    expect(new Set(paths).size).toBe(paths.length);
  });

  it.each(FIELD_CATALOGUE.filter((spec) => spec.path.includes('.')).map((spec) => spec.path))('the parent of %s is an object in the table, or holds only derived fields', (path) => {
    const parent = path.slice(0, path.lastIndexOf('.'));
    const parentSpec = lookupField(parent);
    if (parentSpec === undefined) {
      const siblings = FIELD_CATALOGUE.filter((spec) => spec.path.startsWith(`${parent}.`));
      expect(siblings.every((spec) => spec.origin === 'derived')).toBe(true);
    } else {
      expect(['object', 'array<object>']).toContain(parentSpec.type);
    }
  });

  it('marks exactly source, host, service and status as reserved', () => {
    expect(FIELD_CATALOGUE.filter((spec) => spec.isReserved).map((spec) => spec.path).sort()).toEqual(['host', 'service', 'source', 'status']);
  });

  it('only objects are open', () => {
    expect(FIELD_CATALOGUE.filter((spec) => spec.isOpen && spec.type !== 'object').map((spec) => spec.path)).toEqual([]);
    expect(FIELD_CATALOGUE.filter((spec) => spec.isOpen).map((spec) => spec.path)).toEqual(expect.arrayContaining(['requestParameters', 'responseElements', 'additionalEventData']));
  });

  it('every entry has a one-line meaning and every derived one its source and Datadog name', () => {
    for (const spec of FIELD_CATALOGUE) {
      expect(spec.meaning.length, spec.path).toBeGreaterThan(5);
      expect(spec.meaning, spec.path).not.toContain('\n');
      if (spec.origin === 'derived') {
        expect(spec.derivedFrom.length, spec.path).toBeGreaterThan(0);
        expect(spec.datadog.length, spec.path).toBeGreaterThan(0);
      }
    }
  });

  it.each([
    'eventVersion', 'eventTime', 'eventSource', 'eventName', 'awsRegion', 'sourceIPAddress', 'userAgent', 'errorCode', 'errorMessage', 'requestParameters',
    'responseElements', 'additionalEventData', 'requestID', 'eventID', 'readOnly', 'eventType', 'managementEvent', 'recipientAccountId', 'eventCategory',
    'sharedEventID', 'vpcEndpointId', 'tlsDetails.tlsVersion', 'tlsDetails.cipherSuite', 'tlsDetails.clientProvidedHostHeader', 'userIdentity.type',
    'userIdentity.principalId', 'userIdentity.arn', 'userIdentity.accountId', 'userIdentity.accessKeyId', 'userIdentity.userName', 'userIdentity.invokedBy',
    'userIdentity.sessionContext.sessionIssuer.type', 'userIdentity.sessionContext.sessionIssuer.arn', 'userIdentity.sessionContext.sessionIssuer.userName',
    'userIdentity.sessionContext.attributes.creationDate', 'userIdentity.sessionContext.attributes.mfaAuthenticated',
  ])('has the raw CloudTrail field %s', (path) => {
    expect(lookupField(path)?.origin).toBe('raw');
  });

  it.each([
    'source', 'service', 'status', 'host', 'evt.name', 'http.useragent', 'network.client.ip', 'error.kind', 'error.message', 'level', 'usr.account_id',
    'userIdentity.session_name', 'userIdentity.assumed_role',
  ])('has the derived attribute %s', (path) => {
    expect(lookupField(path)?.origin).toBe('derived');
  });
});

describe('the catalogue against real records', () => {
  const fixtures = fileURLToPath(new URL('../../test/fixtures/cloudtrail/', import.meta.url));

  /** Paths through objects (not arrays, not open objects) of a record, like a query writes them. */
  function pathsOf(value: unknown, prefix: string): string[] {
    if (typeof value !== 'object' || value === null || Array.isArray(value)) return [];
    return Object.entries(value).flatMap(([key, child]) => {
      const path = `${prefix}${key}`;
      return [path, ...(lookupField(path)?.isOpen ? [] : pathsOf(child, `${path}.`))];
    });
  }

  it('knows every field that appears in the CloudTrail fixtures', () => {
    const files = (readdirSync(fixtures, { recursive: true }) as string[]).filter((f) => /\.json(\.cloudtrail)?$/.test(f) && !f.startsWith('panther-tests'));
    const unknown = new Set<string>();
    let records = 0;
    for (const file of files) {
      const parsed: unknown = JSON.parse(readFileSync(join(fixtures, file), 'utf8'));
      const list: unknown[] = Array.isArray(parsed) ? parsed : typeof parsed === 'object' && parsed !== null && 'Records' in parsed && Array.isArray(parsed.Records) ? (parsed.Records as unknown[]) : [parsed];
      for (const record of list) {
        records++;
        for (const path of pathsOf(record, '')) if (!isKnownField(path) && !path.startsWith('resources.')) unknown.add(path);
      }
    }
    expect(records).toBeGreaterThan(3000);
    expect([...unknown].sort()).toEqual([]);
  });
});
