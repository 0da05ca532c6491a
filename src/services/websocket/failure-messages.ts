import { validateHeaderName, validateHeaderValue } from "node:http";
import { DeadlineExceededError } from "../../clock/deadline.js";
import { describe } from "../../errors.js";
import { AttemptError, type ConnectionClosed, printableUrl } from "./provider-connection.js";
import { type Advice, type AttemptFailure, ProviderSocketError } from "./provider-socket-error.js";
import type { ProviderSocketState } from "./provider-socket-options.js";

// The words of a provider socket's errors and warnings, each saying what happened and what to do.

/** What to do about an HTTP answer to the upgrade, as the end of a sentence. */
export function statusAdvice(status: number, advice: Advice): string {
  const key = advice.apiKeyEnv ? `the key in ${advice.apiKeyEnv}` : "the API key";
  const base = advice.baseUrlEnv ? ` (${advice.baseUrlEnv})` : "";
  switch (status) {
    case 401:
      return `the provider rejected the API key: check ${key}`;
    case 402:
      return "the provider wants payment: check the account's balance or plan";
    case 403:
      return `the API key is not allowed to do this: check ${key} and its permissions (model access)`;
    case 404:
      return `nothing answers at that address: check the base URL${base} and the path`;
    case 400:
      return "the provider refused the connection's settings: check the service options (model, encoding, sample rate, language)";
    case 408:
    case 429:
      return "the provider is rate limiting or busy: lower the number of concurrent sessions or wait, and check the plan's limits";
    default:
      return status >= 500
        ? "the provider had a server error: it is retried; if it lasts, check the provider's status page"
        : `the provider refused the connection: check ${key}, the base URL${base} and the service options`;
  }
}

/** What to do after `maxAttempts` failed attempts, by the last attempt's failure. */
export function gaveUpAdvice(last: AttemptFailure, advice: Advice): string {
  if (last.status !== undefined) return statusAdvice(last.status, advice);
  const base = advice.baseUrlEnv ? ` (${advice.baseUrlEnv})` : "";
  if (last.key === "timeout") {
    return `the provider did not answer in time: check the network and the base URL${base}`;
  }
  return `check that the provider is reachable at that address${base} and that the network allows it`;
}

/** A short name for a WebSocket close code, for messages. */
export function closeCodeName(code: number): string {
  const names: Record<number, string> = {
    1000: "normal closure",
    1001: "going away",
    1002: "protocol error",
    1003: "unsupported data",
    1005: "no status",
    1006: "abnormal closure, no close frame",
    1007: "invalid payload",
    1008: "policy violation",
    1009: "message too big",
    1011: "internal server error",
    1012: "service restart",
    1013: "try again later",
  };
  return names[code] ?? "application code";
}

/** What a failed attempt was, from what its promise rejected with. */
export function attemptFailure(error: unknown): AttemptFailure {
  if (error instanceof AttemptError) return error.failure;
  if (error instanceof DeadlineExceededError) {
    return { key: "timeout", what: `no answer within ${error.timeoutMs} ms`, permanent: false, cause: error };
  }
  return { key: "error", what: describe(error), permanent: false, cause: error };
}

/** The permanent error for an attempt that cannot succeed (a 4xx answer, an unusable URL). */
export function rejectedError(
  service: string,
  where: string,
  failure: AttemptFailure,
  advice: Advice,
): ProviderSocketError {
  if (failure.key === "invalid-url") {
    const env = advice.baseUrlEnv ? ` (check ${advice.baseUrlEnv})` : "";
    return new ProviderSocketError(service, "invalid-url", `${service}: ${failure.what}${env}`);
  }
  if (failure.key === "invalid-headers") {
    const env = advice.apiKeyEnv
      ? ` (check ${advice.apiKeyEnv}: a key copied with its line break is the usual cause)`
      : "";
    return new ProviderSocketError(service, "invalid-headers", `${service}: ${failure.what}${env}`);
  }
  const what = failure.status === undefined ? "" : `; ${statusAdvice(failure.status, advice)}`;
  return new ProviderSocketError(
    service,
    "rejected",
    `${service}: ${where} answered the connection with ${failure.what}${what}. ` +
      "Not retried: asking again gets the same answer",
    { ...(failure.status === undefined ? {} : { status: failure.status }), cause: failure.cause },
  );
}

/** The permanent error after `attempts` failed attempts in a row. */
export function gaveUpError(
  service: string,
  where: string,
  attempts: number,
  last: AttemptFailure,
  advice: Advice,
): ProviderSocketError {
  return new ProviderSocketError(
    service,
    "gave-up",
    `${service}: gave up on ${where} after ${attempts} failed attempts in a row ` +
      `(last: ${last.what}); ${gaveUpAdvice(last, advice)}`,
    { ...(last.status === undefined ? {} : { status: last.status }), cause: last.cause },
  );
}

/** The permanent error for a close code that says retrying cannot help. */
export function closedError(
  service: string,
  why: string,
  closed: ConnectionClosed,
  advice: Advice,
): ProviderSocketError {
  const key = advice.apiKeyEnv ? `the key in ${advice.apiKeyEnv}` : "the API key";
  return new ProviderSocketError(
    service,
    "closed",
    `${service}: the provider ${why}; not reconnecting, since it refused what was sent: ` +
      `check ${key}, the service options and the audio format`,
    { closeCode: closed.code, cause: closed.error },
  );
}

/** How an open connection ended, as the middle of a sentence. */
export function describeClose(closed: ConnectionClosed, destroyedBecause: string | undefined): string {
  if (destroyedBecause !== undefined) return `stopped answering: ${destroyedBecause}`;
  const reason = closed.reason ? `: "${closed.reason}"` : "";
  const error = closed.error ? `, after the error ${describe(closed.error)}` : "";
  return `closed the connection with code ${closed.code} (${closeCodeName(closed.code)}${reason})${error}`;
}

export function notOpenMessage(state: ProviderSocketState): string {
  switch (state) {
    case "idle":
      return "a message was sent before start(); it was dropped (call start() first)";
    case "connecting":
    case "waiting":
      return "a message was sent while the connection to the provider is being (re)opened; messages are dropped until it is open (counted in stats.droppedSends)";
    case "failed":
      return "a message was sent after the connection to the provider failed for good (see the error before); it was dropped";
    default:
      return "a message was sent after close(); it was dropped";
  }
}

/** Why `url` cannot be used, or undefined when it can. */
export function checkUrl(url: unknown): string | undefined {
  if (typeof url !== "string") return `the URL must be a string (got ${typeof url})`;
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url.split("?")[0]}" is not a URL; give a ws:// or wss:// URL`;
  }
  if (!["ws:", "wss:", "http:", "https:"].includes(parsed.protocol)) {
    return `"${printableUrl(url)}" has the scheme ${parsed.protocol}; give a ws:// or wss:// URL`;
  }
  return undefined;
}

/** What is wrong with the request headers, or `undefined` when HTTP can carry them. */
export function checkHeaders(headers: unknown): string | undefined {
  if (headers === null || typeof headers !== "object")
    return `the headers must be an object (got ${typeof headers})`;
  for (const [name, value] of Object.entries(headers)) {
    try {
      validateHeaderName(name);
    } catch {
      return `the header name ${JSON.stringify(name)} cannot be sent over HTTP`;
    }
    try {
      validateHeaderValue(name, value);
    } catch {
      return `the value of the header ${JSON.stringify(name)} cannot be sent over HTTP (a line break, a control character or not a string)`;
    }
  }
  return undefined;
}
