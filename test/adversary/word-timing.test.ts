import { describe, expect, it } from "vitest";
import {
  type Frame,
  InterruptionFrame,
  OutputAudioRawFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TTSTextFrame,
} from "../../src/index.js";
import { constant } from "../support/audio.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;

function word(text: string, contextId: string, audioOffsetMs: number, pts: number): TTSTextFrame {
  const frame = new TTSTextFrame(text);
  frame.contextId = contextId;
  frame.audioOffsetMs = audioOffsetMs;
  frame.pts = pts;
  return frame;
}

function speech(ms: number, contextId: string): TTSAudioRawFrame {
  const frame = new TTSAudioRawFrame(constant(ms, RATE), RATE);
  frame.contextId = contextId;
  return frame;
}

function playedBeforeEachWord(frames: readonly Frame[]): Record<string, number> {
  const out: Record<string, number> = {};
  let played = 0;
  for (const f of frames) {
    if (f instanceof OutputAudioRawFrame) played++;
    else if (f instanceof TTSTextFrame) out[f.text] = played;
  }
  return out;
}

describe("word timing under attack", () => {
  it("after an interruption, more audio of the same response does not re-anchor its old offsets", async () => {
    const s = startOutput(RATE);
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrames([speech(2_000, "a"), word("first", "a", 0, now)]);
    await s.clock.advance(400);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(100);
    // The service goes on with the same response: 400 ms more, whose words sit 2 s into it.
    const t = s.clock.now();
    s.task.queueFrames([speech(400, "a"), word("more", "a", 2_000, t), word("end", "a", 2_300, t + 300)]);
    await s.clock.advance(2_000);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["first", "more", "end"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("a word placed beyond its response's audio goes with the response's last chunk, not at the session's end", async () => {
    const s = startOutput(RATE);
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrames([
      speech(1_000, "long"),
      speech(200, "a"),
      word("beyond", "a", 60_000, now + 60_000),
      new TTSStoppedFrame("a"),
    ]);
    await s.clock.advance(2_000);
    // 25 chunks of "long", then "a"'s 5: the word goes just before a's last chunk, never before a's audio.
    expect(playedBeforeEachWord(s.down.frames)).toEqual({ beyond: 29 });
    // A word of a stopped response that comes after all its audio played goes at once.
    s.task.queueFrame(word("late", "a", 90_000, s.clock.now() + 90_000));
    await s.clock.advance(100);
    expect(s.down.ofType(TTSTextFrame).map((f) => f.text)).toEqual(["beyond", "late"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("word timing: a flood of words", () => {
  it("100,000 words on far-off audio: at most 10,000 held on the audio and 10,000 on their pts, the rest counted, said once", async () => {
    const s = startOutput(RATE);
    await s.whenStarted();
    const now = s.clock.now();
    s.task.queueFrame(speech(1_000, "a"));
    await s.clock.advance(1);
    // In batches under a lane's bound (10,000), as a service pushing them would be held back by.
    for (let batch = 0; batch < 20; batch++) {
      const words: Frame[] = [];
      for (let i = batch * 5_000; i < (batch + 1) * 5_000; i++)
        words.push(word(`w${i}`, "a", 500_000 + i, now + 500_000 + i));
      s.task.queueFrames(words);
      await s.clock.advance(1);
    }
    const sender = s.output.sender()!;
    expect(sender.timedFramesDropped).toBe(100_000 - 20_000);
    expect(s.up.frames.filter((f) => f.name.startsWith("ErrorFrame"))).toHaveLength(1);
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.down.ofType(TTSTextFrame)).toHaveLength(20_000);
  });
});

describe("word timing: more responses queued than remembered", () => {
  it("20 responses queued before any word: each word still waits for its own audio", async () => {
    const s = startOutput(RATE);
    await s.whenStarted();
    const frames: Frame[] = [];
    for (let i = 0; i < 20; i++) frames.push(speech(480, `c${i}`)); // 12 chunks each
    for (let i = 0; i < 20; i++) frames.push(word(`c${i}`, `c${i}`, 0, s.clock.now()));
    s.task.queueFrames(frames);
    await s.clock.advance(12_000);
    const played = playedBeforeEachWord(s.down.frames);
    for (let i = 0; i < 20; i++) expect(played[`c${i}`], `c${i}`).toBe(i * 12);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});
