import { type ParseError, createParser } from "eventsource-parser";
import {
  EventStreamError,
  HttpConnectionError,
  HttpStatusError,
  MAX_ERROR_BODY_CHARS,
  NotEventStreamError,
} from "./http-errors.js";
import { type FetchFunction, httpFetch } from "./http-fetch.js";

/** One server-sent event. */
export interface ServerSentEvent {
  /** The `event:` field, when the server named the event. */
  readonly event: string | undefined;
  /** The `data:` lines, joined with `\n`. */
  readonly data: string;
}

/** A JSON POST whose answer is a `text/event-stream`. */
export interface EventStreamRequest {
  readonly url: string;
  /** Request headers (`content-type` and `accept` are set here). */
  readonly headers: Readonly<Record<string, string>>;
  /** The body, sent as JSON. */
  readonly body: unknown;
  /** Aborts the request and the reading of its stream. */
  readonly signal: AbortSignal;
  /**
   * Most characters one event (or one unfinished line) may hold while it arrives; past it the
   * stream is refused as malformed, so a server that never ends a line cannot grow memory
   * without bound. @default 4 MiB
   */
  readonly maxEventChars?: number;
  /**
   * What sends the request: any function with `fetch`'s signature (Node's own, a proxying one).
   * @default httpFetch (docs/design/llm-services.md, "The HTTP client")
   */
  readonly fetch?: FetchFunction;
}

/** Most characters one event (or one unfinished line) may hold, unless a service says otherwise: 4 MiB. */
export const DEFAULT_MAX_EVENT_CHARS = 4 << 20;

/**
 * POSTs `request.body` as JSON (with `request.fetch`, else {@link httpFetch}) and yields the server-sent events of the answer as they arrive
 * (docs/design/llm-services.md, "Raw HTTP providers"). Parsing follows the WHATWG rules through
 * `eventsource-parser`: `\n`, `\r\n` or `\r` line ends, comments skipped, multi-line data joined,
 * a UTF-8 sequence split across chunks decoded whole.
 *
 * Throws {@link HttpStatusError} for an error status (with the body's text, bounded),
 * {@link EventStreamError} when the answer is not an event stream or an event is too large,
 * {@link HttpConnectionError} when the server cannot be reached or the connection breaks, and
 * `signal.reason` (or the fetch's own abort error) once `signal` aborted. The stream simply ends when the
 * body ends: whether the answer was complete is the provider's to say. Leaving the loop early
 * (`return()`) closes the response.
 *
 * No deadline here: the caller bounds each wait (the LLM base puts every `next()` under one).
 */
export async function* postEventStream(request: EventStreamRequest): AsyncGenerator<ServerSentEvent> {
  const { url, signal } = request;
  let response: Response;
  try {
    response = await (request.fetch ?? httpFetch)(url, {
      method: "POST",
      headers: { ...request.headers, "content-type": "application/json", accept: "text/event-stream" },
      body: JSON.stringify(request.body),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw error;
    throw new HttpConnectionError(url, false, error);
  }
  if (!response.ok) {
    const body = await boundedText(response, signal).catch((error: unknown) => {
      if (signal.aborted) throw error;
      return "";
    });
    throw new HttpStatusError(url, response.status, response.headers, body);
  }
  const type = response.headers.get("content-type") ?? "";
  if (!type.toLowerCase().includes("text/event-stream") || !response.body) {
    await response.body?.cancel().catch(() => undefined);
    throw new NotEventStreamError(url, type);
  }
  const maxEventChars = request.maxEventChars ?? DEFAULT_MAX_EVENT_CHARS;
  const events: ServerSentEvent[] = [];
  let overflow: ParseError | undefined;
  const parser = createParser({
    onEvent: (e) => events.push({ event: e.event, data: e.data }),
    // Unknown fields are ignored, as the SSE rules say; only an event too large stops the stream.
    onError: (e) => {
      if (e.type === "max-buffer-size-exceeded") overflow ??= e;
    },
    maxBufferSize: maxEventChars,
  });
  const decoder = new TextDecoder("utf-8");
  const reader = response.body.getReader();
  let endsWithCR = false;
  try {
    for (;;) {
      let chunk: Awaited<ReturnType<typeof reader.read>>;
      try {
        chunk = await reader.read();
      } catch (error) {
        if (signal.aborted) throw error;
        throw new HttpConnectionError(url, true, error);
      }
      const text = chunk.done ? decoder.decode() : decoder.decode(chunk.value, { stream: true });
      if (text !== "") {
        parser.feed(text);
        endsWithCR = text.endsWith("\r");
      }
      // The parser holds a final "\r" until it sees whether "\n" follows; at the end of the body
      // it is a line end, so the event it closes must not be lost. ("\r" + "\n" is one line end.)
      if (chunk.done && endsWithCR) parser.feed("\n");
      if (overflow) {
        throw new EventStreamError(
          `${url} sent an event (or a line) longer than ${maxEventChars} characters; the stream was abandoned`,
        );
      }
      for (const event of events.splice(0)) yield event;
      // An event not closed by a blank line when the body ends is dropped, as the SSE rules say.
      if (chunk.done) return;
    }
  } finally {
    // Closes the connection when the caller stopped early; a no-op once the body ended.
    reader.cancel().catch(() => undefined);
  }
}

/** The body's text, at most MAX_ERROR_BODY_CHARS of it; the rest is not read (also used by the telephony call controls). */
export async function boundedText(response: Response, signal: AbortSignal): Promise<string> {
  if (!response.body) return "";
  const reader = response.body.getReader();
  const decoder = new TextDecoder("utf-8");
  let text = "";
  try {
    while (text.length < MAX_ERROR_BODY_CHARS && !signal.aborted) {
      const { done, value } = await reader.read();
      if (done) break;
      text += decoder.decode(value, { stream: true });
    }
    return (text + decoder.decode()).slice(0, MAX_ERROR_BODY_CHARS);
  } finally {
    reader.cancel().catch(() => undefined);
  }
}
