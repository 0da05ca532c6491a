import { type UnreadableMessage, parseJsonObject, quoteMessage } from "../websocket/provider-message.js";

/**
 * Cartesia's `/tts/websocket` server messages, read defensively: JSON text with a `type`
 * discriminator and the `context_id` it concerns (docs/design/tts-services.md, "Cartesia").
 */
export type CartesiaMessage =
  | { readonly type: "chunk"; readonly contextId: string; readonly data: string }
  | {
      readonly type: "timestamps";
      readonly contextId: string;
      readonly words: readonly string[];
      /** Seconds, as sent. */
      readonly starts: readonly number[];
    }
  | { readonly type: "flush_done"; readonly contextId: string }
  | { readonly type: "done"; readonly contextId: string }
  | { readonly type: "error"; readonly contextId: string | undefined; readonly error: string }
  /** A documented message the service has no use for (`phoneme_timestamps`). */
  | { readonly type: "ignored"; readonly contextId: string | undefined };

/** A message that could not be read. */
export type MalformedMessage = UnreadableMessage;

export function parseCartesiaMessage(text: string): CartesiaMessage | MalformedMessage {
  const read = parseJsonObject(text);
  if (!("json" in read)) return read;
  const m = read.json;
  const contextId = typeof m["context_id"] === "string" ? m["context_id"] : undefined;
  const type = m["type"];
  if (type === "error") {
    const error =
      typeof m["error"] === "string"
        ? m["error"]
        : typeof m["message"] === "string"
          ? m["message"]
          : quoteMessage(text);
    return { type: "error", contextId, error };
  }
  if (contextId === undefined) {
    return {
      cause: "no-context",
      what: `a "${typeof type === "string" ? quoteMessage(type, 40) : "?"}" message without a context_id`,
    };
  }
  switch (type) {
    case "chunk":
      if (typeof m["data"] !== "string")
        return { cause: "chunk-data", what: 'a "chunk" without base64 "data"' };
      return { type: "chunk", contextId, data: m["data"] };
    case "timestamps": {
      const t = m["word_timestamps"] as Record<string, unknown> | undefined;
      const words = t?.["words"];
      const starts = t?.["start"];
      if (
        !Array.isArray(words) ||
        !Array.isArray(starts) ||
        words.length !== starts.length ||
        !words.every((w) => typeof w === "string") ||
        // Seconds, made ms by the service: 1e308 s is a number, but not in ms.
        !starts.every((s) => typeof s === "number" && Number.isFinite(s * 1000) && s >= 0)
      ) {
        return {
          cause: "timestamps",
          what: 'a "timestamps" message whose word_timestamps are not words[] and start[] of the same length',
        };
      }
      return { type: "timestamps", contextId, words: words as string[], starts: starts as number[] };
    }
    case "flush_done":
      return { type: "flush_done", contextId };
    case "done":
      return { type: "done", contextId };
    case "phoneme_timestamps":
      return { type: "ignored", contextId };
    default:
      return {
        cause: "unknown-type",
        what: `a message of type ${typeof type === "string" ? JSON.stringify(quoteMessage(type, 40)) : "(none)"}, which this service does not know`,
      };
  }
}
