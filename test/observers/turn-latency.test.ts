import { describe, expect, it } from "vitest";
import {
  BotStartedSpeakingFrame,
  type Frame,
  FrameDirection,
  FrameProcessor,
  LLMTextFrame,
  MemoryTransport,
  Pipeline,
  PipelineTask,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TranscriptionFrame,
  UserStartedSpeakingFrame,
  UserStoppedSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import { VADProcessor } from "../../src/processors/vad-processor.js";
import { UserTurnProcessor } from "../../src/processors/user-turn-processor.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { type TurnLatency, TurnLatencyObserver } from "../../src/observers/turn-latency.js";
import { chunks, loadVadFixture } from "../audio/vad/support.js";
import { memoryLogger } from "../support/logger.js";

/** A task with the observer, on a virtual clock; `at(ms, frame)` pushes `frame` at that time. */
function scripted() {
  const clock = new VirtualClock();
  const { logger, lines } = memoryLogger();
  const observer = new TurnLatencyObserver({ logger });
  const records: TurnLatency[] = [];
  observer.on("turnLatency", (r) => void records.push(r));
  const task = new PipelineTask(new Pipeline([new FrameRecorder()]), {
    clock,
    logger: silentLogger,
    idleTimeoutMs: null,
    observers: [observer],
  });
  const done = task.run();
  return {
    records,
    lines,
    observer,
    async at(ms: number, frame: Frame, direction: FrameDirection = FrameDirection.DOWNSTREAM) {
      await clock.advanceTo(ms);
      task.queueFrame(frame, direction);
      await clock.settle();
    },
    async finish() {
      void task.stopWhenDone();
      await clock.runUntil(done);
    },
  };
}

const AUDIO = new Int16Array(240);

describe("TurnLatencyObserver: scripted frames at known times", () => {
  it("splits a turn into turn detection and response, from the VAD's stop time minus its stop delay", async () => {
    const s = scripted();
    await s.at(1_000, new UserStartedSpeakingFrame());
    await s.at(2_000, new VADUserStoppedSpeakingFrame(200, 2_000)); // quiet since 1800
    await s.at(2_300, new UserStoppedSpeakingFrame()); // speech timeout / turn model: 300 ms more
    await s.at(2_300, new UserStoppedSpeakingFrame(), FrameDirection.UPSTREAM); // its twin: ignored
    await s.at(2_340, new TranscriptionFrame("hello", "u", 2_340));
    await s.at(2_500, new LLMTextFrame("Hi"));
    await s.at(2_520, new LLMTextFrame(" there")); // not the first: ignored
    await s.at(2_600, new TTSAudioRawFrame(AUDIO, 24_000));
    await s.at(2_640, new TTSAudioRawFrame(AUDIO, 24_000));
    await s.at(2_700, new BotStartedSpeakingFrame());
    await s.finish();
    expect(s.records).toEqual([
      {
        turn: 1,
        outcome: "answered",
        userQuietMs: 1_800,
        vadStoppedMs: 2_000,
        userTurnEndMs: 2_300,
        transcriptMs: 2_340,
        llmFirstTextMs: 2_500,
        ttsFirstAudioMs: 2_600,
        botStartedMs: 2_700,
        turnDetectionMs: 500,
        responseMs: 400,
        totalMs: 900,
      },
    ]);
    const info = s.lines.filter((l) => l.level === "info").map((l) => l.message);
    expect(info).toEqual([
      "turn 1: 900 ms to first bot audio = turn detection 500 ms + response 400 ms (transcript +40, LLM +200, TTS +300, written +400 ms after the turn ended)",
    ]);
  });

  it("a pause the user spoke through does not count; a turn the user cut short is 'interrupted'; one the session cut is 'unfinished'", async () => {
    const s = scripted();
    await s.at(0, new UserStartedSpeakingFrame());
    await s.at(500, new VADUserStoppedSpeakingFrame(200, 500)); // a pause…
    await s.at(600, new VADUserStartedSpeakingFrame(200, 600)); // …spoken through
    await s.at(1_000, new UserStoppedSpeakingFrame()); // ended by the STT, no second VAD stop
    await s.at(1_100, new LLMTextFrame("a"));
    await s.at(1_200, new UserStartedSpeakingFrame()); // before any bot audio
    await s.at(2_000, new VADUserStoppedSpeakingFrame(200, 2_000));
    await s.at(2_200, new UserStoppedSpeakingFrame());
    await s.at(2_400, new BotStartedSpeakingFrame());
    await s.at(3_000, new UserStartedSpeakingFrame());
    await s.at(3_500, new UserStoppedSpeakingFrame());
    await s.finish();
    expect(
      s.records.map((r) => [r.turn, r.outcome, r.userQuietMs, r.turnDetectionMs, r.responseMs, r.totalMs]),
    ).toEqual([
      [1, "interrupted", undefined, undefined, undefined, undefined],
      [2, "answered", 1_800, 400, 200, 600],
      [3, "unfinished", undefined, undefined, undefined, undefined],
    ]);
    expect(s.lines.filter((l) => l.level === "info").map((l) => l.message)[0]).toContain(
      "no bot audio (the user spoke again before the bot)",
    );
  });

  it("bot audio outside a user turn (a greeting) is no turn; state stays one turn however long the session", async () => {
    const s = scripted();
    await s.at(100, new TTSAudioRawFrame(AUDIO, 24_000));
    await s.at(150, new BotStartedSpeakingFrame());
    for (let i = 0; i < 200; i++) {
      const t = 1_000 + i * 1_000;
      await s.at(t, new UserStartedSpeakingFrame());
      await s.at(t + 400, new VADUserStoppedSpeakingFrame(200, t + 400));
      await s.at(t + 500, new UserStoppedSpeakingFrame());
      await s.at(t + 600, new BotStartedSpeakingFrame());
    }
    await s.finish();
    expect(s.records.length).toBe(200);
    expect(s.records.every((r) => r.totalMs === 400 && r.turnDetectionMs === 300)).toBe(true);
    expect(s.observer.turns).toBe(200);
  });
});

/** On the user's turn end: after `thinkMs`, an LLM text, then `audioMs` of TTS audio. */
class InstantBot extends FrameProcessor {
  constructor(
    private readonly thinkMs: number,
    private readonly audioMs: number,
  ) {
    super();
  }

  override async processFrame(frame: Frame, direction: FrameDirection, signal?: AbortSignal): Promise<void> {
    await super.processFrame(frame, direction, signal);
    if (!(frame instanceof UserStoppedSpeakingFrame) || direction !== FrameDirection.DOWNSTREAM) return;
    await this.clock.sleep(this.thinkMs, signal);
    await this.pushFrame(new LLMTextFrame("Hello."));
    await this.pushFrame(new TTSAudioRawFrame(new Int16Array((24_000 * this.audioMs) / 1000), 24_000));
    await this.pushFrame(new TTSStoppedFrame());
  }
}

describe("TurnLatencyObserver: a real VAD and the memory transport", () => {
  it("measures each spoken turn: quiet at the VAD's stop minus stopMs, bot audio when the output wrote it", async () => {
    const { wav, truth } = loadVadFixture("vad-flite");
    const analyzer = new SileroVADAnalyzer();
    await analyzer.ready(); // load the model outside virtual time
    const clock = new VirtualClock({ settleTurns: 8 });
    const transport = new MemoryTransport({
      params: {
        audioInEnabled: true,
        audioOutEnabled: true,
        audioInSampleRate: 16_000,
        audioOutSampleRate: 24_000,
      },
    });
    const observer = new TurnLatencyObserver({ log: false });
    const records: TurnLatency[] = [];
    observer.on("turnLatency", (r) => void records.push(r));
    const task = new PipelineTask(
      new Pipeline([
        transport.input(),
        new VADProcessor({ analyzer }),
        new UserTurnProcessor({ interruptions: false }),
        new InstantBot(30, 200),
        transport.output(),
      ]),
      { clock, logger: silentLogger, idleTimeoutMs: null, observers: [observer] },
    );
    const done = task.run();
    await clock.settle();
    for (const c of chunks(wav.samples, 320)) {
      await transport.input().pushAudio(c.slice(), 16_000);
      await clock.advance(20);
    }
    await clock.advance(1_000); // the last answer plays
    void task.stopWhenDone();
    await clock.runUntil(done);

    expect(records.length).toBe(truth.speech.length);
    records.forEach((r, i) => {
      const span = truth.speech[i]!;
      expect(r.outcome).toBe("answered");
      // The user went quiet at the end of the spoken span, give or take the soft tail of the
      // last word (Silero hears flite's last ~120 ms as silence) and a VAD window.
      expect(r.userQuietMs!).toBeGreaterThanOrEqual(span.endMs - 250);
      expect(r.userQuietMs!).toBeLessThanOrEqual(span.endMs + 200);
      // UserTurnProcessor ends the turn on the VAD stop: detection is the VAD's stop delay.
      expect(r.turnDetectionMs).toBe(200);
      expect(r.llmFirstTextMs! - r.userTurnEndMs).toBe(30);
      expect(r.ttsFirstAudioMs).toBe(r.llmFirstTextMs);
      // The output writes on its clock ticks: within one 40 ms chunk of the audio arriving.
      expect(r.botStartedMs!).toBeGreaterThanOrEqual(r.ttsFirstAudioMs!);
      expect(r.botStartedMs! - r.ttsFirstAudioMs!).toBeLessThanOrEqual(40);
      expect(r.totalMs).toBe(r.botStartedMs! - r.userQuietMs!);
    });
  });
});
