import type { Clock } from "../../clock/clock.js";
import type { FetchFunction } from "../http/http-fetch.js";
import { OpenAIAudioError, connectionError, errorFromResponse } from "./openai-audio-error.js";

/** One POST to an OpenAI audio endpoint. */
export interface OpenAIPost {
  /** The service making it (starts every message). */
  readonly service: string;
  readonly clock: Clock;
  readonly baseURL: string;
  readonly model: string;
  readonly apiKey: string;
  /** What sends the request (`httpFetch` unless the user named another). */
  readonly fetch: FetchFunction;
  /** Appended to `baseURL` (`/audio/speech`). */
  readonly path: string;
  /**
   * The body, sent as it is on each attempt. Bytes or a string, never a `FormData`: `httpFetch`
   * hands anything else to Node's fetch, so a form is encoded first (`encodeMultipart`).
   */
  readonly body: string | Uint8Array;
  readonly contentType: string;
  /** Aborts the request (interruption, cancel, a deadline); the promise rejects with its reason. */
  readonly signal: AbortSignal;
  /** Told of a failed first attempt that is being tried again. */
  readonly onRetry: (error: OpenAIAudioError) => void;
}

/**
 * POSTs and resolves with a 2xx response whose body is still to be read; any other outcome
 * rejects with an {@link OpenAIAudioError} (or the signal's reason once aborted).
 *
 * Retry policy: a 5xx, 408, 409 or a connection that failed before an answer is tried once more,
 * at once. Not after a wait: the request runs inside the caller's deadline, which is tracked real
 * I/O, and a wait on the task clock inside it would stand still under a virtual clock; a server
 * error that a second connection does not fix is reported, and the next sentence or utterance
 * tries afresh. A 429 is not retried at once (the server asked for a pause; it is reported with
 * its `retry-after`), nor is a refused request (4xx) or a rejected key.
 */
export async function postOpenAI(post: OpenAIPost): Promise<Response> {
  try {
    return await attempt(post);
  } catch (error) {
    if (post.signal.aborted) throw post.signal.reason;
    if (!(error instanceof OpenAIAudioError) || !error.retryable || error.failure === "rate-limited")
      throw error;
    post.onRetry(error);
    return attempt(post);
  }
}

async function attempt(post: OpenAIPost): Promise<Response> {
  const { service, baseURL, signal, body, contentType } = post;
  if (signal.aborted) throw signal.reason;
  let response: Response;
  try {
    response = await post.clock.track(
      post.fetch(`${baseURL}${post.path}`, {
        method: "POST",
        headers: { Authorization: `Bearer ${post.apiKey}`, "Content-Type": contentType },
        body,
        signal,
      }),
    );
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    throw connectionError(service, baseURL, error, "connecting");
  }
  if (response.ok) return response;
  throw await post.clock.track(errorFromResponse(service, { baseURL, model: post.model }, response));
}
