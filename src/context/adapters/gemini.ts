import { LLMContextError } from "../../errors.js";
import { type JsonObject, isJsonObject, tryParseJson } from "../json.js";
import { type LLMMessage, type LLMToolCall, type LLMUserContentPart, contentText } from "../messages.js";
import {
  type ConversionOptions,
  DEFAULT_LEADING_USER_TEXT,
  type LLMRequestInput,
  assistantText,
  checkImageUrl,
  splitLeadingSystem,
} from "./common.js";
import { type GeminiSchema, toGeminiSchema } from "./gemini-schema.js";
import { pairToolResults } from "./pair-tool-results.js";

/** One part of a Gemini `Content`. */
export type GeminiPart =
  | { text: string }
  | { inlineData: { mimeType: string; data: string } }
  | { fileData: { fileUri: string; mimeType?: string } }
  | { functionCall: { name: string; args: JsonObject }; thoughtSignature?: string }
  | { functionResponse: { name: string; response: JsonObject } };

/** A Gemini `Content`: a turn of the user or of the model. */
export interface GeminiContent {
  role: "user" | "model";
  parts: GeminiPart[];
}

/** The conversation part of a Gemini `generateContent` request body (`generationConfig` is the service's). */
export interface GeminiRequest {
  systemInstruction?: { parts: { text: string }[] };
  contents: GeminiContent[];
  tools?: { functionDeclarations: { name: string; description: string; parameters: GeminiSchema }[] }[];
  toolConfig?: { functionCallingConfig: { mode: "AUTO" | "NONE" | "ANY"; allowedFunctionNames?: string[] } };
}

/**
 * The Gemini form of a context. Guarantees, for any valid context: leading system/developer
 * messages become `systemInstruction` (later ones are user text); contents alternate `user`,
 * `model`, `user`… starting with the user (same-role messages merged; `leadingUserText` added
 * when needed); a model turn with N function calls is followed by a user turn whose first N parts
 * are their function responses, in call order (Gemini refuses a count that differs); a result
 * that is not a JSON object is sent as `{ result: <value> }`; no empty text part. Call ids are
 * not sent: the Gemini API matches responses to calls by name and order, and older endpoints
 * refuse the field. Pure.
 */
export function toGeminiRequest(input: LLMRequestInput, options: ConversionOptions = {}): GeminiRequest {
  const { system, rest } = splitLeadingSystem(input.messages);
  const offset = input.messages.length - rest.length;
  const paired = pairToolResults(rest);
  const contents: GeminiContent[] = [];
  const names = new Map<string, string>();
  for (const [i, message] of paired.entries()) {
    if (message.role === "assistant")
      for (const c of message.tool_calls ?? []) names.set(c.id, c.function.name);
    const converted = toGeminiContent(message, `messages[${offset + i}]`, names, options);
    if (converted.parts.length === 0) continue;
    const last = contents.at(-1);
    // Function responses open their user turn: pairToolResults puts them straight after their call.
    if (last?.role === converted.role) last.parts.push(...converted.parts);
    else contents.push(converted);
  }
  if (contents[0]?.role !== "user")
    contents.unshift({
      role: "user",
      parts: [{ text: options.leadingUserText ?? DEFAULT_LEADING_USER_TEXT }],
    });
  const request: GeminiRequest =
    system === "" ? { contents } : { systemInstruction: { parts: [{ text: system }] }, contents };
  const tools = input.tools ?? [];
  if (tools.length === 0) return request;
  request.tools = [
    {
      functionDeclarations: tools.map((t) => ({
        name: t.name,
        description: t.description,
        parameters: toGeminiSchema(t.parameters),
      })),
    },
  ];
  const choice = input.toolChoice ?? "auto";
  request.toolConfig = {
    functionCallingConfig:
      choice === "auto"
        ? { mode: "AUTO" }
        : choice === "none"
          ? { mode: "NONE" }
          : choice === "required"
            ? { mode: "ANY" }
            : { mode: "ANY", allowedFunctionNames: [choice.name] },
  };
  return request;
}

function text(value: string): GeminiPart[] {
  return value === "" ? [] : [{ text: value }];
}

function toGeminiContent(
  message: LLMMessage,
  where: string,
  names: ReadonlyMap<string, string>,
  options: ConversionOptions,
): GeminiContent {
  switch (message.role) {
    case "system":
    case "developer":
      return { role: "user", parts: text(contentText(message.content)) };
    case "user":
      return {
        role: "user",
        parts:
          typeof message.content === "string"
            ? text(message.content)
            : message.content.flatMap((p, k) => userPart(p, `${where}.content[${k}]`)),
      };
    case "assistant":
      return {
        role: "model",
        parts: [
          ...text(assistantText(message, options)),
          ...(message.tool_calls ?? []).map((c) => callPart(c, where)),
        ],
      };
    case "tool": {
      const result = contentText(message.content);
      // pairToolResults leaves only tool messages that answer the call just before them.
      const name = names.get(message.tool_call_id) ?? message.tool_call_id;
      const parsed = tryParseJson(result);
      const response = parsed !== undefined && isJsonObject(parsed) ? parsed : { result: parsed ?? result };
      return { role: "user", parts: [{ functionResponse: { name, response } }] };
    }
  }
}

function callPart(call: LLMToolCall, where: string): GeminiPart {
  const raw = call.function.arguments;
  const args = raw.trim() === "" ? {} : tryParseJson(raw);
  if (args === undefined || !isJsonObject(args))
    throw new LLMContextError(
      `${where}: a tool call's arguments must be the JSON text of an object (got ${raw.slice(0, 60)})`,
    );
  const part: GeminiPart = { functionCall: { name: call.function.name, args } };
  return call.gemini ? { ...part, thoughtSignature: call.gemini.thoughtSignature } : part;
}

function userPart(part: LLMUserContentPart, where: string): GeminiPart[] {
  switch (part.type) {
    case "text":
      return text(part.text);
    case "image_url": {
      const image = checkImageUrl(part.image_url.url, where, "Gemini");
      return "url" in image
        ? [{ fileData: { fileUri: image.url } }]
        : [{ inlineData: { mimeType: image.mediaType, data: image.data } }];
    }
    case "input_audio":
      return [{ inlineData: { mimeType: `audio/${part.input_audio.format}`, data: part.input_audio.data } }];
  }
}
