import { expect } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import { ErrorFrame } from "../../../src/frames/error.js";
import { LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../../src/frames/llm.js";
import { LLMTextFrame } from "../../../src/frames/text.js";
import { type TaskOutcome } from "../../../src/pipeline/task.js";
import type { PipelineTaskOptions } from "../../../src/pipeline/task-options.js";
import type { FrameProcessor } from "../../../src/processors/frame-processor.js";
import { until } from "../websocket/loopback-provider.js";
import { type RecordedTask, startRecordedTask } from "../recorded-task.js";

/** A running task [up recorder, the TTS, down recorder] on `clock`. */
export interface TTSSession extends RecordedTask {
  /** Queues one LLM answer: start, the texts, end. */
  answer(...texts: string[]): void;
  /** The samples of every audio frame pushed so far, in order. */
  samples(): Int16Array;
  errors(): ErrorFrame[];
}

export async function startTTS(
  tts: FrameProcessor,
  clock: Clock = new VirtualClock(),
  taskOptions: Partial<PipelineTaskOptions> = {},
): Promise<TTSSession> {
  const t = await startRecordedTask([tts], clock, taskOptions);
  const { up, down, queue } = t;
  return {
    ...t,
    answer(...texts) {
      queue(
        new LLMFullResponseStartFrame(),
        ...texts.map((t) => new LLMTextFrame(t)),
        new LLMFullResponseEndFrame(),
      );
    },
    samples: () => joinedSamples(down.ofType(TTSAudioRawFrame)),
    errors: () => up.ofType(ErrorFrame),
  };
}

/**
 * Waits in real time until `predicate` holds. Not `runUntil`: it waits for tracked real work to
 * settle first, and a stalled request (the point of several tests) never settles by itself.
 */
export async function waitFor(_session: TTSSession, predicate: () => boolean, what: string): Promise<void> {
  await until(predicate, what, 5_000);
}

/** Ends the task (drain) and waits for it to finish. */
export async function endTTS(session: TTSSession): Promise<TaskOutcome> {
  void session.task.stopWhenDone();
  return finishTTS(session);
}

/** Waits for the task to finish (moving a virtual clock) and returns how it ended. */
export async function finishTTS(session: TTSSession): Promise<TaskOutcome> {
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

/** The samples of `frames`, one after the other. */
export function joinedSamples(frames: readonly TTSAudioRawFrame[]): Int16Array {
  const out = new Int16Array(frames.reduce((n, f) => n + f.audio.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f.audio, at);
    at += f.audio.length;
  }
  return out;
}
