import { describe, expect, it } from "vitest";
import { SileroVADAnalyzer } from "../../src/audio/vad/silero.js";
import type { TurnAnalyzer, TurnVerdict } from "../../src/audio/turn/turn-analyzer.js";
import { SystemClock } from "../../src/clock/system-clock.js";
import { VirtualClock } from "../../src/clock/virtual-clock.js";
import { InputAudioRawFrame } from "../../src/frames/audio.js";
import { VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame } from "../../src/frames/speaking.js";
import { VADProcessor } from "../../src/processors/vad-processor.js";
import { UserTurnProcessor } from "../../src/processors/user-turn-processor.js";
import { Pipeline } from "../../src/pipeline/pipeline.js";
import { PipelineTask } from "../../src/pipeline/task.js";
import { memoryLogger } from "../support/logger.js";
import { TurnAnalyzerStopStrategy, VADStopStrategy } from "../../src/turns/index.js";
import { loadVadFixture } from "../audio/vad/support.js";
import { EnergyTurnAnalyzer } from "./energy-turn-analyzer.js";
import { turnHarness } from "./support.js";

const RATE = 16_000;
const ms = (n: number): number => (n * RATE) / 1000;

/** Plays `samples` as 20 ms frames, 20 ms of virtual time apart (real-time pacing). */
async function play(h: Awaited<ReturnType<typeof turnHarness>>, samples: Int16Array): Promise<void> {
  for (let i = 0; i < samples.length; i += ms(20)) {
    await h.send(new InputAudioRawFrame(samples.slice(i, i + ms(20)), RATE, 1));
    await h.advance(20);
  }
}

function concat(...parts: Int16Array[]): Int16Array {
  const out = new Int16Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Voiced 20 ms blocks of `samples`, counted the way the analyzer counts them. */
function voicedMs(samples: Int16Array): number {
  const a = new EnergyTurnAnalyzer(60_000);
  a.appendAudio(samples);
  return a.voicedMs;
}

async function sileroVad(): Promise<VADProcessor> {
  const analyzer = new SileroVADAnalyzer();
  await analyzer.ready(); // load the model outside virtual time
  return new VADProcessor({ analyzer });
}

describe("TurnAnalyzerStopStrategy with a real VAD (Silero) on recorded speech", () => {
  it("gives the analyzer the whole turn, the audio before the VAD start included, so a short utterance is whole", async () => {
    const { wav, truth } = loadVadFixture("vad-flite");
    const span = truth.speech[1]!; // "Hello there." (about 0.7 s)
    const expected = voicedMs(wav.samples.slice(ms(span.startMs), ms(span.endMs)));
    const got: Record<string, number> = {};
    for (const prerollMs of [800, 0]) {
      const analyzer = new EnergyTurnAnalyzer();
      const h = await turnHarness(
        { stopStrategies: [new TurnAnalyzerStopStrategy({ analyzer, prerollMs, fallbackTimeoutMs: 1000 })] },
        [await sileroVad()],
        new VirtualClock({ settleTurns: 8 }),
      );
      await play(h, concat(wav.samples.slice(ms(5000)), new Int16Array(ms(3500))));
      await h.finish();
      expect(h.events.map((e) => e.kind)).toEqual(["start", "stop"]);
      got[prerollMs] = analyzer.turnsVoicedMs[0]!;
    }
    // With the preroll the analyzer heard (nearly) all of the utterance; without it, the VAD's
    // start delay cut its beginning off.
    expect(got[800]).toBeGreaterThanOrEqual(expected * 0.95);
    expect(got[0]).toBeLessThan(expected - 100);
  }, 60_000);

  it("waits through a mid-word pause the analyzer calls incomplete: one turn where the VAD alone makes two", async () => {
    const { wav, truth } = loadVadFixture("vad-flite");
    const span = truth.speech[0]!; // "The quick brown fox jumps over the lazy dog near the river bank."
    // Cut the sentence where the voice is at full strength (mid-word), pause 700 ms, go on.
    const speech = wav.samples.slice(ms(span.startMs - 300), ms(span.endMs));
    const a = new EnergyTurnAnalyzer(60_000);
    a.appendAudio(speech);
    let cut = ms(1200);
    for (let t = ms(1200); t < ms(2400); t += ms(20)) {
      const probe = new EnergyTurnAnalyzer(60_000);
      probe.appendAudio(speech.slice(t - ms(100), t));
      if (probe.voicedMs === 100) {
        cut = t;
        break;
      }
    }
    const audio = concat(
      speech.slice(0, cut),
      new Int16Array(ms(700)),
      speech.slice(cut),
      new Int16Array(ms(4000)),
    );

    const runWith = async (strategy: "analyzer" | "vad") => {
      const analyzer = new EnergyTurnAnalyzer();
      const stop =
        strategy === "analyzer"
          ? new TurnAnalyzerStopStrategy({ analyzer, fallbackTimeoutMs: 2000 })
          : new VADStopStrategy();
      const h = await turnHarness(
        { stopStrategies: [stop] },
        [await sileroVad()],
        new VirtualClock({ settleTurns: 8 }),
      );
      await play(h, audio);
      await h.finish();
      const vadStops = h.down.frames.filter((f) => f instanceof VADUserStoppedSpeakingFrame).length;
      return { h, analyzer, stop, vadStops };
    };
    const vad = await runWith("vad");
    expect(vad.vadStops).toBeGreaterThanOrEqual(2); // the VAD hears the pause
    expect(vad.h.turns.turns).toBe(vad.vadStops);

    const smart = await runWith("analyzer");
    expect(smart.vadStops).toBe(vad.vadStops);
    expect(smart.h.turns.turns).toBe(1);
    const stats = (smart.stop as TurnAnalyzerStopStrategy).stats;
    expect(stats.incomplete).toBeGreaterThanOrEqual(1); // the cut was judged incomplete
    expect(stats.analyses).toBe(smart.vadStops);
    expect(smart.analyzer.verdicts[0]!.complete).toBe(false);
  }, 60_000);
});

/** An analyzer that never answers (a stuck model) or fails: the fallback must end the turn. */
class BrokenAnalyzer implements TurnAnalyzer {
  readonly sampleRate = 16_000;
  calls = 0;
  constructor(readonly how: "hang" | "throw") {}
  appendAudio(): void {}
  clear(): void {}
  analyze(signal: AbortSignal): Promise<TurnVerdict> {
    this.calls++;
    if (this.how === "throw") return Promise.reject(new Error("model exploded"));
    return new Promise((_, reject) => signal.addEventListener("abort", () => reject(signal.reason)));
  }
}

describe("TurnAnalyzerStopStrategy when the analyzer fails", () => {
  it("an error ends each turn on the fallback, said once", async () => {
    const analyzer = new BrokenAnalyzer("throw");
    const stop = new TurnAnalyzerStopStrategy({ analyzer, fallbackTimeoutMs: 1000 });
    const h = await turnHarness({ stopStrategies: [stop] });
    for (let i = 0; i < 3; i++) {
      await h.send(new VADUserStartedSpeakingFrame(), new VADUserStoppedSpeakingFrame());
      await h.advance(999);
      expect(h.turns.inTurn).toBe(true);
      await h.advance(1);
      expect(h.turns.inTurn).toBe(false);
    }
    expect(stop.stats).toMatchObject({ analyses: 3, failures: 3, fallbacks: 3 });
    const said = h.lines.filter(
      (l) => l.message.includes("model exploded") && !l.message.includes("more time"),
    );
    expect(said).toHaveLength(1);
    await h.finish();
    expect(h.clock.pendingTimers).toBe(0);
  });

  it("an analyzer that never answers is abandoned at analyzeTimeoutMs and the fallback ends the turn (real clock)", async () => {
    const analyzer = new BrokenAnalyzer("hang");
    const stop = new TurnAnalyzerStopStrategy({ analyzer, analyzeTimeoutMs: 30, fallbackTimeoutMs: 120 });
    const { logger, lines } = memoryLogger();
    const turns = new UserTurnProcessor({ stopStrategies: [stop] });
    const task = new PipelineTask(new Pipeline([turns]), {
      clock: new SystemClock(),
      logger,
      idleTimeoutMs: null,
    });
    const done = task.run();
    await expect.poll(() => turns.state === "running", { timeout: 2000, interval: 5 }).toBe(true);
    const t0 = performance.now();
    task.queueFrame(new VADUserStartedSpeakingFrame());
    task.queueFrame(new VADUserStoppedSpeakingFrame());
    await expect.poll(() => turns.turns === 1 && !turns.inTurn, { timeout: 2000, interval: 5 }).toBe(true);
    const took = performance.now() - t0;
    expect(took).toBeGreaterThanOrEqual(110); // the fallback, not the analyzer's deadline, ended it
    expect(took).toBeLessThan(1000);
    expect(stop.stats).toMatchObject({ analyses: 1, failures: 1, fallbacks: 1 });
    expect(lines.some((l) => l.message.includes("longer than analyzeTimeoutMs (30 ms)"))).toBe(true);
    await task.stopWhenDone();
    await done;
  });
});
