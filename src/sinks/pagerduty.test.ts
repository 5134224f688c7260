/**
 * The PagerDuty sink against a recording Events API v2 endpoint on 127.0.0.1: the shared sink
 * conformance suite (the signal travels in `custom_details`), the trigger of the flagship signal,
 * and the resolve of a closed one.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Severity, Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { detect, stratusAttack } from '../../test/support/detect.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { PAGERDUTY_SEVERITY, createPagerDutySink, pagerDutyEvent } from './pagerduty.js';

const ROUTING_KEY = 'R0UTINGKEY0123456789abcdefABCDEF';

interface PdEvent {
  routing_key: string;
  event_action: string;
  dedup_key: string;
  payload?: { summary: string; source: string; severity: string; component?: string; custom_details: { change: string; signal: Signal } };
}

async function harness(): Promise<SinkHarness> {
  const server = await startHttpRecorder({ answer: () => ({ status: 202, body: '{"status":"success","message":"Event processed"}' }) });
  const refusing = await startHttpRecorder({ answer: () => ({ status: 500 }) });
  return {
    open: () => Promise.resolve(createPagerDutySink({ routingKey: ROUTING_KEY, endpoint: `${server.url}/v2/enqueue` })),
    written: () => Promise.resolve(server.accepted().flatMap((r) => ((JSON.parse(r.body) as PdEvent).payload?.custom_details.signal ?? []) as Signal[])),
    openUnwritable: () => Promise.resolve(createPagerDutySink({ routingKey: ROUTING_KEY, endpoint: refusing.url })),
    holdDurability: () => server.hold(),
    cleanup: async () => {
      await server.close();
      await refusing.close();
    },
  };
}

runSinkConformance('pagerduty', harness);

describe('pagerduty sink', () => {
  const servers: HttpRecorder[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('triggers with the signal id as dedup_key, a one-line summary, the mapped severity and the instance as component', async () => {
    const server = await startHttpRecorder({ answer: () => ({ status: 202 }) });
    servers.push(server);
    const signal = detect(stratusAttack().all).find((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
    if (signal === undefined) throw new Error('no flagship signal');
    const sink = createPagerDutySink({ routingKey: ROUTING_KEY, endpoint: `${server.url}/v2/enqueue` });
    expect(sink.name).toMatch(/^pagerduty:R0UT…[0-9a-f]{8}$/);
    expect(sink.name).not.toContain(ROUTING_KEY);
    await sink.deliver([{ kind: 'created', signal }]);
    await sink.close();
    const event = JSON.parse(server.requests[0]?.body ?? '{}') as PdEvent;
    expect(server.requests[0]?.path).toBe('/v2/enqueue');
    expect(event).toMatchObject({
      routing_key: ROUTING_KEY,
      event_action: 'trigger',
      dedup_key: signal.id,
      payload: {
        summary: `${signal.title} by arn:aws:iam::309303190113:user/christophe on i-DDd6c7B0e18F0E35f`,
        source: 'trailhound',
        severity: 'error',
        component: 'i-DDd6c7B0e18F0E35f',
        timestamp: signal.lastSeen,
        group: signal.ruleId,
        class: 'TA0004-privilege-escalation',
        custom_details: { change: 'created', signal },
      },
    });
  });

  it('resolves the incident of a closed signal (same dedup_key, no payload)', async () => {
    const server = await startHttpRecorder({ answer: () => ({ status: 202 }) });
    servers.push(server);
    const [created] = realSignalChanges();
    if (created === undefined) throw new Error('no change');
    const sink = createPagerDutySink({ routingKey: ROUTING_KEY, endpoint: server.url });
    await sink.deliver([created, { kind: 'closed', signal: created.signal, triage: { status: 'resolved', resolution: 'true-positive', assignee: null } }]);
    await sink.close();
    const events = server.requests.map((r) => JSON.parse(r.body) as PdEvent);
    expect(events.map((e) => [e.event_action, e.dedup_key])).toEqual([
      ['trigger', created.signal.id],
      ['resolve', created.signal.id],
    ]);
    expect(events[1]).toEqual({ routing_key: ROUTING_KEY, event_action: 'resolve', dedup_key: created.signal.id });
  });

  it.each<[Severity, string]>([
    ['critical', 'critical'],
    ['high', 'error'],
    ['medium', 'warning'],
    ['low', 'info'],
    ['info', 'info'],
  ])('severity %s is PagerDuty %s', (severity, expected) => {
    expect(PAGERDUTY_SEVERITY[severity]).toBe(expected);
    const [change] = realSignalChanges();
    if (change === undefined) throw new Error('no change');
    const event = pagerDutyEvent({ kind: 'updated', signal: { ...change.signal, severity } }, ROUTING_KEY) as unknown as PdEvent;
    expect(event.payload?.severity).toBe(expected);
  });

  it('keeps a hostile title to one line and 1024 characters', () => {
    const [change] = realSignalChanges();
    if (change === undefined) throw new Error('no change');
    const event = pagerDutyEvent({ kind: 'created', signal: { ...change.signal, title: `a\nb\r\u0000${'x'.repeat(3000)}` } }, ROUTING_KEY) as unknown as PdEvent;
    expect(event.payload?.summary.length).toBe(1024);
    expect(event.payload?.summary.startsWith('a b x')).toBe(true);
  });

  it('refuses an empty routing key', () => {
    expect(() => createPagerDutySink({ routingKey: ' ' })).toThrow(/routing key/);
  });
});
