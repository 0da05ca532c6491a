import { describe, expect, it } from "vitest";
import {
  BotStartedSpeakingFrame,
  BotStoppedSpeakingFrame,
  ErrorFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  FunctionCallCancelFrame,
  FunctionCallInProgressFrame,
  FunctionCallResultFrame,
  FunctionCallsStartedFrame,
  InterimTranscriptionFrame,
  InterruptionFrame,
  LLMFullResponseEndFrame,
  LLMFullResponseStartFrame,
  LLMTextFrame,
  MetricsFrame,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  TTSTextFrame,
  TextFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
} from "../../src/index.js";
import { BotOutputFrame } from "../../src/frames/bot-output.js";
import { RTVIServerMessageFrame } from "../../src/frames/rtvi.js";
import { UserMuteStartedFrame, UserMuteStoppedFrame } from "../../src/frames/user-mute.js";
import { RTVI_FRAME_TYPES } from "../../src/processors/rtvi/index.js";
import { WALL_MS, startRtvi } from "./support.js";

const call = { functionName: "get_weather", toolCallId: "call_7", arguments: { city: "Oslo" } };

/** Each server message the observer sends, from the frame that triggers it. */
const CASES: Array<[string, () => Frame, Array<[string, unknown]>]> = [
  ["user-started-speaking", () => new UserStartedSpeakingFrame(), [["user-started-speaking", undefined]]],
  ["user-stopped-speaking", () => new UserStoppedSpeakingFrame(), [["user-stopped-speaking", undefined]]],
  ["bot-started-speaking", () => new BotStartedSpeakingFrame(), [["bot-started-speaking", undefined]]],
  ["bot-stopped-speaking", () => new BotStoppedSpeakingFrame(), [["bot-stopped-speaking", undefined]]],
  ["bot-interrupted", () => new InterruptionFrame(), [["bot-interrupted", undefined]]],
  ["user-mute-started", () => new UserMuteStartedFrame(), [["user-mute-started", undefined]]],
  ["user-mute-stopped", () => new UserMuteStoppedFrame(), [["user-mute-stopped", undefined]]],
  [
    "user-transcription (final)",
    () => new TranscriptionFrame("hello there", "user-1", 1_500),
    [
      [
        "user-transcription",
        { text: "hello there", final: true, timestamp: "2026-11-30T12:00:01.500Z", user_id: "user-1" },
      ],
    ],
  ],
  [
    "user-transcription (interim)",
    () => new InterimTranscriptionFrame("hel", "user-1", 1_200),
    [
      [
        "user-transcription",
        { text: "hel", final: false, timestamp: "2026-11-30T12:00:01.200Z", user_id: "user-1" },
      ],
    ],
  ],
  ["bot-llm-started", () => new LLMFullResponseStartFrame(), [["bot-llm-started", undefined]]],
  ["bot-llm-text", () => new LLMTextFrame("Hi"), [["bot-llm-text", { text: "Hi" }]]],
  ["bot-llm-stopped", () => new LLMFullResponseEndFrame(), [["bot-llm-stopped", undefined]]],
  ["bot-tts-started", () => new TTSStartedFrame(), [["bot-tts-started", undefined]]],
  ["bot-tts-text", () => new TTSTextFrame("Hello"), [["bot-tts-text", { text: "Hello" }]]],
  ["bot-tts-stopped", () => new TTSStoppedFrame(), [["bot-tts-stopped", undefined]]],
  [
    "bot-output",
    () =>
      new BotOutputFrame({
        text: "Hello there.",
        segmentId: "s1",
        spokenStatus: "in-progress",
        spokenProgress: { accumulatedText: "Hello", remainingText: " there." },
      }),
    [
      [
        "bot-output",
        {
          text: "Hello there.",
          aggregated_by: "sentence",
          segment_id: "s1",
          will_be_spoken: true,
          spoken_status: "in-progress",
          spoken_progress: { accumulated_text: "Hello", remaining_text: " there." },
        },
      ],
    ],
  ],
  [
    "llm-function-call-started (one per call)",
    () => new FunctionCallsStartedFrame([call, { ...call, functionName: "get_time", toolCallId: "call_8" }]),
    [
      ["llm-function-call-started", { function_name: "get_weather" }],
      ["llm-function-call-started", { function_name: "get_time" }],
    ],
  ],
  [
    "llm-function-call-in-progress",
    () => new FunctionCallInProgressFrame(call),
    [
      [
        "llm-function-call-in-progress",
        { tool_call_id: "call_7", function_name: "get_weather", arguments: { city: "Oslo" } },
      ],
    ],
  ],
  [
    "llm-function-call-stopped (result)",
    () => new FunctionCallResultFrame(call, "sunny"),
    [
      [
        "llm-function-call-stopped",
        { tool_call_id: "call_7", function_name: "get_weather", cancelled: false, result: "sunny" },
      ],
    ],
  ],
  [
    "llm-function-call-stopped (cancelled)",
    () => new FunctionCallCancelFrame(call),
    [
      [
        "llm-function-call-stopped",
        { tool_call_id: "call_7", function_name: "get_weather", cancelled: true },
      ],
    ],
  ],
  [
    "metrics (durations in seconds, usage under the client's names, token counts as snake_case fields)",
    () =>
      new MetricsFrame([
        { processor: "CartesiaTTSService#3", kind: "ttfb", value: 250, model: "sonic-2" },
        { processor: "OpenAILLMService#2", kind: "processing", value: 1_200 },
        {
          processor: "OpenAILLMService#2",
          kind: "llm_usage",
          value: { promptTokens: 10, completionTokens: 5, totalTokens: 15, cachedTokens: 2 },
          model: "gpt-4o-mini",
        },
        { processor: "CartesiaTTSService#3", kind: "tts_usage", value: 42 },
        {
          processor: "DeepgramSTTService#1",
          kind: "stt_usage",
          value: { audioSeconds: 3.5 },
          model: "nova-3",
        },
      ]),
    [
      [
        "metrics",
        {
          ttfb: [{ processor: "CartesiaTTSService#3", model: "sonic-2", value: 0.25 }],
          processing: [{ processor: "OpenAILLMService#2", value: 1.2 }],
          tokens: [
            {
              processor: "OpenAILLMService#2",
              model: "gpt-4o-mini",
              prompt_tokens: 10,
              completion_tokens: 5,
              total_tokens: 15,
              cache_read_input_tokens: 2,
            },
          ],
          characters: [{ processor: "CartesiaTTSService#3", value: 42 }],
          stt_usage: [{ processor: "DeepgramSTTService#1", model: "nova-3", value: 3.5 }],
        },
      ],
    ],
  ],
  ["server-message", () => new RTVIServerMessageFrame({ score: 3 }), [["server-message", { score: 3 }]]],
  [
    "error (both keys, not fatal)",
    () => new ErrorFrame(new Error("TTS rejected the key: HTTP 401"), { processor: "tts" }),
    [
      [
        "error",
        { error: "TTS rejected the key: HTTP 401", message: "TTS rejected the key: HTTP 401", fatal: false },
      ],
    ],
  ],
];

describe("RTVI server → client messages, from pipeline frames", () => {
  it.each(CASES)("%s", async (_name, make, expected) => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    const frame = make();
    // Errors travel upstream to the task; everything else downstream, through the output transport.
    const direction = frame instanceof ErrorFrame ? FrameDirection.UPSTREAM : FrameDirection.DOWNSTREAM;
    h.task.queueFrame(frame, direction);
    await h.clock.settle();
    const sent = h.messages().slice(1);
    expect(sent.map((m) => [m.type, m.data])).toEqual(expected);
    for (const m of sent) {
      expect(m.label).toBe("rtvi-ai");
      expect(typeof m.id).toBe("string");
    }
    expect(h.output.sent.slice(1).every((s) => s.urgent)).toBe(true);
    await h.end();
  });

  it("covers every frame type the observer declares", () => {
    const covered = new Set(CASES.map(([, make]) => make().constructor));
    for (const cls of RTVI_FRAME_TYPES) expect(covered.has(cls), cls.name).toBe(true);
  });

  it("reports a fatal error with fatal: true before the task cancels", async () => {
    const h = startRtvi();
    await h.whenStarted();
    await h.ready();
    h.task.queueFrame(new ErrorFrame(new Error("provider gone"), { fatal: true }), FrameDirection.UPSTREAM);
    const outcome = await h.clock.runUntil(h.done, { maxMs: 5_000 });
    expect(outcome?.how).toBe("failed");
    expect(h.ofType("error").map((m) => m.data)).toEqual([
      { error: "provider gone", message: "provider gone", fatal: true },
    ]);
  });

  it("reports a frame once, however many processors pass it on", async () => {
    const h = startRtvi({ middle: Array.from({ length: 6 }, () => new FrameProcessor()) });
    await h.whenStarted();
    await h.ready();
    await h.queue(
      new UserStartedSpeakingFrame(),
      new TranscriptionFrame("one", "u", 0),
      new UserStoppedSpeakingFrame(),
    );
    expect(h.messages().map((m) => m.type)).toEqual([
      "bot-ready",
      "user-started-speaking",
      "user-transcription",
      "user-stopped-speaking",
    ]);
    await h.end();
  });

  it("reports only the downstream twin of a broadcast frame", async () => {
    class Broadcaster extends FrameProcessor {
      override processFrame(frame: Frame, direction: FrameDirection) {
        if (frame instanceof TextFrame) return this.broadcastFrame(() => new BotStartedSpeakingFrame());
        return super.processFrame(frame, direction);
      }
    }
    const h = startRtvi({ middle: [new FrameProcessor(), new Broadcaster(), new FrameProcessor()] });
    await h.whenStarted();
    await h.ready();
    await h.queue(new TextFrame("go"));
    expect(h.ofType("bot-started-speaking")).toHaveLength(1);
    await h.end();
  });

  it("reports bot-tts-text and bot-output when the output transport plays them, in step with the audio", async () => {
    const h = startRtvi({ output: { audioOutEnabled: true, audioOutSampleRate: 24_000 } });
    await h.whenStarted();
    await h.ready();
    const t0 = h.clock.now();
    await h.queue(
      new TTSStartedFrame(),
      new TTSAudioRawFrame(new Int16Array(24_000 * 0.4).fill(1000), 24_000), // 400 ms of speech
      new TTSTextFrame("Hello"),
      new BotOutputFrame({ text: "Hello.", spokenStatus: "completed" }),
      new TTSStoppedFrame(),
    );
    await h.clock.advance(1_000);
    const at = (type: string) => h.output.sent.find((s) => s.message.type === type)!.atMs - t0;
    expect(at("bot-tts-started")).toBe(0);
    expect(at("bot-tts-text")).toBeGreaterThanOrEqual(360); // the last 40 ms chunk is being written
    expect(at("bot-output")).toBe(at("bot-tts-text"));
    expect(at("bot-started-speaking")).toBeLessThan(at("bot-tts-text"));
    expect(h.ofType("bot-tts-text")).toHaveLength(1);
    await h.end();
  });

  it("sends no bot-tts-text or bot-output for text an interruption dropped before it was played", async () => {
    const h = startRtvi({ output: { audioOutEnabled: true, audioOutSampleRate: 24_000 } });
    await h.whenStarted();
    await h.ready();
    await h.queue(
      new TTSAudioRawFrame(new Int16Array(24_000).fill(1000), 24_000), // 1 s of speech
      new TTSTextFrame("never heard"),
      new BotOutputFrame({ text: "Never heard.", spokenStatus: "completed" }),
    );
    await h.clock.advance(200);
    await h.queue(new InterruptionFrame());
    await h.clock.advance(2_000);
    expect(h.ofType("bot-interrupted")).toHaveLength(1);
    expect(h.ofType("bot-tts-text")).toEqual([]);
    expect(h.ofType("bot-output")).toEqual([]);
    await h.end();
  });

  it("sends bot-output in the 1.x shape to a 1.x client, and no word-level bot-output to a 2.x client", async () => {
    const v1 = startRtvi();
    await v1.whenStarted();
    await v1.send(v1.client("client-ready", { version: "1.1.0" }));
    await v1.queue(new BotOutputFrame({ text: "Hi.", willBeSpoken: false }));
    expect(v1.ofType("bot-output").map((m) => m.data)).toEqual([
      { text: "Hi.", aggregated_by: "sentence", spoken: false },
    ]);
    await v1.end();

    const v2 = startRtvi();
    await v2.whenStarted();
    await v2.ready();
    await v2.queue(new BotOutputFrame({ text: "Hi", aggregatedBy: "word" }));
    expect(v2.ofType("bot-output")).toEqual([]);
    await v2.end();
  });

  it("sends app messages with sendServerMessage, and skips the types the observer is told to", async () => {
    const h = startRtvi({ rtvi: { observer: { skip: ["bot-llm-text"] } } });
    await h.whenStarted();
    await h.ready();
    h.rtvi.sendServerMessage({ kind: "score", value: 1 });
    await h.queue(new LLMFullResponseStartFrame(), new LLMTextFrame("secret"), new LLMFullResponseEndFrame());
    expect(h.messages().map((m) => [m.type, m.data])).toEqual([
      ["bot-ready", expect.anything()],
      ["server-message", { kind: "score", value: 1 }],
      ["bot-llm-started", undefined],
      ["bot-llm-stopped", undefined],
    ]);
    expect(WALL_MS).toBeGreaterThan(0);
    await h.end();
  });
});
