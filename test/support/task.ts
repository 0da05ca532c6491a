import {
  FrameDirection,
  MemoryTransport,
  type MemoryTransportOptions,
  type TransportParams,
  type ErrorFrame,
  type Frame,
  type FrameProcessor,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  type TaskTimeoutEvent,
  SystemClock,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { vi } from "vitest";
import { FrameRecorder } from "../../src/testing/index.js";

/**
 * Runs `processors` in a PipelineTask on a VirtualClock (idle detection off, silent log) and
 * collects what the task reports: errors, timeouts and the frame it finished by. The one set-up
 * of the transport, pipeline and adversary tests. Public API only (src/index.ts and
 * src/testing), so the adversary tests may use it.
 */
export function startTask(processors: FrameProcessor[], options: Partial<PipelineTaskOptions> = {}) {
  const clock = options.clock instanceof VirtualClock ? options.clock : new VirtualClock();
  const launched = launch(processors, { ...options, clock });
  return {
    clock,
    ...launched,
    /** Moves virtual time until the pipeline has started (at most a minute of it). */
    whenStarted: () => clock.runUntil(launched.isStarted, { maxMs: 60_000 }),
  };
}

/**
 * {@link startRecordedTask} on the real clock, for work a virtual clock cannot time out (an engine
 * that hangs is tracked real work, which stops virtual time by design: docs/design/clock.md).
 */
export function startRealTimeTask(processors: FrameProcessor[], options: Partial<PipelineTaskOptions> = {}) {
  const recorder = new FrameRecorder();
  const launched = launch([...processors, recorder], { ...options, clock: new SystemClock() });
  return {
    ...launched,
    recorder,
    /** Waits (real time, at most 5 s) until the pipeline has started. */
    whenStarted: () =>
      vi.waitFor(
        () => {
          if (!launched.isStarted()) throw new Error("the pipeline did not start within 5 s");
        },
        { timeout: 5000, interval: 5 },
      ),
  };
}

/** Runs the task and collects what it reports. */
function launch(processors: FrameProcessor[], options: Partial<PipelineTaskOptions>) {
  const task = new PipelineTask(new Pipeline(processors), {
    logger: silentLogger,
    idleTimeoutMs: null,
    ...options,
  });
  const errors: ErrorFrame[] = [];
  const timeouts: TaskTimeoutEvent[] = [];
  const finishedBy: Frame[] = [];
  let started = false;
  task.on("pipelineError", (e) => void errors.push(e));
  task.on("timeout", (e) => void timeouts.push(e));
  task.on("pipelineFinished", (f) => void finishedBy.push(f));
  task.on("pipelineStarted", () => {
    started = true;
  });
  const done = task.run();
  return { task, errors, timeouts, finishedBy, done, isStarted: (): boolean => started };
}

/** {@link startTask} with a FrameRecorder last in the pipeline: `recorder` holds what came out of the end. */
export function startRecordedTask(processors: FrameProcessor[], options: Partial<PipelineTaskOptions> = {}) {
  const recorder = new FrameRecorder();
  return { ...startTask([...processors, recorder], options), recorder };
}

/**
 * A MemoryTransport output (audio out on, at `rate`) between two recorders, running in a task
 * on a VirtualClock: `up` sees what the output sends upstream, `down` what it pushes on.
 */
export function startOutput(
  rate: number,
  params: Partial<TransportParams> = {},
  options: Omit<MemoryTransportOptions, "params"> = {},
) {
  const transport = new MemoryTransport({
    params: { audioOutEnabled: true, audioOutSampleRate: rate, ...params },
    ...options,
  });
  const down = new FrameRecorder();
  const up = new FrameRecorder(FrameDirection.UPSTREAM);
  return { ...startTask([up, transport.output(), down]), transport, output: transport.output(), down, up };
}
