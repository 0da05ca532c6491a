import type { JsonObject, JsonValue } from "./json.js";

/**
 * The part of JSON Schema that OpenAI, Anthropic and Gemini all accept in a function's
 * parameters, and that voicepipe both types (`FromSchema`) and checks at run time
 * (`findSchemaViolation`). See docs/design/llm-context.md, "Tool schemas".
 */
export type JSONSchema =
  StringSchema | NumberSchema | BooleanSchema | NullSchema | ArraySchema | ObjectSchema | AnyOfSchema;

interface Described {
  readonly description?: string;
  readonly title?: string;
}

/** `{ type: "string" }`, optionally limited to `enum` values. */
export interface StringSchema extends Described {
  readonly type: "string";
  readonly enum?: readonly string[];
  /** A hint for the model (`date-time`, `email`…); not checked. */
  readonly format?: string;
  readonly minLength?: number;
  readonly maxLength?: number;
}

/** `{ type: "number" }` or `{ type: "integer" }`, optionally limited to `enum` values. */
export interface NumberSchema extends Described {
  readonly type: "number" | "integer";
  readonly enum?: readonly number[];
  readonly minimum?: number;
  readonly maximum?: number;
}

/** `{ type: "boolean" }`. */
export interface BooleanSchema extends Described {
  readonly type: "boolean";
}

/** `{ type: "null" }`: only useful inside `anyOf`, to make a value nullable. */
export interface NullSchema extends Described {
  readonly type: "null";
}

/** `{ type: "array", items }`. */
export interface ArraySchema extends Described {
  readonly type: "array";
  readonly items: JSONSchema;
  readonly minItems?: number;
  readonly maxItems?: number;
}

/** `{ type: "object", properties, required }`. Properties not listed in `required` are optional. */
export interface ObjectSchema extends Described {
  readonly type: "object";
  readonly properties?: { readonly [name: string]: JSONSchema };
  readonly required?: readonly string[];
  /** `false` refuses properties not in `properties`. Gemini's schema has no such keyword and is sent without it. */
  readonly additionalProperties?: boolean;
}

/** One of several schemas; `anyOf: [X, { type: "null" }]` is how a value is made nullable. */
export interface AnyOfSchema extends Described {
  readonly anyOf: readonly JSONSchema[];
}

type Simplify<T> = { [K in keyof T]: T[K] } & {};

type RequiredNames<S> = S extends { readonly required: readonly (infer R)[] } ? R : never;

type ObjectFromSchema<S> = S extends { readonly properties: infer P }
  ? string extends keyof P
    ? JsonObject
    : Simplify<
        {
          -readonly [K in keyof P & string as K extends RequiredNames<S> ? K : never]: FromSchema<P[K]>;
        } & {
          -readonly [K in keyof P & string as K extends RequiredNames<S> ? never : K]?: FromSchema<P[K]>;
        }
      >
  : JsonObject;

/**
 * The TypeScript type of the JSON data a schema accepts. Write the schema as a literal (inside
 * `defineTool`, or with `as const`) so its `type`, `enum` and `required` are literal types.
 * A schema that is not a literal maps to `JsonValue`/`JsonObject`, never `unknown`.
 *
 * @example
 * type Args = FromSchema<{ type: "object"; properties: { city: { type: "string" } }; required: ["city"] }>;
 * // { city: string }
 */
export type FromSchema<S> = S extends { readonly anyOf: readonly (infer U)[] }
  ? FromSchema<U>
  : S extends { readonly type: "string"; readonly enum: readonly (infer E)[] }
    ? E
    : S extends { readonly type: "string" }
      ? string
      : S extends { readonly type: "number" | "integer"; readonly enum: readonly (infer E)[] }
        ? E
        : S extends { readonly type: "number" | "integer" }
          ? number
          : S extends { readonly type: "boolean" }
            ? boolean
            : S extends { readonly type: "null" }
              ? null
              : S extends { readonly type: "array"; readonly items: infer I }
                ? FromSchema<I>[]
                : S extends { readonly type: "object" }
                  ? ObjectFromSchema<S>
                  : JsonValue;

const TYPES = new Set(["string", "number", "integer", "boolean", "null", "array", "object"]);

/** Annotations any node may carry: read by the model, never checked against a value. */
const ANNOTATIONS: readonly string[] = ["description", "title"];

/**
 * The keywords each type takes besides `type` and the annotations: the subset listed in
 * docs/design/llm-context.md ("Tools") and typed above. Anything else is refused when the tool is
 * defined, because it would be sent to the model (which may trust it) but never checked here, so a
 * handler would get arguments its schema seems to exclude (`pattern`, `const`…), or a provider
 * would refuse the request (`$ref`, `oneOf` in Gemini).
 */
const KEYWORDS: Readonly<Record<string, readonly string[]>> = {
  string: ["enum", "format", "minLength", "maxLength"],
  number: ["enum", "minimum", "maximum"],
  integer: ["enum", "minimum", "maximum"],
  boolean: [],
  null: [],
  array: ["items", "minItems", "maxItems"],
  object: ["properties", "required", "additionalProperties"],
};

const SUBSET_HINT =
  'voicepipe supports the subset of JSON Schema that OpenAI, Anthropic and Gemini all accept (docs/design/llm-context.md, "Tools")';

/** Says why `key` does not belong in a node of `type` (or in an `anyOf` node). */
function unsupportedKeyword(path: string, key: string, type: string | undefined): string {
  const where = type === undefined ? "an anyOf schema" : `a ${type} schema`;
  const allowed =
    type === undefined ? ["anyOf", ...ANNOTATIONS] : ["type", ...KEYWORDS[type]!, ...ANNOTATIONS];
  const owners = Object.keys(KEYWORDS).filter((t) => KEYWORDS[t]!.includes(key));
  const why =
    owners.length > 0
      ? `${key} belongs to ${owners.join(", ").replace(/, (?=[^,]*$)/, " or ")} schemas only`
      : key === "type"
        ? "put the type inside each anyOf branch"
        : `${key} is not among the supported keywords (remove it; check such a rule in the handler if it matters)`;
  return `${path}.${key} is not allowed in ${where}: ${why}; ${where} takes ${allowed.join(", ")}. ${SUBSET_HINT}`;
}

/** A keyword's value for a message: JSON, cut to 80 characters (an enum can be long). */
function show(value: unknown): string {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 80)}…` : text;
}

function isCount(value: unknown): boolean {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** Checks the value of each keyword of a node of `type` (`anyOf` for an anyOf node, whose only other keys are annotations). */
function findKeywordProblem(node: Readonly<Record<string, unknown>>, type: string, path: string) {
  for (const key of ANNOTATIONS) {
    if (node[key] !== undefined && typeof node[key] !== "string")
      return `${path}.${key} must be a string (got ${show(node[key])})`;
  }
  if (node["format"] !== undefined && typeof node["format"] !== "string")
    return `${path}.format must be a string such as "date-time" (got ${show(node["format"])})`;
  for (const key of ["minimum", "maximum"]) {
    if (node[key] !== undefined && typeof node[key] !== "number")
      return `${path}.${key} must be a number (got ${show(node[key])})`;
  }
  for (const key of ["minLength", "maxLength", "minItems", "maxItems"]) {
    if (node[key] !== undefined && !isCount(node[key]))
      return `${path}.${key} must be a whole number ≥ 0 (got ${show(node[key])})`;
  }
  // A lower bound above the upper one admits no value: every call would be refused.
  for (const [low, high] of [
    ["minimum", "maximum"],
    ["minLength", "maxLength"],
    ["minItems", "maxItems"],
  ] as const) {
    const [l, h] = [node[low], node[high]];
    if (typeof l === "number" && typeof h === "number" && l > h)
      return `${path}.${low} (${l}) is above ${path}.${high} (${h}); no value could satisfy both`;
  }
  if (node["enum"] !== undefined) {
    const values = node["enum"];
    const kind = type === "string" ? "strings" : type === "integer" ? "whole numbers" : "numbers";
    const fits = (v: unknown) =>
      type === "string"
        ? typeof v === "string"
        : type === "integer"
          ? Number.isInteger(v)
          : typeof v === "number";
    if (!Array.isArray(values) || values.length === 0 || !values.every(fits))
      return `${path}.enum must be a non-empty array of ${kind}, the values allowed (got ${show(values)})`;
  }
  if (node["additionalProperties"] !== undefined && typeof node["additionalProperties"] !== "boolean")
    return `${path}.additionalProperties must be true or false (got ${show(node["additionalProperties"])}); a schema for the other properties is not supported`;
  const properties = node["properties"];
  if (
    properties !== undefined &&
    (typeof properties !== "object" || properties === null || Array.isArray(properties))
  )
    return `${path}.properties must be an object mapping each property name to its schema (got ${show(properties)})`;
  const required = node["required"];
  if (required !== undefined && (!Array.isArray(required) || !required.every((n) => typeof n === "string")))
    return `${path}.required must be an array of property names (got ${show(required)})`;
  return undefined;
}

/**
 * Checks that `schema` is inside the supported subset: a known `type` on every node (or `anyOf`),
 * only the keywords its type takes (see {@link KEYWORDS}), each with a value of the right kind,
 * `items` on arrays, every `required` name among `properties`. Returns the first problem as a
 * sentence naming its path, or `undefined` when the schema is fine. `schema` is JSON data (the
 * caller checks that), so the recursion is bounded.
 */
export function findSchemaProblem(schema: JSONSchema, path: string): string | undefined {
  if (typeof schema !== "object" || schema === null || Array.isArray(schema))
    return `${path} must be a JSON Schema object`;
  const node = schema as unknown as Readonly<Record<string, unknown>>;
  if ("anyOf" in node) {
    for (const key of Object.keys(node)) {
      if (key !== "anyOf" && !ANNOTATIONS.includes(key)) return unsupportedKeyword(path, key, undefined);
    }
    const annotationProblem = findKeywordProblem(node, "anyOf", path);
    if (annotationProblem) return annotationProblem;
    const anyOf = node["anyOf"];
    if (!Array.isArray(anyOf) || anyOf.length === 0)
      return `${path}.anyOf must be a non-empty array of schemas`;
    for (const [i, s] of anyOf.entries()) {
      const problem = findSchemaProblem(s as JSONSchema, `${path}.anyOf[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  }
  const type = node["type"];
  if (typeof type !== "string" || !TYPES.has(type))
    return `${path}.type must be one of ${[...TYPES].join(", ")} (got ${JSON.stringify(type)}); voicepipe supports that subset of JSON Schema`;
  const allowed = KEYWORDS[type]!;
  for (const key of Object.keys(node)) {
    if (key !== "type" && !allowed.includes(key) && !ANNOTATIONS.includes(key))
      return unsupportedKeyword(path, key, type);
  }
  const keywordProblem = findKeywordProblem(node, type, path);
  if (keywordProblem) return keywordProblem;
  if (type === "array") return findSchemaProblem(node["items"] as JSONSchema, `${path}.items`);
  if (type !== "object") return undefined;
  const properties = (node["properties"] ?? {}) as Readonly<Record<string, JSONSchema>>;
  for (const [name, s] of Object.entries(properties)) {
    const problem = findSchemaProblem(s, `${path}.properties.${name}`);
    if (problem) return problem;
  }
  for (const name of (node["required"] ?? []) as readonly string[]) {
    if (!Object.hasOwn(properties, name))
      return `${path}.required names "${name}", which is not in ${path}.properties; add the property or remove the name`;
  }
  return undefined;
}

function kindOf(value: JsonValue): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  if (typeof value === "object") return "an object";
  return `${typeof value} ${JSON.stringify(value)}`;
}

/**
 * Checks `value` against `schema` (the supported subset). Returns the first violation as a
 * sentence naming its path (e.g. `arguments.city must be a string (got number 42)`), or
 * `undefined` when `value` conforms. `format` and string lengths are hints for the model and are
 * not checked.
 */
export function findSchemaViolation(schema: JSONSchema, value: JsonValue, path: string): string | undefined {
  if ("anyOf" in schema) {
    const ok = schema.anyOf.some((s) => findSchemaViolation(s, value, path) === undefined);
    return ok ? undefined : `${path} matches none of the allowed shapes (got ${kindOf(value)})`;
  }
  switch (schema.type) {
    case "string":
      if (typeof value !== "string") return `${path} must be a string (got ${kindOf(value)})`;
      return checkEnum(schema.enum, value, path);
    case "number":
    case "integer":
      if (typeof value !== "number") return `${path} must be a number (got ${kindOf(value)})`;
      if (schema.type === "integer" && !Number.isInteger(value))
        return `${path} must be an integer (got ${value})`;
      if (schema.minimum !== undefined && value < schema.minimum)
        return `${path} must be at least ${schema.minimum} (got ${value})`;
      if (schema.maximum !== undefined && value > schema.maximum)
        return `${path} must be at most ${schema.maximum} (got ${value})`;
      return checkEnum(schema.enum, value, path);
    case "boolean":
      return typeof value === "boolean" ? undefined : `${path} must be true or false (got ${kindOf(value)})`;
    case "null":
      return value === null ? undefined : `${path} must be null (got ${kindOf(value)})`;
    case "array": {
      if (!Array.isArray(value)) return `${path} must be an array (got ${kindOf(value)})`;
      const items = value as readonly JsonValue[];
      if (schema.minItems !== undefined && items.length < schema.minItems)
        return `${path} must have at least ${plural(schema.minItems, "item")} (got ${items.length})`;
      if (schema.maxItems !== undefined && items.length > schema.maxItems)
        return `${path} must have at most ${plural(schema.maxItems, "item")} (got ${items.length})`;
      for (const [i, item] of items.entries()) {
        const problem = findSchemaViolation(schema.items, item, `${path}[${i}]`);
        if (problem) return problem;
      }
      return undefined;
    }
    case "object":
      return findObjectViolation(schema, value, path);
  }
}

function plural(n: number, noun: string): string {
  return `${n} ${noun}${n === 1 ? "" : "s"}`;
}

function checkEnum(allowed: readonly (string | number)[] | undefined, value: string | number, path: string) {
  if (allowed === undefined || allowed.includes(value)) return undefined;
  return `${path} must be one of ${allowed.map((v) => JSON.stringify(v)).join(", ")} (got ${JSON.stringify(value)})`;
}

function findObjectViolation(schema: ObjectSchema, value: JsonValue, path: string): string | undefined {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    return `${path} must be an object (got ${kindOf(value)})`;
  const object = value as JsonObject;
  const properties = schema.properties ?? {};
  for (const name of schema.required ?? []) {
    if (!Object.hasOwn(object, name)) return `${path}.${name} is required but missing`;
  }
  for (const [name, item] of Object.entries(object)) {
    const property = Object.hasOwn(properties, name) ? properties[name] : undefined;
    if (property === undefined) {
      if (schema.additionalProperties === false) return `${path}.${name} is not an allowed property`;
      continue;
    }
    const problem = findSchemaViolation(property, item, `${path}.${name}`);
    if (problem) return problem;
  }
  return undefined;
}
