import { type UnreadableMessage, parseJsonObject, quoteMessage } from "../websocket/provider-message.js";
import { type OtherDeepgramMessage, otherDeepgramMessage } from "./other-message.js";

/**
 * What Deepgram's speak endpoint (`/v1/speak`) sends as text, read into plain values (binary
 * messages are audio). Only the fields the service uses are read; unknown fields are ignored.
 */

/** A text message from `/v1/speak`, as far as the service cares. */
export type DeepgramSpeakMessage =
  | { readonly type: "Metadata"; readonly requestId: string | undefined; readonly model: string | undefined }
  /** Everything sent before the `Flush` it answers has been synthesised. */
  | { readonly type: "Flushed"; readonly sequenceId: number | undefined }
  /** The answer to `Clear`: no audio of the text before it comes after this. */
  | { readonly type: "Cleared"; readonly sequenceId: number | undefined }
  | { readonly type: "Warning"; readonly description: string; readonly warningCode: string | undefined }
  /** A documented error body (`err_code`, `err_msg`), or a `type` this service does not know. */
  | OtherDeepgramMessage;

/** A message that could not be read. */
export type Unreadable = UnreadableMessage;

/** Reads one text message; returns what it says, or why it could not be read. */
export function parseSpeakMessage(text: string): DeepgramSpeakMessage | Unreadable {
  const read = parseJsonObject(text);
  if (!("json" in read)) return read;
  const json = read.json;
  const type = json["type"];
  switch (type) {
    case "Metadata":
      return { type, requestId: stringOf(json["request_id"]), model: stringOf(json["model_name"]) };
    case "Flushed":
    case "Cleared":
      return { type, sequenceId: typeof json["sequence_id"] === "number" ? json["sequence_id"] : undefined };
    case "Warning":
      return {
        type,
        description: quoteMessage(stringOf(json["description"]) ?? "(no description)"),
        warningCode: stringOf(json["code"]),
      };
  }
  return otherDeepgramMessage(json, text, json["description"]);
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}
