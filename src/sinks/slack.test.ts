/**
 * The Slack sink against a recording HTTP server on 127.0.0.1: the shared sink conformance suite
 * (a Slack message keeps the signal id, its update count, rule and severity), the Block Kit message
 * of the flagship signal from the Stratus Red Team user-data run, and attacker-controlled session
 * names that try to ping the channel, mention users or smuggle links.
 */
import { afterEach, describe, expect, it } from 'vitest';
import type { Signal } from '../core/types.js';
import { realSignalChanges, runSinkConformance } from '../../test/conformance/sink.js';
import type { SinkHarness } from '../../test/conformance/sink.js';
import { detect, stratusAttack } from '../../test/support/detect.js';
import { startHttpRecorder } from '../../test/support/http-recorder.js';
import type { HttpRecorder } from '../../test/support/http-recorder.js';
import { createSlackSink, cutSlack, escapeSlack, slackMessage, triageSteps } from './slack.js';

interface SlackBody {
  text: string;
  blocks: { type: string; text?: { type: string; text: string }; fields?: { text: string }[]; elements?: { text: string }[] }[];
}

/** What a Slack message keeps of a signal, read back from the posted body. */
function keptOf(body: SlackBody): { id: string; updates: number; ruleId: string; severity: string } {
  const context = body.blocks.find((b) => b.type === 'context')?.elements?.[0]?.text ?? '';
  const fields = body.blocks.find((b) => b.fields !== undefined)?.fields ?? [];
  const m = /^Signal `([^`]+)` · update (\d+)/.exec(context);
  const rule = /`([^`]+)`/.exec(fields[1]?.text ?? '');
  const severity = /(\w+)$/.exec(fields[0]?.text ?? '');
  return { id: m?.[1] ?? '', updates: Number(m?.[2]), ruleId: rule?.[1] ?? '', severity: (severity?.[1] ?? '').toLowerCase() };
}

const keeps = (s: Signal): unknown => ({ id: s.id, updates: s.updates, ruleId: s.ruleId, severity: s.severity });

async function harness(): Promise<SinkHarness> {
  const server = await startHttpRecorder();
  const refusing = await startHttpRecorder({ answer: () => ({ status: 404, body: 'no_service' }) });
  return {
    open: () => Promise.resolve(createSlackSink({ url: `${server.url}/services/T000/B000/XXXX` })),
    written: () => Promise.resolve(server.accepted().map((r) => keptOf(JSON.parse(r.body) as SlackBody) as unknown as Signal)),
    openUnwritable: () => Promise.resolve(createSlackSink({ url: refusing.url })),
    holdDurability: () => server.hold(),
    keeps,
    cleanup: async () => {
      await server.close();
      await refusing.close();
    },
  };
}

runSinkConformance('slack', harness);

function flagship(): Signal {
  const signal = detect(stratusAttack().all).find((s) => s.ruleId === 'aws-ec2-user-data-modified-then-started');
  if (signal === undefined) throw new Error('the flagship rule raised nothing on the Stratus run');
  return signal;
}

function allText(body: SlackBody): string {
  return JSON.stringify(body);
}

describe('slack sink', () => {
  const servers: HttpRecorder[] = [];
  afterEach(async () => {
    for (const s of servers.splice(0)) await s.close();
  });

  it('shows severity, title, identity, instance, account and region, and the rule triage steps of the flagship signal', () => {
    const signal = flagship();
    const body = slackMessage({ kind: 'created', signal }) as unknown as SlackBody;
    expect(body.blocks.map((b) => b.type)).toEqual(['header', 'section', 'section', 'context']);
    expect(body.blocks[0]?.text?.text).toBe(`New signal: ${signal.title}`);
    const fields = body.blocks[1]?.fields?.map((f) => f.text) ?? [];
    expect(fields[0]).toBe('*Severity*\n:large_orange_circle: HIGH');
    expect(fields[2]).toBe('*Identity*\n`christophe (arn:aws:iam::309303190113:user/christophe)`');
    expect(fields[3]).toBe('*Instance*\n`i-DDd6c7B0e18F0E35f`');
    expect(fields[4]).toBe('*Account / region*\n`309303190113` `ca-northsouth-2r`');
    const triage = body.blocks[2]?.text?.text ?? '';
    expect(triage.startsWith('*Triage and response*\n1. Instance `i-DDd6c7B0e18F0E35f` was started by `christophe`')).toBe(true);
    expect(triage).toContain('   • rotate the credentials of every identity involved');
    expect(triage).toContain('aws ec2 modify-instance-attribute --instance-id i-DDd6c7B0e18F0E35f --attribute userData');
    // Only the triage section, not the rule's goal and strategy.
    expect(triage).not.toContain('## Goal');
    expect(triage).not.toContain('Strategy');
    expect(body.blocks[3]?.elements?.[0]?.text).toBe(`Signal \`${signal.id}\` · update 0 · \`trailhound signals show ${signal.id}\``);
    expect(body.text).toBe(`[HIGH] New signal: ${signal.title} — christophe (arn:aws:iam::309303190113:user/christophe) on i-DDd6c7B0e18F0E35f`);
  });

  it.each([
    ['<!channel> urgent', '&lt;!channel&gt; urgent'],
    ['<!here|here>', '&lt;!here|here&gt;'],
    ['<@U024BE7LH> look', '&lt;@U024BE7LH&gt; look'],
    ['<https://evil.example/login|Reset your password>', '&lt;https://evil.example/login|Reset your password&gt;'],
    ['Tom & Jerry', 'Tom &amp; Jerry'],
    ['@channel wake up', '@\u200bchannel wake up'],
    ['&lt;!channel&gt;', '&amp;lt;!channel&amp;gt;'],
  ])('escapes %j as %j', (input, expected) => {
    expect(escapeSlack(input)).toBe(expected);
  });

  it('renders hostile session names inert everywhere in the message, on one line, within Block Kit limits', async () => {
    const server = await startHttpRecorder();
    servers.push(server);
    const hostile = '<!channel> <@U024BE7LH> <https://evil.example|click> `code` *bold*\nsecond line & more';
    const base = flagship();
    const signal: Signal = {
      ...base,
      title: `${hostile} ${'T'.repeat(400)}`,
      message: `## Triage and response\n1. Session ${hostile} did it\n${'x'.repeat(5000)}`,
      group: { ...base.group, '@userIdentity.session_name': hostile },
      actors: [{ arn: `arn:aws:sts::309303190113:assumed-role/admin/${hostile}`, sessionName: hostile }],
      host: hostile,
    };
    const sink = createSlackSink({ url: server.url });
    await sink.deliver([{ kind: 'created', signal }]);
    await sink.close();
    const body = JSON.parse(server.requests[0]?.body ?? '{}') as SlackBody;
    const text = allText(body);
    expect(text).not.toMatch(/<!channel>|<@U024BE7LH>|<https:\/\/evil/);
    expect(text).toContain('&lt;!channel&gt;');
    expect(body.blocks[0]?.text?.type).toBe('plain_text');
    expect(body.blocks[0]?.text?.text.length).toBeLessThanOrEqual(150);
    expect(body.blocks[0]?.text?.text).not.toContain('\n');
    expect(body.blocks[2]?.text?.text.length).toBeLessThanOrEqual(3000);
    for (const field of body.blocks[1]?.fields ?? []) expect(field.text.length).toBeLessThanOrEqual(2000);
    const identity = body.blocks[1]?.fields?.[2]?.text ?? '';
    // In a code span, on one line, with its backticks neutralised so it cannot close the span.
    expect(identity).toContain('`&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|click&gt; ˋcodeˋ *bold* second line &amp; more (arn:aws:sts');
    expect(body.blocks[1]?.fields?.[3]?.text).toBe('*Instance*\n`&lt;!channel&gt; &lt;@U024BE7LH&gt; &lt;https://evil.example|click&gt; ˋcodeˋ *bold* second line &amp; more`');
  });

  it('cuts text without leaving half an entity or half a surrogate pair', () => {
    expect(cutSlack('abc&amp;def', 6)).toBe('abc…');
    expect(cutSlack('ab🙂cd', 4)).toBe('ab…');
    expect(cutSlack('short', 10)).toBe('short');
  });

  it('uses the whole message when the rule has no triage section, with bold and bullets in Slack form', () => {
    expect(triageSteps('Check **this** now\n* one\n- two')).toBe('Check *this* now\n• one\n• two');
  });

  it('posts only the kinds in notify, and says how a signal was closed', async () => {
    const server = await startHttpRecorder();
    servers.push(server);
    const sink = createSlackSink({ url: server.url, notify: ['created', 'closed'] });
    const changes = realSignalChanges();
    const created = changes.find((c) => c.kind === 'created');
    const updated = changes.find((c) => c.kind === 'updated');
    if (created === undefined || updated === undefined) throw new Error('need both kinds');
    await sink.deliver([created, updated, { kind: 'closed', signal: created.signal, triage: { status: 'resolved', resolution: 'false-positive', assignee: 'ana' } }]);
    await sink.close();
    expect(server.requests).toHaveLength(2);
    const headers = server.requests.map((r) => (JSON.parse(r.body) as SlackBody).blocks[0]?.text?.text ?? '');
    expect(headers[0]?.startsWith('New signal: ')).toBe(true);
    expect(headers[1]?.startsWith('Closed (resolved: false-positive): ')).toBe(true);
  });
});
