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
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { FrameRecorder } from "../../src/testing/index.js";

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
