import { type JsonObject, isJsonObjectValue } from "../../context/json.js";
import type { LLMStreamEvent, LLMUsage } from "../llm/llm-stream.js";
import { EventStreamError } from "../http/http-errors.js";
import type { ServerSentEvent } from "../http/event-stream.js";

/** An `error` event in an Anthropic stream (e.g. `overloaded_error`, what HTTP 529 means). */
export class AnthropicStreamErrorEvent extends Error {
  override readonly name = "AnthropicStreamErrorEvent";
  constructor(
    /** The error's `type`, e.g. `overloaded_error`, `api_error`. */
    readonly type: string,
    /** The provider's own words. */
    readonly providerMessage: string,
  ) {
    super(`${type}: ${providerMessage}`);
  }
}

/**
 * Most characters of thinking held for one answer, all blocks together (4 MiB). A large thinking
 * budget makes a few hundred thousand; a stream that keeps sending more is treated as malformed
 * rather than held until the process runs out of memory (a block cannot be cut: its signature
 * would no longer match).
 */
export const MAX_THINKING_CHARS = 1 << 22;

/** A thinking block being received: its text and signature pieces, joined at its stop. */
interface ThinkingBlock {
  readonly type: "thinking";
  readonly thinking: string[];
  readonly signature: string[];
}

/** A redacted thinking block: whole in its content_block_start. */
interface RedactedBlock {
  readonly type: "redacted_thinking";
  readonly data: string;
}

interface ToolBlock {
  /** The call's index for the tool-call assembler: tool blocks numbered 0, 1… in stream order. */
  readonly index: number;
  /** Whether any `input_json_delta` carried text. */
  sawInput: boolean;
  /** The `input` of `content_block_start`, used only when no delta carries the input. */
  readonly startInput: JsonObject | undefined;
}

/**
 * Turns the events of an Anthropic Messages stream (docs/design/llm-services.md, "Anthropic")
 * into {@link LLMStreamEvent}s: `text_delta` → text; a `tool_use` block → a tool call whose
 * argument text is its `input_json_delta` fragments; a `thinking` block (its `thinking_delta` and
 * `signature_delta` pieces) or a `redacted_thinking` block → one `thinking` event carrying the
 * whole block at its `content_block_stop`, and a bare `thinking` event for each piece before (the
 * stream is alive while the model thinks); `message_start`/`message_delta` usage → one usage event
 * at `message_stop`. `ping`, citation deltas and unknown event types are ignored (Anthropic may
 * add event types). An `error` event throws {@link AnthropicStreamErrorEvent}; an event that is
 * not a JSON object with a `type`, a tool or thinking delta for a block of another type, or more
 * than {@link MAX_THINKING_CHARS} of thinking throws `EventStreamError`. One per request.
 */
export class AnthropicStreamTranslator {
  readonly #tools = new Map<number, ToolBlock>();
  readonly #thinking = new Map<number, ThinkingBlock | RedactedBlock>();
  /** Thinking characters held so far (bounded by MAX_THINKING_CHARS). */
  #thinkingChars = 0;
  #finished = false;
  #inputTokens = 0;
  #outputTokens = 0;
  #cacheReadTokens: number | undefined;
  #cacheCreationTokens = 0;

  /** `message_stop` arrived: the answer is complete. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The stream events one server-sent event stands for (often none). */
  *translate(sse: ServerSentEvent): Generator<LLMStreamEvent> {
    const event = parse(sse);
    switch (event["type"]) {
      case "message_start":
        this.#usage(field(event["message"], "usage"));
        return;
      case "content_block_start":
        yield* this.#blockStart(event);
        return;
      case "content_block_delta":
        yield* this.#delta(event);
        return;
      case "content_block_stop":
        yield* this.#blockStop(event);
        return;
      case "message_delta": {
        this.#usage(event["usage"]);
        const stop = field(event["delta"], "stop_reason");
        if (stop === "max_tokens") yield { type: "cut-short", reason: "max-tokens" };
        if (stop === "refusal") yield { type: "cut-short", reason: "filtered" };
        return;
      }
      case "message_stop":
        this.#noThinkingOpen("message_stop");
        this.#finished = true;
        yield { type: "usage", usage: this.#totals() };
        return;
      case "error": {
        const error = field(event, "error");
        throw new AnthropicStreamErrorEvent(
          text(field(error, "type")) ?? "unknown_error",
          text(field(error, "message")) ?? JSON.stringify(event).slice(0, 200),
        );
      }
      default:
        return; // ping, and event types added after this was written
    }
  }

  *#blockStart(event: JsonObject): Generator<LLMStreamEvent> {
    const index = blockIndex(event);
    this.#noThinkingOpen(`content block ${index} started`);
    const block = field(event, "content_block");
    const type = text(field(block, "type"));
    if (type === "text") {
      const initial = text(field(block, "text"));
      if (initial) yield { type: "text", text: initial };
    } else if (type === "thinking") {
      const kept: ThinkingBlock = { type: "thinking", thinking: [], signature: [] };
      this.#thinking.set(index, kept);
      this.#addThinking(kept.thinking, text(field(block, "thinking")));
      this.#addThinking(kept.signature, text(field(block, "signature")));
      yield { type: "thinking" };
    } else if (type === "redacted_thinking") {
      const data = text(field(block, "data")) ?? "";
      this.#count(data);
      this.#thinking.set(index, { type: "redacted_thinking", data });
      yield { type: "thinking" };
    } else if (type === "tool_use") {
      const input = field(block, "input");
      const tool: ToolBlock = {
        index: this.#tools.size,
        sawInput: false,
        startInput: isJsonObjectValue(input) && Object.keys(input).length > 0 ? input : undefined,
      };
      this.#tools.set(index, tool);
      yield {
        type: "tool-call",
        index: tool.index,
        id: text(field(block, "id")),
        name: text(field(block, "name")),
      };
    }
  }

  *#delta(event: JsonObject): Generator<LLMStreamEvent> {
    const index = blockIndex(event);
    const delta = field(event, "delta");
    const type = text(field(delta, "type"));
    if (type === "text_delta") {
      const piece = text(field(delta, "text"));
      if (piece) yield { type: "text", text: piece };
    } else if (type === "thinking_delta" || type === "signature_delta") {
      const block = this.#thinking.get(index);
      if (block?.type !== "thinking") {
        throw new EventStreamError(
          `a ${type} arrived for content block ${index}, which did not start as a thinking block`,
        );
      }
      if (type === "thinking_delta") this.#addThinking(block.thinking, text(field(delta, "thinking")));
      else this.#addThinking(block.signature, text(field(delta, "signature")));
      yield { type: "thinking" };
    } else if (type === "input_json_delta") {
      const tool = this.#tools.get(index);
      if (!tool) {
        throw new EventStreamError(
          `an input_json_delta arrived for content block ${index}, which did not start as a tool_use block`,
        );
      }
      const piece = text(field(delta, "partial_json"));
      if (piece) {
        tool.sawInput = true;
        yield { type: "tool-call", index: tool.index, arguments: piece };
      }
    }
    // citations_delta: not part of what is spoken.
  }

  *#blockStop(event: JsonObject): Generator<LLMStreamEvent> {
    const index = blockIndex(event);
    const thinking = this.#thinking.get(index);
    if (thinking) {
      this.#thinking.delete(index);
      if (thinking.type === "thinking" && thinking.signature.length === 0) {
        throw new EventStreamError(
          `thinking block ${index} ended (content_block_stop) without its signature (no signature_delta came): ` +
            "Anthropic refuses a thinking block sent back unsigned, so the answer's tool calls could not be " +
            "answered; a proxy that drops event types it does not know does this",
        );
      }
      yield {
        type: "thinking",
        anthropic:
          thinking.type === "thinking"
            ? {
                type: "thinking",
                thinking: thinking.thinking.join(""),
                signature: thinking.signature.join(""),
              }
            : thinking,
      };
      return;
    }
    const tool = this.#tools.get(index);
    if (tool && !tool.sawInput && tool.startInput) {
      yield { type: "tool-call", index: tool.index, arguments: JSON.stringify(tool.startInput) };
    }
  }

  /**
   * Content blocks stream one after another, each closed by its content_block_stop. A thinking
   * block still open when `next` comes was never finished: it cannot be sent back with the
   * answer's tool calls (Anthropic requires it, whole and signed), so the stream is malformed.
   */
  #noThinkingOpen(next: string): void {
    const open = this.#thinking.keys().next();
    if (open.done) return;
    throw new EventStreamError(
      `thinking block ${open.value} was never closed (no content_block_stop) before ${next}: ` +
        "an unfinished thinking block cannot be sent back to Anthropic with the answer's tool calls",
    );
  }

  /** Adds a piece of a thinking block's text or signature, within the bound. */
  #addThinking(pieces: string[], piece: string | undefined): void {
    if (!piece) return;
    this.#count(piece);
    pieces.push(piece);
  }

  #count(piece: string): void {
    this.#thinkingChars += piece.length;
    if (this.#thinkingChars > MAX_THINKING_CHARS) {
      throw new EventStreamError(
        `the answer's thinking passed ${MAX_THINKING_CHARS} characters; no thinking budget makes that much, so the stream is treated as malformed`,
      );
    }
  }

  /** Usage counts are cumulative: the latest value of each field counts. */
  #usage(usage: unknown): void {
    if (!isJsonObjectValue(usage)) return;
    this.#inputTokens = count(usage["input_tokens"]) ?? this.#inputTokens;
    this.#outputTokens = count(usage["output_tokens"]) ?? this.#outputTokens;
    this.#cacheReadTokens = count(usage["cache_read_input_tokens"]) ?? this.#cacheReadTokens;
    this.#cacheCreationTokens = count(usage["cache_creation_input_tokens"]) ?? this.#cacheCreationTokens;
  }

  /** Anthropic's `input_tokens` leaves out cached tokens; the prompt is all three together. */
  #totals(): LLMUsage {
    const prompt = this.#inputTokens + (this.#cacheReadTokens ?? 0) + this.#cacheCreationTokens;
    return {
      promptTokens: prompt,
      completionTokens: this.#outputTokens,
      totalTokens: prompt + this.#outputTokens,
      cachedTokens: this.#cacheReadTokens,
    };
  }
}

function parse(sse: ServerSentEvent): JsonObject {
  let value: unknown;
  try {
    value = JSON.parse(sse.data);
  } catch {
    throw new EventStreamError(
      `an event${sse.event ? ` (${sse.event})` : ""} was not valid JSON: ${JSON.stringify(sse.data.slice(0, 80))}`,
    );
  }
  if (!isJsonObjectValue(value) || typeof value["type"] !== "string") {
    throw new EventStreamError(
      `an event${sse.event ? ` (${sse.event})` : ""} was not a JSON object with a type: ${JSON.stringify(sse.data.slice(0, 80))}`,
    );
  }
  return value;
}

function blockIndex(event: JsonObject): number {
  const index = event["index"];
  if (typeof index !== "number" || !Number.isInteger(index) || index < 0) {
    throw new EventStreamError(
      `a ${String(event["type"])} event has index ${JSON.stringify(index)}; it must be a whole number ≥ 0`,
    );
  }
  return index;
}

function field(value: unknown, name: string): unknown {
  return isJsonObjectValue(value) ? value[name] : undefined;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

/** A token count: a whole number ≥ 0 (1e308 is a finite number, but no count; the totals would overflow). */
function count(value: unknown): number | undefined {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0 ? value : undefined;
}
