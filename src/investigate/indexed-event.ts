/**
 * One CloudTrail record → the pivot fields the event index keeps (src/store/event-index.ts). Pure:
 * no I/O, no `node:` imports, and no shape of input makes it throw; every value is copied as text,
 * never interpreted beyond picking it out.
 */
import { isJsonObject } from '../core/json.js';
import type { JsonObject, JsonValue } from '../core/types.js';
import { parseEventTime } from '../normalise/normalise.js';
import type { IndexedEvent } from '../store/event-index.js';

function isObject(value: JsonValue | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function own(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function text(value: JsonValue | undefined): string | null {
  return typeof value === 'string' && value !== '' ? value : null;
}

function child(object: JsonObject | undefined, key: string): JsonObject | undefined {
  if (object === undefined) return undefined;
  const value = own(object, key);
  return isObject(value) ? value : undefined;
}

/** `instanceId`, and each `instancesSet.items[].instanceId`, of a request or response. */
function instancesOf(parameters: JsonObject | undefined, into: string[]): void {
  if (parameters === undefined) return;
  const add = (value: JsonValue | undefined): void => {
    const id = text(value);
    if (id !== null && !into.includes(id)) into.push(id);
  };
  add(own(parameters, 'instanceId'));
  const set = child(parameters, 'instancesSet');
  const items = set === undefined ? undefined : own(set, 'items');
  if (Array.isArray(items)) for (const item of items) if (isObject(item)) add(own(item, 'instanceId'));
}

/** The session name an analyst knows the caller by: the IAM user name, the role session, `root`, the federated user. */
function sessionNameOf(identity: JsonObject | undefined, arn: string | null): string | null {
  if (identity === undefined) return null;
  switch (own(identity, 'type')) {
    case 'IAMUser':
      return text(own(identity, 'userName'));
    case 'Root':
      return 'root';
    case 'AssumedRole':
    case 'FederatedUser': {
      if (arn === null) return null;
      const resource = arn.split(':').slice(5).join(':');
      const last = resource.split('/').pop();
      return resource.includes('/') && last !== undefined && last !== '' ? last : null;
    }
    default:
      return null;
  }
}

/**
 * The indexed form of a record, or undefined when it has no usable `eventTime` (such a record is
 * refused by the normaliser too). `raw` is the record's JSON text.
 */
export function indexedEventOf(record: JsonObject, raw: string = JSON.stringify(record)): IndexedEvent | undefined {
  const time = text(own(record, 'eventTime'));
  const eventTimeMs = time === null ? undefined : parseEventTime(time);
  if (eventTimeMs === undefined) return undefined;
  const identity = child(record, 'userIdentity');
  const identityArn = identity === undefined ? null : text(own(identity, 'arn'));
  const issuer = child(child(identity, 'sessionContext'), 'sessionIssuer');
  const instanceIds: string[] = [];
  instancesOf(child(record, 'requestParameters'), instanceIds);
  instancesOf(child(record, 'responseElements'), instanceIds);
  const readOnly = own(record, 'readOnly');
  return {
    eventId: text(own(record, 'eventID')),
    eventTimeMs,
    accountId: (identity === undefined ? null : text(own(identity, 'accountId'))) ?? text(own(record, 'recipientAccountId')),
    region: text(own(record, 'awsRegion')),
    eventSource: text(own(record, 'eventSource')),
    eventName: text(own(record, 'eventName')),
    identityArn,
    identityType: identity === undefined ? null : text(own(identity, 'type')),
    principalId: identity === undefined ? null : text(own(identity, 'principalId')),
    accessKeyId: identity === undefined ? null : text(own(identity, 'accessKeyId')),
    sessionName: sessionNameOf(identity, identityArn),
    roleArn: issuer === undefined ? null : text(own(issuer, 'arn')),
    sourceIp: text(own(record, 'sourceIPAddress')),
    userAgent: text(own(record, 'userAgent')),
    errorCode: text(own(record, 'errorCode')),
    instanceIds,
    isReadOnly: typeof readOnly === 'boolean' ? readOnly : readOnly === 'true' ? true : readOnly === 'false' ? false : null,
    raw,
  };
}

/** The indexed forms of records read as `{ value, text }` (an InputRecord, an ExpandedRecord); records that are not objects or have no usable time are left out. */
export function indexedEventsOf(records: Iterable<{ readonly value: unknown; readonly text: string } | undefined>): IndexedEvent[] {
  const out: IndexedEvent[] = [];
  for (const record of records) {
    if (record === undefined || !isJsonObject(record.value)) continue;
    const event = indexedEventOf(record.value, record.text);
    if (event !== undefined) out.push(event);
  }
  return out;
}
