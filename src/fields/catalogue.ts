/**
 * The field catalogue: every attribute of a normalised event that a rule can read, in one table.
 *
 * Paths are written as they appear after `@` in a Datadog query (`evt.name`,
 * `userIdentity.session_name`); the four reserved attributes (`source`, `host`, `service`,
 * `status`) are written without `@` in Datadog but live at the same place in `TrailEvent.fields`.
 * The normaliser, the rule validator and the docs generator (scripts/gen-docs.ts) all read this
 * table, so adding a derived attribute starts here.
 *
 * Pure data and small lookups: no I/O.
 */

export type FieldType = 'string' | 'number' | 'boolean' | 'object' | 'array<object>' | 'array<string>';

interface FieldSpecBase {
  /** As written after `@` in a query, without the `@`. */
  readonly path: string;
  readonly type: FieldType;
  /** One line, shown in docs/fields.md. */
  readonly meaning: string;
  /** An object whose sub-paths depend on the API called: any sub-path is a known field. */
  readonly isOpen: boolean;
  /** One of Datadog's reserved attributes, queried without `@` (`source:cloudtrail`). */
  readonly isReserved: boolean;
}

/** A field copied unchanged from the CloudTrail record. */
export interface RawFieldSpec extends FieldSpecBase {
  readonly origin: 'raw';
}

/** A field trailhound adds while normalising, mirroring Datadog's CloudTrail pipeline. */
export interface DerivedFieldSpec extends FieldSpecBase {
  readonly origin: 'derived';
  /** The raw field(s) it is computed from, in words. */
  readonly derivedFrom: string;
  /** The Datadog attribute it mirrors (as a Datadog query writes it). */
  readonly datadog: string;
}

export type FieldSpec = RawFieldSpec | DerivedFieldSpec;

interface FieldOptions {
  readonly isOpen?: boolean;
  readonly isReserved?: boolean;
}

function raw(path: string, type: FieldType, meaning: string, options: FieldOptions = {}): RawFieldSpec {
  return { path, type, meaning, origin: 'raw', isOpen: options.isOpen ?? false, isReserved: options.isReserved ?? false };
}

function derived(path: string, type: FieldType, derivedFrom: string, datadog: string, meaning: string, options: FieldOptions = {}): DerivedFieldSpec {
  return { path, type, meaning, origin: 'derived', derivedFrom, datadog, isOpen: options.isOpen ?? false, isReserved: options.isReserved ?? false };
}

const OPEN = { isOpen: true } as const;
const RESERVED = { isReserved: true } as const;

/** Every normalised attribute, in the order docs/fields.md lists them. */
export const FIELD_CATALOGUE: readonly FieldSpec[] = Object.freeze([
  // Reserved attributes (Datadog's `source`, `service`, `status`, `host`).
  derived('source', 'string', 'constant', 'source', 'Log source; always `cloudtrail`.', RESERVED),
  derived('service', 'string', 'constant', 'service', 'Service the log belongs to; always `cloudtrail`.', RESERVED),
  derived('status', 'string', 'errorCode', 'status', '`error` when the record has a non-empty `errorCode`, else `info`.', RESERVED),
  derived(
    'host',
    'string',
    'requestParameters.instanceId, requestParameters.instancesSet.items[0].instanceId, else an `i-…` role session name',
    'host',
    'The EC2 instance the call acts on; when the call names none, the calling instance of instance-profile credentials. Absent otherwise.',
    RESERVED,
  ),

  // Attributes Datadog's CloudTrail pipeline adds.
  derived('evt.name', 'string', 'eventName', 'evt.name', 'The API action; a copy of `eventName`.'),
  derived('http.useragent', 'string', 'userAgent', 'http.useragent', 'The caller\'s user agent; a copy of `userAgent`.'),
  derived('network.client.ip', 'string', 'sourceIPAddress', 'network.client.ip', 'The caller\'s address (or an AWS service name); a copy of `sourceIPAddress`.'),
  derived('error.kind', 'string', 'errorCode', 'error.kind', 'The AWS error code of a failed call; a copy of `errorCode`.'),
  derived('error.message', 'string', 'errorMessage', 'error.message', 'The AWS error message of a failed call; a copy of `errorMessage`.'),
  derived('level', 'string', 'errorCode', 'level', '`Error` when the record has a non-empty `errorCode`, else `Info`.'),
  derived('usr.account_id', 'string', 'userIdentity.accountId', 'usr.account_id', 'Account of the principal that made the call.'),
  derived(
    'userIdentity.session_name',
    'string',
    'userIdentity.type with userIdentity.arn or userIdentity.userName',
    'userIdentity.session_name',
    'Who acted: role session name (AssumedRole), user name (IAMUser), federated user name (FederatedUser), `root` (Root).',
  ),
  derived('userIdentity.assumed_role', 'string', 'userIdentity.arn', 'userIdentity.assumed_role', 'Role name of an assumed-role caller (`arn:aws:sts::ACCOUNT:assumed-role/ROLE/SESSION`).'),

  // trailhound's own attributes (Datadog has no equivalent).
  derived(
    'target.instance_ids',
    'array<string>',
    'requestParameters.instanceId and every requestParameters.instancesSet.items[].instanceId',
    'none (trailhound only)',
    'Every EC2 instance the call acts on, in request order, without repeats; absent when it names none. Group by it with `hasGroupByFanOut: true` to follow each instance.',
  ),

  // The raw CloudTrail record.
  raw('eventVersion', 'string', 'Version of the record format, e.g. `1.08`.'),
  raw('eventTime', 'string', 'When the request completed (UTC); trailhound orders and windows events by it.'),
  raw('eventSource', 'string', 'Service the request was made to, e.g. `ec2.amazonaws.com`.'),
  raw('eventName', 'string', 'The API action requested, e.g. `ModifyInstanceAttribute`.'),
  raw('awsRegion', 'string', 'Region the request was made to (never validated: anonymised logs use fake regions).'),
  raw('sourceIPAddress', 'string', 'Address the request came from, or the AWS service that made it on the caller\'s behalf.'),
  raw('userAgent', 'string', 'Agent that made the request: SDK, CLI, console or an AWS service.'),
  raw('errorCode', 'string', 'AWS error code when the request failed, e.g. `AccessDenied`.'),
  raw('errorMessage', 'string', 'Description of the error when the request failed.'),
  raw('requestParameters', 'object', 'Parameters sent with the request; shape depends on the API; `null` when none.', OPEN),
  raw('requestParameters.instanceId', 'string', 'Instance a single-instance EC2 call acts on (ModifyInstanceAttribute, …).'),
  raw('requestParameters.instancesSet', 'object', 'Instances a multi-instance EC2 call acts on (StopInstances, StartInstances, …).'),
  raw('requestParameters.instancesSet.items', 'array<object>', 'One entry per instance named in the request.'),
  raw('requestParameters.instancesSet.items.instanceId', 'string', 'An instance named in the request (matches if any entry matches).'),
  raw('requestParameters.userData', 'string', 'User data set by ModifyInstanceAttribute (blob form); redacted to `<sensitiveDataRemoved>`.'),
  raw('requestParameters.attribute', 'string', 'Attribute changed by ModifyInstanceAttribute in its `--attribute … --value …` form, e.g. `userData`.'),
  raw('requestParameters.value', 'string', 'New value in the `--attribute … --value …` form; always redacted.'),
  raw('requestParameters.force', 'boolean', 'StopInstances: whether the stop was forced.'),
  raw('responseElements', 'object', 'The response of the API for calls that change something; shape depends on the API.', OPEN),
  raw('additionalEventData', 'object', 'Extra data about the event that is not part of the request or the response.', OPEN),
  raw('requestID', 'string', 'Id the called service gave the request.'),
  raw('eventID', 'string', 'GUID CloudTrail gives each record; trailhound\'s event key.'),
  raw('readOnly', 'boolean', 'Whether the operation only reads.'),
  raw('eventType', 'string', 'Kind of record: `AwsApiCall`, `AwsServiceEvent`, `AwsConsoleAction`, `AwsConsoleSignIn`, `AwsVpceEvent`, …'),
  raw('managementEvent', 'boolean', 'Whether the record is a management (control plane) event.'),
  raw('recipientAccountId', 'string', 'Account that received the event.'),
  raw('eventCategory', 'string', 'Event category: `Management`, `Data`, `NetworkActivity` or `Insight`.'),
  raw('sharedEventID', 'string', 'GUID shared by the copies of a cross-account event delivered to each account.'),
  raw('vpcEndpointId', 'string', 'VPC endpoint the request went through.'),
  raw('apiVersion', 'string', 'API version of the called service, for some services.'),
  raw('sessionCredentialFromConsole', 'string', '`true` when the session credentials came from the AWS console.'),
  raw('resources', 'array<object>', 'Resources the event acts on, when the service reports them.'),
  raw('resources.ARN', 'string', 'ARN of a resource (matches if any resource matches).'),
  raw('resources.ARNPrefix', 'string', 'ARN prefix of a resource, used instead of `ARN` by some services.'),
  raw('resources.accountId', 'string', 'Account that owns a resource.'),
  raw('resources.type', 'string', 'Resource type, e.g. `AWS::EC2::Instance`.'),
  raw('serviceEventDetails', 'object', 'Details of an `AwsServiceEvent`: what the service did and why.', OPEN),
  raw('addendum', 'object', 'Present when a record was delivered late or updated after delivery.'),
  raw('addendum.reason', 'string', 'Why the addendum exists, e.g. `DELIVERY_DELAY`, `UPDATED_DATA`.'),
  raw('addendum.updatedFields', 'string', 'Fields that were updated.'),
  raw('addendum.originalRequestID', 'string', 'requestID of the original record.'),
  raw('addendum.originalEventID', 'string', 'eventID of the original record.'),
  raw('edgeDeviceDetails', 'object', 'Details of a request made to an edge device (Snow family).', OPEN),
  raw('eventContext', 'object', 'Enrichment of enriched events (resource tags, IAM condition keys).', OPEN),
  raw('insightDetails', 'object', 'Details of an Insights event.', OPEN),
  raw('tlsDetails', 'object', 'TLS of the request, when the service reports it.'),
  raw('tlsDetails.tlsVersion', 'string', 'TLS version, e.g. `TLSv1.3`.'),
  raw('tlsDetails.cipherSuite', 'string', 'Cipher suite negotiated.'),
  raw('tlsDetails.clientProvidedHostHeader', 'string', 'Host name the client asked for (usually the service endpoint).'),
  raw('userIdentity', 'object', 'The principal that made the request and the credentials it used.'),
  raw('userIdentity.type', 'string', 'Principal kind: `IAMUser`, `AssumedRole`, `Root`, `FederatedUser`, `AWSService`, `AWSAccount`, `IdentityCenterUser`, … (missing on some service events).'),
  raw('userIdentity.principalId', 'string', 'Unique id of the principal (`ROLEID:SESSION` for assumed roles).'),
  raw('userIdentity.arn', 'string', 'ARN of the principal.'),
  raw('userIdentity.accountId', 'string', 'Account that owns the principal.'),
  raw('userIdentity.accessKeyId', 'string', 'Access key that signed the request (`AKIA…` long-term, `ASIA…` temporary).'),
  raw('userIdentity.userName', 'string', 'Friendly name of an IAM user (also set for some other kinds).'),
  raw('userIdentity.invokedBy', 'string', 'AWS service that made the request on the principal\'s behalf.'),
  raw('userIdentity.credentialId', 'string', 'Id of the service-specific credential used, when any.'),
  raw('userIdentity.identityProvider', 'string', 'Identity provider of a SAML or web identity user.'),
  raw('userIdentity.inScopeOf', 'object', 'Resource in whose scope an AWS service obtained the credentials it called with.', OPEN),
  raw('userIdentity.onBehalfOf', 'object', 'IAM Identity Center user the request was made for.'),
  raw('userIdentity.onBehalfOf.userId', 'string', 'Identity Center user id.'),
  raw('userIdentity.onBehalfOf.identityStoreArn', 'string', 'Identity store of that user.'),
  raw('userIdentity.sessionContext', 'object', 'Temporary-credential session the request was made with.'),
  raw('userIdentity.sessionContext.sessionIssuer', 'object', 'Principal that issued the temporary credentials.'),
  raw('userIdentity.sessionContext.sessionIssuer.type', 'string', 'Kind of the issuer: `Role`, `IAMUser`, `Root`, …'),
  raw('userIdentity.sessionContext.sessionIssuer.principalId', 'string', 'Unique id of the issuer.'),
  raw('userIdentity.sessionContext.sessionIssuer.arn', 'string', 'ARN of the issuer (the role ARN for assumed roles).'),
  raw('userIdentity.sessionContext.sessionIssuer.accountId', 'string', 'Account that owns the issuer.'),
  raw('userIdentity.sessionContext.sessionIssuer.userName', 'string', 'Friendly name of the issuer (the role name for assumed roles).'),
  raw('userIdentity.sessionContext.attributes', 'object', 'Attributes of the session.'),
  raw('userIdentity.sessionContext.attributes.creationDate', 'string', 'When the temporary credentials were issued.'),
  raw('userIdentity.sessionContext.attributes.mfaAuthenticated', 'string', '`true` when the session was authenticated with MFA (a string, not a boolean).'),
  raw('userIdentity.sessionContext.webIdFederationData', 'object', 'Web identity federation data (provider and attributes).', OPEN),
  raw('userIdentity.sessionContext.sourceIdentity', 'string', 'Source identity set when the role was assumed.'),
  raw('userIdentity.sessionContext.ec2RoleDelivery', 'string', 'Instance metadata service version that delivered instance-profile credentials (`1.0` or `2.0`).'),
  raw('userIdentity.sessionContext.assumedRoot', 'string', '`true` when the session is a centralised-root-access session.'),
]);

const BY_PATH: ReadonlyMap<string, FieldSpec> = new Map(FIELD_CATALOGUE.map((spec) => [spec.path, spec]));

const OPEN_PATHS: readonly string[] = FIELD_CATALOGUE.filter((spec) => spec.isOpen).map((spec) => spec.path);

/** Every strict prefix of a catalogue path (`evt`, `network.client`, …): objects that hold known fields. */
const CONTAINER_PATHS: ReadonlySet<string> = new Set(
  FIELD_CATALOGUE.flatMap((spec) => {
    const segments = spec.path.split('.');
    return segments.slice(1).map((_, i) => segments.slice(0, i + 1).join('.'));
  }),
);

/** A query may write `@path`; the catalogue stores `path`. */
function withoutAt(path: string): string {
  return path.startsWith('@') ? path.slice(1) : path;
}

/** The catalogue entry for exactly this path (a leading `@` is ignored), or undefined. */
export function lookupField(path: string): FieldSpec | undefined {
  return BY_PATH.get(withoutAt(path));
}

/**
 * True when a rule may read this path: a catalogue entry, an object holding catalogue entries
 * (`evt`, `userIdentity.sessionContext`), or any sub-path of an open object
 * (`requestParameters.bucketName`). Case-sensitive, like Datadog's attribute search.
 */
export function isKnownField(path: string): boolean {
  const bare = withoutAt(path);
  if (BY_PATH.has(bare) || CONTAINER_PATHS.has(bare)) return true;
  if (bare.split('.').includes('')) return false;
  return OPEN_PATHS.some((open) => bare.startsWith(`${open}.`));
}

/** Longest path `suggestField` looks at; longer text is not a typo of a field. */
const MAX_SUGGEST_LENGTH = 200;

/**
 * Edit distance (insert, delete, substitute, swap two neighbours) between two strings, giving up
 * once it exceeds `limit` (returns `limit + 1`).
 */
function editDistance(a: string, b: string, limit: number): number {
  if (Math.abs(a.length - b.length) > limit) return limit + 1;
  let before: number[] = [];
  let previous: number[] = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const current: number[] = [i];
    let rowMin = i;
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let value = Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        value = Math.min(value, (before[j - 2] ?? 0) + 1);
      }
      current.push(value);
      rowMin = Math.min(rowMin, value);
    }
    if (rowMin > limit) return limit + 1;
    before = previous;
    previous = current;
  }
  return previous[b.length] ?? limit + 1;
}

/** How many edits a path of this length may be from a suggestion. */
function allowedEdits(path: string): number {
  return Math.max(1, Math.min(3, Math.floor(path.length / 4)));
}

/**
 * The catalogue path closest to an unknown one, for a "did you mean" hint: a path that differs
 * only in letter case wins; otherwise the nearest by edit distance, within a few edits. A
 * misspelt open object keeps its sub-path (`requestParameter.bucketName` →
 * `requestParameters.bucketName`), and a stray dot is dropped. Undefined when nothing is close or
 * the path is known.
 */
export function suggestField(path: string): string | undefined {
  const bare = withoutAt(path);
  if (bare.length === 0 || bare.length > MAX_SUGGEST_LENGTH || isKnownField(bare)) return undefined;
  const lower = bare.toLowerCase();

  const segments = bare.split('.');
  // A stray dot (`requestParameters..bucketName`, `evt.name.`) is the whole typo.
  const collapsed = segments.filter((segment) => segment !== '').join('.');
  if (collapsed !== bare && isKnownField(collapsed)) return collapsed;

  const candidates: string[] = [...FIELD_CATALOGUE.map((spec) => spec.path)];
  for (const open of OPEN_PATHS) {
    const depth = open.split('.').length;
    const rest = segments.slice(depth);
    if (rest.length > 0 && !rest.includes('')) candidates.push([open, ...rest].join('.'));
  }

  const limit = allowedEdits(bare);
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of candidates) {
    const candidateLower = candidate.toLowerCase();
    if (candidateLower === lower) return candidate;
    const distance = editDistance(lower, candidateLower, limit);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}
