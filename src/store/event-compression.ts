/**
 * The raw record of an indexed event, compressed: raw deflate (node:zlib) with a preset dictionary
 * of the text every CloudTrail record repeats (key names, common values). One record is ~1–3 KB of
 * JSON; deflated alone it keeps most of its key names, because a single small record offers little
 * to back-reference. The dictionary supplies them, roughly halving what deflate alone leaves.
 *
 * The first byte names the format, so that a later dictionary can be added without rewriting stored
 * rows: 0 = raw deflate without dictionary, 1 = raw deflate with RECORD_DICTIONARY_V1. The
 * dictionary text below must never change (a new one is a new format byte).
 */
import { deflateRawSync, inflateRawSync } from 'node:zlib';

/** Frozen: stored rows depend on every byte of it. Most frequent text last (deflate prefers near matches). */
const RECORD_DICTIONARY_V1 = Buffer.from(
  [
    '"errorCode":"AccessDenied","errorMessage":"User: arn:aws:iam:: is not authorized to perform: because no identity-based policy allows the action",',
    '"errorCode":"Client.UnauthorizedOperation","errorMessage":"You are not authorized to perform this operation.",',
    '"additionalEventData":{"SignatureVersion":"SigV4","CipherSuite":"ECDHE-RSA-AES128-GCM-SHA256","bytesTransferredIn":0,"AuthenticationMethod":"AuthHeader","x-amz-id-2":',
    '"resources":[{"accountId":"","type":"AWS::S3::Object","ARN":"arn:aws:s3:::"},{"type":"AWS::S3::Bucket","ARN":"arn:aws:s3:::"}],',
    '"vpcEndpointId":"vpce-","sharedEventID":"","serviceEventDetails":null,"insightDetails":null,',
    '"eventType":"AwsServiceEvent","eventType":"AwsConsoleSignIn","responseElements":{"ConsoleLogin":"Success"},"additionalEventData":{"MFAUsed":"No","LoginTo":"https://console.aws.amazon.com/',
    '"instancesSet":{"items":[{"instanceId":"i-"}]},"filterSet":{},"maxResults":1000,"attribute":"userData","value":"<sensitiveDataRemoved>"',
    '"requestParameters":{"roleArn":"arn:aws:iam::","roleSessionName":"","durationSeconds":3600},"responseElements":{"credentials":{"accessKeyId":"ASIA","sessionToken":"","expiration":"',
    '"invokedBy":"","type":"AWSService","type":"Root","type":"IAMUser","userName":"","type":"AssumedRole","type":"FederatedUser",',
    '"sessionContext":{"sessionIssuer":{"type":"Role","principalId":"AROA","arn":"arn:aws:iam::","accountId":"","userName":""},"webIdFederationData":{},',
    '"attributes":{"creationDate":"T00:00:00Z","mfaAuthenticated":"false"},"ec2RoleDelivery":"2.0","sourceIdentity":""},',
    '"userAgent":"aws-cli/2. Python/3. Linux/ exe/x86_64. prompt/off command/","userAgent":"aws-sdk-go-v2/1. os/linux lang/go#1. md/GOOS#linux md/GOARCH#amd64 api/",',
    '"userAgent":"Boto3/1. md/Botocore#1. ua/2.0 os/linux#5. md/arch#x86_64 lang/python#3. md/pyimpl#CPython cfg/retry-mode#legacy Botocore/1.","userAgent":"console.amazonaws.com",',
    '"tlsDetails":{"tlsVersion":"TLSv1.3","cipherSuite":"TLS_AES_128_GCM_SHA256","clientProvidedHostHeader":".amazonaws.com"},"tlsDetails":{"tlsVersion":"TLSv1.2","cipherSuite":"ECDHE-RSA-AES128-GCM-SHA256",',
    '"eventSource":"iam.amazonaws.com","eventSource":"sts.amazonaws.com","eventSource":"s3.amazonaws.com","eventSource":"ec2.amazonaws.com",',
    '"awsRegion":"us-east-1","awsRegion":"eu-west-1","awsRegion":"us-west-2","sourceIPAddress":"","sourceIPAddress":"AWS Internal",',
    '"requestParameters":null,"responseElements":null,"readOnly":true,"readOnly":false,"eventType":"AwsApiCall","managementEvent":true,"eventCategory":"Management","recipientAccountId":"',
    '{"eventVersion":"1.08","eventVersion":"1.09","userIdentity":{"type":"AssumedRole","principalId":"","arn":"arn:aws:sts::","accountId":"","accessKeyId":"ASIA","accessKeyId":"AKIA",',
    '"eventTime":"T00:00:00Z","eventSource":"","eventName":"Describe","eventName":"List","eventName":"Get","awsRegion":"","sourceIPAddress":"","userAgent":"","requestID":"","eventID":"',
  ].join(''),
  'utf8',
);

const FORMAT_PLAIN = 0;
const FORMAT_DICTIONARY_V1 = 1;

/** The record text → the stored bytes (format byte + raw deflate with the v1 dictionary). */
export function compressRecord(text: string): Buffer {
  const body = deflateRawSync(Buffer.from(text, 'utf8'), { level: 6, dictionary: RECORD_DICTIONARY_V1 });
  const out = Buffer.allocUnsafe(body.length + 1);
  out[0] = FORMAT_DICTIONARY_V1;
  body.copy(out, 1);
  return out;
}

/** The stored bytes → the record text. Throws on an unknown format or damaged data. */
export function decompressRecord(stored: Uint8Array): string {
  const format = stored[0];
  const body = stored.subarray(1);
  if (format === FORMAT_DICTIONARY_V1) return inflateRawSync(body, { dictionary: RECORD_DICTIONARY_V1 }).toString('utf8');
  if (format === FORMAT_PLAIN) return inflateRawSync(body).toString('utf8');
  throw new Error(`unknown stored record format ${String(format)}`);
}
