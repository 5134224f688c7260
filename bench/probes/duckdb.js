// @ts-check
/* global console */
/**
 * Benchmark probe: DuckDB (through @duckdb/node-api) reading the CloudTrail log files with
 * `read_json` and a typed schema, then selecting the flagship calls, the way an analyst would.
 *
 * Each file is one JSON object `{"Records":[…]}`: `format='unstructured'` reads it as one row,
 * `records=true` maps its keys to columns, and `columns` types the single `Records` column as a
 * list of structs holding only the fields the query needs (the nested objects as JSON), so DuckDB
 * skips the rest; `unnest` turns the list into rows. `maximum_object_size` is raised because one
 * log file is one object of several MB.
 *
 * Plain JavaScript on purpose (see gunzip.js).
 *
 *   node bench/probes/duckdb.js --glob 'DIR/**\/*.json.gz' --threads N|all
 *     prints {"version":…,"threads":…,"records":…,"eventIds":[…]}
 */
import { availableParallelism } from 'node:os';
import { parseArgs } from 'node:util';
import { DuckDBInstance } from '@duckdb/node-api';

const { values } = parseArgs({ options: { glob: { type: 'string' }, threads: { type: 'string', default: 'all' } } });
if (!values.glob) throw new Error("usage: duckdb.js --glob 'DIR/**/*.json.gz' [--threads N|all]");
const threads = values.threads === 'all' ? availableParallelism() : Math.max(1, Number(values.threads));

/** SQL string literal. */
const quote = (/** @type {string} */ text) => `'${text.replaceAll("'", "''")}'`;

const RECORD_TYPE =
  'STRUCT(eventTime VARCHAR, eventSource VARCHAR, eventName VARCHAR, eventID VARCHAR, awsRegion VARCHAR, recipientAccountId VARCHAR, errorCode VARCHAR, userIdentity JSON, requestParameters JSON)[]';

const FLAGSHIP_SQL = `
SELECT
  count(*) AS records,
  list(r.eventID) FILTER (
    WHERE r.eventSource = 'ec2.amazonaws.com'
      AND (r.eventName IN ('StopInstances', 'StartInstances')
        OR (r.eventName = 'ModifyInstanceAttribute'
          AND (coalesce(json_type(r.requestParameters, '$.userData'), 'NULL') <> 'NULL'
            OR json_extract_string(r.requestParameters, '$.attribute') = 'userData')))
  ) AS ids
FROM (
  SELECT unnest(Records) AS r
  FROM read_json(${quote(values.glob)},
    format = 'unstructured',
    records = true,
    columns = {'Records': ${quote(RECORD_TYPE)}},
    maximum_object_size = 268435456)
)`;

const instance = await DuckDBInstance.create(':memory:');
const connection = await instance.connect();
await connection.run(`SET threads = ${threads}`);
const version = (await connection.runAndReadAll('SELECT version() AS v')).getRowObjectsJS()[0]?.v;
const row = (await connection.runAndReadAll(FLAGSHIP_SQL)).getRowObjectsJS()[0];
const ids = Array.isArray(row?.ids) ? row.ids.map(String) : [];
console.log(JSON.stringify({ version: String(version), threads, records: Number(row?.records ?? 0), eventIds: ids }));
