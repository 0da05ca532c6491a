import { describe, expect, it } from "vitest";
import {
  FrameDirection,
  FrameProcessor,
  type FramePushedEvent,
  ObserverDispatcher,
  TextFrame,
  silentLogger,
} from "../../src/index.js";

const event = (i: number): FramePushedEvent => ({
  source: new FrameProcessor({ name: `p${i}` }),
  destination: undefined,
  frame: new TextFrame(`${i}`),
  direction: FrameDirection.DOWNSTREAM,
  timestampMs: i,
});

describe("ObserverDispatcher", () => {
  it("holds at most `capacity` events for a hung observer, dropping the oldest and counting them", async () => {
    let calls = 0;
    const d = new ObserverDispatcher(
      {
        onPushFrame: () => {
          calls++;
          return new Promise<void>(() => {});
        },
      },
      silentLogger,
      64,
    );
    for (let i = 0; i < 10_000; i++) d.push(event(i));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(1); // the first event is with the observer, which never returns
    expect(d.buffered).toBeLessThanOrEqual(64);
    expect(d.dropped + d.buffered + d.delivered).toBe(10_000);
    d.close();
    expect(d.buffered).toBe(0);
  });

  it("delivers every event in order to an observer that keeps up, sync or async", async () => {
    const seen: number[] = [];
    const d = new ObserverDispatcher(
      {
        onPushFrame: async (e) => {
          seen.push(e.timestampMs);
          await Promise.resolve();
        },
      },
      silentLogger,
      1024,
    );
    for (let i = 0; i < 500; i++) d.push(event(i));
    for (let i = 0; i < 20 && seen.length < 500; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual(Array.from({ length: 500 }, (_, i) => i));
    expect(d.dropped).toBe(0);
  });

  it("survives an observer that throws", async () => {
    let calls = 0;
    const d = new ObserverDispatcher(
      {
        onPushFrame: () => {
          calls++;
          throw new Error("observer bug");
        },
      },
      silentLogger,
    );
    for (let i = 0; i < 10; i++) d.push(event(i));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(10);
  });
});
