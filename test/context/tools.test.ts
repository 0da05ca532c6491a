import { describe, expect, expectTypeOf, it } from "vitest";
import {
  defineTool,
  parseToolArguments,
  type FromSchema,
  type FunctionSchema,
  type JsonObject,
  type ToolArguments,
} from "../../src/context/index.js";
import { LLMContextError } from "../../src/errors.js";

const booking = defineTool({
  name: "book_table",
  description: "Books a table",
  parameters: {
    type: "object",
    properties: {
      restaurant: { type: "string" },
      people: { type: "integer", minimum: 1, maximum: 20 },
      time: { type: "string", enum: ["lunch", "dinner"] },
      notes: { anyOf: [{ type: "string" }, { type: "null" }] },
      dishes: {
        type: "array",
        items: { type: "object", properties: { name: { type: "string" } }, required: ["name"] },
      },
      vip: { type: "boolean" },
      tags: { type: "array", items: { type: "string" }, minItems: 1, maxItems: 2 },
    },
    required: ["restaurant", "people", "time"],
    additionalProperties: false,
  },
});

describe("defineTool", () => {
  it("types a handler's arguments from the schema, with no cast", () => {
    type Args = ToolArguments<typeof booking>;
    expectTypeOf<Args>().toEqualTypeOf<{
      restaurant: string;
      people: number;
      time: "lunch" | "dinner";
      notes?: string | null;
      dishes?: { name: string }[];
      vip?: boolean;
      tags?: string[];
    }>();
    const handler = (args: Args): string => `${args.restaurant} for ${args.people} at ${args.time}`;
    const parsed = parseToolArguments(booking, '{"restaurant":"Chez Nous","people":2,"time":"dinner"}');
    expect(parsed.ok && handler(parsed.value)).toBe("Chez Nous for 2 at dinner");
  });

  it("maps a schema that is not a literal to JSON data, never unknown", () => {
    expectTypeOf<ToolArguments<FunctionSchema>>().toEqualTypeOf<JsonObject>();
    expectTypeOf<FromSchema<{ type: "object" }>>().toEqualTypeOf<JsonObject>();
  });

  it("refuses names, parameters and required lists a provider would refuse, saying which tool and what to do", () => {
    const parameters = { type: "object", properties: {} } as const;
    expect(() => defineTool({ name: "get weather", description: "", parameters })).toThrow(
      new LLMContextError(
        'tool "get weather": name must be 1-64 letters, digits, "_" or "-", starting with a letter or "_" (OpenAI, Anthropic and Gemini all accept that)',
      ),
    );
    expect(() =>
      defineTool({ name: "f", description: "", parameters: { type: "object", required: ["x"] } }),
    ).toThrow(
      'tool "f": parameters.required names "x", which is not in parameters.properties; add the property or remove the name',
    );
    expect(() =>
      defineTool({
        name: "f",
        description: "",
        parameters: { type: "array", items: { type: "string" } } as never,
      }),
    ).toThrow(/parameters must be an object schema/);
    expect(() =>
      defineTool({
        name: "f",
        description: "",
        parameters: { type: "object", properties: { a: { type: "date" } } } as never,
      }),
    ).toThrow(
      /parameters\.properties\.a\.type must be one of string, number, integer, boolean, null, array, object \(got "date"\)/,
    );
  });
});

describe("defineTool's keyword checks", () => {
  const define = (a: object) =>
    defineTool({ name: "f", description: "", parameters: { type: "object", properties: { a: a as never } } });

  it("takes the listed keywords and the description and title annotations", () => {
    expect(() =>
      define({
        type: "array",
        title: "A",
        description: "d",
        items: { type: "string", enum: ["x"], format: "email", minLength: 1, maxLength: 2 },
        minItems: 0,
        maxItems: 3,
      }),
    ).not.toThrow();
    expect(() =>
      define({ anyOf: [{ type: "integer", enum: [1, 2], minimum: 0 }, { type: "null" }] }),
    ).not.toThrow();
  });

  it("refuses a keyword outside the subset, or on a type it does not apply to, naming it and what is supported", () => {
    expect(() => define({ type: "string", pattern: "^x$" })).toThrow(
      new LLMContextError(
        'tool "f": parameters.properties.a.pattern is not allowed in a string schema: pattern is not among the supported keywords (remove it; check such a rule in the handler if it matters); a string schema takes type, enum, format, minLength, maxLength, description, title. voicepipe supports the subset of JSON Schema that OpenAI, Anthropic and Gemini all accept (docs/design/llm-context.md, "Tools")',
      ),
    );
    expect(() => define({ type: "string", minimum: 1 })).toThrow(
      /parameters\.properties\.a\.minimum is not allowed in a string schema: minimum belongs to number or integer schemas only/,
    );
    expect(() => define({ type: "string", default: "x" })).toThrow(/a\.default is not allowed/);
    expect(() => define({ type: "string", anyOf: [{ type: "null" }] })).toThrow(
      /a\.type is not allowed in an anyOf schema: put the type inside each anyOf branch/,
    );
  });

  it("refuses keyword values of the wrong kind, and bounds no value satisfies", () => {
    expect(() => define({ type: "integer", enum: [1.5] })).toThrow(
      "parameters.properties.a.enum must be a non-empty array of whole numbers, the values allowed (got [1.5])",
    );
    expect(() => define({ type: "string", enum: [] })).toThrow(
      /a\.enum must be a non-empty array of strings/,
    );
    expect(() => define({ type: "array", items: { type: "string" }, minItems: -1 })).toThrow(
      /a\.minItems must be a whole number ≥ 0 \(got -1\)/,
    );
    expect(() => define({ type: "number", minimum: 5, maximum: 1 })).toThrow(
      /a\.minimum \(5\) is above parameters\.properties\.a\.maximum \(1\)/,
    );
    expect(() => define({ type: "object", properties: [] })).toThrow(/a\.properties must be an object/);
    expect(() => define({ type: "object", required: ["x", 1] })).toThrow(
      /a\.required must be an array of property names/,
    );
    expect(() => define({ type: "string", description: 3 })).toThrow(/a\.description must be a string/);
  });
});

describe("parseToolArguments", () => {
  it("accepts conforming arguments as text or object, and an empty text as {}", () => {
    expect(parseToolArguments(booking, { restaurant: "A", people: 2, time: "lunch", notes: null })).toEqual({
      ok: true,
      value: { restaurant: "A", people: 2, time: "lunch", notes: null },
    });
    const open = defineTool({
      name: "now",
      description: "The time",
      parameters: { type: "object", properties: {} },
    });
    expect(parseToolArguments(open, "")).toEqual({ ok: true, value: {} });
  });

  it.each([
    [
      '{"restaurant":"A","people":2}',
      "invalid arguments for book_table: arguments.time is required but missing",
    ],
    [
      '{"restaurant":"A","people":2.5,"time":"lunch"}',
      "invalid arguments for book_table: arguments.people must be an integer (got 2.5)",
    ],
    [
      '{"restaurant":"A","people":0,"time":"lunch"}',
      "invalid arguments for book_table: arguments.people must be at least 1 (got 0)",
    ],
    [
      '{"restaurant":"A","people":2,"time":"brunch"}',
      'invalid arguments for book_table: arguments.time must be one of "lunch", "dinner" (got "brunch")',
    ],
    [
      '{"restaurant":"A","people":2,"time":"lunch","x":1}',
      "invalid arguments for book_table: arguments.x is not an allowed property",
    ],
    [
      '{"restaurant":"A","people":2,"time":"lunch","dishes":[{}]}',
      "invalid arguments for book_table: arguments.dishes[0].name is required but missing",
    ],
    [
      '{"restaurant":"A","people":2,"time":"lunch","tags":[]}',
      "invalid arguments for book_table: arguments.tags must have at least 1 item (got 0)",
    ],
    [
      '{"restaurant":"A","people":2,"time":"lunch","tags":["a","b","c"]}',
      "invalid arguments for book_table: arguments.tags must have at most 2 items (got 3)",
    ],
    [
      '{"restaurant":"A","people":2,"time":"lunch","notes":3}',
      "invalid arguments for book_table: arguments.notes matches none of the allowed shapes (got number 3)",
    ],
    ['{"restaurant":', 'the arguments for book_table are not a JSON object (got "{\\"restaurant\\":")'],
    ["[1]", 'the arguments for book_table are not a JSON object (got "[1]")'],
  ])("refuses %s with a sentence the model can act on", (text, error) => {
    expect(parseToolArguments(booking, text)).toEqual({ ok: false, error });
  });
});
