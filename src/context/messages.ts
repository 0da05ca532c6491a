/**
 * The messages of an LLM conversation, in OpenAI chat-completions shape (the common form every
 * provider adapter converts from). Some fields are voicepipe's own and never sent to OpenAI as
 * they are: `interrupted` and `anthropic` on an assistant message, `gemini` on a tool call and
 * `status` on a tool message (docs/design/llm-context.md, "What the common form adds").
 */

/** A piece of text. */
export interface LLMTextPart {
  readonly type: "text";
  readonly text: string;
}

/**
 * An image, by `https:` URL or as a `data:image/<type>;base64,…` URL. Anthropic and Gemini accept
 * PNG, JPEG, GIF and WebP.
 */
export interface LLMImagePart {
  readonly type: "image_url";
  readonly image_url: {
    readonly url: string;
    /** OpenAI's resolution hint; other providers ignore it. */
    readonly detail?: "auto" | "low" | "high";
  };
}

/** A clip of audio, base64-encoded. Anthropic takes no audio; converting one for it is an error. */
export interface LLMAudioPart {
  readonly type: "input_audio";
  readonly input_audio: {
    /** Base64 of the encoded file. */
    readonly data: string;
    readonly format: "wav" | "mp3";
  };
}

/** What a user message can hold. */
export type LLMUserContentPart = LLMTextPart | LLMImagePart | LLMAudioPart;

/** Instructions for the model. Only leading system/developer messages become Anthropic's `system` and Gemini's `systemInstruction`; later ones are sent as user text. */
export interface LLMSystemMessage {
  readonly role: "system";
  readonly content: string | readonly LLMTextPart[];
}

/** OpenAI's newer name for system instructions; handled exactly like `system` by the adapters. */
export interface LLMDeveloperMessage {
  readonly role: "developer";
  readonly content: string | readonly LLMTextPart[];
}

/** What the user said (or sent). */
export interface LLMUserMessage {
  readonly role: "user";
  readonly content: string | readonly LLMUserContentPart[];
}

/** One function call the model asked for. */
export interface LLMToolCall {
  /** The provider's call id (`call_…`, `toolu_…`), or one voicepipe made when the provider gave none (Gemini). */
  readonly id: string;
  readonly type: "function";
  readonly function: {
    readonly name: string;
    /** The arguments as a JSON text of an object, as OpenAI sends them. */
    readonly arguments: string;
  };
  /**
   * Gemini's `thoughtSignature` for this call's part, which thinking models need back unchanged in
   * the history. Only the Gemini adapter sends it.
   */
  readonly gemini?: { readonly thoughtSignature: string };
}

/**
 * A thinking block of an Anthropic answer (extended thinking), kept as the model sent it: the
 * reasoning text with the `signature` that authenticates it, or a `redacted_thinking` block whose
 * reasoning Anthropic encrypted (`data`). Opaque: never shown, spoken or edited.
 */
export type AnthropicThinkingBlock =
  | { readonly type: "thinking"; readonly thinking: string; readonly signature: string }
  | { readonly type: "redacted_thinking"; readonly data: string };

/** Anthropic's own data on an assistant message. Only the Anthropic adapter reads it. */
export interface LLMAssistantAnthropicData {
  /**
   * The thinking blocks the answer began with, in the order they came. Anthropic needs them back,
   * unchanged and before the `tool_use` blocks, when the results of this message's calls are sent
   * (docs/design/llm-context.md, "Anthropic thinking").
   */
  readonly thinking: readonly AnthropicThinkingBlock[];
}

/** What the assistant said, and the calls it asked for. */
export interface LLMAssistantMessage {
  readonly role: "assistant";
  /** The text; `null` or absent when the message is only tool calls. */
  readonly content?: string | readonly LLMTextPart[] | null;
  readonly tool_calls?: readonly LLMToolCall[];
  /**
   * `true` when the user interrupted this answer: `content` holds only what was played before the
   * interruption. voicepipe's own field; adapters do not send it.
   */
  readonly interrupted?: boolean;
  /**
   * Anthropic's thinking blocks for this message's tool calls (extended thinking on). Sent only by
   * the Anthropic adapter, with the calls; other providers never see it, and it is never spoken.
   */
  readonly anthropic?: LLMAssistantAnthropicData;
}

/** How far a tool call has got, as recorded in its tool message. */
export type LLMToolCallStatus = "in_progress" | "cancelled" | "completed";

/** The result of one tool call. */
export interface LLMToolMessage {
  readonly role: "tool";
  readonly tool_call_id: string;
  readonly content: string | readonly LLMTextPart[];
  /**
   * voicepipe's own field: `in_progress` while the call runs (the content is a placeholder the
   * model can read), `cancelled` once it was cancelled, absent or `completed` once it has its
   * result. Adapters do not send it.
   */
  readonly status?: LLMToolCallStatus;
}

/** Any message of the conversation. */
export type LLMMessage =
  LLMSystemMessage | LLMDeveloperMessage | LLMUserMessage | LLMAssistantMessage | LLMToolMessage;

/** A message's role. */
export type LLMRole = LLMMessage["role"];

/** The text of a message's content: a string as it is, text parts joined, other parts skipped. */
export function contentText(content: string | readonly LLMUserContentPart[] | null | undefined): string {
  if (content === null || content === undefined) return "";
  if (typeof content === "string") return content;
  let text = "";
  for (const part of content) if (part.type === "text") text += part.text;
  return text;
}
