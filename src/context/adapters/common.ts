import { LLMContextError } from "../../errors.js";
import type { LLMAssistantMessage, LLMMessage } from "../messages.js";
import { contentText } from "../messages.js";
import type { FunctionSchema, ToolChoice } from "../tools.js";

/** What a provider adapter converts: a snapshot, or anything shaped like one (an `LLMContext`). */
export interface LLMRequestInput {
  readonly messages: readonly LLMMessage[];
  readonly tools?: readonly FunctionSchema[];
  readonly toolChoice?: ToolChoice;
}

/** Options shared by the provider adapters. */
export interface ConversionOptions {
  /**
   * Appended to the text of an assistant message marked `interrupted`, so the model knows it was
   * cut off, e.g. `" [interrupted by the user]"`. Off by default: models tend to repeat such marks
   * in their own answers, and a voice bot would speak them.
   */
  readonly interruptedNote?: string;
  /**
   * The user text sent first when the conversation has no user message before the assistant's
   * first one (or no message at all: a bot that speaks first), because Anthropic and Gemini need
   * a conversation to start with the user. Not used for OpenAI.
   * @default "(The conversation begins.)"
   */
  readonly leadingUserText?: string;
}

export const DEFAULT_LEADING_USER_TEXT = "(The conversation begins.)";

/** The leading system/developer messages' texts, and the messages after them. */
export function splitLeadingSystem(messages: readonly LLMMessage[]): {
  system: string;
  rest: readonly LLMMessage[];
} {
  let i = 0;
  const texts: string[] = [];
  for (; i < messages.length; i++) {
    const m = messages[i]!;
    if (m.role !== "system" && m.role !== "developer") break;
    const text = contentText(m.content);
    if (text !== "") texts.push(text);
  }
  return { system: texts.join("\n\n"), rest: messages.slice(i) };
}

/** An assistant message's text, with the interrupted note when asked for. */
export function assistantText(message: LLMAssistantMessage, options: ConversionOptions): string {
  const text = contentText(message.content);
  return message.interrupted && options.interruptedNote && text !== ""
    ? text + options.interruptedNote
    : text;
}

/** A `data:` URL's media type and base64 payload. */
export interface InlineData {
  readonly mediaType: string;
  readonly data: string;
}

const DATA_URL = /^data:([\w.+-]+\/[\w.+-]+);base64,(.*)$/s;

/** Splits a base64 `data:` URL; `undefined` for any other URL. */
export function parseDataUrl(url: string): InlineData | undefined {
  const match = DATA_URL.exec(url);
  return match ? { mediaType: match[1]!.toLowerCase(), data: match[2]! } : undefined;
}

/** Image types Anthropic and Gemini both accept. */
export const IMAGE_TYPES: ReadonlySet<string> = new Set([
  "image/png",
  "image/jpeg",
  "image/gif",
  "image/webp",
]);

/** Checks an image URL for a provider that takes `data:` URLs of `IMAGE_TYPES` and http(s) URLs. */
export function checkImageUrl(url: string, where: string, provider: string): InlineData | { url: string } {
  const inline = parseDataUrl(url);
  if (inline) {
    if (!IMAGE_TYPES.has(inline.mediaType))
      throw new LLMContextError(
        `${where}: ${provider} takes PNG, JPEG, GIF or WebP images; this one is ${inline.mediaType}. Convert it first`,
      );
    return inline;
  }
  if (/^https?:\/\//i.test(url)) return { url };
  throw new LLMContextError(
    `${where}: an image must be an https: URL or a data:image/...;base64 URL for ${provider} (got ${url.slice(0, 40)})`,
  );
}
