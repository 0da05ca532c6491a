import { type UnreadableMessage, parseJsonObject, quoteMessage } from "../websocket/provider-message.js";
import { type OtherDeepgramMessage, otherDeepgramMessage } from "./other-message.js";

/**
 * What Deepgram's live endpoint (`/v1/listen`) sends, read into plain values. Only the fields the
 * service uses are read; anything else is ignored, so new fields never break it.
 */

/** A message from Deepgram, as far as the service cares. */
export type DeepgramListenMessage =
  | {
      readonly type: "Results";
      readonly transcript: string;
      readonly isFinal: boolean;
      readonly speechFinal: boolean;
      readonly fromFinalize: boolean;
      readonly language: string | undefined;
    }
  | { readonly type: "Metadata"; readonly requestId: string | undefined }
  | { readonly type: "UtteranceEnd" | "SpeechStarted" }
  /** A documented error body (`err_code`, `err_msg`), or a `type` this service does not know. */
  | OtherDeepgramMessage;

/** A message that could not be read. */
export type Unreadable = UnreadableMessage;

/** Reads one text message; returns what it says, or why it could not be read. */
export function parseListenMessage(text: string): DeepgramListenMessage | Unreadable {
  const read = parseJsonObject(text);
  if (!("json" in read)) return read;
  const json = read.json;
  const type = json["type"];
  if (type === "Results") return parseResults(json, text);
  if (type === "Metadata") {
    const id = json["request_id"];
    return { type: "Metadata", requestId: typeof id === "string" ? id : undefined };
  }
  if (type === "UtteranceEnd" || type === "SpeechStarted") return { type };
  return otherDeepgramMessage(json, text);
}

function parseResults(json: Record<string, unknown>, text: string): DeepgramListenMessage | Unreadable {
  const channel = json["channel"];
  const alternatives = isRecord(channel) ? channel["alternatives"] : undefined;
  const first: unknown = Array.isArray(alternatives) ? alternatives[0] : undefined;
  const transcript = isRecord(first) ? first["transcript"] : undefined;
  if (typeof transcript !== "string") {
    return {
      cause: "results",
      what: `a Results message without channel.alternatives[0].transcript (${quoteMessage(text)})`,
    };
  }
  const languages = isRecord(first) ? first["languages"] : undefined;
  const language: unknown = Array.isArray(languages) ? languages[0] : undefined;
  return {
    type: "Results",
    transcript,
    isFinal: json["is_final"] === true,
    speechFinal: json["speech_final"] === true,
    fromFinalize: json["from_finalize"] === true,
    language: typeof language === "string" ? language : undefined,
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
