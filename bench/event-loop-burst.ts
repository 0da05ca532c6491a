/**
 * Event-loop delay while a burst of frames crosses a pipeline: how long timers and I/O (another
 * session's output ticks) wait while one session drains a burst. Frames are queued 1,000 at a
 * time, one event-loop turn apart, keeping at most 5,000 in flight (under the lanes' bound), so
 * the producer itself never holds the loop and nothing is dropped.
 *
 *   npx tsx bench/event-loop-burst.ts
 */
import { monitorEventLoopDelay, performance } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import {
  type Frame,
  FrameDirection,
  FrameProcessor,
  ParallelPipeline,
  Pipeline,
  PipelineTask,
  TextFrame,
  silentLogger,
} from "../src/index.js";

class Counter extends FrameProcessor {
  count = 0;
  target = Number.POSITIVE_INFINITY;
  onTarget: (() => void) | undefined;
  override processFrame(frame: Frame, direction: FrameDirection): void | Promise<void> {
    if (frame instanceof TextFrame && ++this.count === this.target) this.onTarget?.();
    return super.processFrame(frame, direction);
  }
}

async function measure(
  label: string,
  build: (counter: Counter) => FrameProcessor,
  frames: number,
  allAtOnce = false,
): Promise<void> {
  const counter = new Counter();
  const task = new PipelineTask(build(counter), { logger: silentLogger, idleTimeoutMs: null });
  const started = new Promise<void>((r) => task.on("pipelineStarted", r));
  const done = task.run();
  await started;
  counter.target = frames;
  const reached = new Promise<void>((r) => (counter.onTarget = r));
  const histogram = monitorEventLoopDelay({ resolution: 1 });
  histogram.enable();
  const t0 = performance.now();
  if (allAtOnce) {
    // The whole burst in one synchronous loop (lanes sized to hold it): the worst a caller can do.
    for (let i = 0; i < frames; i++) task.queueFrame(new TextFrame("burst"), FrameDirection.DOWNSTREAM);
  } else {
    for (let sent = 0; sent < frames; sent += 1_000) {
      // A new frame each time: a ParallelPipeline lets one frame object out once.
      for (let i = 0; i < 1_000; i++) task.queueFrame(new TextFrame("burst"), FrameDirection.DOWNSTREAM);
      do await nextTurn();
      while (sent - counter.count > 4_000);
    }
  }
  const queuedMs = performance.now() - t0;
  await reached;
  histogram.disable();
  await task.stopWhenDone();
  await done;
  const ms = (ns: number): string => (ns / 1e6).toFixed(1);
  console.log(`bench: event_loop_delay_${label}_p99 ${ms(histogram.percentile(99))} ms`);
  console.log(`bench: event_loop_delay_${label}_max ${ms(histogram.max)} ms`);
  if (allAtOnce) console.log(`bench: event_loop_delay_${label}_queueing_loop ${queuedMs.toFixed(1)} ms`);
}

const chain = (n: number, maxQueuedFrames = 10_000): FrameProcessor[] =>
  Array.from({ length: n }, () => new FrameProcessor({ maxQueuedFrames }));
await measure("10proc_200k", (c) => new Pipeline([...chain(10), c]), 200_000);
await measure(
  "parallel3x3_100k",
  (c) => new Pipeline([new ParallelPipeline(chain(3), chain(3), chain(3)), c]),
  100_000,
);
await measure("10proc_200k_all_at_once", (c) => new Pipeline([...chain(10, 300_000), c]), 200_000, true);
