import { describe } from "../../errors.js";
/**
 * What can go wrong with a streamed HTTP request (docs/design/llm-services.md, "Raw HTTP
 * providers"). Providers turn these into their own service errors; the classes only carry the
 * facts (status, headers, the body's text) so each provider can say what they mean.
 */

/** The server answered with an HTTP error status instead of a stream. */
export class HttpStatusError extends Error {
  override readonly name = "HttpStatusError";
  constructor(
    readonly url: string,
    readonly status: number,
    readonly headers: Headers,
    /** The response body as text, cut at {@link MAX_ERROR_BODY_CHARS}. */
    readonly body: string,
  ) {
    super(`${url} answered HTTP ${status}${body === "" ? "" : `: ${body.slice(0, 200)}`}`);
  }

  /** The body parsed as JSON, or undefined when it is not JSON. */
  get json(): unknown {
    try {
      return JSON.parse(this.body) as unknown;
    } catch {
      return undefined;
    }
  }
}

/** The server could not be reached, or the connection broke while the stream was being read. */
export class HttpConnectionError extends Error {
  override readonly name = "HttpConnectionError";
  constructor(
    readonly url: string,
    /** Whether response headers had arrived (the connection broke mid-stream). */
    readonly midStream: boolean,
    cause: unknown,
  ) {
    super(
      `${midStream ? "the connection to" : "could not reach"} ${url}${midStream ? " broke mid-stream" : ""}: ${describeCause(cause)}`,
      { cause },
    );
  }
}

/** The answer was not a well-formed event stream (wrong content type, an event too large). */
export class EventStreamError extends Error {
  override readonly name: string = "EventStreamError";
}

/**
 * A success status whose body is not `text/event-stream` (a captive portal's or a proxy's HTML
 * page, a base URL pointing at a web site, an endpoint that does not stream). Asking again gets
 * the same page: it says what came, so the user can fix the endpoint.
 */
export class NotEventStreamError extends EventStreamError {
  override readonly name = "NotEventStreamError";
  constructor(
    readonly url: string,
    /** The answer's `content-type` ("" when it had none). */
    readonly contentType: string,
  ) {
    super(
      `${url} answered ${contentType === "" ? "without a content type" : contentType}, not text/event-stream ` +
        "(a proxy in the way, or an endpoint that does not stream)",
    );
  }
}

/** Most characters of an error body kept (a proxy's HTML error page needs no more). */
export const MAX_ERROR_BODY_CHARS = 4_096;

/**
 * How long the server asked to wait before a retry, in ms: `retry-after-ms`, else `retry-after`
 * in seconds. An HTTP date or anything else unreadable gives undefined.
 */
export function retryAfterMs(headers: Headers | undefined): number | undefined {
  const ms = Number(headers?.get("retry-after-ms") ?? Number.NaN);
  if (Number.isFinite(ms) && ms >= 0) return ms;
  const seconds = Number(headers?.get("retry-after") ?? Number.NaN);
  if (Number.isFinite(seconds) && seconds >= 0) return seconds * 1000;
  return undefined;
}

/**
 * An error's message, and its direct cause's in parentheses when it has one: `fetch` (and
 * `httpFetch`) error a body that broke with `TypeError("terminated")` alone and keep what broke as
 * the cause ("terminated (other side closed)", "terminated (incorrect header check)").
 */
export function messageWithCause(error: unknown): string {
  if (!(error instanceof Error)) return describe(error);
  const cause = error.cause instanceof Error ? error.cause.message : "";
  return cause === "" || cause === error.message ? error.message : `${error.message} (${cause})`;
}

/** Node's fetch hides the socket error under `cause` ("fetch failed" → "connect ECONNREFUSED …"). */
function describeCause(cause: unknown): string {
  if (!(cause instanceof Error)) return String(cause);
  const inner = cause.cause instanceof Error ? `: ${cause.cause.message}` : "";
  return `${cause.message}${inner}`;
}
