import { getEventListeners } from "node:events";
import fc from "fast-check";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { VirtualClock, deadline } from "../../src/index.js";
import { nextTurn } from "../../src/clock/next-turn.js";
import { whenAborted } from "../../src/clock/when-aborted.js";

const listeners = (signal: AbortSignal): number => getEventListeners(signal, "abort").length;

describe("whenAborted", () => {
  let warnings: Error[];
  const onWarning = (warning: Error): void => void warnings.push(warning);
  beforeEach(() => {
    warnings = [];
    process.on("warning", onWarning);
  });
  afterEach(() => void process.off("warning", onWarning));

  it("holds one listener on the signal however many waits share it, and none once they stop", () => {
    const controller = new AbortController();
    const stops = Array.from({ length: 50 }, () => whenAborted(controller.signal, () => {}));
    expect(listeners(controller.signal)).toBe(1);
    for (const stop of stops.slice(0, 49)) stop();
    expect(listeners(controller.signal)).toBe(1);
    stops[49]!();
    expect(listeners(controller.signal)).toBe(0);
    // A new wait after the last one stopped listens again.
    let called = 0;
    whenAborted(controller.signal, () => called++);
    expect(listeners(controller.signal)).toBe(1);
    controller.abort();
    expect(called).toBe(1);
  });

  it("calls every waiting callback once, in the order the waits began; a stopped one never", () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const stops = [0, 1, 2, 3].map((i) => whenAborted(controller.signal, () => calls.push(i)));
    stops[2]!();
    controller.abort(new Error("gone"));
    controller.abort(); // a second abort is not an event
    expect(calls).toEqual([0, 1, 3]);
    expect(listeners(controller.signal)).toBe(0);
    stops[0]!(); // stopping after the abort does nothing
  });

  it("calls the callback at once when the signal has already aborted", () => {
    let called = 0;
    const stop = whenAborted(AbortSignal.abort(), () => called++);
    expect(called).toBe(1);
    stop();
    expect(called).toBe(1);
  });

  it("runs every callback when one throws, and reports that error as a listener's error", async () => {
    const controller = new AbortController();
    const calls: number[] = [];
    const boom = new Error("boom");
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    // Node reports an error thrown by an AbortSignal listener as an uncaught exception on a later tick.
    const vitestListeners = process.listeners("uncaughtException");
    process.removeAllListeners("uncaughtException");
    process.on("uncaughtException", onUncaught);
    try {
      whenAborted(controller.signal, () => calls.push(0));
      whenAborted(controller.signal, () => {
        calls.push(1);
        throw boom;
      });
      whenAborted(controller.signal, () => calls.push(2));
      controller.abort();
      expect(calls).toEqual([0, 1, 2]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(uncaught).toEqual([boom]);
    } finally {
      process.off("uncaughtException", onUncaught);
      for (const listener of vitestListeners) process.on("uncaughtException", listener);
    }
  });

  it("lets a callback stop a later wait as it runs: the stopped one is not called", () => {
    const controller = new AbortController();
    const calls: string[] = [];
    let stopSecond = (): void => {};
    whenAborted(controller.signal, () => {
      calls.push("first");
      stopSecond();
    });
    stopSecond = whenAborted(controller.signal, () => calls.push("second"));
    controller.abort();
    expect(calls).toEqual(["first"]);
  });

  it("property: any interleaving of waits, stops and an abort calls exactly the waits still open, with at most one listener", () => {
    fc.assert(
      fc.property(
        fc.array(fc.oneof(fc.constant<"wait">("wait"), fc.nat({ max: 30 }), fc.constant<"abort">("abort")), {
          maxLength: 60,
        }),
        (steps) => {
          const controller = new AbortController();
          const called: number[] = [];
          const stops: (() => void)[] = [];
          const open = new Set<number>();
          let aborted = false;
          const expected: number[] = [];
          for (const step of steps) {
            if (step === "wait") {
              const id = stops.length;
              stops.push(whenAborted(controller.signal, () => called.push(id)));
              if (aborted) expected.push(id);
              else open.add(id);
            } else if (step === "abort") {
              if (!aborted) expected.push(...[...open].sort((a, b) => a - b));
              aborted = true;
              open.clear();
              controller.abort();
            } else if (step < stops.length) {
              stops[step]!();
              open.delete(step);
            }
            expect(listeners(controller.signal)).toBe(!aborted && open.size > 0 ? 1 : 0);
          }
          expect(called).toEqual(expected);
        },
      ),
      { numRuns: 500 },
    );
  });

  it("200 deadlines, sleeps and turns on one task signal: no MaxListenersExceededWarning, all rejected with its reason", async () => {
    const clock = new VirtualClock();
    const controller = new AbortController();
    const signal = controller.signal;
    const waits = [
      ...Array.from({ length: 200 }, (_, i) =>
        deadline(clock, new Promise(() => {}), 1_000, `wait ${i}`, { signal }),
      ),
      ...Array.from({ length: 200 }, () => clock.sleep(1_000, signal)),
      ...Array.from({ length: 20 }, () => nextTurn(clock, signal)),
    ];
    const settled = Promise.allSettled(waits);
    expect(listeners(signal)).toBe(1);
    const reason = new Error("the task was cancelled");
    controller.abort(reason);
    const outcomes = await settled;
    expect(outcomes.every((o) => o.status === "rejected" && o.reason === reason)).toBe(true);
    expect(listeners(signal)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
    await new Promise((resolve) => setImmediate(resolve)); // warnings are emitted on a later tick
    expect(warnings.map((w) => w.name)).not.toContain("MaxListenersExceededWarning");
  });

  it("deadlines that settle on their own leave no listener behind", async () => {
    const clock = new VirtualClock();
    const signal = new AbortController().signal;
    const waits = Array.from({ length: 30 }, (_, i) =>
      deadline(clock, Promise.resolve(i), 1_000, `wait ${i}`, { signal }),
    );
    expect(await Promise.all(waits)).toEqual(Array.from({ length: 30 }, (_, i) => i));
    expect(listeners(signal)).toBe(0);
  });
});
