/**
 * Adversarial probes: turn strategies in UserTurnProcessor (docs/design/turns.md), here the
 * TurnAnalyzerStopStrategy fed a misbehaving `TurnAnalyzer` (a public contract: user code).
 * Public API only.
 *
 * Promises attacked: "what a strategy throws is said once and never stops the processor"; an
 * analyzer error "is said once per kind and leaves the turn to the fallback timer"; bad input
 * gives ONE clear error, never an unhandled rejection.
 */
import { describe, expect, it } from "vitest";
import { TurnAnalyzerStopStrategy, UserTurnProcessor } from "../../src/index.js";
import { runIsolated } from "./support.js";

/** A child process: one VAD turn with an analyzer whose `analyze` runs `body`; reports when the turn stopped, errors, unhandled rejections. */
function isolatedTurn(body: string) {
  const r = isolatedTurns([body]);
  return { ...r, result: (r.result as TurnOutcome[] | undefined)?.[0] };
}

/**
 * One child process for several analyzers, one VAD turn each, one after the other (a child costs
 * a few seconds to start; a turn at virtual time, milliseconds). Prints one outcome per body, in
 * order; an unhandled rejection is counted against the turn that was running (the event loop
 * turns before the next one starts).
 */
function isolatedTurns(bodies: readonly string[]) {
  const analyzers = bodies.map((body) => `async () => { ${body} }`).join(",\n");
  return runIsolated(
    `
import { setImmediate as turn } from "node:timers/promises";
import { UserTurnProcessor, TurnAnalyzerStopStrategy, VADUserStartedSpeakingFrame, VADUserStoppedSpeakingFrame, InputAudioRawFrame } from "@SRC@/index.ts";
import { startRecordedTask } from "@SRC@/../test/support/task.ts";
const unhandled: string[] = [];
process.on("unhandledRejection", (e) => void unhandled.push(String(e)));
const outcomes: unknown[] = [];
for (const analyze of [${analyzers}]) {
  const analyzer = {
    sampleRate: 16000,
    appendAudio() {},
    clear() {},
    analyze,
  };
  let out: Record<string, unknown> = {};
  try {
    const turns = new UserTurnProcessor({ stopStrategies: [new TurnAnalyzerStopStrategy({ analyzer: analyzer as never, fallbackTimeoutMs: 3000 })] });
    const stops: number[] = [];
    const t = startRecordedTask([turns]);
    turns.on("userTurnStopped", () => void stops.push(t.clock.now()));
    await t.whenStarted();
    t.task.queueFrame(new VADUserStartedSpeakingFrame());
    t.task.queueFrame(new InputAudioRawFrame(new Int16Array(320), 16000, 1));
    await t.clock.advance(500);
    const at = t.clock.now();
    t.task.queueFrame(new VADUserStoppedSpeakingFrame());
    await t.clock.advance(4000);
    out = { stopAfter: stops.map((s) => s - at), errors: t.errors.length };
    void t.task.stopWhenDone(); await t.clock.runUntil(t.done);
  } catch (e) { out.threw = String(e); }
  await turn(); await turn();
  outcomes.push({ ...out, unhandled: unhandled.splice(0) });
}
console.log(JSON.stringify(outcomes));
`,
    10_000 * bodies.length,
  );
}

interface TurnOutcome {
  stopAfter: number[];
  errors: number;
  unhandled: string[];
  threw?: string;
}

describe("TurnAnalyzerStopStrategy with an analyzer that breaks its contract", () => {
  // FIXED (was a hole). Measured: "TypeError: Cannot read properties of undefined (reading 'toFixed')" escapes
  // as an unhandled rejection (a process exit under Node's default), nothing is said, and the turn
  // ends 3000 ms later on the fallback although the analyzer said complete. Root cause:
  // turn-analyzer-stop-strategy.ts #evaluate's success callback reads `verdict.complete` and
  // `verdict.probability.toFixed(2)` unchecked, and the error callback of the same `.then` does
  // not catch what the success callback throws. Fix: check the verdict's shape (an object with a
  // boolean `complete`, a finite `probability`) and treat a bad one as an analyzer error
  // (reportOnce "analyzer-error", fallback), with the success path inside a try.
  it("fixed: a verdict without a probability: the turn ends on the verdict (or said once), no unhandled rejection", () => {
    const out = isolatedTurn(`return { complete: true };`).result as TurnOutcome;
    expect(out.unhandled).toEqual([]);
    expect(out.stopAfter).toEqual([0]);
  });

  // FIXED (was a hole), same root cause: a verdict of null → "Cannot read properties of null (reading
  // 'complete')" unhandled; the turn ends on the fallback with nothing said.
  it("fixed: a null verdict is said once and left to the fallback, no unhandled rejection", () => {
    const out = isolatedTurn(`return null;`).result as TurnOutcome;
    expect(out.unhandled).toEqual([]);
    expect(out.stopAfter).toEqual([3000]);
  });

  // FIXED (was a hole). Measured: "Error: s" escapes as an unhandled rejection (the turn still ends on the
  // fallback). Root cause: errors.ts `describe(error)` is `String(error)` for a non-Error, and a
  // value whose toString throws throws from inside the strategy's error callback (reportOnce calls
  // the message function at once). `describe` is used for every user-code failure (strategies,
  // analyzers, the assistant aggregator's refused results), so all of them share this. Fix: guard
  // `describe` (try String, then Object.prototype.toString, then "an unprintable value").
  it("fixed: an analyzer that rejects with a value whose toString throws: said once, no unhandled rejection", () => {
    const out = isolatedTurn(`throw { toString() { throw new Error("s"); } };`).result as TurnOutcome;
    expect(out.unhandled).toEqual([]);
    expect(out.stopAfter).toEqual([3000]);
  });

  it("held: an analyzer that rejects with a Symbol, or an Error: the turn ends on the fallback, no unhandled rejection", () => {
    const bodies = [`throw Symbol("x");`, `throw new Error("model broke");`];
    const outcomes = isolatedTurns(bodies).result as TurnOutcome[];
    expect(outcomes).toHaveLength(bodies.length);
    for (const [i, body] of bodies.entries()) {
      const out = outcomes[i]!;
      expect(out.unhandled, body).toEqual([]);
      expect(out.stopAfter, body).toEqual([3000]);
    }
  });

  it("held: an analyzer with sampleRate 0, NaN, -1 or 16000.5 is refused at construction with a message naming it", () => {
    // (1e12 Hz is accepted — no upper bound — and the audio conversion then fails, said once in the log.)
    // Construction is synchronous, so this runs in this process: no child needed to see it refused.
    for (const rate of [0, Number.NaN, -1, 16000.5]) {
      const analyzer = {
        sampleRate: rate,
        appendAudio() {},
        clear() {},
        analyze: async () => ({ complete: true, probability: 1, inferenceMs: 0 }),
      };
      let threw = "";
      try {
        new UserTurnProcessor({
          stopStrategies: [
            new TurnAnalyzerStopStrategy({ analyzer: analyzer as never, fallbackTimeoutMs: 3000 }),
          ],
        });
      } catch (e) {
        threw = String(e);
      }
      expect(threw, String(rate)).toMatch(
        /InvalidOptionError: TurnAnalyzerStopStrategy: analyzer must be a TurnAnalyzer/,
      );
    }
  });
});
