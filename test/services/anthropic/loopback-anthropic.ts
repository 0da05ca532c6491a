import { createHmac, randomBytes } from "node:crypto";
import { type LoopbackSse, type Responder, type SseWriter, loopbackSse } from "../http/loopback-sse.js";
import {
  blockStop,
  httpError,
  jsonDelta,
  redactedThinkingBlock,
  signatureDelta,
  thinkingBlockStart,
  thinkingDelta,
  toolBlockStart,
} from "./anthropic-events.js";

/**
 * A loopback Anthropic Messages server that checks, like the real API, what a client can get
 * wrong with extended thinking, and answers 400 `invalid_request_error` in Anthropic's words
 * when it does:
 * - with `thinking: {type: "enabled"}`, a request whose last user message holds `tool_result`
 *   blocks continues the assistant's turn: the assistant message before it must start with its
 *   thinking blocks, the very sequence the server sent in that answer (same text, signature and
 *   order; `redacted_thinking` data as sent);
 * - every `thinking` block's `signature` must sign its text (an HMAC here; opaque bytes there);
 * - `tool_choice` may not force a tool while thinking is on.
 * Requests without thinking are not checked (the API strips thinking blocks then).
 */

/** A thinking block as Anthropic sends it, and as it must come back. */
export type SentThinking =
  { type: "thinking"; thinking: string; signature: string } | { type: "redacted_thinking"; data: string };

/** One answer's thinking blocks and the tool_use ids they led to. */
interface SentAnswer {
  readonly thinking: SentThinking[];
  readonly toolUseIds: string[];
}

const KEY = randomBytes(16);

/** The signature the server gives a thinking text. */
export function signatureOf(thinking: string): string {
  return createHmac("sha256", KEY).update(thinking).digest("base64");
}

/** What the server sent in each answer, to check what comes back. */
export class ThinkingLedger {
  readonly #answers = new Map<number, SentAnswer>();
  readonly #redacted = new Set<string>();

  #answer(sse: SseWriter): SentAnswer {
    let answer = this.#answers.get(sse.request.n);
    if (!answer) {
      answer = { thinking: [], toolUseIds: [] };
      this.#answers.set(sse.request.n, answer);
    }
    return answer;
  }

  /** Streams a thinking block (its text in `pieces`, then its signature) and remembers it. */
  thinking(sse: SseWriter, index: number, pieces: readonly string[]): SentThinking {
    const text = pieces.join("");
    const block: SentThinking = { type: "thinking", thinking: text, signature: signatureOf(text) };
    thinkingBlockStart(sse, index);
    for (const piece of pieces) thinkingDelta(sse, index, piece);
    signatureDelta(sse, index, block.signature);
    blockStop(sse, index);
    this.#answer(sse).thinking.push(block);
    return block;
  }

  /** Streams a redacted thinking block (opaque data) and remembers it. */
  redacted(sse: SseWriter, index: number): SentThinking {
    const block: SentThinking = { type: "redacted_thinking", data: randomBytes(48).toString("base64") };
    redactedThinkingBlock(sse, index, block.data);
    this.#redacted.add(block.data);
    this.#answer(sse).thinking.push(block);
    return block;
  }

  /** Streams a tool_use block with its input in two fragments, and remembers its id. */
  toolUse(sse: SseWriter, index: number, id: string, name: string, input: object): void {
    const json = JSON.stringify(input);
    toolBlockStart(sse, index, id, name);
    jsonDelta(sse, index, json.slice(0, 5));
    jsonDelta(sse, index, json.slice(5));
    blockStop(sse, index);
    this.#answer(sse).toolUseIds.push(id);
  }

  /** Why Anthropic would refuse `body` (its words), or `undefined`. */
  refusal(body: Record<string, unknown>): string | undefined {
    if ((body["thinking"] as { type?: unknown } | undefined)?.type !== "enabled") return undefined;
    const choice = (body["tool_choice"] as { type?: unknown } | undefined)?.type;
    if (choice === "any" || choice === "tool")
      return "Thinking may not be enabled when tool_choice forces tool use.";
    type Block = { type: string; [field: string]: unknown };
    const messages = body["messages"] as { role: string; content: Block[] }[];
    for (const [k, message] of messages.entries()) {
      for (const [j, block] of message.content.entries()) {
        if (block.type === "thinking" && block["signature"] !== signatureOf(String(block["thinking"])))
          return `messages.${k}.content.${j}: Invalid \`signature\` in \`thinking\` block`;
        if (block.type === "redacted_thinking" && !this.#redacted.has(String(block["data"])))
          return `messages.${k}.content.${j}: Invalid \`data\` in \`redacted_thinking\` block`;
      }
    }
    const last = messages.at(-1);
    if (last?.role !== "user" || !last.content.some((b) => b.type === "tool_result")) return undefined;
    const k = messages.length - 2;
    const assistant = messages[k]!.content;
    const isThinking = (b: Block): boolean => b.type === "thinking" || b.type === "redacted_thinking";
    if (!isThinking(assistant[0]!))
      return (
        `messages.${k}.content.0.type: Expected \`thinking\` or \`redacted_thinking\`, but found \`${assistant[0]!.type}\`. ` +
        "When `thinking` is enabled, a final `assistant` message must start with a thinking block (preceeding the " +
        "lastmost set of `tool_use` and `tool_result` blocks). We recommend you include thinking blocks from previous " +
        "turns. To avoid this requirement, disable `thinking`. Please consult our documentation at " +
        "https://docs.claude.com/en/docs/build-with-claude/extended-thinking"
      );
    const sent = assistant.slice(
      0,
      assistant.findIndex((b) => !isThinking(b)),
    );
    const ids = assistant.flatMap((b) => (b.type === "tool_use" ? [String(b["id"])] : []));
    const original = [...this.#answers.values()].find((a) => ids.every((id) => a.toolUseIds.includes(id)));
    if (!original || JSON.stringify(sent) !== JSON.stringify(original.thinking))
      return (
        `messages.${k}.content.0: \`thinking\` or \`redacted_thinking\` blocks in the latest assistant message ` +
        "cannot be modified. These blocks must remain as they were in the original response."
      );
    return undefined;
  }
}

/** A loopback Anthropic server: `POST /v1/messages` checked by the ledger, then answered by `respond`. */
export interface LoopbackAnthropic extends LoopbackSse {
  readonly thinking: ThinkingLedger;
}

export async function loopbackAnthropic(
  respond: (sse: SseWriter, n: number, thinking: ThinkingLedger) => void | Promise<void>,
): Promise<LoopbackAnthropic> {
  const thinking = new ThinkingLedger();
  const checked: Responder = (sse, n) => {
    const refusal = thinking.refusal(sse.request.body);
    if (refusal) return httpError(sse, 400, "invalid_request_error", refusal);
    return respond(sse, n, thinking);
  };
  const server = await loopbackSse((url) => url === "/v1/messages", checked, {
    type: "error",
    error: { type: "not_found_error", message: "Not found" },
  });
  return Object.assign(server, { thinking });
}
