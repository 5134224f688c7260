/**
 * One CloudTrail record → one `TrailEvent`: validate the few fields the engine needs, keep every
 * raw field, and add the attributes Datadog's CloudTrail pipeline derives (see
 * src/fields/catalogue.ts and docs/fields.md).
 *
 * Pure: no I/O, no `node:` imports. Records are attacker-controlled: nothing here evaluates a
 * value, and no shape of input makes it throw.
 */
import { stableHash } from '../core/hash.js';
import type { JsonObject, JsonValue, RecordOrigin, TrailEvent } from '../core/types.js';
import { FIELD_CATALOGUE } from '../fields/catalogue.js';

/** Stable codes of the records `normaliseRecord` refuses. */
export const RECORD_ERROR_CODES = {
  /** The record is not a JSON object. */
  notObject: 'E_RECORD_NOT_OBJECT',
  /** `eventTime` / `eventName` only exist in another letter case (`eventname`): a lower-cased export. */
  keyCase: 'E_RECORD_KEY_CASE',
  noTime: 'E_RECORD_NO_TIME',
  badTime: 'E_RECORD_BAD_TIME',
  noName: 'E_RECORD_NO_NAME',
} as const;

export type RecordErrorCode = (typeof RECORD_ERROR_CODES)[keyof typeof RECORD_ERROR_CODES];

export type NormaliseResult = { readonly ok: true; readonly event: TrailEvent } | { readonly ok: false; readonly code: RecordErrorCode; readonly message: string };

/** Fields the normaliser requires, by their CloudTrail spelling. */
const REQUIRED_KEYS = ['eventTime', 'eventName'] as const;

/**
 * Top-level names the normaliser owns (`evt`, `http`, `host`, …) and the keys it owns inside
 * `userIdentity`, both read from the catalogue's derived entries. A raw value under an owned
 * name is replaced, so `@evt.name` always means eventName whatever the record carried.
 */
const DERIVED_PATHS = FIELD_CATALOGUE.filter((spec) => spec.origin === 'derived').map((spec) => spec.path);
const OWNED_USER_IDENTITY_KEYS: ReadonlySet<string> = new Set(
  DERIVED_PATHS.filter((path) => path.startsWith('userIdentity.')).map((path) => path.slice('userIdentity.'.length)),
);
const OWNED_TOP_LEVEL_KEYS: ReadonlySet<string> = new Set(
  DERIVED_PATHS.filter((path) => !path.startsWith('userIdentity.')).map((path) => path.split('.')[0] ?? path),
);

/** ISO 8601 (`T`) or Panther's normalised form (space, up to nanoseconds, no zone). */
const TIME_PATTERN = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})?$/;

/** An EC2 instance id: `i-` and 8 or 17 hex digits (any case: anonymised logs mix cases). */
const INSTANCE_ID_PATTERN = /^i-(?:[0-9a-f]{8}|[0-9a-f]{17})$/i;

/**
 * `eventTime` in epoch milliseconds, or undefined when it does not parse. Accepts
 * `2024-08-01T12:04:24Z`, `2024-08-01T12:04:24.123Z`, an explicit `±HH:MM` offset, and Panther's
 * `2022-09-30 15:11:25.000000000`; a time without a zone is UTC (CloudTrail writes UTC only).
 * Digits past milliseconds are dropped. Calendar-impossible dates (`02-30`, hour 24) are rejected.
 */
export function parseEventTime(text: string): number | undefined {
  const match = TIME_PATTERN.exec(text);
  if (!match) return undefined;
  const [, y, mo, d, h, mi, s, fraction, zone] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return undefined;
  const millis = fraction === undefined ? 0 : Number(fraction.slice(0, 3).padEnd(3, '0'));

  const date = new Date(0);
  date.setUTCFullYear(year, month - 1, day);
  date.setUTCHours(hour, minute, second, millis);
  // Date rolls 02-30 over to 03-02: a rolled-over day is not a real date.
  if (date.getUTCFullYear() !== year || date.getUTCMonth() !== month - 1 || date.getUTCDate() !== day) return undefined;

  let offsetMinutes = 0;
  if (zone !== undefined && zone !== 'Z') {
    const sign = zone.startsWith('-') ? -1 : 1;
    const offsetHours = Number(zone.slice(1, 3));
    const offsetMins = Number(zone.slice(4, 6));
    if (offsetHours > 23 || offsetMins > 59) return undefined;
    offsetMinutes = sign * (offsetHours * 60 + offsetMins);
  }
  const time = date.getTime() - offsetMinutes * 60_000;
  return Number.isFinite(time) ? time : undefined;
}

function isObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** An own property only: never something inherited from Object.prototype. */
function own(object: JsonObject, key: string): JsonValue | undefined {
  return Object.hasOwn(object, key) ? object[key] : undefined;
}

function nonEmptyString(value: unknown): string | undefined {
  return typeof value === 'string' && value.length > 0 ? value : undefined;
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'string') return value.length === 0 ? 'an empty string' : 'a string';
  const type = typeof value;
  return type === 'object' || type === 'undefined' ? `an ${type}` : `a ${type}`;
}

/** Quote attacker text for a message: JSON-escaped and cut short. */
function quote(text: string): string {
  const shown = text.length > 64 ? `${text.slice(0, 64)}…` : text;
  return JSON.stringify(shown);
}

/** `{ role, session }` of `arn:PARTITION:sts::ACCOUNT:assumed-role/ROLE/SESSION`, else undefined. */
function parseAssumedRoleArn(arn: string): { role: string; session: string } | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'sts') return undefined;
  const resource = parts.slice(5).join(':');
  if (!resource.startsWith('assumed-role/')) return undefined;
  const segments = resource.slice('assumed-role/'.length).split('/');
  const role = segments[0];
  const session = segments[segments.length - 1];
  if (segments.length < 2 || !role || !session) return undefined;
  return { role, session };
}

/** NAME of `arn:PARTITION:sts::ACCOUNT:federated-user/NAME`, else undefined. */
function parseFederatedUserArn(arn: string): string | undefined {
  const parts = arn.split(':');
  if (parts.length < 6 || parts[0] !== 'arn' || parts[2] !== 'sts') return undefined;
  const resource = parts.slice(5).join(':');
  if (!resource.startsWith('federated-user/')) return undefined;
  const segments = resource.split('/');
  return nonEmptyString(segments[segments.length - 1]);
}

interface IdentityAttributes {
  readonly sessionName?: string;
  readonly assumedRole?: string;
}

function deriveIdentity(userIdentity: JsonObject): IdentityAttributes {
  const type = own(userIdentity, 'type');
  const arn = nonEmptyString(own(userIdentity, 'arn'));
  const assumed = arn === undefined ? undefined : parseAssumedRoleArn(arn);
  let sessionName: string | undefined;
  switch (type) {
    case 'AssumedRole':
      sessionName = assumed?.session;
      break;
    case 'IAMUser':
      sessionName = nonEmptyString(own(userIdentity, 'userName'));
      break;
    case 'Root':
      sessionName = 'root';
      break;
    case 'FederatedUser':
      sessionName = arn === undefined ? undefined : parseFederatedUserArn(arn);
      break;
    default:
      sessionName = undefined;
  }
  return {
    ...(sessionName === undefined ? {} : { sessionName }),
    ...(assumed === undefined ? {} : { assumedRole: assumed.role }),
  };
}

/** The instance the call acts on: `instanceId`, else the first `instancesSet.items[].instanceId`. */
function targetInstance(requestParameters: JsonValue | undefined): string | undefined {
  if (!isObject(requestParameters)) return undefined;
  const single = nonEmptyString(own(requestParameters, 'instanceId'));
  if (single !== undefined) return single;
  const set = own(requestParameters, 'instancesSet');
  if (!isObject(set)) return undefined;
  const items = own(set, 'items');
  if (!Array.isArray(items)) return undefined;
  for (const item of items) {
    const id = isObject(item) ? nonEmptyString(own(item, 'instanceId')) : undefined;
    if (id !== undefined) return id;
  }
  return undefined;
}

/**
 * Every instance the call acts on (`target.instance_ids`): `instanceId`, then each
 * `instancesSet.items[].instanceId`, non-empty strings only, without repeats, in request order.
 */
function targetInstances(requestParameters: JsonValue | undefined): string[] {
  if (!isObject(requestParameters)) return [];
  const ids: string[] = [];
  const add = (value: JsonValue | undefined): void => {
    const id = nonEmptyString(value);
    if (id !== undefined && !ids.includes(id)) ids.push(id);
  };
  add(own(requestParameters, 'instanceId'));
  const set = own(requestParameters, 'instancesSet');
  const items = isObject(set) ? own(set, 'items') : undefined;
  if (Array.isArray(items)) for (const item of items) if (isObject(item)) add(own(item, 'instanceId'));
  return ids;
}

/**
 * A canonical JSON text (object keys sorted, at every depth) for content hashing. Iterative, so
 * deeply nested input cannot overflow the stack; values JSON has no text for become `null`.
 */
export function canonicalJson(value: unknown): string {
  type Work = { readonly value: unknown } | { readonly text: string } | { readonly leave: object };
  const out: string[] = [];
  const open = new Set<object>();
  const work: Work[] = [{ value }];
  for (let item = work.pop(); item !== undefined; item = work.pop()) {
    if ('text' in item) {
      out.push(item.text);
      continue;
    }
    if ('leave' in item) {
      open.delete(item.leave);
      continue;
    }
    const current = item.value;
    if (typeof current === 'string') out.push(JSON.stringify(current));
    else if (typeof current === 'number') out.push(Number.isFinite(current) ? JSON.stringify(current) : 'null');
    else if (typeof current === 'boolean') out.push(current ? 'true' : 'false');
    else if (typeof current === 'bigint') out.push(JSON.stringify(current.toString()));
    else if (typeof current !== 'object' || current === null) out.push('null');
    else if (open.has(current)) out.push('"[circular]"');
    else if (Array.isArray(current)) {
      const list: readonly unknown[] = current;
      open.add(list);
      out.push('[');
      work.push({ leave: list }, { text: ']' });
      for (let i = list.length - 1; i >= 0; i--) {
        work.push({ value: list[i] });
        if (i > 0) work.push({ text: ',' });
      }
    } else {
      open.add(current);
      out.push('{');
      work.push({ leave: current }, { text: '}' });
      const keys = Object.keys(current).sort();
      for (let i = keys.length - 1; i >= 0; i--) {
        const key = keys[i] ?? '';
        work.push({ value: (current as Record<string, unknown>)[key] }, { text: `${i > 0 ? ',' : ''}${JSON.stringify(key)}:` });
      }
    }
  }
  return out.join('');
}

/**
 * `target[key] = value` for a key of a parsed record. Assignment keeps objects in V8's fast mode
 * (defining every property made them dictionaries: normalising cost 3 times a JSON.parse);
 * `__proto__`, the one key whose assignment would set the prototype, is defined instead.
 */
function copyMember(target: JsonObject, key: string, value: JsonValue | undefined): void {
  if (key === '__proto__') Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  // An own member is never undefined in parsed JSON; a caller's object keeps whatever it holds.
  else target[key] = value as JsonValue;
}

function refuse(code: RecordErrorCode, message: string): NormaliseResult {
  return { ok: false, code, message };
}

/** A key that spells a required field in another letter case, e.g. `eventname`. */
function miscasedKey(record: JsonObject, wanted: string): string | undefined {
  if (Object.hasOwn(record, wanted)) return undefined;
  const lower = wanted.toLowerCase();
  return Object.keys(record).find((key) => key.toLowerCase() === lower);
}

/**
 * Validate one CloudTrail record and add Datadog's CloudTrail attributes. The input is never
 * modified: the event's `fields` is a new object (nested raw objects other than `userIdentity`
 * are shared with the input, not copied).
 */
export function normaliseRecord(value: unknown, origin: RecordOrigin): NormaliseResult {
  if (!isObject(value)) {
    return refuse(RECORD_ERROR_CODES.notObject, `record ${origin.index} of ${origin.source} is ${describe(value)}, not a JSON object: a CloudTrail record is an object with eventTime, eventName, …`);
  }
  const record = value;

  for (const wanted of REQUIRED_KEYS) {
    const found = miscasedKey(record, wanted);
    if (found !== undefined) {
      return refuse(
        RECORD_ERROR_CODES.keyCase,
        `record has ${quote(found)} but no "${wanted}": CloudTrail keys are case-sensitive camelCase, and this record looks like a lower-cased export (e.g. from a data lake); feed the original CloudTrail JSON instead`,
      );
    }
  }

  const eventTime = own(record, 'eventTime');
  if (eventTime === undefined || eventTime === null) {
    const hint = Object.hasOwn(record, '@timestamp') ? ' (it has a Logstash "@timestamp"; trailhound reads CloudTrail\'s own eventTime)' : '';
    return refuse(RECORD_ERROR_CODES.noTime, `record has no eventTime${hint}: every CloudTrail record carries one`);
  }
  if (typeof eventTime !== 'string') {
    return refuse(RECORD_ERROR_CODES.badTime, `eventTime is ${describe(eventTime)}, expected a time such as "2024-08-01T12:04:24Z"`);
  }
  const time = parseEventTime(eventTime);
  if (time === undefined) {
    return refuse(
      RECORD_ERROR_CODES.badTime,
      `eventTime ${quote(eventTime)} is not a valid time: expected ISO 8601 such as "2024-08-01T12:04:24Z" or Panther's "2022-09-30 15:11:25.000000000"`,
    );
  }

  const eventName = own(record, 'eventName');
  if (typeof eventName !== 'string' || eventName.length === 0) {
    const what = eventName === undefined ? 'record has no eventName' : `eventName is ${describe(eventName)}`;
    return refuse(RECORD_ERROR_CODES.noName, `${what}: expected the API action as a non-empty string, e.g. "StopInstances"`);
  }

  const fields: JsonObject = {};
  for (const key in record) {
    if (!Object.hasOwn(record, key) || OWNED_TOP_LEVEL_KEYS.has(key)) continue;
    copyMember(fields, key, record[key]);
  }

  const userIdentity = own(record, 'userIdentity');
  let callerInstance: string | undefined;
  let accountId: string | undefined;
  if (isObject(userIdentity)) {
    const identity = deriveIdentity(userIdentity);
    // Instance-profile credentials: an assumed role whose session is named after the instance.
    if (own(userIdentity, 'type') === 'AssumedRole' && identity.sessionName !== undefined && INSTANCE_ID_PATTERN.test(identity.sessionName)) {
      callerInstance = identity.sessionName;
    }
    accountId = nonEmptyString(own(userIdentity, 'accountId'));
    const copy: JsonObject = {};
    for (const key in userIdentity) {
      if (!Object.hasOwn(userIdentity, key) || OWNED_USER_IDENTITY_KEYS.has(key)) continue;
      copyMember(copy, key, userIdentity[key]);
    }
    if (identity.sessionName !== undefined) copy.session_name = identity.sessionName;
    if (identity.assumedRole !== undefined) copy.assumed_role = identity.assumedRole;
    fields.userIdentity = copy;
  }

  const errorCode = nonEmptyString(own(record, 'errorCode'));
  const errorMessage = nonEmptyString(own(record, 'errorMessage'));
  const userAgent = nonEmptyString(own(record, 'userAgent'));
  const sourceIp = nonEmptyString(own(record, 'sourceIPAddress'));
  const host = targetInstance(own(record, 'requestParameters')) ?? callerInstance;
  const targets = targetInstances(own(record, 'requestParameters'));

  fields.source = 'cloudtrail';
  fields.service = 'cloudtrail';
  fields.status = errorCode === undefined ? 'info' : 'error';
  fields.level = errorCode === undefined ? 'Info' : 'Error';
  if (host !== undefined) fields.host = host;
  fields.evt = { name: eventName };
  if (userAgent !== undefined) fields.http = { useragent: userAgent };
  if (sourceIp !== undefined) fields.network = { client: { ip: sourceIp } };
  if (errorCode !== undefined || errorMessage !== undefined) {
    fields.error = { ...(errorCode === undefined ? {} : { kind: errorCode }), ...(errorMessage === undefined ? {} : { message: errorMessage }) };
  }
  if (accountId !== undefined) fields.usr = { account_id: accountId };
  if (targets.length > 0) fields.target = { instance_ids: targets };

  const eventId = nonEmptyString(own(record, 'eventID'));
  const event: TrailEvent = {
    fields,
    time,
    ...(eventId === undefined ? {} : { eventId }),
    key: eventId ?? stableHash(canonicalJson(record)),
    origin,
  };
  return { ok: true, event };
}
