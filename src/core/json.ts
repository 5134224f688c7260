import type { JsonObject, JsonValue } from './types.js';

/** True for a value JSON could have produced: plain objects, arrays, finite numbers, strings, booleans, null (iterative: any depth is safe). */
export function isJsonValue(root: unknown): root is JsonValue {
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue;
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) return false;
      continue;
    }
    if (Array.isArray(value)) {
      for (const item of value as unknown[]) stack.push(item);
      continue;
    }
    if (typeof value !== 'object' || Object.getPrototypeOf(value) !== Object.prototype) return false;
    for (const item of Object.values(value as Record<string, unknown>)) stack.push(item);
  }
  return true;
}

/** True for a JSON object (not an array) JSON could have produced. */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && isJsonValue(value);
}
