import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  Pipeline,
  PipelineRunner,
  PipelineTask,
  TextFrame,
  silentLogger,
} from "../../src/index.js";
import { activeResources, settledHeap } from "../support/gc.js";
import { SlowTextProcessor } from "../support/processors.js";

async function runOne(i: number): Promise<void> {
  const pipeline = new Pipeline([
    new FrameProcessor(),
    new SlowTextProcessor(1),
    new FrameProcessor({ direct: true }),
  ]);
  const task = new PipelineTask(pipeline, {
    logger: silentLogger,
    idleTimeoutMs: 60_000,
    params: { enableHeartbeats: true, heartbeatsPeriodMs: 1_000 },
  });
  task.on("pipelineFinished", () => {});
  const runner = new PipelineRunner();
  const running = runner.run(task);
  task.queueFrames([new TextFrame("a"), new TextFrame("b")]);
  if (i % 2 === 0) await task.stopWhenDone();
  else await task.cancel("leak test");
  await running;
}

async function runMany(count: number, concurrency: number): Promise<void> {
  for (let i = 0; i < count; i += concurrency) {
    await Promise.all(Array.from({ length: Math.min(concurrency, count - i) }, (_, k) => runOne(i + k)));
  }
}

describe("leaks", () => {
  it("1,000 tasks run and ended leave no timers, handles or listeners behind, and heap is flat", async () => {
    const before = activeResources();
    const sigint = process.listenerCount("SIGINT");
    const sigterm = process.listenerCount("SIGTERM");
    await runMany(100, 50); // warm-up: JIT, caches
    const heapWarm = await settledHeap();
    await runMany(1_000, 50);
    const heapAfter = await settledHeap();
    const after = activeResources();

    expect(after["Timeout"] ?? 0).toBeLessThanOrEqual(before["Timeout"] ?? 0);
    expect(after["Immediate"] ?? 0).toBeLessThanOrEqual(before["Immediate"] ?? 0);
    expect(Object.values(after).reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(
      Object.values(before).reduce((a, b) => a + b, 0),
    );
    expect(process.listenerCount("SIGINT")).toBe(sigint);
    expect(process.listenerCount("SIGTERM")).toBe(sigterm);
    // 1,000 tasks: a leak of even 2 KB per task would show.
    expect(heapAfter - heapWarm).toBeLessThan(2_000_000);
  });
});
