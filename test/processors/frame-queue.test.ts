import { describe, expect, it } from "vitest";
import { settledHeap } from "../support/gc.js";
import { FrameQueue } from "../../src/processors/frame-queue.js";
import { EndFrame, FrameDirection, FunctionCallResultFrame, TextFrame } from "../../src/index.js";

const D = FrameDirection.DOWNSTREAM;

describe("FrameQueue", () => {
  it("keeps FIFO order across growth and wrap-around", () => {
    const q = new FrameQueue();
    const out: string[] = [];
    for (let round = 0; round < 3; round++) {
      for (let i = 0; i < 50; i++) q.push(new TextFrame(`${round}-${i}`), D);
      for (let i = 0; i < 30; i++) out.push((q.shift() as TextFrame).text);
    }
    while (q.length) out.push((q.shift() as TextFrame).text);
    const expected = [0, 1, 2].flatMap((r) => Array.from({ length: 50 }, (_, i) => `${r}-${i}`));
    expect(out).toEqual(expected);
  });

  it("drops interruptible frames and keeps uninterruptible ones in order", () => {
    const q = new FrameQueue();
    const call = { functionName: "f", toolCallId: "1", arguments: {} };
    const keep1 = new FunctionCallResultFrame(call, 1);
    const keep2 = new EndFrame();
    q.push(new TextFrame("a"), D);
    q.push(keep1, D);
    q.push(new TextFrame("b"), D);
    q.push(keep2, D);
    expect(q.dropInterruptible()).toBe(2);
    expect([q.shift(), q.shift(), q.shift()]).toEqual([keep1, keep2, undefined]);
  });

  it("wakes a waiter on push and on close", async () => {
    const q = new FrameQueue();
    const waited = q.wait();
    q.push(new TextFrame("x"), D);
    await waited;
    q.shift();
    const closing = q.wait();
    q.close();
    await closing;
    q.push(new TextFrame("ignored"), D);
    expect(q.length).toBe(0);
  });

  it("gives its memory back after a burst", async () => {
    const q = new FrameQueue();
    const frame = new TextFrame("same object, so only the queue's own slots cost memory");
    const before = await settledHeap();
    for (let i = 0; i < 200_000; i++) q.push(frame, D);
    const full = await settledHeap();
    while (q.length) q.shift();
    const after = await settledHeap();
    expect(full - before).toBeGreaterThan(2_000_000); // the burst really held ~4 MB of slots
    expect(after - before).toBeLessThan(500_000);
  });
});
