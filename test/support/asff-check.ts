/**
 * Test support: the problems of an ASFF finding against the rules of the AWS Security Finding Format
 * that BatchImportFindings enforces: the required top-level attributes (SchemaVersion, Id,
 * ProductArn, GeneratorId, AwsAccountId, Types, CreatedAt, UpdatedAt, Severity, Title, Description,
 * Resources), their lengths and formats, and the values of the enumerations trailhound uses.
 */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z$/;
const TYPE_NAMESPACES = ['Software and Configuration Checks', 'TTPs', 'Effects', 'Unusual Behaviors', 'Sensitive Data Identifications'];
const SEVERITY_LABELS = ['INFORMATIONAL', 'LOW', 'MEDIUM', 'HIGH', 'CRITICAL'];

function isText(value: unknown): value is string {
  return typeof value === 'string' && /\S/.test(value);
}

export function asffProblems(finding: unknown): string[] {
  if (typeof finding !== 'object' || finding === null || Array.isArray(finding)) return ['a finding is a JSON object'];
  const f = finding as Record<string, unknown>;
  const problems: string[] = [];
  const need = (condition: boolean, message: string) => {
    if (!condition) problems.push(message);
  };
  need(f.SchemaVersion === '2018-10-08', 'SchemaVersion must be 2018-10-08');
  need(isText(f.Id) && f.Id.length <= 512, 'Id: a text of at most 512 characters');
  need(typeof f.ProductArn === 'string' && /^arn:aws(?:-cn|-us-gov)?:securityhub:[a-z0-9-]+:(\d{12}):product\/\1\/default$/.test(f.ProductArn), 'ProductArn: arn:aws:securityhub:REGION:ACCOUNT:product/ACCOUNT/default');
  need(isText(f.GeneratorId) && f.GeneratorId.length <= 512, 'GeneratorId: a text of at most 512 characters');
  need(typeof f.AwsAccountId === 'string' && /^\d{12}$/.test(f.AwsAccountId), 'AwsAccountId: 12 digits');
  need(typeof f.ProductArn === 'string' && f.ProductArn.includes(`:${String(f.AwsAccountId)}:product/`), 'AwsAccountId is the account of the default product ARN');
  need(Array.isArray(f.Types) && f.Types.length >= 1 && f.Types.length <= 50 && f.Types.every((t) => isText(t) && TYPE_NAMESPACES.includes(t.split('/')[0] ?? '') && t.split('/').length <= 3), 'Types: 1 to 50 namespace[/category[/classifier]] values');
  for (const key of ['CreatedAt', 'UpdatedAt', 'FirstObservedAt', 'LastObservedAt']) {
    if (key === 'CreatedAt' || key === 'UpdatedAt' || f[key] !== undefined) need(typeof f[key] === 'string' && ISO_8601.test(f[key]) && Number.isFinite(Date.parse(f[key])), `${key}: an ISO 8601 UTC time`);
  }
  const severity = f.Severity as Record<string, unknown> | undefined;
  need(typeof severity === 'object' && severity !== null && SEVERITY_LABELS.includes(String(severity.Label)), 'Severity.Label: INFORMATIONAL, LOW, MEDIUM, HIGH or CRITICAL');
  need(isText(f.Title) && f.Title.length <= 256, 'Title: a text of at most 256 characters');
  need(isText(f.Description) && f.Description.length <= 1024, 'Description: a text of at most 1024 characters');
  const resources = f.Resources;
  need(Array.isArray(resources) && resources.length >= 1 && resources.length <= 32, 'Resources: 1 to 32 resources');
  if (Array.isArray(resources)) {
    resources.forEach((r, i) => {
      const resource = r as Record<string, unknown>;
      need(isText(resource.Type) && isText(resource.Id), `Resources[${i}]: Type and Id`);
    });
  }
  if (f.RecordState !== undefined) need(f.RecordState === 'ACTIVE' || f.RecordState === 'ARCHIVED', 'RecordState: ACTIVE or ARCHIVED');
  if (f.Workflow !== undefined) need(['NEW', 'NOTIFIED', 'RESOLVED', 'SUPPRESSED'].includes(String((f.Workflow as Record<string, unknown>).Status)), 'Workflow.Status');
  if (f.ProductFields !== undefined) {
    const fields = Object.entries(f.ProductFields as Record<string, unknown>);
    need(fields.length <= 50 && fields.every(([k, v]) => k.length <= 128 && typeof v === 'string' && v.length <= 2048), 'ProductFields: at most 50 text values of at most 2048 characters');
  }
  return problems;
}
