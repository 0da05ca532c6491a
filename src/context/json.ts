/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/**
 * Most values (every string, number, array and object counts one) {@link isJsonValue} visits.
 * Objects shared inside a value count each time they appear, as `JSON.stringify` would write them:
 * a value that holds the level below twice, twenty levels deep, is a million values of text.
 */
export const MAX_JSON_VALUES = 100_000;

/**
 * Whether `value` is plain JSON data: strings, finite numbers, booleans, null, arrays and plain
 * objects of those, no deeper than `maxDepth` (default 64), with no cycles, at most
 * {@link MAX_JSON_VALUES} values in all. Never throws: a getter that throws makes it false.
 */
export function isJsonValue(value: unknown, maxDepth = 64): value is JsonValue {
  try {
    return isJsonWithin(value, maxDepth, { left: MAX_JSON_VALUES });
  } catch {
    return false; // a getter or a proxy trap threw: not plain data
  }
}

function isJsonWithin(value: unknown, maxDepth: number, budget: { left: number }): boolean {
  if (--budget.left < 0) return false;
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || maxDepth <= 0) return false;
  if (Array.isArray(value)) return value.every((v) => isJsonWithin(v, maxDepth - 1, budget));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => isJsonWithin(v, maxDepth - 1, budget));
}

/** Whether `value` (of any type) is JSON data and an object: what `isJsonValue` checks, plus not an array or null. */
export function isJsonObjectValue(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value) && isJsonValue(value);
}

/** Whether `value` is a JSON object (not an array, not null). */
export function isJsonObject(value: JsonValue): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/**
 * Parses `text` as JSON. Returns the value, or `undefined` when `text` is not JSON (never throws).
 */
export function tryParseJson(text: string): JsonValue | undefined {
  try {
    return JSON.parse(text) as JsonValue; // JSON.parse yields JSON data by construction
  } catch {
    return undefined;
  }
}
