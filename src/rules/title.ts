/**
 * The signal title. Datadog appends the name of the case that raised the signal to the rule name
 * ("This name is appended to the rule name when a signal is generated"), and, for a rule with
 * `hasExtendedTitle: true`, the triggering group-by values. Datadog does not document the exact
 * punctuation; trailhound writes:
 *
 *     <rule name> (<case name>) [<field>: <value>, <field>: <value>]
 *
 * The case name part is left out when the case has no name, the group part when the rule has no
 * extended title or no group-by fields. Group values come from events (attacker-controlled): they
 * are inserted as plain, capped, escaped text, like any template value.
 */
import type { CompiledTemplate, TemplateContext } from './model.js';
import { safeValue } from './template.js';

export interface TitleOptions {
  /** Datadog's `hasExtendedTitle`: end the title with the signal's group-by values. */
  readonly hasExtendedTitle: boolean;
}

/** `[@userIdentity.arn: arn:aws:iam::…:user/alice]`, or '' for an empty group. */
export function groupTitleSuffix(group: Readonly<Record<string, string>> | undefined): string {
  const entries = Object.entries(group ?? {});
  if (entries.length === 0) return '';
  return ` [${entries.map(([field, value]) => `${safeValue(field)}: ${safeValue(value)}`).join(', ')}]`;
}

/** The rule name template with the case name and, optionally, the group values appended. */
export function composeTitle(name: CompiledTemplate, options: TitleOptions): CompiledTemplate {
  return {
    source: name.source,
    ...(name.attributes !== undefined ? { attributes: name.attributes } : {}),
    render: (context: TemplateContext): string => {
      const base = name.render(context);
      const caseName = context.caseName === '' ? '' : ` (${safeValue(context.caseName)})`;
      const group = options.hasExtendedTitle ? groupTitleSuffix(context.group) : '';
      return `${base}${caseName}${group}`;
    },
  };
}
