import { describe, expect, it } from "vitest";
import { VirtualClock } from "../../../src/index.js";
import { Heartbeat } from "../../../src/transports/websocket/index.js";

function beat(intervalMs: number, maxMissed: number) {
  const clock = new VirtualClock();
  const pings: number[] = [];
  const dead: Array<{ atMs: number; missed: number }> = [];
  const heartbeat = new Heartbeat(clock, {
    intervalMs,
    maxMissed,
    ping: () => void pings.push(clock.now()),
    onDead: (missed) => void dead.push({ atMs: clock.now(), missed }),
  });
  return { clock, pings, dead, heartbeat };
}

describe("Heartbeat", () => {
  it("declares a silent peer dead at (maxMissed + 1) × intervalMs, once, and leaves no timer", async () => {
    for (const [interval, maxMissed] of [
      [5000, 2],
      [50, 1],
      [1000, 4],
    ] as const) {
      const h = beat(interval, maxMissed);
      h.heartbeat.start();
      await h.clock.advance(interval * (maxMissed + 5));
      expect(h.dead).toEqual([{ atMs: interval * (maxMissed + 1), missed: maxMissed }]);
      expect(h.pings).toEqual(Array.from({ length: maxMissed }, (_, i) => interval * (i + 1)));
      expect(h.clock.pendingTimers).toBe(0);
    }
  });

  it("never declares a peer dead while it answers each ping", async () => {
    const h = beat(100, 2);
    h.heartbeat.start();
    for (let i = 0; i < 50; i++) {
      await h.clock.advance(100);
      h.heartbeat.alive();
    }
    expect(h.dead).toEqual([]);
    expect(h.pings).toHaveLength(50);
    h.heartbeat.stop();
    expect(h.clock.pendingTimers).toBe(0);
  });

  it("counts misses in a row only: an answer resets the count", async () => {
    const h = beat(100, 2);
    h.heartbeat.start();
    await h.clock.advance(200); // pinged at 100, missed at 200 (1 in a row)
    expect(h.heartbeat.missed).toBe(1);
    h.heartbeat.alive();
    await h.clock.advance(200); // answered, then one miss again
    expect(h.dead).toEqual([]);
    await h.clock.advance(100);
    expect(h.dead).toEqual([{ atMs: 500, missed: 2 }]);
  });
});
