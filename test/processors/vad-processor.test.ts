import { describe, expect, it } from "vitest";
import { VADAnalyzer, VADSampleRateError } from "../../src/audio/vad/index.js";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import { ErrorFrame } from "../../src/frames/error.js";
import { InputAudioRawFrame } from "../../src/frames/audio.js";
import type { Frame } from "../../src/frames/frame.js";
import {
  UserSpeakingFrame,
  VADUserStartedSpeakingFrame,
  VADUserStoppedSpeakingFrame,
} from "../../src/frames/speaking.js";
import { VADProcessor } from "../../src/processors/vad-processor.js";
import { EndFrame, StartFrame } from "../../src/frames/lifecycle.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../src/pipeline/task.js";
import { silentLogger } from "../../src/logger.js";
import { FrameRecorder, Sleep, VirtualClock, runTest } from "../../src/testing/index.js";
import { ScriptedVADAnalyzer, chunks, loadVadFixture, loud } from "../audio/vad/support.js";
import { memoryLogger } from "../support/logger.js";

/** 20 ms input frames of `samples`, each followed by 20 ms of virtual time (real-time pacing). */
function paced(samples: Int16Array, sampleRate: number, channels = 1): Array<InputAudioRawFrame | Sleep> {
  const out: Array<InputAudioRawFrame | Sleep> = [];
  for (const c of chunks(samples, (sampleRate / 50) * channels))
    out.push(new InputAudioRawFrame(c.slice(), sampleRate, channels), new Sleep(20));
  return out;
}

const isVad = (f: Frame): boolean =>
  f instanceof VADUserStartedSpeakingFrame || f instanceof VADUserStoppedSpeakingFrame;

describe("VADProcessor", () => {
  it("broadcasts started/stopped around real speech, in order, and forwards every audio frame", async () => {
    const { wav, truth } = loadVadFixture("vad-flite");
    const analyzer = new SileroVADAnalyzer();
    await analyzer.ready(); // load the model outside virtual time
    const frames = paced(wav.samples, 16000);
    const sent = frames.filter((f): f is InputAudioRawFrame => f instanceof InputAudioRawFrame);
    const { down, up } = await runTest(new VADProcessor({ analyzer }), {
      framesToSend: frames,
      clock: new VirtualClock({ settleTurns: 8 }),
    });

    // Every audio frame, the same objects, in order.
    expect(down.filter((f) => f instanceof InputAudioRawFrame)).toEqual(sent);
    expect(down.filter((f) => f instanceof InputAudioRawFrame).every((f, i) => f === sent[i])).toBe(true);

    const vadDown = down.filter(isVad);
    const vadUp = up.filter(isVad);
    const kinds = [
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame,
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame,
    ];
    expect(vadDown.map((f) => f.constructor)).toEqual(kinds);
    expect(vadUp.map((f) => f.constructor)).toEqual(kinds);
    vadDown.forEach((f, i) => expect(f.broadcastSiblingId).toBe(vadUp[i]!.id));

    // Each VAD frame comes out right after the audio that caused it: its position in the audio
    // (20 ms per frame before it) is where the speech started (+ startMs) or stopped (+ stopMs).
    const audioBefore = (f: Frame): number =>
      down.slice(0, down.indexOf(f)).filter((x) => x instanceof InputAudioRawFrame).length;
    truth.speech.forEach((span, i) => {
      const started = vadDown[2 * i] as VADUserStartedSpeakingFrame;
      const stopped = vadDown[2 * i + 1] as VADUserStoppedSpeakingFrame;
      const startAt = audioBefore(started) * 20;
      const stopAt = audioBefore(stopped) * 20;
      expect(startAt).toBeGreaterThan(span.startMs);
      expect(startAt).toBeLessThanOrEqual(span.startMs + started.startMs + 300);
      expect(stopAt).toBeGreaterThan(span.endMs);
      expect(stopAt).toBeLessThanOrEqual(span.endMs + stopped.stopMs + 400);
      // Timestamps come from the task clock, which the paced frames move 20 ms per frame.
      expect(started.timestampMs).toBe(startAt);
      expect(stopped.timestampMs).toBe(stopAt);
      expect([started.startMs, stopped.stopMs]).toEqual([200, 200]);
    });

    // UserSpeakingFrame every 200 ms of clock time while speaking, both ways.
    const speakingDown = down.filter((f) => f instanceof UserSpeakingFrame);
    const speakingUp = up.filter((f) => f instanceof UserSpeakingFrame);
    const spans = [0, 1].map((i) => {
      const a = vadDown[2 * i] as VADUserStartedSpeakingFrame;
      const b = vadDown[2 * i + 1] as VADUserStoppedSpeakingFrame;
      return {
        a,
        b,
        inside: speakingDown.filter(
          (f) => down.indexOf(f) > down.indexOf(a) && down.indexOf(f) < down.indexOf(b),
        ).length,
      };
    });
    for (const { a, b, inside } of spans) {
      const spoken = b.timestampMs - a.timestampMs;
      expect(inside).toBeGreaterThanOrEqual(Math.floor((spoken - 200) / 200) - 1); // SPEAKING minus the stop window
      expect(inside).toBeLessThanOrEqual(Math.floor(spoken / 200));
    }
    expect(speakingDown.length).toBe(spans[0]!.inside + spans[1]!.inside); // none outside speech
    expect(speakingUp.length).toBe(speakingDown.length);
    expect(up.filter((f) => f instanceof ErrorFrame)).toEqual([]);
  });

  it("holds EndFrame until audio queued before it has been analysed and forwarded", async () => {
    // No pacing: 100 frames queued at once, and the model answers an event-loop turn later, so
    // most audio is still waiting on the system lane when EndFrame reaches the ordered lane.
    const analyzer = new ScriptedVADAnalyzer((i) => (i >= 5 && i < 40 ? 0.9 : 0.1), { async: "turn" });
    const frames = [...chunks(loud(2000), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const seen = new FrameRecorder();
    const vad = new VADProcessor({ analyzer });
    const clock = new VirtualClock();
    const task = new PipelineTask(new Pipeline([vad, seen]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
    });
    let started = false;
    task.on("pipelineStarted", () => {
      started = true;
    });
    const done = task.run();
    await clock.runUntil(() => started);
    // The audio and the end are queued in the same turn: EndFrame reaches the ordered lane
    // while nearly all the audio still waits on the system lane.
    task.queueFrames(frames);
    const ended = task.stopWhenDone();
    expect(seen.frames.filter((f) => f instanceof InputAudioRawFrame).length).toBeLessThan(50);
    await clock.runUntil(ended, { maxMs: 60_000 });
    await done;
    const out = seen.frames.filter((f) => !(f instanceof StartFrame));
    expect(out.at(-1)).toBeInstanceOf(EndFrame);
    expect(out.filter((f) => f instanceof InputAudioRawFrame)).toEqual(frames);
    expect(out.filter(isVad).map((f) => f.constructor)).toEqual([
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame,
    ]);
    expect(analyzer.windowsAnalyzed).toBe(100);
  });

  it("reports an unsupported sample rate once, upstream, and still forwards the audio", async () => {
    const analyzer = new ScriptedVADAnalyzer(() => 0.9);
    const frames = [...chunks(loud(500, 44100), 882)].map((c) => new InputAudioRawFrame(c, 44100));
    const { down, up } = await runTest(new VADProcessor({ analyzer }), { framesToSend: frames });
    expect(down).toEqual(frames);
    const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
    expect(errors.length).toBe(1);
    expect(errors[0]!.error.message).toMatch(/44100 Hz.*Resample/);
    expect(errors[0]!.error).toBeInstanceOf(VADSampleRateError);
    expect(errors[0]!.error).toMatchObject({ code: "VP_VAD_SAMPLE_RATE", sampleRate: 44100 });
    expect(errors[0]!.fatal).toBe(false);
    expect(analyzer.windowsAnalyzed).toBe(0);
  });

  it("reports a sample rate change mid-stream and keeps analysing the stream's own rate", async () => {
    const analyzer = new ScriptedVADAnalyzer(() => 0.9);
    const at16 = [...chunks(loud(100), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const at8 = [...chunks(loud(100, 8000), 160)].map((c) => new InputAudioRawFrame(c, 8000));
    const more16 = [...chunks(loud(300), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const { down, up } = await runTest(new VADProcessor({ analyzer }), {
      framesToSend: [...at16, ...at8, ...more16],
    });
    expect(down.filter((f) => f instanceof InputAudioRawFrame)).toEqual([...at16, ...at8, ...more16]);
    const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
    expect(errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/changed mid-stream from 16000 Hz to 8000 Hz/),
    ]);
    expect(errors[0]!.error).toMatchObject({ code: "VP_VAD_INPUT" });
    expect(analyzer.windowsAnalyzed).toBe(20); // the 16 kHz frames only
    // Still speaking when the stream ends: the stop is sent before the EndFrame.
    expect(down.filter(isVad).map((f) => f.constructor)).toEqual([
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame,
    ]);
  });

  it("ends speech when audio stops arriving for audioIdleTimeoutMs, then starts over", async () => {
    const analyzer = new ScriptedVADAnalyzer(() => 0.9); // every window is speech
    const speech = [...chunks(loud(600), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const later = [...chunks(loud(600), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const paced = (frames: InputAudioRawFrame[]) => frames.flatMap((f) => [f, new Sleep(20)]);
    const seen = new FrameRecorder();
    const { clock } = await runTest(
      new Pipeline([new VADProcessor({ analyzer, audioIdleTimeoutMs: 1_000 }), seen]),
      {
        framesToSend: [...paced(speech), new Sleep(3_000), ...paced(later)],
      },
    );
    const vad = seen.frames.filter(isVad);
    expect(vad.map((f) => f.constructor)).toEqual([
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame, // the mic went quiet: forced after 1 s without audio
      VADUserStartedSpeakingFrame, // a fresh start when audio came back
      VADUserStoppedSpeakingFrame, // the stream ended while speaking
    ]);
    const lastSpeech = speech.length * 20;
    const forcedAt = (vad[1] as VADUserStoppedSpeakingFrame).timestampMs;
    expect(forcedAt).toBeGreaterThanOrEqual(lastSpeech + 1_000 - 20);
    expect(forcedAt).toBeLessThanOrEqual(lastSpeech + 1_000 + 40);
    expect(clock.pendingTimers).toBe(0);
  });

  it("does not end speech while audio keeps coming", async () => {
    const analyzer = new ScriptedVADAnalyzer(() => 0.9);
    const speech = [...chunks(loud(3_000), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const seen = new FrameRecorder();
    await runTest(new Pipeline([new VADProcessor({ analyzer, audioIdleTimeoutMs: 500 }), seen]), {
      framesToSend: speech.flatMap((f) => [f, new Sleep(20)]),
    });
    expect(seen.frames.filter(isVad).map((f) => f.constructor)).toEqual([
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame, // only at the end of the stream
    ]);
  });

  it("analyses multi-channel audio as mono and forwards the frames unchanged", async () => {
    const analyzer = new ScriptedVADAnalyzer((i) => (i < 20 ? 0.9 : 0.1));
    const mono = loud(800);
    const stereo = new Int16Array(mono.length * 2);
    mono.forEach((x, i) => {
      stereo[2 * i] = x;
      stereo[2 * i + 1] = x;
    });
    const frames = [...chunks(stereo, 640)].map((c) => new InputAudioRawFrame(c, 16000, 2));
    const { down } = await runTest(new VADProcessor({ analyzer }), { framesToSend: frames });
    expect(analyzer.windowsAnalyzed).toBe(40);
    expect(down.filter((f) => f instanceof InputAudioRawFrame)).toEqual(frames);
    expect(down.filter(isVad).map((f) => f.constructor)).toEqual([
      VADUserStartedSpeakingFrame,
      VADUserStoppedSpeakingFrame,
    ]);
  });

  it("reports a failing model once per run of failures and keeps forwarding audio", async () => {
    class Flaky extends VADAnalyzer {
      readonly sampleRates = [16000];
      calls = 0;
      protected override windowSamples(): number {
        return 320;
      }
      protected override async voiceConfidence(): Promise<number> {
        this.calls++;
        if (this.calls <= 5 || (this.calls > 10 && this.calls <= 12))
          throw new Error(`model broke (${this.calls})`);
        return 0;
      }
    }
    const analyzer = new Flaky();
    const frames = [...chunks(loud(400), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const { down, up } = await runTest(new VADProcessor({ analyzer }), { framesToSend: frames });
    expect(down).toEqual(frames);
    const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
    expect(errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/voice activity detection failed \(model broke \(1\)\)/),
      expect.stringMatching(/model broke \(11\)/),
    ]);
    expect(errors[0]!.error).toMatchObject({ code: "VP_VAD_ANALYSIS" });
  });

  it("reports a missing model once, and counts the windows it failed, however the frames cut the windows", async () => {
    // Regression (issue 6, log floods): 196 errors for one missing Silero model in a 7.8 s file.
    // A frame that completes no model window "succeeded", so every failing window started a new run.
    const missing = new Error("model file /models/silero.onnx does not exist");
    class MissingModel extends VADAnalyzer {
      readonly sampleRates = [16000];
      windows = 0;
      protected override windowSamples(): number {
        return 512; // Silero's window at 16 kHz: 20 ms frames complete one every 1.6 frames
      }
      override ready(): Promise<void> {
        return Promise.reject(missing);
      }
      protected override async voiceConfidence(): Promise<number> {
        this.windows++;
        throw missing;
      }
    }
    const analyzer = new MissingModel();
    const { logger, lines } = memoryLogger();
    const frames = [...chunks(loud(4_000), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const { down, up } = await runTest(new VADProcessor({ analyzer, name: "vad" }), {
      framesToSend: frames,
      taskOptions: { logger },
    });
    expect(down).toEqual(frames); // every frame still forwarded
    const errors = up.filter((f): f is ErrorFrame => f instanceof ErrorFrame);
    expect(errors).toHaveLength(1);
    expect(errors[0]!.error.message).toMatch(
      /vad: voice activity detection failed \(model file \/models\/silero.onnx does not exist\)/,
    );
    expect(analyzer.windows).toBeGreaterThan(50); // the model was tried window after window
    // The repeats are counted, and said once at the end.
    const summaries = lines.filter((l) => /more times/.test(l.message));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]!.fields?.repeats).toBe(analyzer.windows);
  });

  it("applies params changed at run time through its analyzer", async () => {
    const analyzer = new ScriptedVADAnalyzer(() => 0.5);
    const vad = new VADProcessor({ analyzer });
    analyzer.setParams({ confidence: 0.4, startMs: 100 });
    const frames = [...chunks(loud(400), 320)].map((c) => new InputAudioRawFrame(c, 16000));
    const { down } = await runTest(vad, { framesToSend: frames });
    const started = down.find(
      (f): f is VADUserStartedSpeakingFrame => f instanceof VADUserStartedSpeakingFrame,
    );
    expect(started?.startMs).toBe(100);
    // Confirmed by the 6th window (5 speech windows; the first is below minVolume), and pushed
    // ahead of the audio frame that completed it: 5 audio frames before it.
    expect(down.indexOf(started!)).toBe(5);
  });
});
