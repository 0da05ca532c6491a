/**
 * Frame hops per second through a 10-processor pipeline, queued lanes and direct mode.
 * One hop = one processor handling one frame and pushing it on. `queued` sends data frames (the
 * ordered lane), `queued_system` system frames (input audio: the system lane); `paced` sends one
 * system frame at a time and waits for it at the end, so every hop finds its lane idle (as the
 * frames of a real-time session do).
 *
 *   npx tsx bench/frame-hops.ts
 */
import { performance } from "node:perf_hooks";
import {
  type Frame,
  FrameDirection,
  FrameProcessor,
  Pipeline,
  PipelineTask,
  InputAudioRawFrame,
  TextFrame,
  silentLogger,
} from "../src/index.js";

const PROCESSORS = 10;

/** Counts TextFrames reaching the end of the pipeline and wakes the driver at a target. */
class Counter extends FrameProcessor {
  count = 0;
  target = 0;
  onTarget: (() => void) | undefined;
  constructor() {
    super({ direct: true });
  }
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if ((frame instanceof TextFrame || frame instanceof InputAudioRawFrame) && ++this.count === this.target) {
      this.onTarget?.();
    }
    return super.processFrame(frame, direction);
  }
}

async function measure(direct: boolean, frames: number, batch: number, system = false): Promise<number> {
  const counter = new Counter();
  const processors = Array.from({ length: PROCESSORS }, () => new FrameProcessor({ direct }));
  const task = new PipelineTask(new Pipeline([...processors, counter]), {
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const started = new Promise<void>((r) => task.on("pipelineStarted", r));
  const done = task.run();
  await started;
  // One object: we measure the runtime, not the allocator.
  const frame = system ? new InputAudioRawFrame(new Int16Array(256), 16_000) : new TextFrame("hop");
  const t0 = performance.now();
  for (let sent = 0; sent < frames; sent += batch) {
    counter.target = sent + batch;
    const reached = new Promise<void>((r) => (counter.onTarget = r));
    for (let i = 0; i < batch; i++) task.queueFrame(frame, FrameDirection.DOWNSTREAM);
    await reached;
  }
  const seconds = (performance.now() - t0) / 1000;
  await task.stopWhenDone();
  await done;
  return (frames * PROCESSORS) / seconds;
}

const cases: ReadonlyArray<readonly [string, boolean, number, number, boolean]> = [
  ["queued", false, 300_000, 1_000, false],
  ["queued_system", false, 300_000, 1_000, true],
  ["paced_system", false, 30_000, 1, true],
  ["direct", true, 2_000_000, 1_000, false],
];
for (const [name, direct, frames, batch, system] of cases) {
  await measure(direct, frames / 10, batch, system); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(direct, frames, batch, system));
  const best = Math.max(...runs);
  console.log(`bench: frame_hops_${name}_10proc ${Math.round(best)} hops/s`);
}
