import { DEFAULT_MAX_EVENT_CHARS } from "../../http/event-stream.js";
import { EventStreamError, NotEventStreamError } from "../../http/http-errors.js";
import type { FetchFunction } from "../../http/http-fetch.js";

/**
 * The bytes that end an event for the OpenAI SDK's SSE reader (its `findDoubleNewlineIndex`): it
 * keeps everything after the last of these in one buffer, which it copies whole on every chunk.
 */
const EVENT_ENDS = [Buffer.from("\n\n"), Buffer.from("\r\r"), Buffer.from("\r\n\r\n")];
/** Bytes of one chunk that can belong to an event end begun in the chunk before. */
const LONGEST_END = 4;

/**
 * Wraps the `fetch` the OpenAI SDK sends streamed chat completions with, so that two things the
 * SDK does not check are checked before it reads (docs/design/llm-services.md, "OpenAI"):
 *
 * - A success status whose body is not `text/event-stream` (an HTML sign-in page, a base URL that
 *   is a web site, a server that ignored `stream: true`): the body errors at its first read with
 *   {@link NotEventStreamError}, naming the content type. (The SDK would read it as an event
 *   stream with no event, and the answer would look cut off.)
 * - An event (or one line) longer than `maxEventBytes`: the body errors with
 *   {@link EventStreamError} and the connection is closed. The SDK buffers an unfinished event
 *   without bound and copies it on every chunk, so a server that never ends a line would take
 *   memory and CPU until the stall deadline, which would then say "nothing arrived".
 *
 * Meant for a client that only streams (the SDK's requests all say `accept: application/json`,
 * so a streamed one cannot be told apart): every success response of this fetch is held to
 * these rules; error statuses pass untouched. Costs per chunk a native search for the three event
 * ends; the bytes are passed on, never copied. Other errors of the body (a cut, an abort) reach
 * the SDK as they came.
 *
 * @param maxEventBytes Most bytes after the last event end. @default 4 MiB (the bound Anthropic and Gemini use)
 */
export function openAIStreamFetch(
  fetch: FetchFunction,
  maxEventBytes: number = DEFAULT_MAX_EVENT_CHARS,
): FetchFunction {
  return async (input, init) => {
    const response = await fetch(input, init);
    if (!response.ok || response.body === null) return response;
    const url = typeof input === "string" ? input : input instanceof URL ? input.href : input.url;
    const type = response.headers.get("content-type") ?? "";
    let body: ReadableStream<Uint8Array>;
    if (type.toLowerCase().includes("text/event-stream")) {
      body = boundedEvents(response.body, maxEventBytes, url);
    } else {
      await response.body.cancel().catch(() => undefined); // closes the connection; the page is not read
      const error = new NotEventStreamError(url, type);
      body = new ReadableStream({ start: (controller) => controller.error(error) });
    }
    const wrapped = new Response(body, {
      status: response.status,
      statusText: response.statusText,
      headers: response.headers,
    });
    Object.defineProperty(wrapped, "url", { value: response.url });
    return wrapped;
  };
}

/**
 * `source`, chunk for chunk (read when the reader reads: no read-ahead), erroring with
 * {@link EventStreamError} once more than `maxBytes` came after the last event end.
 */
function boundedEvents(
  source: ReadableStream<Uint8Array>,
  maxBytes: number,
  url: string,
): ReadableStream<Uint8Array> {
  const reader = source.getReader();
  let sinceEnd = 0; // bytes after the last event end
  let tail: Buffer = Buffer.alloc(0); // the last bytes before this chunk, for an end split across two
  return new ReadableStream<Uint8Array>(
    {
      async pull(controller) {
        const { done, value } = await reader.read(); // a body error rejects: the stream errors with it
        if (done) return controller.close();
        const bytes = Buffer.from(value.buffer, value.byteOffset, value.byteLength); // a view, no copy
        const end = lastEventEnd(tail, bytes);
        sinceEnd = end < 0 ? sinceEnd + bytes.length : bytes.length - end;
        tail = lastBytes(tail, bytes);
        if (sinceEnd > maxBytes) {
          const error = new EventStreamError(
            `${url} sent an event (or a line) longer than ${maxBytes} bytes; the stream was abandoned`,
          );
          controller.error(error);
          await reader.cancel(error).catch(() => undefined); // closes the connection
          return;
        }
        controller.enqueue(value);
      },
      cancel(reason) {
        return reader.cancel(reason);
      },
    },
    { highWaterMark: 0 },
  );
}

/** Where in `chunk` the last event end finishes (an index into `chunk`), or -1 when none does. */
function lastEventEnd(tail: Buffer, chunk: Buffer): number {
  let end = -1;
  for (const mark of EVENT_ENDS) {
    const at = chunk.lastIndexOf(mark);
    if (at >= 0) end = Math.max(end, at + mark.length);
  }
  if (end >= 0 || tail.length === 0) return end;
  // An end that began in the bytes before this chunk: at most 6 bytes to look at.
  const joint = Buffer.concat([tail, chunk.subarray(0, LONGEST_END - 1)]);
  for (const mark of EVENT_ENDS) {
    const at = joint.lastIndexOf(mark);
    if (at >= 0 && at + mark.length > tail.length) end = Math.max(end, at + mark.length - tail.length);
  }
  return end;
}

/** The last {@link LONGEST_END} - 1 bytes of the stream so far (`tail`, then `chunk`), copied. */
function lastBytes(tail: Buffer, chunk: Buffer): Buffer {
  const keep = LONGEST_END - 1;
  if (chunk.length >= keep) return Buffer.from(chunk.subarray(chunk.length - keep));
  const joined = Buffer.concat([tail, chunk]);
  return joined.subarray(Math.max(0, joined.length - keep));
}
