/**
 * The attacks planted in the benchmark corpus, and the near misses beside them, with what each
 * flagship rule must make of them:
 *
 * - `bd9-8o0-553` (Datadog's rule): one caller (`@userIdentity.arn`) makes StopInstances,
 *   ModifyInstanceAttribute with `requestParameters.userData`, and StartInstances within 15 minutes,
 *   in any order, on any instances; OpsWorks and CloudFormation callers are left out.
 * - `aws-ec2-user-data-modified-then-started` (the companion, issue 3): per target instance, Stop →
 *   user-data change (either request shape, failed changes too, as a low case) → Start, in that order,
 *   each step within 15 minutes, any callers except services.
 *
 * Each scenario gets its own callers and instances, so expected signals never depend on each other.
 */
import type { Ec2Call } from './ec2-calls.js';

export const DATADOG_RULE_ID = 'bd9-8o0-553';
export const COMPANION_RULE_ID = 'aws-ec2-user-data-modified-then-started';
export const FLAGSHIP_RULE_IDS: readonly string[] = [DATADOG_RULE_ID, COMPANION_RULE_ID];

export interface ScenarioStep {
  readonly call: Ec2Call;
  /** Seconds after the scenario starts. */
  readonly at: number;
  /** Which of the scenario's callers makes the call. */
  readonly actor: 0 | 1;
  /** Indexes into the scenario's instances. */
  readonly instances: readonly number[];
  readonly isFailed?: boolean;
}

export interface ScenarioKind {
  readonly name: string;
  readonly description: string;
  readonly instanceCount: number;
  readonly actorCount: 1 | 2;
  /** Callers are a CloudFormation stack role (invokedBy and user agent `cloudformation.amazonaws.com`). */
  readonly isCloudFormation?: boolean;
  readonly steps: readonly ScenarioStep[];
  /** Whether bd9-8o0-553 raises a signal for caller 0. */
  readonly firesDatadogRule: boolean;
  /** Instances (indexes) the companion rule raises a signal for. */
  readonly companionTargets: readonly number[];
}

const MINUTE = 60;

export const SCENARIO_KINDS: readonly ScenarioKind[] = [
  {
    name: 'attack-user-data',
    description: 'Stop, user-data change (userData blob), Start of one instance by one caller; Modify and Start one second apart, as in the Stratus run',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: 48, actor: 0, instances: [0] },
      { call: 'start', at: 49, actor: 0, instances: [0] },
    ],
    firesDatadogRule: true,
    companionTargets: [0],
  },
  {
    name: 'attack-attribute-form',
    description: 'the same attack with the `--attribute userData --value` request shape, which bd9-8o0-553 does not see',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data-attribute', at: 2 * MINUTE, actor: 0, instances: [0] },
      { call: 'start', at: 3 * MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: false,
    companionTargets: [0],
  },
  {
    name: 'attack-multi-instance-stop',
    description: 'one StopInstances call names three instances; the user data of the second is changed and it is started',
    instanceCount: 3,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0, 1, 2] },
      { call: 'modify-user-data', at: 5 * MINUTE, actor: 0, instances: [1] },
      { call: 'start', at: 5 * MINUTE + 30, actor: 0, instances: [1] },
    ],
    firesDatadogRule: true,
    companionTargets: [1],
  },
  {
    name: 'attack-session-switch',
    description: 'one session stops the instance, a second session of the same role changes and starts it (bd9-8o0-553 groups by session ARN)',
    instanceCount: 1,
    actorCount: 2,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: 200, actor: 1, instances: [0] },
      { call: 'start', at: 260, actor: 1, instances: [0] },
    ],
    firesDatadogRule: false,
    companionTargets: [0],
  },
  {
    name: 'attack-failed-user-data-change',
    description: 'Stop, a user-data change that fails (Client.UnauthorizedOperation), Start: an attempt',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: MINUTE, actor: 0, instances: [0], isFailed: true },
      { call: 'start', at: 90, actor: 0, instances: [0] },
    ],
    firesDatadogRule: true,
    companionTargets: [0],
  },
  {
    name: 'near-miss-wrong-order',
    description: 'Start, user-data change, Stop: the wrong order (bd9-8o0-553 counts calls in a window and ignores order, so it fires)',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'start', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: MINUTE, actor: 0, instances: [0] },
      { call: 'stop', at: 2 * MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: true,
    companionTargets: [],
  },
  {
    name: 'near-miss-other-attribute',
    description: 'Stop, a change of another attribute (instanceType, attribute/value shape), Start',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-other-attribute', at: MINUTE, actor: 0, instances: [0] },
      { call: 'start', at: 2 * MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: false,
    companionTargets: [],
  },
  {
    name: 'near-miss-too-slow',
    description: 'Stop, user-data change 16 minutes later, Start 16 minutes after that: each step outside the 15-minute window',
    instanceCount: 1,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: 16 * MINUTE, actor: 0, instances: [0] },
      { call: 'start', at: 32 * MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: false,
    companionTargets: [],
  },
  {
    name: 'near-miss-cloudformation',
    description: 'the whole sequence made by a CloudFormation stack role (invokedBy cloudformation.amazonaws.com)',
    instanceCount: 1,
    actorCount: 1,
    isCloudFormation: true,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: 30, actor: 0, instances: [0] },
      { call: 'start', at: MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: false,
    companionTargets: [],
  },
  {
    name: 'near-miss-other-instance',
    description: 'Stop and Start of one instance, user-data change of another, by one caller (bd9-8o0-553 groups by caller only, so it fires)',
    instanceCount: 2,
    actorCount: 1,
    steps: [
      { call: 'stop', at: 0, actor: 0, instances: [0] },
      { call: 'modify-user-data', at: MINUTE, actor: 0, instances: [1] },
      { call: 'start', at: 2 * MINUTE, actor: 0, instances: [0] },
    ],
    firesDatadogRule: true,
    companionTargets: [],
  },
];

/** Seconds from a scenario's first call to its last. */
export function scenarioDuration(kind: ScenarioKind): number {
  return Math.max(...kind.steps.map((s) => s.at));
}

/** One set of every kind per this many records (at least one set). */
export const RECORDS_PER_SCENARIO_SET = 100_000;
