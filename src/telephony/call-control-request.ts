/**
 * One bounded REST request of a call control (hang-up, transfer): the single place that sends
 * it, waits for it under a deadline, retries what is safe to retry, and turns what went wrong
 * into a {@link CallControlError} in words.
 */
import type { Clock } from "../clock/clock.js";
import { DeadlineExceededError, deadline } from "../clock/deadline.js";
import { describe } from "../errors.js";
import type { TelephonyProvider } from "../serializers/telephony/telephony-serializer.js";
import { boundedText } from "../services/http/event-stream.js";
import { HttpConnectionError } from "../services/http/http-errors.js";
import { CallControlError } from "./call-control.js";

/** One request to a provider's REST API. */
export interface CallControlRequest {
  readonly provider: TelephonyProvider;
  /** What the request does, for messages: `"hanging up call CA…"`. */
  readonly what: string;
  readonly method: "POST" | "PUT" | "DELETE";
  readonly url: string;
  /** Request headers: the provider's authorization and the body's content type. */
  readonly headers: Readonly<Record<string, string>>;
  readonly body?: string;
  readonly clock: Clock;
  /** Longest the whole request may take, a retry included, in ms. */
  readonly timeoutMs: number;
  /**
   * Sending it twice does no harm (a hang-up): after a failed connection or a 5xx it is sent once
   * more, at once, within the same deadline. A transfer is not (it could ring the target twice).
   */
  readonly idempotent: boolean;
}

/** The provider's answer: any HTTP status (the control decides what each means). */
export interface CallControlAnswer {
  readonly status: number;
  /** The body as text, at most 4,096 characters of it. */
  readonly text: string;
  /** The body parsed as JSON; undefined when it is not JSON. */
  readonly json: unknown;
}

/**
 * Sends `request` and resolves with the provider's answer, whatever its status. Rejects with a
 * {@link CallControlError} (`status` undefined, `retryable` true) when no answer came: the
 * server could not be reached (twice, for an idempotent request) or `timeoutMs` passed. The
 * request's I/O is marked as real work (`clock.track`), so a virtual clock does not fire the
 * deadline under it.
 */
export async function sendCallControlRequest(request: CallControlRequest): Promise<CallControlAnswer> {
  const { provider, what, timeoutMs } = request;
  try {
    return await deadline(
      request.clock,
      (signal) => attempts(request, signal),
      timeoutMs,
      `${provider}: ${what}`,
      { io: true },
    );
  } catch (error) {
    if (error instanceof DeadlineExceededError) {
      throw new CallControlError(
        `${provider}: ${what}: no answer from ${origin(request.url)} within ${timeoutMs} ms (timeoutMs); ` +
          (request.idempotent
            ? "the provider or the network is slow or down: try again, or raise timeoutMs"
            : "whether the provider acted is unknown: check the call before trying again (it could act twice), or raise timeoutMs"),
        { provider: provider, retryable: true, cause: error },
      );
    }
    if (error instanceof HttpConnectionError) {
      throw new CallControlError(
        `${provider}: ${what}: ${error.message}; check the network and the baseUrl option`,
        { provider: provider, retryable: true, cause: error },
      );
    }
    throw new CallControlError(`${provider}: ${what} failed: ${describe(error)}`, {
      provider: provider,
      retryable: true,
      cause: error,
    });
  }
}

/**
 * The error for an answer that is a failure: the provider, the HTTP status, the provider's own
 * words (`providerText`, else the start of the body) and `advice` (else advice from the status).
 */
export function callControlRefused(
  request: Pick<CallControlRequest, "provider" | "what">,
  answer: CallControlAnswer,
  providerText: string | undefined,
  advice?: string,
): CallControlError {
  const { status } = answer;
  const said = providerText ?? (answer.text.trim().slice(0, 200) || undefined);
  const retryable = status >= 500 || status === 429;
  return new CallControlError(
    `${request.provider}: ${request.what} was refused: HTTP ${status}${said ? ` (${said})` : ""}; ${advice ?? adviceFor(status)}`,
    { provider: request.provider, status, retryable: retryable },
  );
}

/** The `Authorization` value of HTTP Basic authentication. */
export function basicAuthorization(user: string, password: string): string {
  return `Basic ${Buffer.from(`${user}:${password}`, "utf8").toString("base64")}`;
}

function adviceFor(status: number): string {
  if (status === 401 || status === 403) return "check the account's credentials and their permissions";
  if (status === 429) return "too many requests: try again later";
  if (status >= 500) return "the provider failed: try again later";
  return "the provider refused the request (see its message); retrying will not help";
}

async function attempts(request: CallControlRequest, signal: AbortSignal): Promise<CallControlAnswer> {
  const first = await attempt(request, signal);
  const failed = first instanceof Error || first.status >= 500;
  const second = request.idempotent && failed ? await attempt(request, signal) : first;
  if (second instanceof Error) throw second;
  return second;
}

/** One try: the answer, or the connection error (a retry may cure it). */
async function attempt(
  request: CallControlRequest,
  signal: AbortSignal,
): Promise<CallControlAnswer | HttpConnectionError> {
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers: request.headers,
      ...(request.body === undefined ? {} : { body: request.body }),
      signal,
    });
  } catch (error) {
    if (signal.aborted) throw signal.reason;
    return new HttpConnectionError(request.url, false, error);
  }
  let text = "";
  try {
    text = await boundedText(response, signal);
  } catch {
    // The status is the answer; a body cut short only loses the provider's words.
    if (signal.aborted) throw signal.reason;
  }
  return { status: response.status, text, json: parseJson(text) };
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

function origin(url: string): string {
  try {
    return new URL(url).origin;
  } catch {
    return url;
  }
}
