/**
 * Frame hops per second through a 10-processor pipeline, queued lanes and direct mode.
 * One hop = one processor handling one frame and pushing it on.
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
    if (frame instanceof TextFrame && ++this.count === this.target) this.onTarget?.();
    return super.processFrame(frame, direction);
  }
}

async function measure(direct: boolean, frames: number, batch: number): Promise<number> {
  const counter = new Counter();
  const processors = Array.from({ length: PROCESSORS }, () => new FrameProcessor({ direct }));
  const task = new PipelineTask(new Pipeline([...processors, counter]), {
    logger: silentLogger,
    idleTimeoutMs: null,
  });
  const started = new Promise<void>((r) => task.on("pipelineStarted", r));
  const done = task.run();
  await started;
  const frame = new TextFrame("hop"); // one object: we measure the runtime, not the allocator
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

for (const [direct, frames] of [
  [false, 300_000],
  [true, 2_000_000],
] as const) {
  await measure(direct, frames / 10, 1_000); // warm-up
  const runs: number[] = [];
  for (let i = 0; i < 3; i++) runs.push(await measure(direct, frames, 1_000));
  const best = Math.max(...runs);
  console.log(`bench: frame_hops_${direct ? "direct" : "queued"}_10proc ${Math.round(best)} hops/s`);
}
