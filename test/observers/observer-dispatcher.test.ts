import { describe, expect, it } from "vitest";
import {
  FrameDirection,
  FrameProcessor,
  type FramePushedEvent,
  InputAudioRawFrame,
  type Observer,
  Pipeline,
  PipelineTask,
  TextFrame,
  VirtualClock,
  silentLogger,
} from "../../src/index.js";
import { ObserverDispatcher } from "../../src/observers/observer-dispatcher.js";

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
      { bufferSize: 64, maxBacklog: 10_000 },
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
      { bufferSize: 1024, maxBacklog: 10_000 },
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
      { bufferSize: 1024, maxBacklog: 10_000 },
    );
    for (let i = 0; i < 10; i++) d.push(event(i));
    await new Promise((r) => setImmediate(r));
    expect(calls).toBe(10);
  });
});

describe("lossless observers (frameTypes)", () => {
  it("get every frame they asked for through a 200,000-frame audio burst, while a lossy observer loses most", async () => {
    const clock = new VirtualClock();
    const last = new FrameProcessor({ name: "last" });
    const texts: string[] = [];
    let lossySeen = 0;
    const lossless: Observer = {
      name: "transcript",
      frameTypes: [TextFrame],
      onPushFrame: async (e) => {
        if (e.source === last) texts.push((e.frame as TextFrame).text);
        await Promise.resolve();
      },
    };
    const lossy: Observer = { name: "debug", onPushFrame: () => void lossySeen++ };
    const task = new PipelineTask(new Pipeline([new FrameProcessor(), new FrameProcessor(), last]), {
      clock,
      logger: silentLogger,
      idleTimeoutMs: null,
      observers: [lossless, lossy],
      observerBufferSize: 256,
    });
    const done = task.run();
    await clock.settle();
    const audio = new InputAudioRawFrame(new Int16Array(320), 16_000, 1);
    for (let i = 0; i < 200_000; i++) {
      task.queueFrame(audio);
      if (i % 200 === 0) task.queueFrame(new TextFrame(`t${i / 200}`));
    }
    await clock.runUntil(task.stopWhenDone());
    await done;
    for (let i = 0; i < 1000 && texts.length < 1000; i++) await new Promise((r) => setImmediate(r));
    expect(texts).toEqual(Array.from({ length: 1000 }, (_, i) => `t${i}`));
    expect(lossySeen).toBeLessThan(600_000); // it could not have kept up with 3 pushes per frame
  });

  it("detach a lossless observer that falls maxBacklog behind, with one error naming it, and keep memory bounded", async () => {
    const errors: string[] = [];
    const logger = { ...silentLogger, error: (m: string) => void errors.push(m) };
    const d = new ObserverDispatcher(
      { name: "hung", frameTypes: [TextFrame], onPushFrame: () => new Promise<void>(() => {}) },
      logger,
      { bufferSize: 64, maxBacklog: 100 },
    );
    for (let i = 0; i < 10_000; i++) if (d.wants(event(i).frame)) d.push(event(i));
    await new Promise((r) => setImmediate(r));
    expect(d.detached).toBe(true);
    expect(d.buffered).toBe(0);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/hung.*detached/);
  });

  it("deliver the backlog of a lossless observer before onPipelineFinished", async () => {
    const seen: string[] = [];
    const d = new ObserverDispatcher(
      {
        frameTypes: [TextFrame],
        onPushFrame: async (e) => {
          await new Promise((r) => setImmediate(r));
          seen.push((e.frame as TextFrame).text);
        },
        onPipelineFinished: () => void seen.push("finished"),
      },
      silentLogger,
      { bufferSize: 8, maxBacklog: 1_000 },
    );
    for (let i = 0; i < 100; i++) d.push(event(i));
    d.close();
    for (let i = 0; i < 300 && seen.at(-1) !== "finished"; i++) await new Promise((r) => setImmediate(r));
    expect(seen).toEqual([...Array.from({ length: 100 }, (_, i) => `${i}`), "finished"]);
  });

  it("are not offered frames of other types", () => {
    const d = new ObserverDispatcher({ frameTypes: [TextFrame], onPushFrame: () => {} }, silentLogger, {
      bufferSize: 8,
      maxBacklog: 8,
    });
    expect(d.wants(new TextFrame("x"))).toBe(true);
    expect(d.wants(new InputAudioRawFrame(new Int16Array(2), 16_000, 1))).toBe(false);
  });
});
