/**
 * The output transport writes a cancel's last words (`CancelFrame.lastWords`) before it closes:
 * once, bounded by `closeTimeoutMs`, even when the pipeline never got to play, and not at all
 * to a sink that is closed or never opened. On the virtual clock.
 */
import { describe, expect, it } from "vitest";
import {
  BaseOutputTransport,
  type CancelFrame,
  type Frame,
  FrameProcessor,
  MemoryTransport,
  type OutputAudioRawFrame,
  type OutputCloseReason,
  OutputTransportMessageUrgentFrame,
  TTSAudioRawFrame,
  type TransportParams,
} from "../../src/index.js";
import { MAX_LAST_WORDS } from "../../src/frames/lifecycle.js";
import { memoryLogger } from "../support/logger.js";
import { startTask } from "../support/task.js";

/** Adds `words` to every CancelFrame it passes on, as a protocol processor does for a fatal error. */
class Farewell extends FrameProcessor {
  constructor(private readonly words: unknown[]) {
    super({ name: "farewell" });
  }
  protected override cancel(frame: CancelFrame): void {
    for (const w of this.words) frame.addLastWords(new OutputTransportMessageUrgentFrame(w));
  }
}

/** A processor whose start never finishes: the pipeline never starts (a provider still connecting). */
class NeverStarts extends FrameProcessor {
  constructor() {
    super({ name: "never-starts" });
  }
  protected override start(): Promise<void> {
    return new Promise(() => undefined);
  }
}

/** An output that records, on the task clock, what it was asked to do; its writeFrame may hang; its open may fail. */
class RecordingOutput extends BaseOutputTransport {
  readonly calls: Array<{ what: string; atMs: number }> = [];
  constructor(
    params: Partial<TransportParams>,
    private readonly behave: { hangWrites?: boolean; slowWritesMs?: number; failOpen?: boolean } = {},
  ) {
    super(params, { name: "recording-output" });
  }
  protected override open(): void {
    if (this.behave.failOpen) throw new Error("no sink here");
  }
  protected override async writeAudio(_frame: OutputAudioRawFrame): Promise<boolean> {
    if (this.calls.at(-1)?.what !== "audio") this.calls.push({ what: "audio", atMs: this.clock.now() });
    return true;
  }
  protected override writeFrame(frame: Frame): void | Promise<void> {
    if (!(frame instanceof OutputTransportMessageUrgentFrame)) return;
    this.calls.push({ what: `write ${JSON.stringify(frame.message)}`, atMs: this.clock.now() });
    if (this.behave.hangWrites) return new Promise(() => undefined);
    if (this.behave.slowWritesMs) return this.clock.waitUntil(this.clock.now() + this.behave.slowWritesMs);
  }
  protected override close(reason: OutputCloseReason): void {
    this.calls.push({ what: `close ${reason}`, atMs: this.clock.now() });
  }
}

describe("a cancel's last words", () => {
  it("are written once, in order, before the output closes, though the pipeline never started", async () => {
    const output = new RecordingOutput({});
    const s = startTask([new Farewell([{ n: 1 }, { n: 2 }]), new NeverStarts(), output]);
    await s.clock.advance(100);
    expect(s.isStarted()).toBe(false);
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(output.calls.map((c) => c.what)).toEqual(['write {"n":1}', 'write {"n":2}', "close cancel"]);
  });

  it("come after the audio being played, and no audio is written after them", async () => {
    // A slow client: ticks keep coming while the last words are written.
    const output = new RecordingOutput({ audioOutEnabled: true }, { slowWritesMs: 200 });
    const s = startTask([new Farewell([{ bye: true }]), output]);
    await s.whenStarted();
    s.task.queueFrame(new TTSAudioRawFrame(new Int16Array(24_000), 24_000));
    await s.clock.advance(200);
    expect(output.calls.map((c) => c.what)).toEqual(["audio"]);
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    await s.clock.advance(1_000);
    expect(output.calls.map((c) => c.what)).toEqual(["audio", 'write {"bye":true}', "close cancel"]);
  });

  it("are bounded by closeTimeoutMs when the client never takes them; the close still comes, and it is said once", async () => {
    const { logger, lines } = memoryLogger();
    const output = new RecordingOutput({ closeTimeoutMs: 300 }, { hangWrites: true });
    const s = startTask([new Farewell([{ n: 1 }, { n: 2 }]), output], { logger });
    await s.whenStarted();
    const t0 = s.clock.now();
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    const close = output.calls.find((c) => c.what === "close cancel");
    expect(close).toBeDefined();
    // Measured: the close comes at the deadline of the last words, not later.
    expect(close!.atMs - t0).toBe(300);
    expect(output.calls.filter((c) => c.what.startsWith("write"))).toHaveLength(1);
    const said = lines.filter((l) => l.message.includes("last words"));
    expect(said).toHaveLength(1);
    expect(said[0]!.level).toBe("warn");
    expect(said[0]!.message).toBe(
      "recording-output: writing the cancel's last words (closeTimeoutMs) did not settle within 300 ms; " +
        "the client may not have got them; closing anyway",
    );
  });

  it("are not written to a sink that is closed (the client left), and that is not an error", async () => {
    const { logger, lines } = memoryLogger();
    const transport = new MemoryTransport({});
    const s = startTask([transport.input(), new Farewell([{ bye: true }]), transport.output()], { logger });
    await s.whenStarted();
    transport.closeSink("client disconnected");
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(transport.output().messages).toEqual([]);
    expect(lines.filter((l) => l.level === "warn" || l.level === "error")).toEqual([]);
  });

  it("are not written by an output whose open() failed", async () => {
    const output = new RecordingOutput({}, { failOpen: true });
    const s = startTask([new Farewell([{ bye: true }]), output]);
    await s.clock.runUntil(s.done, { maxMs: 5_000 });
    expect(s.task.outcome?.how).toBe("failed");
    expect(output.calls.map((c) => c.what)).toEqual(["close cancel"]);
  });

  it("are written by the memory transport's output as urgent messages", async () => {
    const transport = new MemoryTransport({});
    const s = startTask([transport.input(), new Farewell([{ bye: true }]), transport.output()]);
    await s.whenStarted();
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(transport.output().messages).toEqual([{ message: { bye: true }, urgent: true }]);
  });

  it(`hold at most ${MAX_LAST_WORDS} messages`, async () => {
    const output = new RecordingOutput({});
    const s = startTask([new Farewell(Array.from({ length: MAX_LAST_WORDS + 5 }, (_, n) => n)), output]);
    await s.whenStarted();
    await s.clock.runUntil(s.task.cancel("fatal"), { maxMs: 5_000 });
    expect(output.calls.filter((c) => c.what.startsWith("write"))).toHaveLength(MAX_LAST_WORDS);
  });
});
