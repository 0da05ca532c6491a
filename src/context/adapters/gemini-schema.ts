import type { JSONSchema } from "../json-schema.js";

/** A schema in Gemini's `Schema` form (an OpenAPI 3.0 subset with upper-case type names). */
export interface GeminiSchema {
  type?: "STRING" | "NUMBER" | "INTEGER" | "BOOLEAN" | "ARRAY" | "OBJECT" | "NULL";
  description?: string;
  title?: string;
  format?: string;
  enum?: string[];
  nullable?: boolean;
  minimum?: number;
  maximum?: number;
  minLength?: string;
  maxLength?: string;
  minItems?: string;
  maxItems?: string;
  items?: GeminiSchema;
  properties?: Record<string, GeminiSchema>;
  required?: string[];
  anyOf?: GeminiSchema[];
}

/**
 * Converts a schema of the supported subset to Gemini's form: upper-case types,
 * `anyOf: [X, {type:"null"}]` as `nullable`, no `additionalProperties` (Gemini's schema has no
 * such field and refuses it), number `enum`s (Gemini takes string enums only) moved into the
 * description, and the int64 limits (`minItems`…) as strings, as Google's JSON mapping writes them.
 */
export function toGeminiSchema(schema: JSONSchema): GeminiSchema {
  const out: GeminiSchema = {};
  if (schema.title !== undefined) out.title = schema.title;
  if (schema.description !== undefined) out.description = schema.description;
  if ("anyOf" in schema) {
    const others = schema.anyOf.filter((s) => !("type" in s && s.type === "null"));
    const nullable = others.length < schema.anyOf.length;
    if (others.length === 1)
      return { ...toGeminiSchema(others[0]!), ...out, ...(nullable ? { nullable: true } : {}) };
    return { ...out, anyOf: schema.anyOf.map(toGeminiSchema) };
  }
  switch (schema.type) {
    case "string":
      out.type = "STRING";
      if (schema.enum) out.enum = [...schema.enum];
      if (schema.format !== undefined) out.format = schema.format;
      if (schema.minLength !== undefined) out.minLength = String(schema.minLength);
      if (schema.maxLength !== undefined) out.maxLength = String(schema.maxLength);
      return out;
    case "number":
    case "integer":
      out.type = schema.type === "number" ? "NUMBER" : "INTEGER";
      if (schema.minimum !== undefined) out.minimum = schema.minimum;
      if (schema.maximum !== undefined) out.maximum = schema.maximum;
      if (schema.enum)
        out.description = `${out.description ? `${out.description} ` : ""}One of: ${schema.enum.join(", ")}.`;
      return out;
    case "boolean":
      return { ...out, type: "BOOLEAN" };
    case "null":
      return { ...out, type: "NULL" };
    case "array":
      out.type = "ARRAY";
      out.items = toGeminiSchema(schema.items);
      if (schema.minItems !== undefined) out.minItems = String(schema.minItems);
      if (schema.maxItems !== undefined) out.maxItems = String(schema.maxItems);
      return out;
    case "object":
      out.type = "OBJECT";
      if (schema.properties)
        out.properties = Object.fromEntries(
          Object.entries(schema.properties).map(([k, v]) => [k, toGeminiSchema(v)]),
        );
      if (schema.required?.length) out.required = [...schema.required];
      return out;
  }
}
