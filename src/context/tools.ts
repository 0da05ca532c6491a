import { LLMContextError } from "../errors.js";
import { type JsonObject, isJsonObject, isJsonValue, tryParseJson } from "./json.js";
import { type FromSchema, type ObjectSchema, findSchemaProblem, findSchemaViolation } from "./json-schema.js";

/**
 * A function the model may call: its name, what it does (the model reads this to decide when to
 * call it) and a JSON Schema of its arguments (an object schema, in the subset described in
 * `JSONSchema`).
 */
export interface FunctionSchema<P extends ObjectSchema = ObjectSchema> {
  /** Letters, digits, `_` and `-`, starting with a letter or `_`, at most 64 characters (what all three providers accept). */
  readonly name: string;
  readonly description: string;
  readonly parameters: P;
}

/** The arguments a tool's handler receives, typed from its schema. */
export type ToolArguments<T extends FunctionSchema> = FromSchema<T["parameters"]>;

/**
 * Whether and which tools the model may call: `auto` (it decides; the default), `none` (no call),
 * `required` (at least one call) or one named function.
 */
export type ToolChoice = "auto" | "none" | "required" | { readonly type: "function"; readonly name: string };

const NAME = /^[A-Za-z_][A-Za-z0-9_-]{0,63}$/;

/**
 * Checks a function schema and returns a frozen copy. Throws `LLMContextError` naming the tool and
 * what is wrong (a name a provider would refuse, parameters that are not an object schema, a
 * `required` name that is not a property).
 */
export function checkFunctionSchema<P extends ObjectSchema>(schema: FunctionSchema<P>): FunctionSchema<P> {
  const label = `tool ${JSON.stringify(schema?.name)}`;
  if (typeof schema?.name !== "string" || !NAME.test(schema.name))
    throw new LLMContextError(
      `${label}: name must be 1-64 letters, digits, "_" or "-", starting with a letter or "_" (OpenAI, Anthropic and Gemini all accept that)`,
    );
  if (typeof schema.description !== "string")
    throw new LLMContextError(`${label}: description must be a string that tells the model when to call it`);
  if (schema.parameters?.type !== "object")
    throw new LLMContextError(
      `${label}: parameters must be an object schema ({ type: "object", properties }); got type ${JSON.stringify(schema.parameters?.type)}`,
    );
  // The schema is checked recursively: a cycle (a recursive type built in code) or absurd depth
  // must be refused here, not overflow the stack. isJsonValue bounds the depth (64).
  if (!isJsonValue(schema.parameters))
    throw new LLMContextError(
      `${label}: parameters must be plain JSON data, a tree at most 64 deep (no cycles, no $ref to itself: providers take a schema without references)`,
    );
  const problem = findSchemaProblem(schema.parameters, "parameters");
  if (problem) throw new LLMContextError(`${label}: ${problem}`);
  return Object.freeze({ ...schema });
}

/**
 * Declares a tool. Write the schema inline: its literal types give the handler typed arguments
 * through `ToolArguments<typeof tool>`, with no cast.
 *
 * @example
 * const getWeather = defineTool({
 *   name: "get_weather",
 *   description: "Current weather in a city",
 *   parameters: {
 *     type: "object",
 *     properties: { city: { type: "string" }, unit: { type: "string", enum: ["c", "f"] } },
 *     required: ["city"],
 *   },
 * });
 * type Args = ToolArguments<typeof getWeather>; // { city: string; unit?: "c" | "f" }
 */
export function defineTool<const P extends ObjectSchema>(schema: FunctionSchema<P>): FunctionSchema<P> {
  return checkFunctionSchema(schema);
}

/** What `parseToolArguments` found. */
export type ParsedToolArguments<T extends FunctionSchema> =
  { readonly ok: true; readonly value: ToolArguments<T> } | { readonly ok: false; readonly error: string };

/**
 * Parses the arguments the model sent for `tool` (a JSON text, as OpenAI streams them, or the
 * object Anthropic and Gemini send) and checks them against its schema. A model can send
 * anything, so this is what makes `ToolArguments<T>` true at run time. Never throws: a problem
 * comes back as `{ ok: false, error }`, a sentence to give the model as the call's result so it can
 * try again.
 */
export function parseToolArguments<T extends FunctionSchema>(
  tool: T,
  args: string | JsonObject,
): ParsedToolArguments<T> {
  const value = typeof args === "string" ? (args.trim() === "" ? {} : tryParseJson(args)) : args;
  if (value === undefined || !isJsonObject(value))
    return {
      ok: false,
      error: `the arguments for ${tool.name} are not a JSON object (got ${JSON.stringify(args).slice(0, 80)})`,
    };
  const violation = findSchemaViolation(tool.parameters, value, "arguments");
  if (violation) return { ok: false, error: `invalid arguments for ${tool.name}: ${violation}` };
  return { ok: true, value: value as ToolArguments<T> }; // checked against the schema just above
}

/** Checks a tool choice against the tools it applies to. Throws `LLMContextError` when it names a tool that is not there. */
export function checkToolChoice(choice: ToolChoice, tools: readonly FunctionSchema[]): ToolChoice {
  if (choice === "auto" || choice === "none" || choice === "required") return choice;
  if (
    typeof choice !== "object" ||
    choice === null ||
    choice.type !== "function" ||
    typeof choice.name !== "string"
  )
    throw new LLMContextError(
      `tool choice must be "auto", "none", "required" or { type: "function", name } (got ${JSON.stringify(choice)})`,
    );
  if (!tools.some((t) => t.name === choice.name))
    throw new LLMContextError(
      `tool choice names ${JSON.stringify(choice.name)}, which is not among the tools (${tools.map((t) => t.name).join(", ") || "none"}); set the tools first`,
    );
  return Object.freeze({ type: "function", name: choice.name });
}
