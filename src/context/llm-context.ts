import { InvalidOptionError, LLMContextError } from "../errors.js";
import { type JsonObject, type JsonValue, isJsonObjectValue, isJsonValue } from "./json.js";
import { parseLLMMessage } from "./message-parse.js";
import type {
  AnthropicThinkingBlock,
  LLMAssistantMessage,
  LLMMessage,
  LLMToolCallStatus,
  LLMToolMessage,
} from "./messages.js";
import {
  TOOL_CALL_CANCELLED_TEXT,
  TOOL_CALL_IN_PROGRESS_TEXT,
  findToolCall,
  hasToolCallId,
  lateResultNote,
  resultText,
  statusOf,
  wordlessPendingToolCalls,
} from "./tool-call-records.js";
import { type FunctionSchema, type ToolChoice, checkFunctionSchema, checkToolChoice } from "./tools.js";

/** What one request to the LLM is made from. Frozen: later edits of the context never change it. */
export interface LLMContextSnapshot {
  readonly messages: readonly LLMMessage[];
  readonly tools: readonly FunctionSchema[];
  readonly toolChoice: ToolChoice;
  /** The context's version when the snapshot was taken; it grows by one with every change. */
  readonly version: number;
}

/** Options of `new LLMContext()`. */
export interface LLMContextOptions {
  readonly messages?: readonly LLMMessage[];
  readonly tools?: readonly FunctionSchema[];
  /** @default "auto" */
  readonly toolChoice?: ToolChoice;
  /**
   * Keep at most this many messages after the leading system/developer messages (which are always
   * kept), dropping the oldest. The kept part starts at a user message when there is one, and
   * never inside a tool call's results, so it can be a little shorter than the bound, and longer
   * only when one assistant message's tool results alone exceed it. Unbounded when absent.
   */
  readonly maxMessages?: number;
}

/** One function call the model asked for, to record in the context. */
export interface ToolCallRequest {
  readonly id: string;
  readonly name: string;
  /** The arguments, as the object or as the JSON text of it. */
  readonly arguments: JsonObject | string;
  /** Gemini's signature for this call's part, to send back with it. */
  readonly geminiThoughtSignature?: string;
}

/** What became of a result handed to `recordToolResult`. */
export type ToolResultOutcome =
  | {
      readonly accepted: true;
      /** The conversation had moved past the call: a system note saying so was appended after the result. */
      readonly late: boolean;
    }
  | {
      readonly accepted: false;
      /** `unknown`: no such call in the context (never made, or dropped by `maxMessages`). */
      readonly reason: "unknown" | "cancelled" | "completed";
    };

/**
 * The conversation with an LLM: messages in OpenAI chat-completions shape, the tools it may call
 * and the tool choice. Every message is checked and frozen as it is added, so a `snapshot()` taken
 * for a request never changes afterwards. Provider adapters (`toOpenAIRequest`,
 * `toAnthropicRequest`, `toGeminiRequest`) turn a snapshot into a request body.
 *
 * Not thread-safe in any sense that matters to JavaScript: edits are synchronous and ordered.
 *
 * @example
 * const context = new LLMContext({ messages: [{ role: "system", content: "You are brief." }], tools: [getWeather] });
 * context.addMessage({ role: "user", content: "Weather in Paris?" });
 * const body = toAnthropicRequest(context.snapshot());
 */
export class LLMContext {
  #messages: LLMMessage[] = [];
  /**
   * How many messages at the head are the kept instructions: the system and developer messages
   * the conversation began with. Counted as they are added, not found by a scan at trim time: a
   * system message added later (a late result's note) must not become one of them once the
   * messages before it are trimmed, or it would be kept for ever, outside the bound.
   */
  #pinned = 0;
  #tools: readonly FunctionSchema[] = Object.freeze([]);
  #toolChoice: ToolChoice = "auto";
  #version = 0;
  #snapshot: LLMContextSnapshot | undefined;
  readonly #maxMessages: number | undefined;

  constructor(options: LLMContextOptions = {}) {
    const max = options.maxMessages;
    if (max !== undefined && (!Number.isInteger(max) || max < 1))
      throw new InvalidOptionError(
        `LLMContext maxMessages must be a whole number of at least 1 (got ${max}); leave it out for no bound`,
      );
    this.#maxMessages = max;
    if (options.tools) this.setTools(options.tools);
    if (options.toolChoice) this.setToolChoice(options.toolChoice);
    if (options.messages) this.setMessages(options.messages);
    this.#version = 0;
  }

  /** The messages, oldest first (a frozen array; it does not follow later edits). */
  get messages(): readonly LLMMessage[] {
    return this.snapshot().messages;
  }

  get tools(): readonly FunctionSchema[] {
    return this.#tools;
  }

  get toolChoice(): ToolChoice {
    return this.#toolChoice;
  }

  /** Grows by one with every change. */
  get version(): number {
    return this.#version;
  }

  /** The context as it is now, frozen. Cheap: messages are shared, never copied again. */
  snapshot(): LLMContextSnapshot {
    this.#snapshot ??= Object.freeze({
      messages: Object.freeze([...this.#messages]),
      tools: this.#tools,
      toolChoice: this.#toolChoice,
      version: this.#version,
    });
    return this.#snapshot;
  }

  /** Appends one message. Throws `LLMContextError` if it is malformed (nothing is added). */
  addMessage(message: LLMMessage): void {
    this.addMessages([message]);
  }

  /** Appends messages, all or none: if one is malformed, `LLMContextError` names it and nothing is added. */
  addMessages(messages: readonly LLMMessage[]): void {
    const checked = messages.map((m, i) => parseLLMMessage(m, `messages[${this.#messages.length + i}]`));
    if (this.#pinned === this.#messages.length) this.#pinned += leadingInstructions(checked);
    this.#messages.push(...checked);
    this.#changed();
  }

  /**
   * The snapshot this context would have after `addMessages(messages)`, made without changing it:
   * the messages parsed and the `maxMessages` bound applied exactly as `addMessages` would. Throws
   * `LLMContextError` as `addMessages` does. Used to ask the LLM for the answer to a turn before
   * the turn is added (preemptive generation).
   */
  previewAdd(messages: readonly LLMMessage[]): LLMContextSnapshot {
    const checked = messages.map((m, i) => parseLLMMessage(m, `messages[${this.#messages.length + i}]`));
    const pinned =
      this.#pinned === this.#messages.length ? this.#pinned + leadingInstructions(checked) : this.#pinned;
    const all = [...this.#messages, ...checked];
    const cut = trimEnd(all, pinned, this.#maxMessages);
    if (cut > pinned) all.splice(pinned, cut - pinned);
    return Object.freeze({
      messages: Object.freeze(all),
      tools: this.#tools,
      toolChoice: this.#toolChoice,
      version: this.#version + 1,
    });
  }

  /** Replaces every message (the tools stay). All or none, like `addMessages`. */
  setMessages(messages: readonly LLMMessage[]): void {
    const checked = messages.map((m, i) => parseLLMMessage(m, `messages[${i}]`));
    this.#messages = checked;
    this.#pinned = leadingInstructions(checked);
    this.#changed();
  }

  /**
   * Sets the tools. A tool choice naming a function that is no longer among them falls back to
   * `"auto"`. Throws `LLMContextError` for a malformed schema or two tools of one name.
   */
  setTools(tools: readonly FunctionSchema[]): void {
    const checked = tools.map((t) => checkFunctionSchema(t));
    const names = new Set(checked.map((t) => t.name));
    if (names.size !== checked.length)
      throw new LLMContextError(
        `two tools share a name (${checked.map((t) => t.name).join(", ")}); tool names must be unique`,
      );
    this.#tools = Object.freeze(checked);
    const choice = this.#toolChoice;
    if (typeof choice === "object" && !names.has(choice.name)) this.#toolChoice = "auto";
    this.#changed();
  }

  /** Sets the tool choice. Throws `LLMContextError` if it names a function that is not among the tools. */
  setToolChoice(choice: ToolChoice): void {
    this.#toolChoice = checkToolChoice(choice, this.#tools);
    this.#changed();
  }

  /**
   * Records what the assistant said. With `interrupted`, `text` must be only the part that was
   * played; the message is marked `interrupted: true`. An interrupted answer of which nothing was
   * played (empty or blank text) records nothing. Returns the message added (or completed), if any.
   *
   * The text of an answer that called tools ("Let me check…") is played after its calls were
   * recorded: when the context ends with tool calls that have no text and no result yet, the text
   * becomes their message's content, where the model said it, instead of a message after them.
   */
  addAssistantText(text: string, options: { interrupted?: boolean } = {}): LLMAssistantMessage | undefined {
    if (options.interrupted && text.trim() === "") return undefined;
    const calls = wordlessPendingToolCalls(this.#messages);
    if (calls >= 0 && text.trim() !== "") {
      const owner = this.#messages[calls] as LLMAssistantMessage;
      this.#replace(calls, {
        ...owner,
        content: text,
        ...(options.interrupted ? { interrupted: true } : {}),
      });
      this.#changed();
      return this.#messages[calls] as LLMAssistantMessage;
    }
    const message: LLMAssistantMessage = options.interrupted
      ? { role: "assistant", content: text, interrupted: true }
      : { role: "assistant", content: text };
    this.addMessage(message);
    return this.#messages.at(-1) as LLMAssistantMessage;
  }

  /**
   * Records the function calls of one answer: an assistant message holding them (with `text`, what
   * was said before them, if any) followed by one tool message per call whose content says the
   * call is running (`status: "in_progress"`), so a request made before the results arrive is still
   * well formed for every provider. `anthropicThinking`: the thinking blocks the answer began with
   * (Anthropic extended thinking), kept on the message to be sent back with its calls. Throws
   * `LLMContextError` for an id already in the context or arguments that are not a JSON object.
   */
  recordToolCalls(
    calls: readonly ToolCallRequest[],
    options: { text?: string; anthropicThinking?: readonly AnthropicThinkingBlock[] } = {},
  ): void {
    if (calls.length === 0) return;
    for (const call of calls) {
      if (typeof call.arguments !== "string" && !isJsonObjectValue(call.arguments))
        throw new LLMContextError(
          `the arguments of tool call ${JSON.stringify(call.id)} must be a JSON object or its text (${NOT_JSON})`,
        );
      if (hasToolCallId(this.#messages, call.id))
        throw new LLMContextError(
          `tool call id ${JSON.stringify(call.id)} is already in the context; each call needs a new id`,
        );
    }
    const assistant = {
      role: "assistant" as const,
      content: options.text ? options.text : null,
      tool_calls: calls.map((c) => ({
        id: c.id,
        type: "function" as const,
        function: {
          name: c.name,
          arguments: typeof c.arguments === "string" ? c.arguments : JSON.stringify(c.arguments),
        },
        ...(c.geminiThoughtSignature ? { gemini: { thoughtSignature: c.geminiThoughtSignature } } : {}),
      })),
      ...(options.anthropicThinking?.length ? { anthropic: { thinking: options.anthropicThinking } } : {}),
    };
    const placeholders = calls.map((c): LLMToolMessage => ({
      role: "tool",
      tool_call_id: c.id,
      content: TOOL_CALL_IN_PROGRESS_TEXT,
      status: "in_progress",
    }));
    this.addMessages([assistant, ...placeholders]);
  }

  /**
   * Records the result of call `id` in place of its placeholder. Returns `{ accepted: false }` for
   * a call the context does not hold, one that was cancelled, or one that already has its result.
   * When the conversation had moved past the call (a late result), a system note saying the result
   * arrived is appended too, and `late` is `true`: the caller decides whether to run the LLM.
   */
  recordToolResult(id: string, result: JsonValue): ToolResultOutcome {
    // A handler is user code and may return anything: JSON.stringify would turn NaN into null and
    // a Map into {} without a word, and the model would be told a wrong result.
    if (!isJsonValue(result))
      throw new LLMContextError(
        `the result of tool call ${JSON.stringify(id)} is not JSON data (${NOT_JSON}); convert it before returning it, e.g. a Map to an object, NaN to null or a string`,
      );
    const found = findToolCall(this.#messages, id);
    if (!found) return { accepted: false, reason: "unknown" };
    const status = statusOf(found.message);
    if (status !== "in_progress") return { accepted: false, reason: status };
    this.#replace(found.resultIndex, { role: "tool", tool_call_id: id, content: resultText(result) });
    if (found.movedOn)
      this.#messages.push(
        parseLLMMessage({ role: "system", content: lateResultNote(found.call.function.name, id) }),
      );
    this.#changed();
    return { accepted: true, late: found.movedOn };
  }

  /**
   * Marks call `id` cancelled: its tool message now says so, and a result arriving later is
   * refused. Returns `false` (and changes nothing) when the call is unknown or already settled.
   */
  cancelToolCall(id: string): boolean {
    const found = findToolCall(this.#messages, id);
    if (!found || statusOf(found.message) !== "in_progress") return false;
    this.#replace(found.resultIndex, {
      role: "tool",
      tool_call_id: id,
      content: TOOL_CALL_CANCELLED_TEXT,
      status: "cancelled",
    });
    this.#changed();
    return true;
  }

  /** Where call `id` stands, or `undefined` if the context does not hold it. */
  toolCallStatus(id: string): LLMToolCallStatus | undefined {
    const found = findToolCall(this.#messages, id);
    return found && statusOf(found.message);
  }

  #replace(index: number, message: LLMMessage): void {
    // A new frozen message in the slot: snapshots keep the old one.
    this.#messages[index] = parseLLMMessage(message, `messages[${index}]`);
  }

  #changed(): void {
    this.#trim();
    this.#version += 1;
    this.#snapshot = undefined;
  }

  #trim(): void {
    const cut = trimEnd(this.#messages, this.#pinned, this.#maxMessages);
    if (cut > this.#pinned) this.#messages.splice(this.#pinned, cut - this.#pinned);
  }
}

/**
 * Where the `max` bound cuts `messages`: the oldest messages after the `pinned` instructions go,
 * up to the returned index (exclusive); `pinned` or less means nothing goes. The cut lands on a
 * user message when it can, never between a tool call and its results.
 */
function trimEnd(messages: readonly LLMMessage[], pinned: number, max: number | undefined): number {
  if (max === undefined) return pinned;
  const excess = messages.length - pinned - max;
  if (excess <= 0) return pinned;
  const from = pinned + excess;
  let cut = -1;
  for (let i = from; i < messages.length && cut < 0; i++) if (messages[i]!.role === "user") cut = i;
  for (let i = from; i < messages.length && cut < 0; i++) if (messages[i]!.role !== "tool") cut = i;
  // Everything past the bound is one call's results: keep their assistant message with them.
  for (let i = from - 1; i >= pinned && cut < 0; i--) if (messages[i]!.role !== "tool") cut = i;
  return cut;
}

/** How many messages at the start of `messages` are system or developer messages. */
function leadingInstructions(messages: readonly LLMMessage[]): number {
  let n = 0;
  while (n < messages.length && (messages[n]!.role === "system" || messages[n]!.role === "developer")) n++;
  return n;
}

const NOT_JSON =
  "strings, finite numbers, booleans, null, arrays and plain objects, at most 64 deep, no cycles; not a BigInt, a function, a Symbol, undefined, a Map or a Set";
