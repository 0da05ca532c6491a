import { expect } from "vitest";
import { VirtualClock } from "../../../src/clock/index.js";
import type { Clock } from "../../../src/clock/clock.js";
import { TTSAudioRawFrame } from "../../../src/frames/audio.js";
import type { Frame } from "../../../src/frames/frame.js";
import { LLMFullResponseEndFrame, LLMFullResponseStartFrame } from "../../../src/frames/llm.js";
import { LLMTextFrame } from "../../../src/frames/text.js";
import { type TaskOutcome } from "../../../src/pipeline/task.js";
import type { PipelineTaskOptions } from "../../../src/pipeline/task-options.js";
import type { FrameProcessor } from "../../../src/processors/frame-processor.js";
import { until } from "../websocket/loopback-provider.js";
import { type RecordedTask, startRecordedTask } from "../recorded-task.js";

/** A running task [up recorder, …processors, down recorder] on `clock`. */
export interface StreamingSession extends RecordedTask {
  /** Queues a whole LLM response: start, the texts, end. */
  respond(...texts: string[]): void;
  /** Waits (real or virtual time) until `predicate` holds. */
  until(predicate: () => boolean, what: string): Promise<void>;
  /** Stops the task (end or cancel) and waits for it to finish. */
  finish(how?: "end" | "cancel"): Promise<TaskOutcome>;
}

export async function startStreamingSession(
  processors: readonly FrameProcessor[],
  options: { clock?: Clock; taskOptions?: Partial<PipelineTaskOptions> } = {},
): Promise<StreamingSession> {
  const clock = options.clock ?? new VirtualClock();
  const wait = async (predicate: () => boolean, what: string): Promise<void> => {
    if (clock instanceof VirtualClock) await clock.runUntil(predicate, { maxMs: 120_000 });
    else await until(predicate, what, 5_000);
  };
  const t = await startRecordedTask(processors, clock, options.taskOptions, wait);
  const { task, finished, queue } = t;
  return {
    ...t,
    respond(...texts) {
      queue(
        new LLMFullResponseStartFrame(),
        ...texts.map((t) => new LLMTextFrame(t)),
        new LLMFullResponseEndFrame(),
      );
    },
    until: wait,
    async finish(how = "end") {
      if (how === "end") void task.stopWhenDone();
      else void task.cancel("test");
      if (clock instanceof VirtualClock) await clock.runUntil(finished, { maxMs: 120_000 });
      return finished;
    },
  };
}

/** Every sample of the TTS audio among `frames`, in order. */
export function samplesOf(frames: readonly Frame[]): number[] {
  const out: number[] = [];
  for (const f of frames) if (f instanceof TTSAudioRawFrame) out.push(...f.audio);
  return out;
}

/** Nothing of the session is left on its clock. */
export function expectNothingPending(clock: Clock): void {
  if (clock instanceof VirtualClock) {
    expect(clock.pendingTimers).toBe(0);
    expect(clock.pendingRealWork).toBe(0);
  }
}
