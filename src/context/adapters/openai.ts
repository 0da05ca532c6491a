import type { ObjectSchema } from "../json-schema.js";
import type { LLMMessage, LLMTextPart, LLMUserContentPart } from "../messages.js";
import { type ConversionOptions, type LLMRequestInput, assistantText } from "./common.js";
import { pairToolResults } from "./pair-tool-results.js";

/** A message of an OpenAI chat-completions request. */
export type OpenAIChatMessage =
  | { role: "system" | "developer"; content: string | LLMTextPart[] }
  | { role: "user"; content: string | LLMUserContentPart[] }
  | {
      role: "assistant";
      content: string | null;
      tool_calls?: { id: string; type: "function"; function: { name: string; arguments: string } }[];
    }
  | { role: "tool"; tool_call_id: string; content: string | LLMTextPart[] };

/** The conversation part of an OpenAI chat-completions request body (`model`, `stream`… are the service's). */
export interface OpenAIChatRequest {
  messages: OpenAIChatMessage[];
  tools?: { type: "function"; function: { name: string; description: string; parameters: ObjectSchema } }[];
  tool_choice?: "auto" | "none" | "required" | { type: "function"; function: { name: string } };
}

/**
 * The OpenAI chat-completions form of a context: the common form as it is, without voicepipe's
 * own fields (`interrupted`, `status`, `gemini`), with tool results paired with their calls
 * (`pairToolResults`), and `tools`/`tool_choice` only when there are tools (OpenAI refuses an
 * empty `tools` array). Pure: the input is not changed.
 */
export function toOpenAIRequest(input: LLMRequestInput, options: ConversionOptions = {}): OpenAIChatRequest {
  const request: OpenAIChatRequest = {
    messages: pairToolResults(input.messages).map((m) => toOpenAIMessage(m, options)),
  };
  const tools = input.tools ?? [];
  if (tools.length === 0) return request;
  request.tools = tools.map((t) => ({
    type: "function",
    function: { name: t.name, description: t.description, parameters: t.parameters },
  }));
  const choice = input.toolChoice ?? "auto";
  request.tool_choice =
    typeof choice === "string" ? choice : { type: "function", function: { name: choice.name } };
  return request;
}

function copy<T>(content: string | readonly T[]): string | T[] {
  return typeof content === "string" ? content : [...content];
}

function toOpenAIMessage(message: LLMMessage, options: ConversionOptions): OpenAIChatMessage {
  switch (message.role) {
    case "system":
    case "developer":
      return { role: message.role, content: copy(message.content) };
    case "user":
      return { role: "user", content: copy(message.content) };
    case "tool":
      return { role: "tool", tool_call_id: message.tool_call_id, content: copy(message.content) };
    case "assistant": {
      const calls = message.tool_calls ?? [];
      const text = assistantText(message, options);
      if (calls.length === 0) return { role: "assistant", content: text };
      return {
        role: "assistant",
        content: text === "" ? null : text,
        tool_calls: calls.map((c) => ({
          id: c.id,
          type: "function",
          function: { name: c.function.name, arguments: c.function.arguments },
        })),
      };
    }
  }
}
