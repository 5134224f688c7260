import { describe, expect, it } from 'vitest';
import type { QueryNode } from './ast.js';
import { referencedFields, requiredLiterals, requiredValues } from './analyse.js';
import { parseQuery } from './parse.js';

function ast(text: string): QueryNode {
  const result = parseQuery(text);
  if (!result.ok) throw new Error(`parse failed: ${JSON.stringify(result.diagnostics)}`);
  return result.value;
}

describe('referencedFields', () => {
  it.each<[string, string[]]>([
    ['@a:x source:y CIDR(@ip, ::/0) -@b:* free @c:[1 TO 2] @a:z @d:>5', ['a', 'source', 'ip', 'b', 'c', 'd']],
    ['@requestParameters.instancesSet.items.instanceId:i-1', ['requestParameters.instancesSet.items.instanceId']],
    ['@evt.name:(A OR B)', ['evt.name']],
    ['free "text" *:x', []],
    ['', []],
  ])('%j reads %j', (text, fields) => {
    expect(referencedFields(ast(text))).toEqual(fields);
  });
});

describe('requiredValues', () => {
  it.each<[string, string, string[] | null]>([
    ['@evt.name:(StopInstances OR StartInstances) -@x:y', 'evt.name', ['StopInstances', 'StartInstances']],
    ['@evt.name:StopInstances', '@evt.name', ['StopInstances']],
    ['@evt.name:StopInstances @userIdentity.type:IAMUser', 'evt.name', ['StopInstances']],
    ['@evt.name:"Stop Instances"', 'evt.name', ['Stop Instances']],
    ['@evt.name:Stop\\*', 'evt.name', ['Stop*']],
    ['@evt.name:(A OR B) @evt.name:A', 'evt.name', ['A']],
    // Not the (empty) intersection: with fan-out, evt.name: ["A", "B"] matches both terms.
    ['@evt.name:A @evt.name:B', 'evt.name', ['A']],
    ['@evt.name:(A OR B OR C) @evt.name:(B OR D)', 'evt.name', ['B', 'D']],
    ['(@evt.name:A OR @evt.name:B) (@evt.name:C OR @evt.name:D OR @evt.name:E)', 'evt.name', ['A', 'B']],
    ['@evt.name:A OR (@evt.name:B @x:y)', 'evt.name', ['A', 'B']],
    ['@code:5.0', 'code', ['5.0', '5']],
    ['@code:1e3', 'code', ['1e3', '1000']],
    ['@source:cloudtrail', 'source', ['cloudtrail']],
    ['@evt.name:Stop*', 'evt.name', null],
    ['@evt.name:St?p', 'evt.name', null],
    ['-@evt.name:StopInstances', 'evt.name', null],
    ['NOT @evt.name:StopInstances', 'evt.name', null],
    ['@evt.name:A OR @other:B', 'evt.name', null],
    ['@evt.name:*', 'evt.name', null],
    ['@evt.name:>A', 'evt.name', null],
    ['@evt.name:[A TO B]', 'evt.name', null],
    ['CIDR(@evt.name, 10.0.0.0/8)', 'evt.name', null],
    ['source:cloudtrail', 'source', null],
    ['StopInstances', 'evt.name', null],
    ['*:StopInstances', 'evt.name', null],
    ['@other:x', 'evt.name', null],
    ['', 'evt.name', null],
    ['@evt.name.sub:A', 'evt.name', null],
  ])('%j constrains %s to %j', (text, field, expected) => {
    const values = requiredValues(ast(text), field);
    expect(values === null ? null : [...values]).toEqual(expected);
  });
});

describe('requiredLiterals', () => {
  it.each<[string, string[][]]>([
    ['@eventName:StopInstances', [['StopInstances']]],
    ['@a:xx AND @b:yy', [['xx'], ['yy']]],
    ['@a:(xx OR yy)', [['xx', 'yy']]],
    ['@a:xx OR @b:*', []],
    ['(@a:xx @b:yy) OR @c:zz', [['xx', 'zz'], ['yy', 'zz']]],
    ['@a:Stop*Inst?nces', [['Stop']]],
    ['@a:*Instances', [['Instances']]],
    ['@f:arn\\:aws\\:iam\\:\\:123\\:user/bob', [['arn:aws:iam::123:user']]],
    ['@f:"<sensitiveDataRemoved>"', [['sensitiveDataRemoved']]],
    ['@f:say\\"hi\\"', [['say']]],
    ['@f:true', [['true']]],
    ['@f:123', []],
    ['@f:1e5', []],
    ['@f:-1.5*', []],
    ['@f:""', []],
    ['@f:?', []],
    ['source:cloudtrail', []],
    ['free', []],
    ['*:value', []],
    ['-@a:xx', []],
    ['@a:xx -@b:yy', [['xx']]],
    ['@a:xx @a:xx', [['xx']]],
    ['@a:>5 @b:[1 TO 2] CIDR(@c, 10.0.0.0/8) @d:*', []],
    [
      '(@a:a1 @b:b1) OR (@a:a2 @b:b2) OR (@a:a3 @b:b3) OR (@a:a4 @b:b4) OR (@a:a5 @b:b5)',
      [['a1', 'a2', 'a3', 'a4', 'a5']],
    ],
  ])('%j requires %j', (text, expected) => {
    expect(requiredLiterals(ast(text))).toEqual(expected);
  });
});
