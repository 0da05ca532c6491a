import { describe } from "../../../errors.js";
import type { JsonObject } from "../../../context/json.js";

/**
 * The results the runner gives the model when a call did not produce one of its own. Each is
 * `{ error: <sentence> }`: plain words a model that was never told about them understands, saying
 * what went wrong and what it can do (retry, tell the user). Error texts from handlers are cut to
 * {@link MAX_ERROR_CHARS} so a huge message cannot flood the context.
 */

/** Longest text of a handler's error put in a result. */
export const MAX_ERROR_CHARS = 500;

function error(sentence: string): JsonObject {
  return { error: sentence };
}

function cut(text: string): string {
  return text.length <= MAX_ERROR_CHARS ? text : `${text.slice(0, MAX_ERROR_CHARS)}…`;
}

export function unknownFunctionResult(name: string, known: readonly string[]): JsonObject {
  const list =
    known.length > 0 ? `the functions available are ${known.join(", ")}` : "no function is available";
  return error(`there is no function named ${JSON.stringify(name)}; ${list}`);
}

export function invalidArgumentsResult(problem: string): JsonObject {
  return error(`${problem}; call it again with arguments that match its parameters`);
}

export function timedOutResult(name: string, timeoutMs: number): JsonObject {
  return error(
    `${name} did not finish within ${timeoutMs} ms and was stopped; tell the user it took too long, or try again`,
  );
}

export function failedResult(name: string, thrown: unknown): JsonObject {
  return error(`${name} failed: ${cut(messageOf(thrown))}`);
}

export function notJsonResult(name: string): JsonObject {
  return error(`${name} returned something that is not JSON data, so there is no usable result`);
}

/** Longest result text a call may give the model (JSON text, or the string itself), in characters. */
export const MAX_RESULT_CHARS = 100_000;

export function tooLargeResult(name: string, chars: number): JsonObject {
  return error(
    `${name} returned a result of ${chars} characters, more than the ${MAX_RESULT_CHARS} a result may have; ` +
      "it was not given to the model",
  );
}

export function busyResult(name: string, maxInFlight: number): JsonObject {
  return error(
    `${name} was not run: ${maxInFlight} function calls are already running; try again once they have finished`,
  );
}

/** The message of what a handler threw: an Error's message, never its stack. */
export function messageOf(thrown: unknown): string {
  // Always a string: a handler may throw an Error whose message is a number, or a value whose
  // toJSON and toString both throw.
  try {
    if (thrown instanceof Error) {
      const text = describe(thrown);
      return text !== "" ? text : describe(thrown.name);
    }
    if (typeof thrown === "string") return thrown;
    return JSON.stringify(thrown) ?? describe(thrown);
  } catch {
    return describe(thrown);
  }
}
