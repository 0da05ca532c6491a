import { BotOutputFrame } from "../../frames/bot-output.js";
import { ErrorFrame } from "../../frames/error.js";
import type { Frame } from "../../frames/frame.js";
import {
  FunctionCallCancelFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
} from "../../frames/function-calls.js";
import { InterruptionFrame } from "../../frames/lifecycle.js";
import { LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../frames/llm.js";
import { type MetricsData, MetricsFrame } from "../../frames/metrics.js";
import { RTVIServerMessageFrame } from "../../frames/rtvi.js";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../frames/speaking.js";
import {
  InterimTranscriptionFrame,
  LLMTextFrame,
  TTSTextFrame,
  TranscriptionFrame,
} from "../../frames/text.js";
import { TTSStartedFrame, TTSStoppedFrame } from "../../frames/tts.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../../frames/user-mute.js";
import type { ObservedFrameClass } from "../../observers/observer.js";
import type { RTVIMetricEntry, RTVIServerEventType, RTVIServerMessageData } from "./protocol.js";

/**
 * Every frame class the RTVI observer turns into a message (docs/design/rtvi.md has the table).
 * Declared as the observer's `frameTypes`, which makes its delivery lossless: none of these is
 * ever lost, and audio never enters its buffer.
 */
export const RTVI_FRAME_TYPES: readonly ObservedFrameClass[] = [
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  InterruptionFrame,
  UserMuteStartedFrame,
  UserMuteStoppedFrame,
  TranscriptionFrame,
  InterimTranscriptionFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  LLMFullResponseEndFrame,
  TTSStartedFrame,
  TTSTextFrame,
  TTSStoppedFrame,
  BotOutputFrame,
  FunctionCallsStartedFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallCancelFrame,
  MetricsFrame,
  RTVIServerMessageFrame,
  ErrorFrame,
];

/**
 * Whether `frame` is reported where the output transport releases it, in step with the audio
 * before it (what the user hears), rather than where it is first pushed.
 */
export function reportedAtOutput(frame: Frame): boolean {
  return frame instanceof TTSTextFrame || frame instanceof BotOutputFrame;
}

/** What turning frames into messages needs to know about the session. */
export interface ServerMessageContext {
  /** Major RTVI version of the client (2 until it says otherwise). */
  clientMajor(): number;
  /** ISO-8601 wall time of a running-time instant (ms on the task clock). */
  isoTime(runningMs: number): string;
}

type Emit = <T extends RTVIServerEventType>(type: T, data: RTVIServerMessageData[T]) => void;

/** Metric kinds that are durations: voicepipe measures them in ms, the client expects seconds. */
const DURATION_KINDS = new Set(["ttfb", "processing", "ttfa", "ttfat", "text_aggregation"]);
/** Metric kinds the client knows by another name. */
const METRIC_KEYS: Readonly<Record<string, string>> = { llm_usage: "tokens", tts_usage: "characters" };

/** Calls `emit` once for each RTVI message `frame` stands for (none for a frame it does not know). */
export function describeFrame(frame: Frame, context: ServerMessageContext, emit: Emit): void {
  // Most specific classes first: the transcription and LLM/TTS text frames share TextFrame.
  if (frame instanceof TranscriptionFrame || frame instanceof InterimTranscriptionFrame) {
    emit("user-transcription", {
      text: frame.text,
      final: frame instanceof TranscriptionFrame,
      timestamp: context.isoTime(frame.timestampMs),
      user_id: frame.userId,
    });
  } else if (frame instanceof LLMTextFrame) emit("bot-llm-text", { text: frame.text });
  else if (frame instanceof TTSTextFrame) emit("bot-tts-text", { text: frame.text });
  else if (frame instanceof UserStartedSpeakingFrame) emit("user-started-speaking", undefined);
  else if (frame instanceof UserStoppedSpeakingFrame) emit("user-stopped-speaking", undefined);
  else if (frame instanceof BotStartedSpeakingFrame) emit("bot-started-speaking", undefined);
  else if (frame instanceof BotStoppedSpeakingFrame) emit("bot-stopped-speaking", undefined);
  else if (frame instanceof InterruptionFrame) emit("bot-interrupted", undefined);
  else if (frame instanceof UserMuteStartedFrame) emit("user-mute-started", undefined);
  else if (frame instanceof UserMuteStoppedFrame) emit("user-mute-stopped", undefined);
  else if (frame instanceof LLMFullResponseStartFrame) emit("bot-llm-started", undefined);
  else if (frame instanceof LLMFullResponseEndFrame) emit("bot-llm-stopped", undefined);
  else if (frame instanceof TTSStartedFrame) emit("bot-tts-started", undefined);
  else if (frame instanceof TTSStoppedFrame) emit("bot-tts-stopped", undefined);
  else if (frame instanceof BotOutputFrame) describeBotOutput(frame, context, emit);
  else if (frame instanceof FunctionCallsStartedFrame) {
    for (const call of frame.calls) emit("llm-function-call-started", { function_name: call.functionName });
  } else if (frame instanceof FunctionCallInProgressFrame) {
    const { call } = frame;
    emit("llm-function-call-in-progress", {
      tool_call_id: call.toolCallId,
      function_name: call.functionName,
      arguments: call.arguments,
    });
  } else if (frame instanceof FunctionCallResultFrame) {
    const { call } = frame;
    emit("llm-function-call-stopped", {
      tool_call_id: call.toolCallId,
      function_name: call.functionName,
      cancelled: false,
      result: frame.result,
    });
  } else if (frame instanceof FunctionCallCancelFrame) {
    const { call } = frame;
    emit("llm-function-call-stopped", {
      tool_call_id: call.toolCallId,
      function_name: call.functionName,
      cancelled: true,
    });
  } else if (frame instanceof MetricsFrame) {
    if (frame.data.length > 0) emit("metrics", metricsData(frame.data));
  } else if (frame instanceof RTVIServerMessageFrame) emit("server-message", frame.data);
  else if (frame instanceof ErrorFrame) {
    // The client-js type has said `message` and now says `error`: send both.
    const text = frame.error.message;
    emit("error", { error: text, message: text, fatal: frame.fatal });
  }
}

function describeBotOutput(frame: BotOutputFrame, context: ServerMessageContext, emit: Emit): void {
  if (context.clientMajor() < 2) {
    emit("bot-output", { text: frame.text, aggregated_by: frame.aggregatedBy, spoken: frame.willBeSpoken });
    return;
  }
  // 2.x clients follow words through spoken_progress, not through word or token bot-outputs.
  if (frame.aggregatedBy === "word" || frame.aggregatedBy === "token") return;
  const progress = frame.spokenProgress;
  emit("bot-output", {
    text: frame.text,
    aggregated_by: frame.aggregatedBy,
    ...(frame.segmentId === undefined ? {} : { segment_id: frame.segmentId }),
    will_be_spoken: frame.willBeSpoken,
    spoken_status: frame.spokenStatus,
    ...(progress
      ? {
          spoken_progress: {
            accumulated_text: progress.accumulatedText,
            remaining_text: progress.remainingText,
          },
        }
      : {}),
  });
}

/**
 * Groups measurements by kind, as the client expects (Pipecat's RTVI observer is the reference):
 * `{ ttfb: [{ processor, model?, value }], processing: […], characters: […], stt_usage: […],
 * tokens: [{ processor, model?, prompt_tokens, completion_tokens, total_tokens, … }] }`. Durations
 * are in seconds; a token entry carries the counts themselves, in the snake_case names of the
 * OpenAI usage object; `stt_usage` is the audio seconds as a number.
 */
function metricsData(data: readonly MetricsData[]): Record<string, RTVIMetricEntry[]> {
  const out: Record<string, RTVIMetricEntry[]> = {};
  for (const m of data) {
    const key = METRIC_KEYS[m.kind] ?? m.kind;
    const who: { processor: string; model?: string } = { processor: m.processor };
    if (m.model !== undefined) who.model = m.model;
    let entry: RTVIMetricEntry;
    if (m.kind === "llm_usage" && typeof m.value === "object") {
      entry = { ...who, ...tokenCounts(m.value) };
    } else if (
      m.kind === "stt_usage" &&
      typeof m.value === "object" &&
      typeof m.value["audioSeconds"] === "number"
    ) {
      entry = { ...who, value: m.value["audioSeconds"] };
    } else {
      const value = DURATION_KINDS.has(m.kind) && typeof m.value === "number" ? m.value / 1000 : m.value;
      entry = { ...who, value };
    }
    (out[key] ??= []).push(entry);
  }
  return out;
}

/** Token counts under the names the client reads (`promptTokens` → `prompt_tokens`; cache reads as Pipecat names them). */
function tokenCounts(usage: Readonly<Record<string, number>>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [name, count] of Object.entries(usage)) {
    out[TOKEN_NAMES[name] ?? name.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = count;
  }
  return out;
}

/** Usage fields whose client name is not their plain snake_case. */
const TOKEN_NAMES: Readonly<Record<string, string>> = { cachedTokens: "cache_read_input_tokens" };
