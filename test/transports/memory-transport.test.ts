import { describe, expect, it } from "vitest";
import {
  EndFrame,
  InterruptionFrame,
  type MemoryTransportOptions,
  OutputAudioRawFrame,
  OutputTransportMessageFrame,
  OutputTransportMessageUrgentFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
  TextFrame,
  type TransportParams,
} from "../../src/index.js";
import { CountingMixer } from "../support/mixers.js";
import { startOutput } from "../support/task.js";

const RATE = 24_000;
const CHUNK_MS = 40; // audioOut10msChunks = 4 by default

function setup(params: Partial<TransportParams> = {}, options: Omit<MemoryTransportOptions, "params"> = {}) {
  return startOutput(RATE, params, options);
}

/** Audio whose every chunk starts with its own index, so chunks can be told apart. */
function numberedAudio(chunks: number): Int16Array {
  const samples = (RATE * CHUNK_MS) / 1000;
  const audio = new Int16Array(chunks * samples);
  for (let c = 0; c < chunks; c++) audio.fill(c + 1, c * samples, (c + 1) * samples);
  return audio;
}

describe("MemoryTransport: recording", () => {
  it("keeps only the last recordLimit written chunks, while every write still happens", async () => {
    const s = setup({}, { recordLimit: 5 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(20), RATE));
    await s.clock.advance(20 * CHUNK_MS + 100);
    expect(s.output.writeCalls).toBe(20);
    expect(s.output.written).toHaveLength(5);
    expect(s.output.written.map((w) => w.frame.audio[0])).toEqual([16, 17, 18, 19, 20]);
    const times = s.output.written.map((w) => w.atMs);
    expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([CHUNK_MS, CHUNK_MS, CHUNK_MS, CHUNK_MS]);
    expect(s.down.ofType(OutputAudioRawFrame)).toHaveLength(20); // played audio still goes on
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("with recordLimit 0 records nothing but still plays", async () => {
    const s = setup({}, { recordLimit: 0 });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(5), RATE));
    await s.clock.advance(500);
    expect(s.output.writeCalls).toBe(5);
    expect(s.output.written).toHaveLength(0);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("hands each written chunk to the sink after recording it", async () => {
    const seen: number[] = [];
    const s = setup(
      {},
      {
        sink: (frame) => {
          seen.push(frame.audio[0]!);
          return true;
        },
      },
    );
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(3), RATE));
    await s.clock.advance(200);
    expect(seen).toEqual([1, 2, 3]);
    expect(s.output.written.map((w) => w.frame.audio[0])).toEqual(seen);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("MemoryTransport: closeSink", () => {
  it("stops the output at once while audio is queued: no more writes, mixer stopped", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = setup({ audioOutMixer: mixer });
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(50), RATE)); // 2 s
    await s.clock.advance(200);
    const sender = s.output.sender()!;
    expect(sender.queuedMs).toBeGreaterThan(1_000);
    const writes = s.output.writeCalls;
    const mixes = mixer.calls.length;
    s.transport.closeSink("client left");
    // At once: before any more time passes.
    expect(sender.sinkClosed).toBe(true);
    expect(sender.queuedMs).toBe(0);
    await s.clock.settle();
    expect(mixer.stopped).toBe(1);
    await s.clock.advance(3_000);
    expect(s.output.writeCalls).toBe(writes);
    expect(mixer.calls.length).toBe(mixes);
    expect(sender.chunksDropped).toBeGreaterThanOrEqual(50 - writes - 1);
    // The task still ends promptly, and nothing written is pushed on after the close.
    const played = s.down.ofType(OutputAudioRawFrame).length;
    const t0 = s.clock.now();
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.clock.now() - t0).toBeLessThanOrEqual(CHUNK_MS);
    expect(s.down.ofType(OutputAudioRawFrame)).toHaveLength(played);
    expect(s.down.frames.at(-1)).toBeInstanceOf(EndFrame);
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("after closeSink, frames queued behind the audio still go on and new audio is dropped", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(25), RATE));
    s.task.queueFrame(new TextFrame("behind the audio"));
    s.task.queueFrame(new OutputTransportMessageFrame({ n: 1 }));
    await s.clock.advance(100);
    s.transport.closeSink();
    await s.clock.advance(100);
    expect(s.down.ofType(TextFrame).map((f) => f.text)).toEqual(["behind the audio"]);
    expect(s.output.messages).toEqual([{ message: { n: 1 }, urgent: false }]);
    const writes = s.output.writeCalls;
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(5), RATE));
    s.task.queueFrame(new TTSStoppedFrame());
    await s.clock.advance(500);
    expect(s.output.writeCalls).toBe(writes);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("MemoryTransport: messages", () => {
  it("records messages in order, urgent ones ahead of queued audio, others behind it", async () => {
    const s = setup();
    await s.whenStarted();
    const t0 = s.clock.now();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(10), RATE)); // 400 ms
    s.task.queueFrame(new OutputTransportMessageFrame("after first audio"));
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(5), RATE)); // 200 ms more
    s.task.queueFrame(new OutputTransportMessageFrame("after second audio"));
    await s.clock.advance(100);
    s.task.queueFrame(new OutputTransportMessageUrgentFrame("urgent 1"));
    s.task.queueFrame(new OutputTransportMessageUrgentFrame("urgent 2"));
    await s.clock.advance(1);
    // The urgent messages went out at once, while most of the audio is still queued.
    expect(s.output.messages).toEqual([
      { message: "urgent 1", urgent: true },
      { message: "urgent 2", urgent: true },
    ]);
    expect(s.output.writeCalls).toBeLessThan(5);

    const at: Record<string, number> = {};
    while (s.output.messages.length < 4 && s.clock.now() - t0 < 2_000) {
      await s.clock.advance(1);
      for (const m of s.output.messages) at[m.message as string] ??= s.clock.now();
    }
    expect(s.output.messages).toEqual([
      { message: "urgent 1", urgent: true },
      { message: "urgent 2", urgent: true },
      { message: "after first audio", urgent: false },
      { message: "after second audio", urgent: false },
    ]);
    // Each ordered message went out when the audio before it had been played, not earlier.
    const written = s.output.written;
    expect(written).toHaveLength(15);
    expect(at["after first audio"]).toBe(written[9]!.atMs + CHUNK_MS);
    expect(at["after second audio"]).toBe(written[14]!.atMs + CHUNK_MS);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("sends urgent messages even when audio output is off", async () => {
    const s = setup({ audioOutEnabled: false });
    await s.whenStarted();
    s.task.queueFrame(new OutputTransportMessageUrgentFrame("now"));
    await s.clock.advance(10);
    expect(s.output.messages).toEqual([{ message: "now", urgent: true }]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("sends ordered messages when audio output is off", async () => {
    const s = setup({ audioOutEnabled: false });
    await s.whenStarted();
    s.task.queueFrame(new OutputTransportMessageFrame("first"));
    s.task.queueFrame(new OutputTransportMessageUrgentFrame("second"));
    await s.clock.advance(10);
    expect(s.output.messages.map((m) => m.message)).toEqual(["first", "second"]);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});

describe("MemoryTransport: interruption and the shared connection", () => {
  it("records that the client was told to clear its buffer, once per interruption", async () => {
    const s = setup();
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(numberedAudio(25), RATE));
    await s.clock.advance(100);
    s.task.queueFrame(new InterruptionFrame());
    await s.clock.advance(100);
    expect(s.output.clears.get("")).toBe(1);
    expect(s.output.writeCalls).toBeLessThanOrEqual(4);
    await s.clock.runUntil(s.task.stopWhenDone());
  });

  it("closeSink() closes the connection both sides share", async () => {
    const s = setup();
    await s.whenStarted();
    s.transport.closeSink("client left");
    expect(s.transport.connection.closed).toBe(true);
    expect(s.transport.connection.closeReason).toBe("client left");
    expect(s.output.sinkClosed).toBe(true);
    await s.clock.runUntil(s.task.stopWhenDone());
  });
});
