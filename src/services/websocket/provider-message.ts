/**
 * Reading a provider's JSON text messages defensively (docs/design/provider-socket.md): a message
 * that cannot be read is described, never thrown, so the service counts it and says so once.
 */

/** A message that could not be read: `cause` is a short stable key (for counting repeats), `what` says what was wrong. */
export interface UnreadableMessage {
  readonly cause: string;
  readonly what: string;
}

/** `text` as a JSON object, or why it is not one (not JSON, or JSON but not an object). */
export function parseJsonObject(
  text: string,
): { readonly json: Record<string, unknown> } | UnreadableMessage {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { cause: "not-json", what: `a message that is not JSON (${quoteMessage(text)})` };
  }
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return { cause: "not-object", what: `a JSON message that is not an object (${quoteMessage(text)})` };
  }
  return { json: value as Record<string, unknown> };
}

/** A provider's text for a log or error line: white space folded, at most `max` characters. */
export function quoteMessage(text: string, max = 120): string {
  const flat = text.replace(/\s+/gu, " ").trim();
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}…`;
}
