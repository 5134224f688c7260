/** Options several commands share, declared once so their names and help text stay the same. */
import type { Command } from 'commander';

/** Commander collector for a repeatable option. */
export function collectRepeatable(value: string, previous: string[] | undefined): string[] {
  return [...(previous ?? []), value];
}

/** What a detecting command runs: -r/--rules, --no-default-rules, --config, --suppressions. */
export function addDetectionOptions(command: Command): Command {
  return command
    .option('-r, --rules <path>', 'add rules from a file or folder (repeatable)', collectRepeatable)
    .option('--no-default-rules', 'do not load the built-in rules')
    .option('--config <file>', 'config file: account environments and suppressions (docs/configuration.md)')
    .option('--suppressions <file>', 'suppression entries (repeatable; docs/suppressions.md)', collectRepeatable);
}

/** The options of the live commands (watch, serve): state, detection, sinks and lateness. */
export function addLiveOptions(command: Command): Command {
  command.option('--state <dir>', 'where checkpoints, deduplication and the detection state are kept (required)');
  return addDetectionOptions(command)
    .option(
      '--sink <spec>',
      'where signals go: stdout, jsonl:PATH, webhook:URL, slack:URL, pagerduty:ROUTING_KEY (a URL or key may be env:NAME; repeatable; default stdout, or the config file\'s sinks; docs/outputs.md)',
      collectRepeatable,
    )
    .option('--allowed-lateness <duration>', 'how far behind the newest event time late records still complete a sequence (default 60m)')
    .option('--retain <duration>', 'how long indexed events are kept for `trailhound investigate`, back from the newest event time (default 30d; docs/investigate.md)');
}
