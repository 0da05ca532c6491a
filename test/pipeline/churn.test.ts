import { setImmediate as nextTurn, setTimeout as realSleep } from "node:timers/promises";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import {
  MemoryTransport,
  type MemoryOutputTransport,
  Pipeline,
  PipelineTask,
  SoundfileMixer,
  TTSAudioRawFrame,
  TTSStartedFrame,
  TTSStoppedFrame,
  silentLogger,
} from "../../src/index.js";
import { activeResources, settledHeap } from "../support/gc.js";

const AMBIENCE = new URL("../../examples/assets/ambience.wav", import.meta.url).pathname;

/** Where in a task's life it is cancelled. */
type CancelPoint = "before-run" | "during-start" | "mid-speech" | "during-end" | "during-cleanup" | "never";
const POINTS: readonly CancelPoint[] = [
  "before-run",
  "during-start",
  "mid-speech",
  "during-end",
  "during-cleanup",
  "never",
];

interface Plan {
  point: CancelPoint;
  /** Event-loop turns (during start) or milliseconds (later) to wait before cancelling. */
  delay: number;
  mixer: boolean;
}

/** Runs one session on the real clock and cancels it at the planned moment; returns its output. */
async function runSession(plan: Plan): Promise<MemoryOutputTransport> {
  const transport = new MemoryTransport({
    params: {
      audioOutEnabled: true,
      audioOutSampleRate: 16_000,
      audioOutEndSilenceMs: 40,
      ...(plan.mixer
        ? { audioOutMixer: new SoundfileMixer({ soundFiles: { room: AMBIENCE }, volume: 0.2 }) }
        : {}),
    },
    recordLimit: 0,
  });
  const task = new PipelineTask(new Pipeline([transport.input(), transport.output()]), {
    logger: silentLogger,
    idleTimeoutMs: null,
    cancelTimeoutMs: 500,
    endTimeoutMs: 2_000,
  });
  const speech = (): TTSAudioRawFrame => new TTSAudioRawFrame(new Int16Array(16_000 * 0.2), 24_000, 1);
  if (plan.point === "before-run") {
    void task.cancel("churn: before run");
    await task.run();
    return transport.output();
  }
  const done = task.run();
  if (plan.point === "during-start") {
    for (let i = 0; i < plan.delay; i++) await nextTurn();
    await task.cancel("churn: during start");
    await done;
    return transport.output();
  }
  await new Promise<void>((r) => {
    if (task.hasFinished()) r();
    task.on("pipelineStarted", r);
    task.on("pipelineFinished", () => r());
  });
  task.queueFrames([new TTSStartedFrame(), speech(), speech(), new TTSStoppedFrame()]);
  if (plan.point === "mid-speech") {
    await realSleep(plan.delay);
    await task.cancel("churn: mid speech");
  } else if (plan.point === "during-end") {
    void task.stopWhenDone();
    await realSleep(plan.delay);
    await task.cancel("churn: during end");
  } else if (plan.point === "during-cleanup") {
    const ended = new Promise<void>((r) => task.on("pipelineFinished", () => r()));
    void task.stopWhenDone();
    // The EndFrame leaves the output after the speech and end silence; cancel right around then.
    await realSleep(440 + plan.delay);
    await task.cancel("churn: during cleanup");
    await ended;
  } else {
    await task.stopWhenDone();
  }
  await done;
  return transport.output();
}

describe("churn", () => {
  it("2,000 sessions with outputs and mixers, cancelled at random moments, leave nothing running, no timer, and a flat heap", async () => {
    const plans = fc.sample(
      fc.record({
        point: fc.constantFrom(...POINTS),
        delay: fc.integer({ min: 0, max: 30 }),
        mixer: fc.boolean(),
      }),
      { numRuns: 2_000, seed: 20261130 },
    );
    const before = activeResources();
    // Warm-up: wasm, decoded sounds and the JIT, so the heap measured below is steady state.
    await Promise.all(plans.slice(0, 50).map(runSession));
    const heapWarm = await settledHeap();

    const outputs: MemoryOutputTransport[] = [];
    const concurrency = 100;
    for (let i = 0; i < plans.length; i += concurrency) {
      outputs.push(...(await Promise.all(plans.slice(i, i + concurrency).map(runSession))));
    }

    // Nothing may write after its task has ended: count writes over a quiet stretch.
    const writes = (): number => outputs.reduce((n, o) => n + o.writeCalls, 0);
    const settledWrites = writes();
    await realSleep(300);
    expect(writes() - settledWrites, "writes after every task had finished").toBe(0);

    const after = activeResources();
    expect(after["Timeout"] ?? 0, "timers left behind").toBeLessThanOrEqual(before["Timeout"] ?? 0);
    expect(after["Immediate"] ?? 0).toBeLessThanOrEqual(before["Immediate"] ?? 0);
    outputs.length = 0;
    const heapAfter = await settledHeap();
    expect(heapAfter - heapWarm, "heap growth over 2,000 sessions").toBeLessThan(2_000_000);
  }, 120_000);
});
