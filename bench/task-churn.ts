/**
 * Task churn: pipeline tasks created, run (a few frames through three processors) and ended
 * per second, and heap used after 10,000 of them.
 *
 *   npx tsx --expose-gc bench/task-churn.ts
 */
import { performance } from "node:perf_hooks";
import v8 from "node:v8";
import vm from "node:vm";
import { FrameProcessor, Pipeline, PipelineTask, TextFrame, silentLogger } from "../src/index.js";

v8.setFlagsFromString("--expose_gc");
const gc = vm.runInNewContext("gc") as () => void;

async function one(): Promise<void> {
  const task = new PipelineTask(
    new Pipeline([new FrameProcessor(), new FrameProcessor(), new FrameProcessor({ direct: true })]),
    { logger: silentLogger },
  );
  const done = task.run();
  task.queueFrames([new TextFrame("a"), new TextFrame("b"), new TextFrame("c")]);
  await task.stopWhenDone();
  await done;
}

async function churn(count: number, concurrency: number): Promise<number> {
  const t0 = performance.now();
  for (let i = 0; i < count; i += concurrency) await Promise.all(Array.from({ length: concurrency }, one));
  return count / ((performance.now() - t0) / 1000);
}

await churn(1_000, 50);
gc();
const heapBefore = process.memoryUsage().heapUsed;
const rate = await churn(10_000, 50);
gc();
await new Promise((r) => setImmediate(r));
gc();
const heapAfter = process.memoryUsage().heapUsed;
console.log(`bench: task_churn ${Math.round(rate)} tasks/s`);
console.log(`bench: heap_after_10000_tasks ${(heapAfter / 1_048_576).toFixed(1)} MiB`);
console.log(`bench: heap_growth_over_10000_tasks ${((heapAfter - heapBefore) / 1024).toFixed(0)} KiB`);
