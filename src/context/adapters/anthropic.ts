import { LLMContextError } from "../../errors.js";
import { type JsonObject, isJsonObject, tryParseJson } from "../json.js";
import type { ObjectSchema } from "../json-schema.js";
import {
  type LLMAssistantMessage,
  type LLMMessage,
  type LLMUserContentPart,
  contentText,
} from "../messages.js";
import {
  type ConversionOptions,
  DEFAULT_LEADING_USER_TEXT,
  type LLMRequestInput,
  assistantText,
  checkImageUrl,
  splitLeadingSystem,
} from "./common.js";
import { pairToolResults } from "./pair-tool-results.js";

export interface AnthropicTextBlock {
  type: "text";
  text: string;
}
export interface AnthropicImageBlock {
  type: "image";
  source: { type: "base64"; media_type: string; data: string } | { type: "url"; url: string };
}
export interface AnthropicToolUseBlock {
  type: "tool_use";
  id: string;
  name: string;
  input: JsonObject;
}
export interface AnthropicToolResultBlock {
  type: "tool_result";
  tool_use_id: string;
  content: string;
}
/** A thinking block sent back as the model made it (extended thinking). */
export interface AnthropicThinkingParam {
  type: "thinking";
  thinking: string;
  signature: string;
}
/** A thinking block Anthropic encrypted, sent back as it came. */
export interface AnthropicRedactedThinkingParam {
  type: "redacted_thinking";
  data: string;
}
export type AnthropicContentBlock =
  | AnthropicTextBlock
  | AnthropicImageBlock
  | AnthropicToolUseBlock
  | AnthropicToolResultBlock
  | AnthropicThinkingParam
  | AnthropicRedactedThinkingParam;

/** A message of an Anthropic Messages request. */
export interface AnthropicMessage {
  role: "user" | "assistant";
  content: AnthropicContentBlock[];
}

/** The conversation part of an Anthropic Messages request body (`model`, `max_tokens`… are the service's). */
export interface AnthropicRequest {
  system?: string;
  messages: AnthropicMessage[];
  tools?: { name: string; description: string; input_schema: ObjectSchema }[];
  tool_choice?: { type: "auto" } | { type: "any" } | { type: "none" } | { type: "tool"; name: string };
}

/**
 * The Anthropic Messages form of a context. Guarantees, for any valid context: leading
 * system/developer messages become `system` (later ones are user text); messages alternate user,
 * assistant, user… starting with the user (consecutive same-role messages merged; a leading user
 * message `leadingUserText` added when needed); every `tool_use` is answered by a `tool_result`
 * in the next message, and each `tool_result` answers a `tool_use` of the message before, placed
 * before any other block of its message; no empty text block; the last assistant text carries no
 * trailing whitespace. An assistant message's thinking blocks (`anthropic.thinking`) go with its
 * `tool_use` blocks, unchanged and in order, at the head of its assistant message (what Anthropic
 * requires of the message whose results follow, with extended thinking on). Without tools, past
 * calls and results are sent as text, and their thinking is left out (Anthropic refuses tool blocks
 * in a request with no tools). Throws `LLMContextError` for audio (Anthropic takes none) or an
 * image it cannot take. Pure.
 */
export function toAnthropicRequest(
  input: LLMRequestInput,
  options: ConversionOptions = {},
): AnthropicRequest {
  const tools = input.tools ?? [];
  const { system, rest } = splitLeadingSystem(input.messages);
  const offset = input.messages.length - rest.length;
  const messages: AnthropicMessage[] = [];
  for (const [i, message] of pairToolResults(rest).entries()) {
    const converted = toAnthropicMessage(message, `messages[${offset + i}]`, tools.length > 0, rest, options);
    if (converted.content.length === 0) continue;
    const last = messages.at(-1);
    // Tool results open their user message: pairToolResults puts them straight after their call.
    if (last?.role === converted.role) merge(last, converted);
    else messages.push(converted);
  }
  if (messages[0]?.role !== "user")
    messages.unshift({
      role: "user",
      content: [{ type: "text", text: options.leadingUserText ?? DEFAULT_LEADING_USER_TEXT }],
    });
  trimFinalAssistant(messages);
  const request: AnthropicRequest = system === "" ? { messages } : { system, messages };
  if (tools.length === 0) return request;
  request.tools = tools.map((t) => ({
    name: t.name,
    description: t.description,
    input_schema: t.parameters,
  }));
  const choice = input.toolChoice ?? "auto";
  request.tool_choice =
    choice === "auto"
      ? { type: "auto" }
      : choice === "none"
        ? { type: "none" }
        : choice === "required"
          ? { type: "any" }
          : { type: "tool", name: choice.name };
  return request;
}

/** A text block, or none: Anthropic refuses a text block that is empty or only whitespace (400). */
function text(value: string): AnthropicTextBlock[] {
  return value.trim() === "" ? [] : [{ type: "text", text: value }];
}

function toAnthropicMessage(
  message: LLMMessage,
  where: string,
  toolsOn: boolean,
  rest: readonly LLMMessage[],
  options: ConversionOptions,
): AnthropicMessage {
  switch (message.role) {
    case "system":
    case "developer":
      return { role: "user", content: text(contentText(message.content)) };
    case "user":
      return {
        role: "user",
        content:
          typeof message.content === "string"
            ? text(message.content)
            : message.content.flatMap((p, k) => userBlock(p, `${where}.content[${k}]`)),
      };
    case "assistant": {
      const calls = message.tool_calls ?? [];
      const blocks: AnthropicContentBlock[] = toolsOn && calls.length > 0 ? thinking(message) : [];
      blocks.push(...text(assistantText(message, options)));
      for (const call of calls) {
        if (toolsOn)
          blocks.push({
            type: "tool_use",
            id: call.id,
            name: call.function.name,
            input: toolInput(call.function.arguments, where),
          });
        else blocks.push(...text(`(Called ${call.function.name} with ${call.function.arguments}.)`));
      }
      return { role: "assistant", content: blocks };
    }
    case "tool": {
      const result = contentText(message.content);
      if (toolsOn)
        return {
          role: "user",
          content: [{ type: "tool_result", tool_use_id: message.tool_call_id, content: result }],
        };
      const name = callName(rest, message.tool_call_id);
      return { role: "user", content: text(`(Result of ${name}: ${result})`) };
    }
  }
}

/** The message's thinking blocks, copied as they are. */
function thinking(message: LLMAssistantMessage): AnthropicContentBlock[] {
  return (message.anthropic?.thinking ?? []).map((b) =>
    b.type === "thinking"
      ? { type: "thinking", thinking: b.thinking, signature: b.signature }
      : { type: "redacted_thinking", data: b.data },
  );
}

const isThinking = (block: AnthropicContentBlock): boolean =>
  block.type === "thinking" || block.type === "redacted_thinking";

/**
 * Appends `next`'s blocks to `into` (same role). Thinking blocks that open `next` go to the head
 * of `into`, after its own: Anthropic wants an assistant message that called tools to start with
 * its thinking, even when a text-only assistant message before it is merged in.
 */
function merge(into: AnthropicMessage, next: AnthropicMessage): void {
  let lead = 0;
  while (lead < next.content.length && isThinking(next.content[lead]!)) lead++;
  let at = 0;
  while (at < into.content.length && isThinking(into.content[at]!)) at++;
  into.content.splice(at, 0, ...next.content.slice(0, lead));
  into.content.push(...next.content.slice(lead));
}

function callName(messages: readonly LLMMessage[], id: string): string {
  for (const m of messages)
    if (m.role === "assistant") {
      const call = m.tool_calls?.find((c) => c.id === id);
      if (call) return call.function.name;
    }
  return id;
}

function toolInput(args: string, where: string): JsonObject {
  const value = args.trim() === "" ? {} : tryParseJson(args);
  if (value === undefined || !isJsonObject(value))
    throw new LLMContextError(
      `${where}: a tool call's arguments must be the JSON text of an object (got ${args.slice(0, 60)})`,
    );
  return value;
}

function userBlock(part: LLMUserContentPart, where: string): AnthropicContentBlock[] {
  switch (part.type) {
    case "text":
      return text(part.text);
    case "image_url": {
      const image = checkImageUrl(part.image_url.url, where, "Anthropic");
      return [
        {
          type: "image",
          source:
            "url" in image
              ? { type: "url", url: image.url }
              : { type: "base64", media_type: image.mediaType, data: image.data },
        },
      ];
    }
    case "input_audio":
      throw new LLMContextError(
        `${where}: Anthropic takes no audio input; transcribe it first (an STT service) or remove the part`,
      );
  }
}

/** Anthropic refuses a final assistant message whose text ends in whitespace. */
function trimFinalAssistant(messages: AnthropicMessage[]): void {
  const last = messages.at(-1);
  if (last?.role !== "assistant") return;
  const block = last.content.at(-1);
  if (block?.type !== "text") return;
  block.text = block.text.trimEnd();
  if (block.text === "") last.content.pop();
  if (last.content.length === 0) messages.pop();
}
