import { wireJson } from "../../wire-values.js";
import { type UnreadableMessage, parseJsonObject, quoteMessage } from "../websocket/provider-message.js";

/**
 * ElevenLabs' `multi-stream-input` server messages, read defensively
 * (docs/design/tts-services.md, "ElevenLabs"): the server spells the context `contextId` (clients
 * send `context_id`), the end of a context `isFinal` (its spec's examples also show `is_final`), and
 * alignment durations `charDurationsMs` or `charsDurationsMs`; every spelling is accepted.
 */
export interface ElevenLabsAlignment {
  readonly chars: readonly string[];
  /** ms from the start of this message's audio. */
  readonly startsMs: readonly number[];
}

export type ElevenLabsMessage =
  | {
      readonly kind: "audio";
      readonly contextId: string | undefined;
      /** Base64 PCM, when the message has audio. */
      readonly audio: string | undefined;
      readonly alignment: ElevenLabsAlignment | undefined;
      readonly isFinal: boolean;
    }
  | { readonly kind: "error"; readonly contextId: string | undefined; readonly error: string }
  /** A message the service has no use for (a `flush_done`). */
  | { readonly kind: "ignored" };

/** A message that could not be read. */
export type MalformedMessage = UnreadableMessage;

export function parseElevenLabsMessage(text: string): ElevenLabsMessage | MalformedMessage {
  const read = parseJsonObject(text);
  if (!("json" in read)) return read;
  const m = read.json;
  const id = m["contextId"] ?? m["context_id"];
  const contextId = typeof id === "string" ? id : undefined;
  if (m["error"] !== undefined && m["error"] !== null) {
    return { kind: "error", contextId, error: describeError(m) };
  }
  if (m["type"] === "flush_done") return { kind: "ignored" };
  const isFinal = m["isFinal"] === true || m["is_final"] === true;
  const audio = typeof m["audio"] === "string" && m["audio"] !== "" ? m["audio"] : undefined;
  if (!isFinal && audio === undefined && !("audio" in m)) {
    return {
      cause: "unknown-shape",
      what: `a message with neither audio, isFinal nor error (${quoteMessage(text)})`,
    };
  }
  const raw = (m["alignment"] ?? m["normalizedAlignment"] ?? m["normalized_alignment"]) as
    Record<string, unknown> | null | undefined;
  let alignment: ElevenLabsAlignment | undefined;
  if (raw) {
    const chars = raw["chars"];
    const starts = raw["charStartTimesMs"] ?? raw["charsStartTimesMs"];
    if (
      !Array.isArray(chars) ||
      !Array.isArray(starts) ||
      chars.length !== starts.length ||
      !chars.every((c) => typeof c === "string") ||
      !starts.every((s) => typeof s === "number" && Number.isFinite(s) && s >= 0)
    ) {
      return {
        cause: "alignment",
        what: "an alignment whose chars and charStartTimesMs are not lists of the same length",
      };
    }
    alignment = { chars: chars as string[], startsMs: starts as number[] };
  }
  return { kind: "audio", contextId, audio, alignment, isFinal };
}

function describeError(m: Record<string, unknown>): string {
  const error = m["error"];
  const message = m["message"];
  const parts: string[] = [];
  if (typeof error === "string") parts.push(error);
  else if (typeof error === "object" && error !== null) {
    const e = error as Record<string, unknown>;
    if (typeof e["message"] === "string") parts.push(e["message"]);
    else parts.push(wireJson(error, 300));
  }
  if (typeof message === "string" && !parts.includes(message)) parts.push(message);
  return quoteMessage(parts.join(": "), 300);
}
