import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  FrameProcessor,
  InvalidOptionError,
  Pipeline,
  PipelineTask,
  type PipelineTaskOptions,
  TextFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { SlowOn, SlowTextProcessor } from "../support/processors.js";

/** Numbers a caller might pass by mistake, and ordinary ones. */
const anyMs = fc.oneof(
  fc.constantFrom(Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0, -1, 0.5, 1e-9, 1e12),
  fc.integer({ min: 1, max: 60_000 }),
  fc.double({ min: -1e6, max: 1e6, noNaN: false }),
);
const anyCount = fc.oneof(
  fc.constantFrom(0, -1, 1.5, Number.NaN, 1, 2, 1024),
  fc.integer({ min: -10, max: 100_000 }),
);

const options = fc.record(
  {
    startTimeoutMs: anyMs,
    endTimeoutMs: anyMs,
    cancelTimeoutMs: anyMs,
    cleanupTimeoutMs: anyMs,
    idleTimeoutMs: fc.oneof(fc.constant(null), anyMs),
    observerBufferSize: anyCount,
    observerMaxBacklog: anyCount,
  },
  { requiredKeys: [] },
);

/** A pipeline whose processors are slow everywhere a processor can be slow. */
const pipeline = (): Pipeline =>
  new Pipeline([
    new SlowOn("start", 30),
    new SlowTextProcessor(20),
    new SlowOn("end", 50),
    new FrameProcessor(),
  ]);

function build(opts: Partial<PipelineTaskOptions>, clock: VirtualClock): PipelineTask | InvalidOptionError {
  try {
    return new PipelineTask(pipeline(), {
      ...opts,
      clock,
      logger: silentLogger,
      observers: [{ onPushFrame: () => {} }],
    });
  } catch (error) {
    return error as InvalidOptionError;
  }
}

describe("PipelineTask options, over any value", () => {
  it("refuses a bad value at construction, naming the option; an accepted one gives a task that ends within its bounds", async () => {
    await fc.assert(
      fc.asyncProperty(options, fc.boolean(), async (opts, graceful) => {
        const clock = new VirtualClock();
        const task = build(opts, clock);
        if (!(task instanceof PipelineTask)) {
          expect(task).toBeInstanceOf(InvalidOptionError);
          const named = Object.keys(opts).some((k) => task.message.includes(k));
          expect(named, task.message).toBe(true);
          return;
        }
        const done = task.run();
        task.queueFrames([new TextFrame("a"), new TextFrame("b")]);
        await clock.advance(5);
        const t0 = clock.now();
        const end = opts.endTimeoutMs ?? 10_000;
        const cancelMs = opts.cancelTimeoutMs ?? 2_000;
        const cleanup = opts.cleanupTimeoutMs ?? 2_000;
        const start = opts.startTimeoutMs ?? 20_000;
        if (graceful) {
          await clock.runUntil(task.stopWhenDone(), { maxMs: start + end + cancelMs + cleanup + 1_000 });
        } else {
          await clock.runUntil(task.cancel("property"), { maxMs: cancelMs + 1 });
          expect(clock.now() - t0).toBeLessThanOrEqual(cancelMs);
        }
        const outcome = await done;
        expect(task.hasFinished()).toBe(true);
        expect(["ended", "cancelled"]).toContain(outcome.how);
        expect(clock.pendingTimers).toBe(0);
      }),
      { numRuns: 300, seed: 61 },
    );
  });
});
