import { describe, expect, it } from "vitest";
import {
  FrameDirection,
  InterruptionFrame,
  InvalidOptionError,
  TTSAudioRawFrame,
  TTSTextFrame,
  UserStartedSpeakingFrame,
} from "../../src/index.js";
import { RTVIOutputGate } from "../../src/processors/rtvi/index.js";
import { FrameRecorder } from "../../src/testing/index.js";
import { recordingLogger, startRtvi } from "./support.js";

const speech = (ms: number) => new TTSAudioRawFrame(new Int16Array(24 * ms).fill(800), 24_000);

function startGated(timeoutMs?: number) {
  const gate = new RTVIOutputGate({ timeoutMs });
  const after = new FrameRecorder(FrameDirection.DOWNSTREAM, { name: "after-gate" });
  const logger = recordingLogger();
  const h = startRtvi({
    middle: [gate, after],
    output: { audioOutEnabled: true, audioOutSampleRate: 24_000 },
    task: { logger },
  });
  return { ...h, gate, after, logger };
}

describe("RTVIOutputGate", () => {
  it("holds the bot's audio until client-ready, then plays it after bot-ready", async () => {
    const h = startGated();
    await h.whenStarted();
    await h.queue(speech(400), new TTSTextFrame("Hello"), new UserStartedSpeakingFrame());
    await h.clock.advance(3_000);
    expect(h.output.written).toHaveLength(0);
    expect(h.gate.isOpen).toBe(false);
    // System frames are not held.
    expect(h.after.ofType(UserStartedSpeakingFrame)).toHaveLength(1);

    await h.ready("go");
    const readyAt = h.clock.now();
    await h.clock.advance(1_000);
    expect(h.gate.openedBy).toBe("client-ready");
    expect(h.output.written.length).toBeGreaterThanOrEqual(10); // 400 ms in 40 ms chunks
    expect(h.output.written[0]!.atMs).toBeGreaterThanOrEqual(readyAt);
    const types = h.messages().map((m) => m.type);
    expect(types[0]).toBe("bot-ready");
    expect(types.indexOf("bot-tts-text")).toBeGreaterThan(types.indexOf("bot-started-speaking"));
    await h.end();
  });

  it("opens at timeoutMs when no client-ready comes, with one warning", async () => {
    const h = startGated(5_000);
    await h.whenStarted();
    await h.queue(speech(200));
    await h.clock.advance(4_999);
    expect(h.output.written).toHaveLength(0);
    await h.clock.advance(500);
    expect(h.gate.openedBy).toBe("timeout");
    expect(h.output.written.length).toBeGreaterThan(0);
    const warnings = h.logger.lines.filter((l) => l.level === "warn" && l.message.includes(h.gate.name));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.message).toMatch(/no client-ready within 5000 ms; letting output through/);
    await h.end();
  });

  it("opens on EndFrame, so a session that ends before client-ready ends at once, not at the timeout", async () => {
    const h = startGated(60_000);
    await h.whenStarted();
    await h.queue(speech(200));
    await h.clock.advance(1_000);
    const outcome = await h.end();
    expect(outcome?.how).toBe("ended");
    expect(h.gate.openedBy).toBe("end");
    expect(h.clock.now()).toBeLessThan(10_000); // 200 ms of audio and the end silence, not the 60 s timeout
    expect(h.clock.pendingTimers).toBe(0);
  });

  it("lets an interruption drop what it holds", async () => {
    const h = startGated();
    await h.whenStarted();
    await h.queue(speech(400), speech(400));
    await h.queue(new InterruptionFrame());
    await h.ready();
    await h.clock.advance(2_000);
    expect(h.output.written).toHaveLength(0);
    expect(h.gate.isOpen).toBe(true);
    await h.end();
  });

  it("cancels promptly while holding, leaving no timer behind", async () => {
    const h = startGated();
    await h.whenStarted();
    await h.queue(speech(400));
    const outcome = await h.clock.runUntil(h.task.cancel("client left"), { maxMs: 3_000 });
    expect(outcome?.how).toBe("cancelled");
    expect(h.clock.pendingTimers).toBe(0);
  });

  it("refuses a timeout that is not a positive number of ms", () => {
    expect(() => new RTVIOutputGate({ timeoutMs: 0 })).toThrow(InvalidOptionError);
    expect(() => new RTVIOutputGate({ timeoutMs: Number.NaN })).toThrow(
      /RTVIOutputGate: timeoutMs must be a finite number of ms, at least 1 \(got NaN\)/,
    );
  });
});
