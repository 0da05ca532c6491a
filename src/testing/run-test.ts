import { VirtualClock } from "../clock/virtual-clock.js";
import { type Frame, FrameDirection } from "../frames/frame.js";
import { EndFrame, StartFrame } from "../frames/lifecycle.js";
import { Pipeline } from "../pipeline/pipeline.js";
import { PipelineTask } from "../pipeline/task.js";
import type { FrameClass, PipelineTaskOptions } from "../pipeline/task-options.js";
import type { FrameProcessor } from "../processors/frame-processor.js";
import { VoicepipeError } from "../errors.js";
import { silentLogger } from "../logger.js";
import { FrameRecorder } from "./frame-recorder.js";

/** In a `framesToSend` list: let `ms` of virtual time pass before sending the next frame. */
export class Sleep {
  constructor(readonly ms: number) {}
}

/** Options of {@link runTest}. */
export interface RunTestOptions {
  /** Frames to queue, in order; a {@link Sleep} lets virtual time pass. */
  framesToSend: ReadonlyArray<Frame | Sleep>;
  /** Direction to queue them in. @default downstream */
  direction?: FrameDirection;
  /** Frame classes expected to come out downstream, in order (checked with `instanceof`). */
  expectedDown?: readonly FrameClass[];
  /** Frame classes expected to come out upstream, in order. */
  expectedUp?: readonly FrameClass[];
  /** Leave `StartFrame` out of the results. @default true */
  ignoreStart?: boolean;
  /** Queue an `EndFrame` after the frames and wait for the task to finish. @default true */
  sendEndFrame?: boolean;
  /** The clock to run on. @default a new VirtualClock */
  clock?: VirtualClock;
  /** Extra task options (idle detection is off unless set here). */
  taskOptions?: Partial<PipelineTaskOptions>;
  /** Longest virtual time to wait for the task to start and to finish. @default 60000 */
  maxMs?: number;
}

/** What {@link runTest} saw. */
export interface RunTestResult {
  /** Frames that came out downstream (without the trailing `EndFrame`). */
  down: Frame[];
  /** Frames that came out upstream. */
  up: Frame[];
  /** The live recorder at the downstream end: sees frames that come out after `runTest` returned (with `sendEndFrame: false`). */
  downRecorder: FrameRecorder;
  /** The live recorder at the upstream end. */
  upRecorder: FrameRecorder;
  task: PipelineTask;
  clock: VirtualClock;
}

/** The frames seen did not match the classes expected. */
export class FrameMismatchError extends VoicepipeError {
  readonly code = "VP_FRAME_MISMATCH";
}

/**
 * Drives `processor` inside a real `PipelineTask` on a virtual clock: queues `framesToSend`,
 * ends the task, and returns what came out at each end. The frame-level test harness.
 *
 * @example
 * const { down } = await runTest(new Upper(), {
 *   framesToSend: [new TextFrame("hi")],
 *   expectedDown: [TextFrame],
 * });
 */
export async function runTest(processor: FrameProcessor, options: RunTestOptions): Promise<RunTestResult> {
  const clock = options.clock ?? new VirtualClock();
  const ignoreStart = options.ignoreStart ?? true;
  const maxMs = options.maxMs ?? 60_000;
  const upRecorder = new FrameRecorder(FrameDirection.UPSTREAM, { name: "runTest::up" });
  const downRecorder = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "runTest::down" });
  const task = new PipelineTask(new Pipeline([upRecorder, processor, downRecorder]), {
    clock,
    idleTimeoutMs: null,
    logger: silentLogger,
    ...options.taskOptions,
  });
  let started = false;
  task.on("pipelineStarted", () => {
    started = true;
  });
  const finished = task.run();
  await clock.runUntil(() => started || task.hasFinished(), { maxMs });
  for (const item of options.framesToSend) {
    if (item instanceof Sleep) await clock.advance(item.ms);
    else task.queueFrame(item, options.direction ?? FrameDirection.DOWNSTREAM);
  }
  await clock.settle();
  if (options.sendEndFrame ?? true) {
    void task.stopWhenDone();
    await clock.runUntil(finished, { maxMs });
  }
  const keep = (f: Frame): boolean => !(ignoreStart && f instanceof StartFrame);
  const down = downRecorder.frames.filter(keep);
  if (down.at(-1) instanceof EndFrame) down.pop();
  const up = upRecorder.frames.filter(keep);
  if (options.expectedDown) assertFrameTypes(down, options.expectedDown, "downstream");
  if (options.expectedUp) assertFrameTypes(up, options.expectedUp, "upstream");
  return { down, up, downRecorder, upRecorder, task, clock };
}

/** Throws a readable {@link FrameMismatchError} unless `frames[i] instanceof expected[i]` for every i. */
export function assertFrameTypes(
  frames: readonly Frame[],
  expected: readonly FrameClass[],
  where = "frames",
): void {
  const ok = frames.length === expected.length && frames.every((f, i) => f instanceof expected[i]!);
  if (ok) return;
  const got = frames.map((f) => f.constructor.name).join(", ");
  const want = expected.map((c) => c.name).join(", ");
  throw new FrameMismatchError(`${where}: expected [${want}] but got [${got}]`);
}
