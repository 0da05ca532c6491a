import { expect } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import { InputAudioRawFrame } from "../../../src/frames/audio.js";
import { type TaskOutcome } from "../../../src/pipeline/task.js";
import type { PipelineTaskOptions } from "../../../src/pipeline/task-options.js";
import { DeepgramSTTService, type DeepgramSTTOptions } from "../../../src/services/deepgram/stt.js";
import { type RecordedTask, startRecordedTask } from "../recorded-task.js";

/** A running task [up recorder, DeepgramSTTService, down recorder] on `clock`. */
export interface STTSession extends RecordedTask {
  readonly stt: DeepgramSTTService;
  /** Queues `ms` of speech as 20 ms frames, moving a virtual clock 20 ms after each. */
  speak(ms: number, rate?: number, channels?: number): Promise<void>;
}

export async function startSession(
  options: DeepgramSTTOptions,
  taskOptions: Partial<PipelineTaskOptions> = {},
  clock: Clock = new VirtualClock(),
): Promise<STTSession> {
  const stt = new DeepgramSTTService({ apiKey: "test-key", ...options });
  const recorded = await startRecordedTask([stt], clock, taskOptions);
  const { queue } = recorded;
  return {
    ...recorded,
    stt,
    async speak(ms, rate = 16_000, channels = 1) {
      for (let t = 0; t < ms; t += 20) {
        queue(speechChunk(20, rate, channels, t));
        if (clock instanceof VirtualClock) await clock.advance(20);
      }
    },
  };
}

/** `ms` of a 440 Hz tone at `rate`, starting at `offsetMs` into the tone. */
export function speechChunk(ms: number, rate: number, channels = 1, offsetMs = 0): InputAudioRawFrame {
  const frames = (rate * ms) / 1000;
  const audio = new Int16Array(frames * channels);
  const start = (rate * offsetMs) / 1000;
  for (let i = 0; i < frames; i++) {
    const v = Math.round(8000 * Math.sin((2 * Math.PI * 440 * (start + i)) / rate));
    for (let c = 0; c < channels; c++) audio[i * channels + c] = v;
  }
  return new InputAudioRawFrame(audio, rate, channels);
}

/** Waits for the task to finish (moving a virtual clock) and returns how it ended. */
export async function finish(session: STTSession): Promise<TaskOutcome> {
  const { clock, finished } = session;
  if (clock instanceof VirtualClock) await clock.runUntil(finished, { maxMs: 60_000 });
  return finished;
}

/** Nothing of the session is left on its clock. */
export function expectNothingPending(clock: Clock): void {
  if (clock instanceof VirtualClock) {
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  }
}
