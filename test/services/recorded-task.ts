import { VirtualClock } from "../../src/clock/index.js";
import type { Clock } from "../../src/clock/clock.js";
import { type Frame, FrameDirection } from "../../src/frames/frame.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { PipelineTask, type TaskOutcome } from "../../src/pipeline/task.js";
import type { PipelineTaskOptions } from "../../src/pipeline/task-options.js";
import type { FrameProcessor } from "../../src/processors/frame-processor.js";
import { FrameRecorder } from "../../src/testing/frame-recorder.js";
import { type LoggedLine, memoryLogger } from "../support/logger.js";
import { until } from "./websocket/loopback-provider.js";

/** A running task [up recorder, the processors, down recorder], logging to memory. */
export interface RecordedTask {
  readonly task: PipelineTask;
  readonly clock: Clock;
  readonly up: FrameRecorder;
  readonly down: FrameRecorder;
  readonly lines: LoggedLine[];
  readonly finished: Promise<TaskOutcome>;
  queue(...frames: Frame[]): void;
}

/** Waits for `predicate` on `clock` (virtual: moves time; system: polls in real time). */
export type Waiter = (predicate: () => boolean, what: string) => Promise<void>;

/** The default {@link Waiter}: the virtual clock's and `until`'s own bounds. */
export function waiterOn(clock: Clock): Waiter {
  return async (predicate, what) => {
    if (clock instanceof VirtualClock) await clock.runUntil(predicate);
    else await until(predicate, what);
  };
}

/**
 * Starts a task around `processors` with recorders at both ends, and resolves once it has
 * started (or already finished: a fatal start). `wait` is how the start is waited for.
 */
export async function startRecordedTask(
  processors: readonly FrameProcessor[],
  clock: Clock,
  taskOptions: Partial<PipelineTaskOptions> = {},
  wait: Waiter = waiterOn(clock),
): Promise<RecordedTask> {
  const { logger, lines } = memoryLogger();
  const up = new FrameRecorder(FrameDirection.UPSTREAM, { name: "up" });
  const down = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "down" });
  const task = new PipelineTask(new Pipeline([up, ...processors, down]), {
    clock,
    logger,
    idleTimeoutMs: null,
    ...taskOptions,
  });
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const finished = task.run();
  await wait(() => started || task.hasFinished(), "the task to start");
  const queue = (...frames: Frame[]): void => {
    for (const f of frames) task.queueFrame(f);
  };
  return { task, clock, up, down, lines, finished, queue };
}
