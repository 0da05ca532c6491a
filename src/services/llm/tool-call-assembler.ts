import {
  type JsonObject,
  MAX_JSON_VALUES,
  isJsonObject,
  isJsonObjectValue,
  tryParseJson,
} from "../../context/json.js";
import { wireText } from "../../wire-values.js";

/** Most parallel tool calls one answer may hold; a fragment past it is refused. */
export const MAX_TOOL_CALLS = 128;
/**
 * Most characters of argument text held for one answer's calls, all together (1 MiB). Real
 * arguments are a few hundred characters; a stream that keeps adding more would otherwise be
 * held until the process runs out of memory.
 */
export const MAX_TOOL_ARGUMENTS_CHARS = 1 << 20;
/**
 * Most characters kept of a call's name and of its id. A function's name has at most 64 (the
 * providers' limit, checked when a tool is defined), so a longer one names no function and is
 * answered "unknown" with its first 256 characters; a longer id is replaced by one of ours (an id
 * only pairs the call with its result in the context). A hostile server's 300,000-character name
 * would otherwise be kept in the context and quoted whole in the answer and the log.
 */
export const MAX_TOOL_NAME_CHARS = 256;

/** A tool call put together from its streamed fragments. */
export interface AssembledToolCall {
  readonly id: string;
  readonly name: string;
  /** The parsed arguments; `{}` when the model sent none or sent text that is not a JSON object. */
  readonly arguments: JsonObject;
  /** The argument text as the model sent it. */
  readonly argumentsText: string;
  /** Why the argument text was not used, when it was not (e.g. "is not valid JSON"). */
  readonly argumentsProblem?: string | undefined;
}

interface Partial {
  id: string;
  name: string;
  /** Argument fragments, joined once at the end (a join, not a string grown per fragment). */
  readonly args: string[];
}

/**
 * Puts streamed tool calls back together (docs/design/llm-services.md). Fragments are keyed by
 * `index`, so parallel calls whose fragments interleave come out whole; `id` and `name` may come
 * with any fragment of their call. Holds one answer's calls only: make one per completion.
 */
export class ToolCallAssembler {
  readonly #calls = new Map<number, Partial>();
  /** Argument characters held so far, all calls together (bounded by MAX_TOOL_ARGUMENTS_CHARS). */
  #argumentChars = 0;

  /** Whether any fragment has been added. */
  get empty(): boolean {
    return this.#calls.size === 0;
  }

  /**
   * Adds one fragment. Throws a `RangeError` naming the index when it is not a whole number from
   * 0 to {@link MAX_TOOL_CALLS} - 1 (a stream that says so is malformed).
   */
  add(fragment: {
    index: number;
    id?: string | undefined;
    name?: string | undefined;
    arguments?: string | undefined;
  }): void {
    const { index } = fragment;
    if (!Number.isInteger(index) || index < 0 || index >= MAX_TOOL_CALLS) {
      throw new RangeError(
        `a tool call fragment has index ${wireText(index)}; it must be a whole number from 0 to ${MAX_TOOL_CALLS - 1}`,
      );
    }
    let call = this.#calls.get(index);
    if (!call) {
      call = { id: "", name: "", args: [] };
      this.#calls.set(index, call);
    }
    if (fragment.id) call.id = fragment.id.length > MAX_TOOL_NAME_CHARS ? "" : fragment.id;
    // Some OpenAI-compatible servers repeat the name on every fragment: the first one counts.
    if (fragment.name && call.name === "") call.name = fragment.name.slice(0, MAX_TOOL_NAME_CHARS);
    if (fragment.arguments) {
      this.#argumentChars += fragment.arguments.length;
      if (this.#argumentChars > MAX_TOOL_ARGUMENTS_CHARS) {
        throw new RangeError(
          `the tool calls' arguments passed ${MAX_TOOL_ARGUMENTS_CHARS} characters; no function needs that much, so the answer is treated as malformed`,
        );
      }
      call.args.push(fragment.arguments);
    }
  }

  /**
   * The calls, in index order. A call without an id (or with one past
   * {@link MAX_TOOL_NAME_CHARS}) gets `call_<index>_<suffix>` (some OpenAI-compatible servers send
   * none); one without a name is left out and reported in `dropped`, since nothing could run it.
   */
  finish(idSuffix: string): { calls: AssembledToolCall[]; dropped: number } {
    const calls: AssembledToolCall[] = [];
    let dropped = 0;
    for (const [index, call] of [...this.#calls].sort(([a], [b]) => a - b)) {
      if (call.name === "") {
        dropped++;
        continue;
      }
      const text = call.args.join("");
      const parsed = text.trim() === "" ? {} : tryParseJson(text);
      const problem =
        parsed === undefined
          ? "is not valid JSON"
          : !isJsonObject(parsed)
            ? "is JSON but not an object"
            : // What the context can record and send back: JSON.parse also makes Infinity (1e999)
              // and values nested past what a recursive writer survives.
              !isJsonObjectValue(parsed)
              ? `is JSON, but nested deeper than 64 levels, holding more than ${MAX_JSON_VALUES} values, or a number out of range`
              : undefined;
      calls.push({
        id: call.id || `call_${index}_${idSuffix}`,
        name: call.name,
        arguments: problem === undefined ? (parsed as JsonObject) : {},
        argumentsText: text,
        argumentsProblem: problem,
      });
    }
    return { calls, dropped };
  }
}
