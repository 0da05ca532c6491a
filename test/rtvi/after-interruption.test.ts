import { describe, expect, it } from "vitest";
import { type Frame, InterruptionTaskFrame, TextFrame, VirtualClock } from "../../src/index.js";
import { AfterInterruption } from "../../src/processors/rtvi/after-interruption.js";

describe("AfterInterruption (frames a send-text holds until its interruption has passed)", () => {
  it("releases a batch only for an interruption created after its request, in order", () => {
    const clock = new VirtualClock();
    const waiting = new AfterInterruption(4, 1_000, () => {});
    const alreadyOnItsWay = new InterruptionTaskFrame(); // older than the request
    const first = new InterruptionTaskFrame();
    const a = new TextFrame("a");
    waiting.add(clock, first.id, [a]);
    const second = new InterruptionTaskFrame();
    const b = new TextFrame("b");
    waiting.add(clock, second.id, [b]);
    expect(waiting.takeBefore(alreadyOnItsWay.id)).toEqual([]);
    const forFirst = new InterruptionTaskFrame(); // stands for the InterruptionFrame the task makes for `first`
    expect(waiting.takeBefore(forFirst.id).map((f) => (f as TextFrame).text)).toEqual(["a", "b"]);
    expect(waiting.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("gives up waiting after waitMs and hands every frame over once", async () => {
    const clock = new VirtualClock();
    const late: Frame[][] = [];
    const waiting = new AfterInterruption(4, 1_000, (frames) => void late.push(frames));
    waiting.add(clock, new InterruptionTaskFrame().id, [new TextFrame("x")]);
    await clock.advance(999);
    expect(late).toEqual([]);
    await clock.advance(1);
    expect(late.map((b) => b.map((f) => (f as TextFrame).text))).toEqual([["x"]]);
    expect(waiting.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });

  it("holds at most maxBatches", () => {
    const clock = new VirtualClock();
    const waiting = new AfterInterruption(2, 1_000, () => {});
    expect(waiting.add(clock, 1, [])).toBe(true);
    expect(waiting.add(clock, 2, [])).toBe(true);
    expect(waiting.add(clock, 3, [])).toBe(false);
    waiting.clear();
    expect(waiting.size).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });
});
