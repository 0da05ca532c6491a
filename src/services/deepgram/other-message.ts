import { wireText } from "../../wire-values.js";
import { type UnreadableMessage, quoteMessage } from "../websocket/provider-message.js";

/** A Deepgram message the service has no case for: a documented error body, or a `type` it does not know. */
export interface OtherDeepgramMessage {
  readonly type: "Other";
  /** The message's `type` (quoted), or "error" for an error body without one. */
  readonly name: string;
  /** The error it carries (quoted), if any. */
  readonly error: string | undefined;
}

/**
 * Reads a message of either Deepgram endpoint (`/v1/listen`, `/v1/speak`) that no case took: its
 * error is `err_code err_msg` (the documented error body), else `fallbackError` (the speak
 * endpoint's `description`). Unreadable when it has neither a `type` nor an error. Both come from
 * the provider and go into a log line, so both are cut.
 */
export function otherDeepgramMessage(
  json: Record<string, unknown>,
  text: string,
  fallbackError?: unknown,
): OtherDeepgramMessage | UnreadableMessage {
  const type = json["type"];
  const error =
    typeof json["err_msg"] === "string" || typeof json["err_code"] === "string"
      ? `${printable(json["err_code"])} ${printable(json["err_msg"])}`.trim()
      : typeof fallbackError === "string"
        ? fallbackError
        : undefined;
  if (typeof type !== "string" && error === undefined) {
    return { cause: "type", what: `a message without a "type" (${quoteMessage(text)})` };
  }
  return {
    type: "Other",
    name: typeof type === "string" ? quoteMessage(type) : "error",
    error: error === undefined ? undefined : quoteMessage(error),
  };
}

/** An error field as text: a string or a number as it is, anything else (an object, a list) by its kind. */
function printable(value: unknown): string {
  return value === undefined || value === null ? "" : wireText(value, 300);
}
