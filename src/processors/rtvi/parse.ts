import { type DTMFKey, isDTMFKey } from "../../frames/dtmf.js";
import { isJsonObjectValue, isJsonValue, type JsonValue } from "../../context/json.js";
import { parseLLMMessage } from "../../context/message-parse.js";
import type { LLMAssistantMessage, LLMUserMessage } from "../../context/messages.js";
import { describe } from "../../errors.js";
import { wireJson } from "../../wire-values.js";
import type { FunctionCallInfo } from "../../frames/function-calls.js";
import { RTVI_LABEL, RTVI_PROTOCOL_VERSION, RTVI_SUPPORTED_MAJORS, versionMajor } from "./protocol.js";

/** Longest `id` accepted, in characters (the official client sends 8). */
const MAX_ID_LENGTH = 256;
/** Most keys one `dtmf` message may carry. */
export const MAX_DTMF_BUTTONS = 64;

/** A client message that passed validation, with its `data` checked and defaults applied. */
export type RTVIClientMessage =
  | { type: "client-ready"; id: string; version: string; major: number; about: unknown }
  | { type: "disconnect-bot"; id: string }
  | { type: "client-message"; id: string; t: string; d: unknown }
  | { type: "send-text"; id: string; content: string; runImmediately: boolean; audioResponse: boolean }
  | {
      type: "append-to-context";
      id: string;
      message: LLMUserMessage | LLMAssistantMessage;
      runImmediately: boolean;
    }
  | { type: "llm-function-call-result"; id: string; call: FunctionCallInfo; result: JsonValue }
  | { type: "dtmf"; id: string; buttons: DTMFKey[] }
  | { type: "ui-event" | "ui-snapshot" | "ui-cancel-job-group"; id: string; data: unknown };

/** What {@link parseClientMessage} made of a transport message. */
export type ParsedClientMessage =
  /** A valid RTVI message. */
  | { kind: "message"; message: RTVIClientMessage }
  /** Not RTVI (no `label: "rtvi-ai"`): another protocol's message, to pass on untouched. */
  | { kind: "not-rtvi" }
  /** RTVI, but malformed or of a type this server does not handle. `id` when the message had a usable one. */
  | { kind: "rejected"; id: string | undefined; type: string | undefined; reason: string };

type Record_ = Record<string, unknown>;

function isRecord(value: unknown): value is Record_ {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Shortens what the client sent for an error message, so a huge value cannot bloat the reply or the log. */
export function preview(value: unknown, max = 64): string {
  let text: string;
  try {
    text =
      typeof value === "string"
        ? value
        : value instanceof Error
          ? value.message
          : (JSON.stringify(value) ?? String(value));
  } catch {
    // Nested past what JSON.stringify survives (a transport with no depth limit handed it over).
    text = wireJson(value, max);
  }
  return text.length > max ? `${text.slice(0, max)}…` : text;
}

class Invalid extends Error {}

function optionalBoolean(data: Record_, key: string, fallback: boolean, where: string): boolean {
  const value = data[key];
  if (value === undefined) return fallback;
  if (typeof value !== "boolean")
    throw new Invalid(`${where}.${key} must be true or false (got ${preview(value)})`);
  return value;
}

function requiredString(data: Record_, key: string, where: string): string {
  const value = data[key];
  if (typeof value !== "string")
    throw new Invalid(`${where}.${key} must be a string (got ${preview(value)})`);
  return value;
}

function dataOf(raw: Record_, type: string): Record_ {
  const data = raw["data"];
  if (!isRecord(data)) throw new Invalid(`"${type}" needs a data object (got ${preview(data)})`);
  return data;
}

/**
 * Validates one message from the client (docs/design/rtvi.md). Never throws: whatever `raw` is,
 * the answer says what to do with it. RTVI messages whose fields are missing or of the wrong
 * type are rejected with a reason that names the field, what was wrong and what is expected.
 */
export function parseClientMessage(raw: unknown): ParsedClientMessage {
  try {
    return parse(raw);
  } catch (error) {
    // Only reachable with an object no JSON parser makes (a throwing getter, a proxy).
    return {
      kind: "rejected",
      id: undefined,
      type: undefined,
      reason: `unreadable message: ${preview(error)}`,
    };
  }
}

function parse(raw: unknown): ParsedClientMessage {
  if (!isRecord(raw) || raw["label"] !== RTVI_LABEL) return { kind: "not-rtvi" };
  const rawId = raw["id"];
  const id = typeof rawId === "string" && rawId.length <= MAX_ID_LENGTH ? rawId : undefined;
  const rawType = raw["type"];
  const type = typeof rawType === "string" ? rawType : undefined;
  if (id === undefined) {
    const reason = `an RTVI message needs a string id of at most ${MAX_ID_LENGTH} characters (got ${preview(rawId)})`;
    return { kind: "rejected", id, type, reason };
  }
  if (type === undefined) {
    return {
      kind: "rejected",
      id,
      type,
      reason: `an RTVI message needs a string type (got ${preview(rawType)})`,
    };
  }
  try {
    const message = parseKnown(raw, id, type);
    if (message) return { kind: "message", message };
    return { kind: "rejected", id, type, reason: `Unsupported type "${preview(type)}"` };
  } catch (error) {
    const reason =
      error instanceof Invalid ? error.message : `unreadable "${preview(type)}" message: ${preview(error)}`;
    return { kind: "rejected", id, type, reason };
  }
}

function parseKnown(raw: Record_, id: string, type: string): RTVIClientMessage | undefined {
  switch (type) {
    case "client-ready": {
      const data = dataOf(raw, type);
      const version = requiredString(data, "version", "client-ready data");
      const major = versionMajor(version);
      if (major === undefined) {
        throw new Invalid(
          `client-ready data.version must look like "${RTVI_PROTOCOL_VERSION}" (got ${preview(version)})`,
        );
      }
      if (!RTVI_SUPPORTED_MAJORS.includes(major)) {
        throw new Invalid(
          `RTVI version ${preview(version)} is not supported: this server speaks ${RTVI_PROTOCOL_VERSION} ` +
            `(and serves 1.x clients); use a client of major version 1 or 2`,
        );
      }
      return { type, id, version, major, about: data["about"] };
    }
    case "disconnect-bot":
      return { type, id };
    case "client-message": {
      const data = dataOf(raw, type);
      const t = requiredString(data, "t", "client-message data");
      return { type, id, t, d: data["d"] };
    }
    case "send-text": {
      const data = dataOf(raw, type);
      const content = requiredString(data, "content", "send-text data");
      const options = data["options"] ?? {};
      if (!isRecord(options))
        throw new Invalid(`send-text data.options must be an object (got ${preview(options)})`);
      return {
        type,
        id,
        content,
        runImmediately: optionalBoolean(options, "run_immediately", true, "send-text data.options"),
        audioResponse: optionalBoolean(options, "audio_response", true, "send-text data.options"),
      };
    }
    case "append-to-context": {
      const data = dataOf(raw, type);
      const role = data["role"];
      if (role !== "user" && role !== "assistant") {
        throw new Invalid(`append-to-context data.role must be "user" or "assistant" (got ${preview(role)})`);
      }
      if (data["content"] === undefined) throw new Invalid("append-to-context data.content is missing");
      const runImmediately = optionalBoolean(data, "run_immediately", false, "append-to-context data");
      let message: LLMUserMessage | LLMAssistantMessage;
      try {
        message = parseLLMMessage(
          { role, content: data["content"] },
          "append-to-context data",
        ) as typeof message;
      } catch (error) {
        throw new Invalid(describe(error));
      }
      return { type, id, message, runImmediately };
    }
    case "llm-function-call-result": {
      const data = dataOf(raw, type);
      const where = "llm-function-call-result data";
      const functionName = requiredString(data, "function_name", where);
      const toolCallId = requiredString(data, "tool_call_id", where);
      const args = data["arguments"] ?? {};
      if (!isJsonObjectValue(args))
        throw new Invalid(`${where}.arguments must be an object (got ${preview(args)})`);
      const call: FunctionCallInfo = { functionName, toolCallId, arguments: args };
      const result = data["result"] ?? null;
      if (!isJsonValue(result))
        throw new Invalid(`${where}.result must be JSON data (got ${preview(result)})`);
      return { type, id, call, result };
    }
    case "dtmf":
      return { type, id, buttons: parseButtons(dataOf(raw, type)) };
    case "ui-event":
    case "ui-snapshot":
    case "ui-cancel-job-group":
      return { type, id, data: raw["data"] };
    default:
      return undefined;
  }
}

/** 2.1.0 sends `buttons: ["1", "#"]`; 2.0.x sent one `button` per message. */
function parseButtons(data: Record_): DTMFKey[] {
  const list = data["buttons"] ?? (data["button"] === undefined ? undefined : [data["button"]]);
  if (!Array.isArray(list) || list.length === 0 || list.length > MAX_DTMF_BUTTONS) {
    throw new Invalid(
      `dtmf data.buttons must be a list of 1 to ${MAX_DTMF_BUTTONS} keys (or data.button one key) (got ${preview(data)})`,
    );
  }
  for (const key of list) {
    if (!isDTMFKey(key)) throw new Invalid(`dtmf: ${preview(key)} is not a keypad key ("0"-"9", "*" or "#")`);
  }
  return list as DTMFKey[];
}
