import { describe, expect, it } from "vitest";
import {
  ClockPacer,
  MemoryTransport,
  Pipeline,
  PipelineTask,
  silentLogger,
  InvalidOptionError,
  type Pacer,
  type PacerTiming,
  SharedTickerPacer,
  TTSAudioRawFrame,
  VirtualClock,
} from "../../src/index.js";
import { PaceLimiter } from "../../src/transports/pacer.js";
import { sharedTickerGroups } from "../../src/transports/shared-ticker.js";
import { constant } from "../support/audio.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;

function timing(clock: VirtualClock, chunkMs = 40, maxCatchUpChunks = 4): PacerTiming {
  return { clock, chunkMs, maxCatchUpChunks };
}

/** Asks `pacer` for ticks in a loop, taking `busyMs` of clock time after each; records tick times. */
function consume(clock: VirtualClock, pacer: Pacer, busyMs = 0) {
  const ticks: number[] = [];
  const stop = new AbortController();
  const done = (async () => {
    try {
      for (;;) {
        await pacer.nextTick(stop.signal);
        ticks.push(clock.now());
        if (busyMs > 0) await clock.sleep(busyMs, stop.signal);
      }
    } catch {
      // stopped
    }
  })();
  return { ticks, stop: () => stop.abort(), done };
}

describe("a pacer cannot be built to tick without waiting", () => {
  it.each([0, Number.NaN, Number.POSITIVE_INFINITY, -40, 0.5])("refuses chunkMs = %s", (chunkMs) => {
    const clock = new VirtualClock();
    for (const make of [
      () => new ClockPacer(timing(clock, chunkMs)),
      () => new SharedTickerPacer(timing(clock, chunkMs)),
      () => new PaceLimiter(new ClockPacer(timing(clock)), timing(clock, chunkMs)),
    ]) {
      expect(make).toThrow(InvalidOptionError);
      expect(make).toThrow(/chunk duration must be a finite number of ms from 1 to 60000/);
    }
  });

  it("refuses maxCatchUpChunks below 1", () => {
    expect(() => new ClockPacer(timing(new VirtualClock(), 40, 0))).toThrow(
      /maxCatchUpChunks must be an integer ≥ 1/,
    );
  });
});

describe.each([
  ["ClockPacer", (t: PacerTiming) => new ClockPacer(t)],
  ["SharedTickerPacer", (t: PacerTiming) => new SharedTickerPacer(t)],
])("%s", (_name, make) => {
  it("ticks once per chunk: the first on the next event-loop turn, every later one on a clock timer", async () => {
    const clock = new VirtualClock({ startMs: 17 });
    const c = consume(clock, make(timing(clock)));
    expect(c.ticks).toEqual([]); // never synchronously
    // The first tick is due now: one event-loop turn, no timer (a Node timer fires 1–2 ms late,
    // and every answer's first audio waited for it).
    await clock.settle();
    expect(c.ticks).toEqual([17]);
    expect(clock.now()).toBe(17);
    await clock.settle();
    expect(c.ticks).toEqual([17]); // the second waits for its time
    await clock.advance(400);
    expect(c.ticks).toEqual(Array.from({ length: 11 }, (_, i) => 17 + i * 40));
    c.stop();
    await c.done;
  });

  it("catches up a slow consumer by at most maxCatchUpChunks, then re-anchors", async () => {
    const clock = new VirtualClock();
    const pacer = make(timing(clock, 40, 2));
    const c = consume(clock, pacer, 100); // each tick's work takes 2.5 chunks
    await clock.advance(2_000);
    const gaps = c.ticks.slice(1).map((t, i) => t - c.ticks[i]!);
    expect(Math.min(...gaps)).toBeGreaterThanOrEqual(100); // never faster than the work allows
    expect(c.ticks.length).toBeLessThanOrEqual(2_000 / 40 + 3);
    expect(pacer.reanchors).toBeGreaterThan(0);
    c.stop();
    await c.done;
  });

  it("starts a new schedule after idle(), and leaves no timer behind once stopped and disposed", async () => {
    const clock = new VirtualClock();
    const pacer = make(timing(clock));
    let c = consume(clock, pacer);
    await clock.advance(100);
    c.stop();
    await c.done;
    pacer.idle();
    await clock.advance(1_013);
    c = consume(clock, pacer);
    await clock.advance(0);
    expect(c.ticks).toEqual([1_113]);
    c.stop();
    await c.done;
    pacer.dispose();
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("SharedTickerPacer: one timer per phase group", () => {
  it("puts streams whose schedules start in the same slot in one group, and keeps each stream's period", async () => {
    const clock = new VirtualClock();
    const streams: Array<ReturnType<typeof consume>> = [];
    const pacers: SharedTickerPacer[] = [];
    for (let i = 0; i < 200; i++) {
      await clock.advanceTo((i * 37) % 400); // schedules start at many different times
      const pacer = new SharedTickerPacer(timing(clock), { phaseQuantumMs: 5 });
      pacers.push(pacer);
      streams.push(consume(clock, pacer));
    }
    await clock.advance(1);
    expect(sharedTickerGroups(clock)).toBeLessThanOrEqual(40 / 5);
    await clock.advance(2_000);
    for (const s of streams) {
      const gaps = s.ticks.slice(2).map((t, i) => t - s.ticks[i + 1]!);
      expect(gaps.every((g) => g === 40)).toBe(true); // after the first tick, exactly one per chunk
      expect(s.ticks[1]! - s.ticks[0]!).toBeGreaterThan(40 - 5); // the second comes at most one slot early
    }
    for (const s of streams) s.stop();
    await Promise.all(streams.map((s) => s.done));
    for (const p of pacers) p.dispose();
    expect(sharedTickerGroups(clock)).toBe(0);
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("SharedTickerPacer: a late timer is caught up in one wake-up", () => {
  /** A virtual clock whose next timer fires `lateMs` after it is due (a busy event loop, once). */
  class LateClock extends VirtualClock {
    lateMs = 0;
    override setTimer(callback: () => void, delayMs: number) {
      const late = this.lateMs;
      this.lateMs = 0;
      return super.setTimer(callback, delayMs + late);
    }
  }

  it("hands every tick due by then to its streams at once, at most maxCatchUpChunks + 1", async () => {
    const clock = new LateClock();
    const pacer = new SharedTickerPacer(timing(clock, 40, 4));
    const c = consume(clock, pacer);
    await clock.advance(200);
    expect(c.ticks).toEqual([0, 40, 80, 120, 160, 200]);
    clock.lateMs = 100; // the group's next timer (armed at 240 for 280) fires at 380
    await clock.advance(240);
    // Ticks due at 280, 320 and 360 all go at 380, back to back; then the schedule goes on.
    expect(c.ticks.filter((t) => t > 200)).toEqual([240, 380, 380, 380, 400, 440]);
    expect(pacer.reanchors).toBe(0);

    const late = new LateClock();
    const skipping = new SharedTickerPacer(timing(late, 40, 2));
    const d = consume(late, skipping);
    await late.advance(40);
    late.lateMs = 500; // far later than 2 chunks: the slots are skipped, counted as a re-anchor
    await late.advance(1_000);
    expect(skipping.reanchors).toBe(1);
    const gaps = d.ticks.slice(1).map((t, i) => t - d.ticks[i]!);
    expect(gaps.filter((g) => g === 0).length).toBe(0); // no burst after a skip
    for (const x of [c, d]) x.stop();
    await Promise.all([c.done, d.done]);
    pacer.dispose();
    skipping.dispose();
  });
});

describe("PaceLimiter: no pacer can make the output write faster than the clock", () => {
  it("bounds a pacer that grants every tick at once to one per chunk of clock time plus a burst", async () => {
    const clock = new VirtualClock();
    const rogue: Pacer = { nextTick: () => Promise.resolve(), idle() {}, dispose() {}, reanchors: 0 };
    const limited = new PaceLimiter(rogue, timing(clock, 40, 4));
    const c = consume(clock, limited);
    await clock.advance(1_000);
    expect(c.ticks.length).toBeLessThanOrEqual(1_000 / 40 + 5 + 1);
    expect(c.ticks.length).toBeGreaterThanOrEqual(1_000 / 40);
    expect(limited.throttled).toBeGreaterThan(0);
    c.stop();
    await c.done;
    expect(clock.pendingTimers).toBe(0);
  });
});

describe("a sink that paces itself (its own media clock) takes the pacing role", () => {
  /** A media clock that wants a chunk every 40 ms, starting 7 ms after it was made (like a WebRTC track). */
  class TrackPacer implements Pacer {
    reanchors = 0;
    readonly #start: number;
    #n = 0;
    constructor(private readonly t: PacerTiming) {
      this.#start = t.clock.now() + 7;
    }
    nextTick(signal: AbortSignal): Promise<void> {
      // The next slot of the track's own grid that has not passed.
      const next = Math.max(this.#n, Math.ceil((this.t.clock.now() - this.#start) / this.t.chunkMs));
      this.#n = next + 1;
      return this.t.clock.waitUntil(this.#start + next * this.t.chunkMs, signal);
    }
    idle(): void {}
    dispose(): void {}
  }

  it("writes when the track asks, not on the task clock's schedule", async () => {
    const s = startOutput(RATE, {}, { pacer: (t) => new TrackPacer(t) });
    await s.whenStarted();
    const t0 = s.clock.now();
    await s.clock.advance(100);
    s.task.queueFrame(new TTSAudioRawFrame(constant(200, RATE), RATE));
    await s.clock.advance(500);
    expect(s.output.written.map((w) => w.atMs - t0)).toEqual([127, 167, 207, 247, 287]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a track that asks at once, again and again, is held to one chunk per chunk of clock time", async () => {
    const mixer = new CountingMixer(() => s.clock);
    let granted = 0;
    const greedy: Pacer = {
      // Resolves at once 10,000 times (a sink that never waits), then never again.
      nextTick: () => (granted++ < 10_000 ? Promise.resolve() : new Promise<void>(() => {})),
      idle() {},
      dispose() {},
      reanchors: 0,
    };
    const s = startOutput(RATE, { audioOutMixer: mixer }, { pacer: () => greedy });
    await s.whenStarted();
    const t0 = s.clock.now();
    await s.clock.advance(2_000);
    const elapsed = s.clock.now() - t0;
    expect(mixer.calls.length).toBeLessThanOrEqual(elapsed / 40 + 4 + 2);
    expect(s.output.writeCalls).toBeLessThanOrEqual(elapsed / 40 + 4 + 2);
    await s.clock.runUntil(s.task.cancel());
  });
});

describe("the shared ticker costs no timer per session per tick", () => {
  it("100 playing outputs on one clock arm about one timer per phase group per tick, not one per session", async () => {
    const clock = new VirtualClock();
    const tasks: PipelineTask[] = [];
    const mixers: CountingMixer[] = [];
    for (let i = 0; i < 100; i++) {
      const mixer = new CountingMixer(clock);
      mixers.push(mixer);
      const transport = new MemoryTransport({
        params: { audioOutEnabled: true, audioOutSampleRate: RATE, audioOutMixer: mixer },
        recordLimit: 0,
      });
      const task = new PipelineTask(new Pipeline([transport.output()]), {
        clock,
        logger: silentLogger,
        idleTimeoutMs: null,
      });
      void task.run();
      tasks.push(task);
      await clock.advance(3); // sessions start at many phases
    }
    await clock.advance(1_000);
    let armed = 0;
    const setTimer = clock.setTimer.bind(clock);
    clock.setTimer = (callback, delayMs) => {
      armed++;
      return setTimer(callback, delayMs);
    };
    const mixes = mixers.reduce((n, m) => n + m.calls.length, 0);
    await clock.advance(4_000); // 100 ticks of 40 ms for each of 100 sessions
    const ticks = mixers.reduce((n, m) => n + m.calls.length, 0) - mixes;
    expect(ticks).toBeGreaterThanOrEqual(100 * 99);
    expect(sharedTickerGroups(clock)).toBeLessThanOrEqual(40);
    // One timer per group per tick (at most 40 × 100) and a write-deadline re-arm every 2 s per
    // session; a timer per session per tick would be 10,000 (20,000 with a timer per write).
    expect(armed).toBeLessThanOrEqual(40 * 100 + 100 * 3);
    for (const task of tasks) await clock.runUntil(task.cancel());
    expect(clock.pendingTimers).toBe(0);
  }, 20_000);
});
