import {
  type ErrorFrame,
  type Frame,
  type FrameProcessor,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";

/**
 * Runs `processors` in a PipelineTask on a VirtualClock (idle detection off, silent log) and
 * collects what the task reports. The common set-up of the transport and pipeline tests.
 */
export function startTask(processors: FrameProcessor[], options: Partial<PipelineTaskOptions> = {}) {
  const clock = options.clock instanceof VirtualClock ? options.clock : new VirtualClock();
  const task = new PipelineTask(new Pipeline(processors), {
    logger: silentLogger,
    idleTimeoutMs: null,
    ...options,
    clock,
  });
  const errors: ErrorFrame[] = [];
  const finishedBy: Frame[] = [];
  let started = false;
  task.on("pipelineError", (e) => void errors.push(e));
  task.on("pipelineFinished", (f) => void finishedBy.push(f));
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  return {
    clock,
    task,
    errors,
    finishedBy,
    done,
    isStarted: (): boolean => started,
    /** Moves virtual time until the pipeline has started. */
    whenStarted: () => clock.runUntil(() => started),
  };
}
