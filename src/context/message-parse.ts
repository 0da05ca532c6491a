import { LLMContextError } from "../errors.js";
import { wireText } from "../wire-values.js";
import { isJsonObject, tryParseJson } from "./json.js";
import type {
  AnthropicThinkingBlock,
  LLMAssistantAnthropicData,
  LLMMessage,
  LLMTextPart,
  LLMToolCall,
  LLMToolCallStatus,
  LLMUserContentPart,
} from "./messages.js";

type Fields = Readonly<Record<string, unknown>>;

const STATUSES: readonly LLMToolCallStatus[] = ["in_progress", "cancelled", "completed"];

function isFields(value: unknown): value is Fields {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A short view of a bad value for an error message; never throws (a BigInt, a cycle or deep nesting has no JSON). */
function preview(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch (error) {
    // A peer's JSON can be nested past what the recursive JSON.stringify survives (RangeError);
    // only a value made in the process can hold a cycle or a BigInt (TypeError).
    text =
      typeof value === "bigint"
        ? `${value}n`
        : error instanceof RangeError
          ? `${wireText(value)} nested too deeply to print`
          : `${wireText(value)} that is not JSON (a cycle or a BigInt inside)`;
  }
  return text.length > 60 ? `${text.slice(0, 57)}...` : text;
}

function fail(where: string, what: string): never {
  throw new LLMContextError(`${where} ${what}`);
}

function text(value: unknown, where: string): string {
  if (typeof value !== "string") fail(where, `must be a string (got ${preview(value)})`);
  return value;
}

function textPart(raw: Fields, where: string): LLMTextPart {
  return Object.freeze({ type: "text", text: text(raw["text"], `${where}.text`) });
}

function userPart(raw: unknown, where: string): LLMUserContentPart {
  if (!isFields(raw)) fail(where, `must be an object with a "type" (got ${preview(raw)})`);
  switch (raw["type"]) {
    case "text":
      return textPart(raw, where);
    case "image_url": {
      const image = raw["image_url"];
      if (!isFields(image))
        fail(`${where}.image_url`, `must be an object with a "url" (got ${preview(image)})`);
      const url = text(image["url"], `${where}.image_url.url`);
      const detail = image["detail"];
      if (detail !== undefined && detail !== "auto" && detail !== "low" && detail !== "high")
        fail(`${where}.image_url.detail`, `must be "auto", "low" or "high" (got ${preview(detail)})`);
      return Object.freeze({
        type: "image_url",
        image_url: Object.freeze(detail === undefined ? { url } : { url, detail }),
      });
    }
    case "input_audio": {
      const audio = raw["input_audio"];
      if (!isFields(audio)) fail(`${where}.input_audio`, `must be an object (got ${preview(audio)})`);
      const format = audio["format"];
      if (format !== "wav" && format !== "mp3")
        fail(`${where}.input_audio.format`, `must be "wav" or "mp3" (got ${preview(format)})`);
      const data = text(audio["data"], `${where}.input_audio.data`);
      return Object.freeze({ type: "input_audio", input_audio: Object.freeze({ data, format }) });
    }
    default:
      return fail(
        `${where}.type`,
        `must be "text", "image_url" or "input_audio" (got ${preview(raw["type"])})`,
      );
  }
}

function textContent(raw: unknown, where: string): string | readonly LLMTextPart[] {
  if (typeof raw === "string") return raw;
  if (!Array.isArray(raw)) fail(where, `must be a string or an array of text parts (got ${preview(raw)})`);
  return Object.freeze(
    raw.map((part: unknown, i) => {
      const at = `${where}[${i}]`;
      if (!isFields(part) || part["type"] !== "text")
        fail(at, `must be a text part {type:"text",text} (got ${preview(part)})`);
      return textPart(part, at);
    }),
  );
}

function userContent(raw: unknown, where: string): string | readonly LLMUserContentPart[] {
  if (typeof raw === "string") return raw;
  if (!Array.isArray(raw)) fail(where, `must be a string or an array of content parts (got ${preview(raw)})`);
  return Object.freeze(raw.map((part: unknown, i) => userPart(part, `${where}[${i}]`)));
}

/**
 * Checks one tool call: an id, a function name, and arguments that are the JSON text of an object
 * (as OpenAI sends them; Anthropic and Gemini need the object itself).
 */
function toolCall(raw: unknown, where: string): LLMToolCall {
  if (!isFields(raw)) fail(where, `must be an object {id,type:"function",function} (got ${preview(raw)})`);
  const id = text(raw["id"], `${where}.id`);
  if (id === "") fail(`${where}.id`, "must not be empty");
  if (raw["type"] !== "function") fail(`${where}.type`, `must be "function" (got ${preview(raw["type"])})`);
  const fn = raw["function"];
  if (!isFields(fn)) fail(`${where}.function`, `must be an object {name,arguments} (got ${preview(fn)})`);
  const name = text(fn["name"], `${where}.function.name`);
  const args = text(fn["arguments"], `${where}.function.arguments`);
  const parsed = tryParseJson(args);
  if (parsed === undefined || !isJsonObject(parsed))
    fail(`${where}.function.arguments`, `must be the JSON text of an object (got ${preview(args)})`);
  const gemini = raw["gemini"];
  let signature: string | undefined;
  if (gemini !== undefined) {
    if (!isFields(gemini))
      fail(`${where}.gemini`, `must be an object {thoughtSignature} (got ${preview(gemini)})`);
    signature = text(gemini["thoughtSignature"], `${where}.gemini.thoughtSignature`);
  }
  const call: LLMToolCall = {
    id,
    type: "function",
    function: Object.freeze({ name, arguments: args }),
    ...(signature === undefined ? {} : { gemini: Object.freeze({ thoughtSignature: signature }) }),
  };
  return Object.freeze(call);
}

/**
 * Checks that `raw` is a message of the common form and returns a frozen copy holding only the
 * fields voicepipe knows (unknown fields are dropped, so nothing a provider would refuse slips
 * through). Throws `LLMContextError` naming `where` and the field that is wrong.
 *
 * @param where how the caller names the message in errors, e.g. `messages[3]`.
 */
export function parseLLMMessage(raw: unknown, where = "message"): LLMMessage {
  if (!isFields(raw)) fail(where, `must be an object with a "role" (got ${preview(raw)})`);
  const role = raw["role"];
  switch (role) {
    case "system":
    case "developer":
      return Object.freeze({ role, content: textContent(raw["content"], `${where}.content`) });
    case "user":
      return Object.freeze({ role, content: userContent(raw["content"], `${where}.content`) });
    case "assistant":
      return assistant(raw, where);
    case "tool": {
      const id = text(raw["tool_call_id"], `${where}.tool_call_id`);
      const content = textContent(raw["content"], `${where}.content`);
      const status = raw["status"];
      if (status !== undefined && !STATUSES.includes(status as LLMToolCallStatus))
        fail(`${where}.status`, `must be one of ${STATUSES.join(", ")} (got ${preview(status)})`);
      return Object.freeze({
        role,
        tool_call_id: id,
        content,
        ...(status === undefined ? {} : { status: status as LLMToolCallStatus }),
      });
    }
    default:
      return fail(
        `${where}.role`,
        `must be "system", "developer", "user", "assistant" or "tool" (got ${preview(role)})`,
      );
  }
}

function assistant(raw: Fields, where: string): LLMMessage {
  const rawContent = raw["content"];
  const content =
    rawContent === undefined || rawContent === null ? null : textContent(rawContent, `${where}.content`);
  const rawCalls = raw["tool_calls"];
  let calls: readonly LLMToolCall[] | undefined;
  if (rawCalls !== undefined) {
    if (!Array.isArray(rawCalls)) fail(`${where}.tool_calls`, `must be an array (got ${preview(rawCalls)})`);
    calls = Object.freeze(rawCalls.map((c: unknown, i) => toolCall(c, `${where}.tool_calls[${i}]`)));
    const ids = new Set(calls.map((c) => c.id));
    if (ids.size !== calls.length)
      fail(`${where}.tool_calls`, "holds two calls with the same id; each call needs its own id");
  }
  const interrupted = raw["interrupted"];
  if (interrupted !== undefined && typeof interrupted !== "boolean")
    fail(`${where}.interrupted`, `must be true or false (got ${preview(interrupted)})`);
  const anthropic = raw["anthropic"] === undefined ? undefined : anthropicData(raw["anthropic"], where);
  return Object.freeze({
    role: "assistant",
    content,
    ...(calls === undefined || calls.length === 0 ? {} : { tool_calls: calls }),
    ...(interrupted === true ? { interrupted: true } : {}),
    ...(anthropic === undefined ? {} : { anthropic }),
  });
}

/** Anthropic's thinking blocks on an assistant message; none (`undefined`) when the list is empty. */
function anthropicData(raw: unknown, where: string): LLMAssistantAnthropicData | undefined {
  const at = `${where}.anthropic`;
  if (!isFields(raw)) fail(at, `must be an object {thinking} (got ${preview(raw)})`);
  const list = raw["thinking"];
  if (!Array.isArray(list))
    fail(`${at}.thinking`, `must be an array of thinking blocks (got ${preview(list)})`);
  if (list.length === 0) return undefined;
  const thinking = list.map((block: unknown, i): AnthropicThinkingBlock => {
    const here = `${at}.thinking[${i}]`;
    if (!isFields(block)) fail(here, `must be an object with a "type" (got ${preview(block)})`);
    if (block["type"] === "thinking")
      return Object.freeze({
        type: "thinking",
        thinking: text(block["thinking"], `${here}.thinking`),
        signature: text(block["signature"], `${here}.signature`),
      });
    if (block["type"] === "redacted_thinking")
      return Object.freeze({ type: "redacted_thinking", data: text(block["data"], `${here}.data`) });
    return fail(`${here}.type`, `must be "thinking" or "redacted_thinking" (got ${preview(block["type"])})`);
  });
  return Object.freeze({ thinking: Object.freeze(thinking) });
}
