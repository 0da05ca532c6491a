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
  | { readonly type: "Other"; readonly name: string; readonly error: string | undefined };

/** Why a message could not be read: a short stable cause and a description. */
export interface Unreadable {
  readonly cause: string;
  readonly what: string;
}

/** Reads one text message; returns what it says, or why it could not be read. */
export function parseSpeakMessage(text: string): DeepgramSpeakMessage | Unreadable {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    return { cause: "json", what: `a message that is not JSON (${quote(text)})` };
  }
  if (!isRecord(json)) return { cause: "shape", what: `a message that is not an object (${quote(text)})` };
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
        description: quote(stringOf(json["description"]) ?? "(no description)"),
        warningCode: stringOf(json["code"]),
      };
  }
  const error =
    typeof json["err_msg"] === "string" || typeof json["err_code"] === "string"
      ? `${String(json["err_code"] ?? "")} ${String(json["err_msg"] ?? "")}`.trim()
      : typeof json["description"] === "string"
        ? json["description"]
        : undefined;
  if (typeof type !== "string" && error === undefined) {
    return { cause: "type", what: `a message without a "type" (${quote(text)})` };
  }
  return {
    type: "Other",
    name: typeof type === "string" ? quote(type) : "error",
    error: error === undefined ? undefined : quote(error),
  };
}

function stringOf(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** At most 120 characters of a message, for an error line. */
function quote(text: string): string {
  const flat = text.replace(/\s+/g, " ");
  return flat.length > 120 ? `${flat.slice(0, 120)}…` : flat;
}
