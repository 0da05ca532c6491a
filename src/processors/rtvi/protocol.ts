import type { RTVIMessage } from "../../frames/rtvi.js";

/** The `label` of every RTVI message. */
export const RTVI_LABEL = "rtvi-ai";

/** The RTVI protocol version this server speaks (client-js 1.13 speaks the same). */
export const RTVI_PROTOCOL_VERSION = "2.1.0";

/** Client protocol majors served: 2 (current) and 1 (legacy `bot-output` shape). */
export const RTVI_SUPPORTED_MAJORS: readonly number[] = [1, 2];

/** What `bot-ready` says about the server. Kept in step with package.json by a test. */
export const RTVI_ABOUT = Object.freeze({ library: "voicepipe", library_version: "0.1.0" });

/** Message types the client sends. */
export type RTVIClientMessageType =
  | "client-ready"
  | "disconnect-bot"
  | "client-message"
  | "send-text"
  | "append-to-context"
  | "llm-function-call-result"
  | "dtmf"
  | "ui-event"
  | "ui-snapshot"
  | "ui-cancel-job-group";

/**
 * One entry of a `metrics` list. Durations in seconds, as the client expects; a `tokens` entry
 * carries its counts as fields (`prompt_tokens`, `completion_tokens`, `total_tokens`, …) instead
 * of `value`.
 */
export type RTVIMetricEntry =
  | { processor: string; model?: string; value: number | Record<string, number> }
  | ({ processor: string; model?: string } & Record<string, string | number>);

/** The `data` of each message the server sends, by type. */
export interface RTVIServerMessageData {
  "bot-ready": { version: string; about: { library: string; library_version: string } };
  error: { error: string; message: string; fatal: boolean };
  "error-response": { error: string };
  "server-response": { t: string; d: unknown };
  "server-message": unknown;
  "user-started-speaking": undefined;
  "user-stopped-speaking": undefined;
  "bot-started-speaking": undefined;
  "bot-stopped-speaking": undefined;
  "bot-interrupted": undefined;
  "user-mute-started": undefined;
  "user-mute-stopped": undefined;
  "user-transcription": { text: string; final: boolean; timestamp: string; user_id: string };
  "bot-llm-started": undefined;
  "bot-llm-text": { text: string };
  "bot-llm-stopped": undefined;
  "bot-tts-started": undefined;
  "bot-tts-text": { text: string };
  "bot-tts-stopped": undefined;
  "bot-output":
    | {
        text: string;
        aggregated_by: string;
        segment_id?: string;
        will_be_spoken: boolean;
        spoken_status: "new" | "in-progress" | "completed";
        spoken_progress?: { accumulated_text: string; remaining_text: string };
      }
    | { text: string; aggregated_by: string; spoken: boolean };
  "llm-function-call-started": { function_name: string };
  "llm-function-call-in-progress": { tool_call_id: string; function_name: string; arguments: unknown };
  "llm-function-call-stopped": {
    tool_call_id: string;
    function_name: string;
    cancelled: boolean;
    result?: unknown;
  };
  metrics: Record<string, RTVIMetricEntry[]>;
}

/** A message type the server sends. */
export type RTVIServerMessageType = keyof RTVIServerMessageData;

/** Server messages that report what happened in the pipeline (everything but replies and bot-ready). */
export type RTVIServerEventType = Exclude<
  RTVIServerMessageType,
  "bot-ready" | "error-response" | "server-response"
>;

/** Builds an RTVI message; `data` is left out when undefined. */
export function rtviMessage<T extends RTVIServerMessageType>(
  type: T,
  data: RTVIServerMessageData[T],
  id: string,
): RTVIMessage {
  return data === undefined ? { label: RTVI_LABEL, type, id } : { label: RTVI_LABEL, type, id, data };
}

/** The major of a `major.minor.patch` version (a pre-release or build suffix allowed), or undefined. */
export function versionMajor(version: string): number | undefined {
  const match = /^(\d{1,6})\.\d{1,6}\.\d{1,6}(?:[-+][0-9A-Za-z.-]*)?$/.exec(version);
  return match ? Number(match[1]) : undefined;
}
