/**
 * Test support: validates an OCSF event (as trailhound writes it) against the OCSF schema source in
 * test/fixtures/ocsf-schema (the files of ocsf/ocsf-schema the trailhound documents need; README there).
 *
 * What it checks, the way the schema source defines it:
 * - the class is found by `class_uid` (category uid × 1000 + class uid); `category_uid`, `type_uid`
 *   (class_uid × 100 + activity_id) and the `*_name` captions agree with it;
 * - each class and object is resolved through its `extends` chain and its `$include`d profiles, the
 *   attribute definitions deep-merged child over parent, then over the dictionary entry (type,
 *   is_array, enum);
 * - attributes that a profile brings in exist only when the profile is applied (`metadata.profiles`);
 * - every `required` attribute is present, no attribute is unknown, every value has the dictionary
 *   type (primitive types with their regex, length and range limits; objects recursively; arrays),
 *   every enum id is one the schema lists, an enum's sibling text is its caption (except for 99,
 *   Other), and the objects' `at_least_one` / `just_one` constraints hold;
 * - `metadata.version` is the schema's version.
 * Deprecated attributes give warnings.
 */
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import { REPO_ROOT } from './detect.js';

export const OCSF_SCHEMA_DIR = join(REPO_ROOT, 'test', 'fixtures', 'ocsf-schema');

export interface OcsfIssue {
  readonly severity: 'error' | 'warning';
  /** Where in the document, e.g. `finding_info.attacks[0].tactic.uid`. */
  readonly path: string;
  readonly message: string;
}

type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
type JsonMap = { [key: string]: Json };

interface AttributeDef {
  readonly name: string;
  readonly type: string;
  readonly isArray: boolean;
  readonly requirement: string;
  readonly enumIds: ReadonlyMap<string, string> | undefined;
  readonly sibling: string | undefined;
  /** The profile that brings the attribute in; undefined for an attribute of the class or object itself. */
  readonly profile: string | undefined;
  readonly isDeprecated: boolean;
}

interface Shape {
  readonly name: string;
  readonly caption: string;
  readonly attributes: ReadonlyMap<string, AttributeDef>;
  readonly atLeastOne: readonly string[];
  readonly justOne: readonly string[];
}

interface EventClass extends Shape {
  readonly classUid: number;
  readonly categoryUid: number;
  readonly categoryCaption: string;
}

const PRIMITIVES = new Set(['string_t', 'integer_t', 'long_t', 'float_t', 'boolean_t', 'json_t']);

function isMap(value: unknown): value is JsonMap {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Child over parent: nested objects merge key by key, anything else (null included) replaces. */
function deepMerge(parent: JsonMap, child: JsonMap): JsonMap {
  const out: JsonMap = { ...parent };
  for (const [key, value] of Object.entries(child)) {
    const base = out[key];
    out[key] = isMap(base) && isMap(value) ? deepMerge(base, value) : value;
  }
  return out;
}

function text(value: Json | undefined): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

function strings(value: Json | undefined): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

export class OcsfSchema {
  readonly version: string;
  private readonly dictionary: JsonMap;
  private readonly types: JsonMap;
  private readonly categories: JsonMap;
  private readonly eventFiles = new Map<string, JsonMap>();
  private readonly classes = new Map<number, EventClass>();
  private readonly objects = new Map<string, Shape>();

  constructor(private readonly dir: string = OCSF_SCHEMA_DIR) {
    const version = this.read('version.json');
    this.version = text(version.version) ?? '';
    const dictionary = this.read('dictionary.json');
    this.dictionary = isMap(dictionary.attributes) ? dictionary.attributes : {};
    this.types = isMap(dictionary.types) && isMap(dictionary.types.attributes) ? dictionary.types.attributes : {};
    const categories = this.read('categories.json');
    this.categories = isMap(categories.attributes) ? categories.attributes : {};
    for (const path of this.jsonFiles('events')) {
      const event = this.read(path);
      const name = text(event.name);
      if (name !== undefined) this.eventFiles.set(name, event);
    }
    for (const name of this.eventFiles.keys()) {
      const resolved = this.resolveEvent(name);
      if (resolved !== undefined) this.classes.set(resolved.classUid, resolved);
    }
  }

  /** The event classes the schema source here defines, by class_uid. */
  classUids(): number[] {
    return [...this.classes.keys()].sort((a, b) => a - b);
  }

  /** Every problem of `document` as an OCSF event of the class its `class_uid` names. */
  validate(document: unknown): OcsfIssue[] {
    const issues: OcsfIssue[] = [];
    if (!isMap(document)) return [{ severity: 'error', path: '', message: 'an OCSF event is a JSON object' }];
    const classUid = document.class_uid;
    const eventClass = typeof classUid === 'number' ? this.classes.get(classUid) : undefined;
    if (eventClass === undefined) return [{ severity: 'error', path: 'class_uid', message: `unknown class_uid ${JSON.stringify(classUid ?? null)}` }];
    const metadata = document.metadata;
    const profiles = new Set(isMap(metadata) ? strings(metadata.profiles) : []);
    for (const profile of profiles) {
      if (!this.jsonFiles('profiles').includes(join('profiles', `${profile}.json`))) issues.push({ severity: 'error', path: 'metadata.profiles', message: `unknown profile "${profile}"` });
    }
    if (isMap(metadata) && metadata.version !== this.version) {
      issues.push({ severity: 'error', path: 'metadata.version', message: `the schema here is version ${this.version}, the document says ${JSON.stringify(metadata.version ?? null)}` });
    }
    this.checkClassification(document, eventClass, issues);
    this.checkShape(document, eventClass, '', profiles, issues);
    return issues;
  }

  /** The errors only (warnings left out). */
  errors(document: unknown): OcsfIssue[] {
    return this.validate(document).filter((issue) => issue.severity === 'error');
  }

  private checkClassification(document: JsonMap, eventClass: EventClass, issues: OcsfIssue[]): void {
    const error = (path: string, message: string) => issues.push({ severity: 'error', path, message });
    const activityId = document.activity_id;
    if (typeof activityId === 'number' && document.type_uid !== eventClass.classUid * 100 + activityId) {
      error('type_uid', `type_uid must be class_uid * 100 + activity_id = ${eventClass.classUid * 100 + activityId}, not ${JSON.stringify(document.type_uid ?? null)}`);
    }
    if (document.class_name !== undefined && document.class_name !== eventClass.caption) error('class_name', `class_name must be "${eventClass.caption}"`);
    if (document.category_name !== undefined && document.category_name !== eventClass.categoryCaption) error('category_name', `category_name must be "${eventClass.categoryCaption}"`);
    const activityCaption = typeof activityId === 'number' ? eventClass.attributes.get('activity_id')?.enumIds?.get(String(activityId)) : undefined;
    if (document.type_name !== undefined && activityCaption !== undefined && activityId !== 99 && document.type_name !== `${eventClass.caption}: ${activityCaption}`) {
      error('type_name', `type_name must be "${eventClass.caption}: ${activityCaption}"`);
    }
  }

  private checkShape(value: JsonMap, shape: Shape, path: string, profiles: ReadonlySet<string>, issues: OcsfIssue[]): void {
    const at = (key: string) => (path === '' ? key : `${path}.${key}`);
    const active = (def: AttributeDef | undefined) => def !== undefined && (def.profile === undefined || profiles.has(def.profile));
    for (const [key, item] of Object.entries(value)) {
      const def = shape.attributes.get(key);
      if (!active(def) || def === undefined) {
        const base = key.endsWith('_dt') ? shape.attributes.get(key.slice(0, -3)) : undefined;
        if (profiles.has('datetime') && base !== undefined && active(base) && base.type === 'timestamp_t') {
          this.checkPrimitive(item, 'datetime_t', at(key), issues);
          continue;
        }
        const why = def === undefined ? '' : ` (it needs the "${def.profile ?? ''}" profile in metadata.profiles)`;
        issues.push({ severity: 'error', path: at(key), message: `"${key}" is not an attribute of ${shape.name}${why}` });
        continue;
      }
      if (def.isDeprecated) issues.push({ severity: 'warning', path: at(key), message: `"${key}" is deprecated` });
      this.checkValue(item, def, at(key), profiles, issues);
      if (def.enumIds !== undefined && def.sibling !== undefined && value[def.sibling] !== undefined && item !== 99) {
        const caption = def.enumIds.get(JSON.stringify(item));
        if (caption !== undefined && value[def.sibling] !== caption) {
          issues.push({ severity: 'error', path: at(def.sibling), message: `"${def.sibling}" must be the caption of ${key} ${JSON.stringify(item)}, "${caption}"` });
        }
      }
    }
    for (const def of shape.attributes.values()) {
      if (def.requirement === 'required' && active(def) && value[def.name] === undefined) {
        issues.push({ severity: 'error', path: at(def.name), message: `required attribute "${def.name}" of ${shape.name} is missing` });
      }
    }
    if (shape.atLeastOne.length > 0 && !shape.atLeastOne.some((key) => value[key] !== undefined)) {
      issues.push({ severity: 'error', path, message: `${shape.name} needs at least one of ${shape.atLeastOne.join(', ')}` });
    }
    if (shape.justOne.length > 0 && shape.justOne.filter((key) => value[key] !== undefined).length !== 1) {
      issues.push({ severity: 'error', path, message: `${shape.name} needs exactly one of ${shape.justOne.join(', ')}` });
    }
  }

  private checkValue(value: Json, def: AttributeDef, path: string, profiles: ReadonlySet<string>, issues: OcsfIssue[]): void {
    if (def.isArray) {
      if (!Array.isArray(value)) {
        issues.push({ severity: 'error', path, message: `"${def.name}" is an array of ${def.type}` });
        return;
      }
      value.forEach((item, index) => this.checkOne(item, def, `${path}[${index}]`, profiles, issues));
      return;
    }
    this.checkOne(value, def, path, profiles, issues);
  }

  private checkOne(value: Json, def: AttributeDef, path: string, profiles: ReadonlySet<string>, issues: OcsfIssue[]): void {
    if (value === null) {
      issues.push({ severity: 'error', path, message: `"${def.name}" is null (leave an attribute out instead)` });
      return;
    }
    if (def.type.endsWith('_t')) {
      if (this.checkPrimitive(value, def.type, path, issues) && def.enumIds !== undefined && !def.enumIds.has(JSON.stringify(value))) {
        issues.push({ severity: 'error', path, message: `${JSON.stringify(value)} is not an id of the ${def.name} enum (${[...def.enumIds.keys()].join(', ')})` });
      }
      return;
    }
    if (!isMap(value)) {
      issues.push({ severity: 'error', path, message: `"${def.name}" is an object of type ${def.type}` });
      return;
    }
    if (def.type === 'object') return; // free-form (e.g. `unmapped`)
    const shape = this.object(def.type);
    if (shape === undefined) {
      issues.push({ severity: 'error', path, message: `the schema source here has no object "${def.type}" (copy it into test/fixtures/ocsf-schema/objects)` });
      return;
    }
    this.checkShape(value, shape, path, profiles, issues);
  }

  /** Checks a value against a primitive (or derived) data type; false when the base type is wrong. */
  private checkPrimitive(value: Json, typeName: string, path: string, issues: OcsfIssue[]): boolean {
    const fail = (message: string) => {
      issues.push({ severity: 'error', path, message });
      return false;
    };
    if (PRIMITIVES.has(typeName)) {
      switch (typeName) {
        case 'string_t':
          return typeof value === 'string' || fail(`expected a string, got ${JSON.stringify(value)}`);
        case 'integer_t':
          return (Number.isInteger(value) && Math.abs(value as number) <= 2 ** 31) || fail(`expected a 32-bit integer, got ${JSON.stringify(value)}`);
        case 'long_t':
          return Number.isSafeInteger(value) || fail(`expected an integer, got ${JSON.stringify(value)}`);
        case 'float_t':
          return (typeof value === 'number' && Number.isFinite(value)) || fail(`expected a number, got ${JSON.stringify(value)}`);
        case 'boolean_t':
          return typeof value === 'boolean' || fail(`expected true or false, got ${JSON.stringify(value)}`);
        default:
          return true; // json_t
      }
    }
    const type = this.types[typeName];
    if (!isMap(type)) return fail(`the dictionary has no data type "${typeName}"`);
    const base = text(type.type);
    if (base !== undefined && !this.checkPrimitive(value, base, path, issues)) return false;
    const regex = text(type.regex);
    if (regex !== undefined && typeof value === 'string' && !new RegExp(regex).test(value)) return fail(`${JSON.stringify(value)} is not a valid ${typeName}`);
    const maxLength = type.max_len;
    if (typeof maxLength === 'number' && typeof value === 'string' && value.length > maxLength) return fail(`${typeName} is at most ${maxLength} characters`);
    const range = type.range;
    if (Array.isArray(range) && typeof value === 'number' && (value < Number(range[0]) || value > Number(range[1]))) return fail(`${typeName} is between ${JSON.stringify(range[0])} and ${JSON.stringify(range[1])}`);
    if (Array.isArray(type.values) && !type.values.includes(value)) return fail(`${JSON.stringify(value)} is not one of ${JSON.stringify(type.values)}`);
    return true;
  }

  private read(relativePath: string): JsonMap {
    const value = JSON.parse(readFileSync(join(this.dir, relativePath), 'utf8')) as unknown;
    if (!isMap(value)) throw new Error(`${relativePath} is not a JSON object`);
    return value;
  }

  private jsonFiles(folder: string): string[] {
    const out: string[] = [];
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name);
        if (entry.isDirectory()) walk(path);
        else if (entry.name.endsWith('.json')) out.push(relative(this.dir, path));
      }
    };
    walk(join(this.dir, folder));
    return out.sort();
  }

  /** The attribute map of a class or object file: its parent's, then its `$include`s, then its own. */
  private mergedAttributes(file: JsonMap, parentAttributes: JsonMap): JsonMap {
    const own = isMap(file.attributes) ? file.attributes : {};
    let merged = parentAttributes;
    for (const include of strings(own.$include)) {
      const profile = this.read(include);
      const profileName = text(profile.name) ?? include;
      const brought: JsonMap = {};
      for (const [key, def] of Object.entries(isMap(profile.attributes) ? profile.attributes : {})) {
        if (isMap(def)) brought[key] = { ...def, profile: profileName };
      }
      merged = deepMerge(merged, brought);
    }
    const local: JsonMap = {};
    for (const [key, def] of Object.entries(own)) if (key !== '$include' && isMap(def)) local[key] = def;
    return deepMerge(merged, local);
  }

  private definitions(attributes: JsonMap): Map<string, AttributeDef> {
    const out = new Map<string, AttributeDef>();
    for (const [name, local] of Object.entries(attributes)) {
      if (!isMap(local)) continue;
      const entry = this.dictionary[name];
      const merged = deepMerge(isMap(entry) ? entry : {}, local);
      const type = text(merged.type);
      if (type === undefined) throw new Error(`the schema source gives no type for the attribute "${name}"`);
      const enumIds = isMap(merged.enum) ? new Map(Object.entries(merged.enum).map(([id, v]) => [id, isMap(v) ? (text(v.caption) ?? '') : ''])) : undefined;
      out.set(name, {
        name,
        type,
        isArray: merged.is_array === true,
        requirement: text(merged.requirement) ?? 'optional',
        enumIds,
        sibling: text(merged.sibling),
        profile: text(merged.profile),
        isDeprecated: isMap(merged['@deprecated']),
      });
    }
    return out;
  }

  private resolveEventAttributes(name: string, seen: Set<string>): { attributes: JsonMap; file: JsonMap } | undefined {
    const file = this.eventFiles.get(name);
    if (file === undefined || seen.has(name)) return undefined;
    seen.add(name);
    const parentName = text(file.extends);
    const parent = parentName === undefined ? undefined : this.resolveEventAttributes(parentName, seen);
    if (parentName !== undefined && parent === undefined) throw new Error(`event class ${name} extends ${parentName}, which the schema source here lacks`);
    return { attributes: this.mergedAttributes(file, parent?.attributes ?? {}), file };
  }

  private resolveEvent(name: string): EventClass | undefined {
    const resolved = this.resolveEventAttributes(name, new Set());
    if (resolved === undefined) return undefined;
    const { file } = resolved;
    // A class without a category of its own takes its parent's (the category of the nearest ancestor that has one).
    let categoryName = text(file.category);
    let ancestor = file;
    while (categoryName === undefined && text(ancestor.extends) !== undefined) {
      ancestor = this.eventFiles.get(text(ancestor.extends) ?? '') ?? {};
      categoryName = text(ancestor.category);
    }
    const category = categoryName === undefined ? undefined : this.categories[categoryName];
    const categoryUid = isMap(category) && typeof category.uid === 'number' ? category.uid : 0;
    const uid = typeof file.uid === 'number' ? file.uid : 0;
    const caption = text(file.caption) ?? name;
    const categoryCaption = isMap(category) ? (text(category.caption) ?? '') : 'Uncategorized';
    const attributes = this.definitions(resolved.attributes);
    // The base event's enums for these list only its own ids; each class has exactly one of each.
    const pin = (attribute: string, id: number, idCaption: string) => {
      const def = attributes.get(attribute);
      if (def !== undefined) attributes.set(attribute, { ...def, enumIds: new Map([[String(id), idCaption]]) });
    };
    pin('class_uid', categoryUid * 1000 + uid, caption);
    pin('category_uid', categoryUid, categoryCaption);
    return {
      name,
      caption,
      attributes,
      atLeastOne: [],
      justOne: [],
      classUid: categoryUid * 1000 + uid,
      categoryUid,
      categoryCaption,
    };
  }

  private objectFile(name: string): JsonMap | undefined {
    try {
      return this.read(join('objects', `${name}.json`));
    } catch {
      return undefined;
    }
  }

  private objectAttributes(name: string, seen: Set<string>): { attributes: JsonMap; constraints: JsonMap } | undefined {
    const file = this.objectFile(name);
    if (file === undefined || seen.has(name)) return undefined;
    seen.add(name);
    const parentName = text(file.extends);
    const parent = parentName === undefined ? undefined : this.objectAttributes(parentName, seen);
    if (parentName !== undefined && parent === undefined) throw new Error(`object ${name} extends ${parentName}, which the schema source here lacks`);
    const constraints = isMap(file.constraints) ? file.constraints : (parent?.constraints ?? {});
    return { attributes: this.mergedAttributes(file, parent?.attributes ?? {}), constraints };
  }

  private object(name: string): Shape | undefined {
    const cached = this.objects.get(name);
    if (cached !== undefined) return cached;
    const resolved = this.objectAttributes(name, new Set());
    if (resolved === undefined) return undefined;
    const shape: Shape = {
      name,
      caption: name,
      attributes: this.definitions(resolved.attributes),
      atLeastOne: strings(resolved.constraints.at_least_one),
      justOne: strings(resolved.constraints.just_one),
    };
    this.objects.set(name, shape);
    return shape;
  }
}

let shared: OcsfSchema | undefined;

/** The schema in test/fixtures/ocsf-schema, loaded once. */
export function ocsfSchema(): OcsfSchema {
  shared ??= new OcsfSchema();
  return shared;
}
