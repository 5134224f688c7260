import { describe, expect, it } from 'vitest';
import { compileCidrMatcher, parseCidrBlock, parseIpAddress } from './ip-address.js';
import type { CidrBlock } from './ip-address.js';

function groupsOf(text: string): number[] | null {
  const out = new Uint16Array(8);
  return parseIpAddress(text, out) === 0 ? null : [...out];
}

describe('parseIpAddress', () => {
  it.each([
    ['10.1.2.3', [0, 0, 0, 0, 0, 0xffff, 0x0a01, 0x0203]],
    ['0.0.0.0', [0, 0, 0, 0, 0, 0xffff, 0, 0]],
    ['255.255.255.255', [0, 0, 0, 0, 0, 0xffff, 0xffff, 0xffff]],
    ['::', [0, 0, 0, 0, 0, 0, 0, 0]],
    ['::1', [0, 0, 0, 0, 0, 0, 0, 1]],
    ['2001:db8::', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 0]],
    ['2001:DB8:0:0:0:0:0:1', [0x2001, 0xdb8, 0, 0, 0, 0, 0, 1]],
    ['fe80::1:2', [0xfe80, 0, 0, 0, 0, 0, 1, 2]],
    ['::ffff:192.0.2.1', [0, 0, 0, 0, 0, 0xffff, 0xc000, 0x0201]],
  ])('reads %j', (text, groups) => {
    expect(groupsOf(text)).toEqual(groups);
  });

  it.each([
    '',
    '10.1.2',
    '10.1.2.3.4',
    '256.1.1.1',
    '01.2.3.4',
    '1.2.3.-4',
    '1..2.3',
    'AWS Internal',
    'ec2.amazonaws.com',
    ':::',
    '1::2::3',
    ':1',
    '1:',
    '1:2:3:4:5:6:7:8:9',
    '1:2:3:4:5:6:7',
    '12345::',
    'fe80::1%eth0',
    '[::1]',
    '::ffff:1.2.3',
    `${'1:'.repeat(40)}1`,
  ])('rejects %j', (text) => {
    expect(groupsOf(text)).toBeNull();
  });
});

describe('CIDR blocks', () => {
  it.each([
    ['10.0.0.0/8', 104],
    ['10.1.2.3/8', 104],
    ['10.1.2.3', 128],
    ['0.0.0.0/0', 96],
    ['2001:db8::/32', 32],
    ['::/0', 0],
    ['::1', 128],
  ])('%j has %i IPv6 prefix bits', (text, bits) => {
    expect(parseCidrBlock(text)?.prefixBits).toBe(bits);
  });

  it.each(['10.0.0.0/33', '2001:db8::/129', '10.0.0.0/', '10.0.0.0/08', '10.0.0.0/-1', 'nope/8', '10.0.0.0/8/8'])('rejects %j', (text) => {
    expect(parseCidrBlock(text)).toBeNull();
  });

  const blocks = (...texts: string[]): CidrBlock[] => texts.map((t) => parseCidrBlock(t)).filter((b): b is CidrBlock => b !== null);

  it.each([
    [['10.0.0.0/8'], '10.255.0.1', true],
    [['10.0.0.0/8'], '11.0.0.1', false],
    [['10.1.2.3/8'], '10.200.0.0', true],
    [['192.168.1.0/24'], '192.168.1.255', true],
    [['192.168.1.0/24'], '192.168.2.0', false],
    [['172.16.0.0/12'], '172.31.255.255', true],
    [['172.16.0.0/12'], '172.32.0.0', false],
    [['0.0.0.0/0'], '251.228.255.218', true],
    [['0.0.0.0/0'], '2001:db8::1', false],
    [['10.0.0.0/8', '172.16.0.0/12'], '172.20.1.1', true],
    [['10.0.0.0/8', '172.16.0.0/12'], '192.168.0.1', false],
    [['10.0.0.5'], '10.0.0.5', true],
    [['10.0.0.5'], '10.0.0.6', false],
    [['2001:db8::/32'], '2001:db8:ffff::1', true],
    [['2001:db8::/32'], '2001:db9::1', false],
    [['2001:db8::/33'], '2001:db8:8000::', false],
    [['2001:db8::/33'], '2001:db8:7fff::', true],
    [['::/0'], '::1', true],
    [['10.0.0.0/8'], '::ffff:10.0.0.1', true],
    [['::ffff:0:0/96'], '10.0.0.1', true],
    [['10.0.0.0/8'], 'AWS Internal', false],
    [['10.0.0.0/8'], '', false],
  ])('blocks %j contain %j: %s', (texts, address, expected) => {
    expect(compileCidrMatcher(blocks(...texts))(address)).toBe(expected);
  });
});
