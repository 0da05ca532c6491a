import { performance } from "node:perf_hooks";
import { describe, expect, it } from "vitest";
import {
  type Frame,
  type FrameDirection,
  FrameProcessor,
  Pipeline,
  PipelineTask,
  TextFrame,
  silentLogger,
} from "../../src/index.js";

/** A queued processor whose handler is async but never really waits: every await is already settled. */
class SettlesAtOnce extends FrameProcessor {
  override async processFrame(frame: Frame, direction: FrameDirection): Promise<void> {
    await Promise.resolve();
    return super.processFrame(frame, direction);
  }
}

describe("starvation", () => {
  it("timers keep firing while ten queued processors drain a burst during shutdown", async () => {
    const task = new PipelineTask(
      new Pipeline(Array.from({ length: 10 }, () => new SettlesAtOnce({ maxQueuedFrames: 1_000_000 }))),
      {
        logger: silentLogger,
        idleTimeoutMs: null,
      },
    );
    const started = new Promise<void>((r) => task.on("pipelineStarted", r));
    const done = task.run();
    await started;
    const frames = 100_000; // 1,000,000 hops: far longer than one timer period if nothing yields
    for (let i = 0; i < frames; i++) task.queueFrame(new TextFrame("x"));
    const ends = task.stopWhenDone();

    // From here the library drains on its own; a 1 ms timer chain measures the gaps it leaves.
    const gaps: number[] = [];
    let last = performance.now();
    let ticking = true;
    const tick = (): void => {
      const now = performance.now();
      gaps.push(now - last);
      last = now;
      if (ticking) setTimeout(tick, 1);
    };
    setTimeout(tick, 1);
    const t0 = performance.now();
    await ends;
    const drainMs = performance.now() - t0;
    ticking = false;
    await done;
    expect(task.processors.reduce((n, p) => n + p.droppedFrames, 0)).toBe(0);

    // A loop that never yields leaves one gap as long as the whole drain (measured: no tick at
    // all). Yielding lanes let the 1 ms timer run all along: many ticks, and no gap anywhere
    // near the drain's length. The bound is relative, so a loaded machine does not flake it.
    expect(drainMs).toBeGreaterThan(100); // the burst was long enough to starve a naive loop
    expect(gaps.length).toBeGreaterThan(5);
    expect(Math.max(...gaps)).toBeLessThan(drainMs / 4);
  });
});
