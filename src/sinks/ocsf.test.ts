import { appendFileSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { ocsfSchema } from '../../test/support/ocsf-validate.js';
import { useScratch } from '../../test/support/scratch.js';
import { WatchedFileSystem, readJsonLines } from '../../test/support/file-sink.js';
import { ocsfLine, openOcsfSink } from './ocsf.js';
import type { SignalChange, SignalSink } from './sink.js';
import { isOutboxSink, openSink, parseSinkSpec, sinkKeyOf } from './spec.js';

const scratch = useScratch('ocsf');
const NOW = Date.parse('2026-02-03T04:05:06.000Z');
const VERSION = '9.9.9';

const lines = readJsonLines;

/**
 * The conformance harness reads OCSF documents back as signals: each line must be a valid OCSF
 * document and exactly the document of one change given to the sink (the harness remembers them).
 */
function harness(): SinkHarness {
  const dir = scratch.freshDir();
  const path = join(dir, 'findings.ocsf.jsonl');
  const fileSystem = new WatchedFileSystem();
  const given = new Map<string, Signal>();
  const remember = (sink: SignalSink): SignalSink => ({
    name: sink.name,
    deliver: (changes: readonly SignalChange[]) => {
      for (const change of changes) given.set(ocsfLine(change, VERSION, NOW), change.signal);
      return sink.deliver(changes);
    },
    close: () => sink.close(),
  });
  return {
    open: async () => remember(await openOcsfSink({ path, productVersion: VERSION, fileSystem, now: () => NOW })),
    written: () =>
      Promise.resolve(
        lines(path).map((document) => {
          const errors = ocsfSchema().errors(document);
          if (errors.length > 0) throw new Error(`an invalid OCSF document was written: ${JSON.stringify(errors)}`);
          const signal = given.get(`${JSON.stringify(document)}\n`);
          if (signal === undefined) throw new Error('a written document is not the document of any change given to the sink');
          return signal;
        }),
      ),
    openUnwritable: () => {
      writeFileSync(join(dir, 'plain-file'), '');
      return openOcsfSink({ path: join(dir, 'plain-file', 'findings.jsonl'), productVersion: VERSION });
    },
    holdDurability: () => fileSystem.holdSyncs(),
    cleanup: () => {
      rmSync(dir, { recursive: true, force: true });
      return Promise.resolve();
    },
  };
}

runSinkConformance('ocsf', () => Promise.resolve(harness()));

describe('ocsf sink', () => {
  it('writes one valid Detection Finding per change, named after the file, readable by its owner only', async () => {
    const path = join(scratch.freshDir(), 'findings.jsonl');
    const sink = await openOcsfSink({ path, productVersion: VERSION, now: () => NOW });
    expect(sink.name).toBe(`ocsf:${path}`);
    const changes = realSignalChanges();
    await sink.deliver(changes);
    await sink.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
    const documents = lines(path) as { activity_id: number; time: number; finding_info: { uid: string }; metadata: { product: { version: string } } }[];
    expect(documents.map((d) => [d.finding_info.uid, d.activity_id])).toEqual(changes.map((c) => [c.signal.id, c.kind === 'created' ? 1 : 2]));
    expect(documents.every((d) => d.time === NOW && d.metadata.product.version === VERSION)).toBe(true);
    for (const document of documents) expect(ocsfSchema().errors(document)).toEqual([]);
  });

  it('a close change (an analyst resolved the signal) is written as activity 3 with the triage status', async () => {
    const path = join(scratch.freshDir(), 'findings.jsonl');
    const sink = await openOcsfSink({ path, productVersion: VERSION, now: () => NOW });
    const [first] = realSignalChanges();
    if (first === undefined) throw new Error('no change');
    await sink.deliver([{ kind: 'closed', signal: first.signal, triage: { status: 'resolved', resolution: 'false-positive', assignee: 'carol' } }]);
    await sink.close();
    const [document] = lines(path);
    expect(document).toMatchObject({ activity_id: 3, type_uid: 200403, status_id: 4, status: 'Resolved', verdict_id: 1, assignee: { name: 'carol' }, is_alert: false });
    expect(ocsfSchema().errors(document)).toEqual([]);
  });

  it('reopening cuts off a torn last line, as the jsonl sink does, and appends after the complete ones', async () => {
    const path = join(scratch.freshDir(), 'findings.jsonl');
    const changes = realSignalChanges();
    const complete = changes.slice(0, 2).map((c) => ocsfLine(c, VERSION, NOW));
    writeFileSync(path, complete.join(''));
    appendFileSync(path, '{"activity_id":1,"finding_info":{"uid":"torn');
    const sink = await openOcsfSink({ path, productVersion: VERSION, now: () => NOW });
    await sink.deliver(changes.slice(2, 3));
    await sink.close();
    expect(readFileSync(path, 'utf8')).toBe([...complete, ...changes.slice(2, 3).map((c) => ocsfLine(c, VERSION, NOW))].join(''));
  });

  it('cannot open a file below a regular file, and says which file', async () => {
    const dir = scratch.freshDir();
    writeFileSync(join(dir, 'plain'), '');
    await expect(openOcsfSink({ path: join(dir, 'plain', 'x.jsonl'), productVersion: VERSION })).rejects.toThrow(/cannot open .*plain.*x\.jsonl/);
  });

  it('--sink ocsf:PATH is a file sink delivered in the step; ocsf: alone is refused', async () => {
    const path = join(scratch.freshDir(), 'f.jsonl');
    const parsed = parseSinkSpec(`ocsf:${path}`);
    expect(parsed).toMatchObject({ ok: true, value: { kind: 'ocsf', path } });
    if (!parsed.ok) return;
    expect(isOutboxSink(parsed.value)).toBe(false);
    expect(sinkKeyOf(parsed.value)).toBe(`ocsf:${path}`);
    const sink = await openSink(parsed.value, { productVersion: '3.2.1' });
    await sink.deliver(realSignalChanges().slice(0, 1));
    await sink.close();
    expect(lines(path)).toMatchObject([{ class_uid: 2004, metadata: { product: { version: '3.2.1' } } }]);
    expect(parseSinkSpec('ocsf:')).toMatchObject({ ok: false, diagnostics: [{ code: 'E_SINK_SPEC', message: expect.stringContaining('ocsf: needs a file path') as unknown }] });
  });
});
