/** A value that survives `JSON.stringify` → `JSON.parse` unchanged. */
export type JsonValue = string | number | boolean | null | readonly JsonValue[] | JsonObject;

/** A JSON object. */
export interface JsonObject {
  readonly [key: string]: JsonValue;
}

/**
 * Whether `value` is plain JSON data: strings, finite numbers, booleans, null, arrays and plain
 * objects of those, no deeper than `maxDepth` (default 64), with no cycles.
 */
export function isJsonValue(value: unknown, maxDepth = 64): value is JsonValue {
  if (value === null || typeof value === "string" || typeof value === "boolean") return true;
  if (typeof value === "number") return Number.isFinite(value);
  if (typeof value !== "object" || maxDepth <= 0) return false;
  if (Array.isArray(value)) return value.every((v) => isJsonValue(v, maxDepth - 1));
  const proto: unknown = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return false;
  return Object.values(value).every((v) => isJsonValue(v, maxDepth - 1));
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
