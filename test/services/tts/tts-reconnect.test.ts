/**
 * A sentence that has to wait for the provider's connection to reopen (docs/design/tts-services.md,
 * "Stalls and reconnects"): the wait is bounded by `stallTimeoutMs` on its own, reported as a wait
 * for the connection (not as the provider's silence), and the engine's stall bound starts when the
 * request goes out. Driven through `DeepgramTTSService` against the loopback `/v1/speak` server,
 * which closes the connection after the first sentence and is slow to accept the next one.
 */
import { afterEach, describe, expect, it } from "vitest";
import { SystemClock, VirtualClock } from "../../../src/clock/index.js";
import { TTSTextFrame } from "../../../src/frames/text.js";
import { TTSStoppedFrame } from "../../../src/frames/tts.js";
import { CartesiaTTSService } from "../../../src/services/cartesia/tts.js";
import { TTSConnectionWaitError } from "../../../src/services/tts/tts-errors.js";
import type { SynthesisOutput, SynthesisRequest } from "../../../src/services/tts/tts-service.js";
import { InterruptionFrame } from "../../../src/frames/lifecycle.js";
import {
  endTTS,
  expectNothingPending,
  startTTS,
  waitFor,
  type TTSSession,
} from "../openai-audio/tts-session.js";
import { until } from "../websocket/loopback-provider.js";
import { expected, fake, service } from "../deepgram/speak-kit.js";
import { ToneTTS } from "./tone-tts.js";
import { type FakeCartesia, fakeCartesia } from "../cartesia/fake-cartesia.js";

const servers: FakeCartesia[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) await server.close();
});

const stops = (s: TTSSession): number => s.down.ofType(TTSStoppedFrame).length;
const spoken = (s: TTSSession): string[] => s.down.ofType(TTSTextFrame).map((f) => f.text);
const messages = (s: TTSSession): string[] => s.errors().map((e) => e.error.message);

describe("a sentence waiting through a reconnect of the provider's socket", () => {
  it("the reconnect hangs past stallTimeoutMs (SystemClock): the sentence is reported as waiting for the connection, not as the provider's silence", async () => {
    const server = await fake({
      onFlush: (n) => (n === 1 ? "ok-then-close" : "ok"),
      // The first reconnect is never answered (abandoned at connectTimeoutMs); the next is accepted.
      upgrade: (n) => (n === 2 ? "hang" : "accept"),
    });
    const tts = service(server, {
      stallTimeoutMs: 150,
      // The hung attempt's deadline far past stallTimeoutMs (400 ms left a loaded machine 250 ms
      // between the sentence's deadline and the reconnect that would have sent it).
      socket: { backoff: { initialDelayMs: 10, maxDelayMs: 20 }, connectTimeoutMs: 1_500 },
    });
    const s = await startTTS(tts, new SystemClock());
    s.answer("First. ");
    await waitFor(s, () => stops(s) === 1, "the first answer");
    await until(() => tts.socketStats?.disconnects === 1, "the server's close to be seen");
    s.answer("Second. ");
    await waitFor(s, () => s.errors().length === 1, "the sentence to be abandoned");
    const [error] = s.errors();
    expect(error!.fatal).toBe(false);
    expect(error!.error).toBeInstanceOf(TTSConnectionWaitError);
    const said =
      /"Second\." waited (\d+) ms for the connection to the TTS provider to reopen \(stallTimeoutMs 150 ms\)/.exec(
        error!.error.message,
      );
    expect(said, error!.error.message).not.toBeNull();
    // At the bound (a timer may fire late on a busy machine), and before the hung attempt's own deadline.
    expect(Number(said![1])).toBeGreaterThanOrEqual(149);
    expect(Number(said![1])).toBeLessThan(1_000);
    expect(error!.error.message).toMatch(/raise stallTimeoutMs/i);
    expect(error!.error.message).not.toMatch(/gave no audio/);
    await until(() => server.connections.length === 2, "the reconnect", 5_000);
    s.answer("Third.");
    await waitFor(s, () => stops(s) === 3, "the third answer");
    await endTTS(s);
    expect(messages(s)).toHaveLength(1);
    expect(spoken(s)).toEqual(["First. ", "Third."]);
    expect(s.samples()).toEqual(Int16Array.from([...expected("First. "), ...expected("Third.")]));
  });

  it("on a VirtualClock: a reconnect shorter than stallTimeoutMs is waited for and the sentence spoken; a longer one abandons each waiting sentence at exactly stallTimeoutMs, said once, then counted", async () => {
    const clock = new VirtualClock({ realWorkTimeoutMs: 5_000 });
    let refuse = 0; // upgrades to refuse with 503 from now on
    const server = await fake({
      onFlush: (n) => (n === 1 || n === 2 ? "ok-then-close" : "ok"),
      upgrade: () => (refuse-- > 0 ? { status: 503 } : "accept"),
    });
    const tts = service(server, {
      stallTimeoutMs: 1_000,
      socket: { backoff: { initialDelayMs: 300, maxDelayMs: 300, maxAttempts: 20 } },
    });
    const s = await startTTS(tts, clock);
    const closes = (n: number) => () => tts.socketStats?.disconnects === n;

    // 1. The server closes after "One."; the reconnect is refused twice: 3 × 300 ms of backoff.
    refuse = 2;
    s.answer("One. ");
    await clock.runUntil(() => stops(s) === 1);
    await until(closes(1), "the first close");
    const queuedAt = clock.now();
    s.answer("Two. ");
    await clock.runUntil(() => stops(s) === 2);
    expect(clock.now() - queuedAt).toBeGreaterThanOrEqual(900); // it waited for the reconnect…
    expect(messages(s)).toEqual([]); // …and that was no stall
    expect(spoken(s)).toEqual(["One. ", "Two. "]);

    // 2. Closed again after "Two."; refused 7 times: 2400 ms without a connection.
    refuse = 7;
    await until(closes(2), "the second close");
    const waitFrom = clock.now();
    s.answer("Three. ", "Four. ");
    await clock.runUntil(() => s.errors().length === 1);
    expect(clock.now() - waitFrom).toBe(1_000);
    expect(messages(s)[0]).toMatch(
      /"Three\." waited 1000 ms for the connection to the TTS provider to reopen \(stallTimeoutMs 1000 ms\)/,
    );
    await clock.runUntil(() => stops(s) === 3);
    // "Four." waited its own 1000 ms and was abandoned too: counted, not said again.
    expect(clock.now() - waitFrom).toBeGreaterThanOrEqual(2_000);
    expect(messages(s)).toHaveLength(1);
    expect(spoken(s)).toEqual(["One. ", "Two. "]);

    // 3. The connection is back: the next answer is spoken.
    await clock.runUntil(() => server.connections.length === 3);
    s.answer("Five.");
    await clock.runUntil(() => stops(s) === 4);
    await endTTS(s);
    expect(spoken(s)).toEqual(["One. ", "Two. ", "Five."]);
    expect(messages(s)).toHaveLength(1);
    expect(
      s.lines.filter((l) => /1 more time in the last .* waited 1000 ms for the connection/.test(l.message)),
    ).toHaveLength(1);
  });
});

describe("the same through SpeechSocket (Cartesia, VirtualClock)", () => {
  it("the server drops the idle socket and refuses the reconnect for 2.4 s: the sentence is skipped at exactly stallTimeoutMs, named as a connection wait; the next one is spoken on the new connection", async () => {
    const clock = new VirtualClock({ realWorkTimeoutMs: 5_000 });
    let refuse = 0;
    const server = await fakeCartesia({ refuseUpgrade: () => (refuse-- > 0 ? 503 : undefined) });
    servers.push(server);
    const tts = new CartesiaTTSService({
      apiKey: "test-key",
      baseUrl: server.baseUrl,
      stallTimeoutMs: 1_000,
      socket: { backoff: { initialDelayMs: 300, maxDelayMs: 300, maxAttempts: 20 } },
    });
    const s = await startTTS(tts, clock);
    s.answer("Before.");
    await clock.runUntil(() => stops(s) === 1);
    refuse = 7;
    server.connections[0]!.ws.close(1011, "idle");
    await until(() => tts.socketStats?.disconnects === 1, "the close to be seen");
    const from = clock.now();
    s.answer("Lost.");
    await clock.runUntil(() => s.errors().length === 1);
    expect(clock.now() - from).toBe(1_000);
    expect(s.errors()[0]!.error).toBeInstanceOf(TTSConnectionWaitError);
    expect(messages(s)[0]).toMatch(
      /"Lost\." waited 1000 ms for the connection to the TTS provider to reopen/,
    );
    await clock.runUntil(() => server.connections.length === 2);
    s.answer("After.");
    await clock.runUntil(() => stops(s) === 3);
    await endTTS(s);
    expect(messages(s)).toHaveLength(1);
    expect(
      s.down
        .ofType(TTSTextFrame)
        .map((f) => f.text)
        .join(" "),
    ).toBe("Before. After.");
    expect(server.connections[1]!.texts.join("")).not.toContain("Lost.");
  });
});

/** An engine whose connection is down for `outagesMs` (one wait each) before every sentence. */
class FlakyConnectionTTS extends ToneTTS {
  /** The outages before the next sentences (a test may change them between answers). */
  outagesMsNow: readonly number[];
  constructor(outagesMs: readonly number[], stallTimeoutMs: number) {
    super({ stallTimeoutMs });
    this.outagesMsNow = outagesMs;
  }

  protected override async *synthesize(
    text: string,
    signal: AbortSignal,
    request?: SynthesisRequest,
  ): AsyncIterable<SynthesisOutput> {
    for (const ms of this.outagesMsNow) await request!.waitForConnection(this.clock.sleep(ms, signal));
    yield* super.synthesize(text, signal);
  }
}

describe("the stall bound starts when the request goes out (VirtualClock, the base alone)", () => {
  it("two connection waits of 0.9 × stallTimeoutMs each: no stall (each wait has its own bound), the sentence is spoken", async () => {
    const clock = new VirtualClock({ realWorkTimeoutMs: 2_000 });
    const s = await startTTS(new FlakyConnectionTTS([900, 900], 1_000), clock);
    s.answer("Spoken.");
    await clock.runUntil(() => stops(s) === 1);
    expect(messages(s)).toEqual([]);
    expect(spoken(s)).toEqual(["Spoken."]);
    await endTTS(s);
  });

  it("a connection wait of 1.1 × stallTimeoutMs: abandoned at stallTimeoutMs with the connection named", async () => {
    const clock = new VirtualClock({ realWorkTimeoutMs: 2_000 });
    const s = await startTTS(new FlakyConnectionTTS([1_100], 1_000), clock);
    const from = clock.now();
    s.answer("Lost.");
    await clock.runUntil(() => s.errors().length === 1);
    expect(clock.now() - from).toBe(1_000);
    expect(messages(s)[0]).toMatch(/"Lost\." waited 1000 ms for the connection/);
    await endTTS(s);
    expect(spoken(s)).toEqual([]);
  });

  it("an interruption during a connection wait ends it at once: no error, the next answer is spoken, no timer or I/O mark left", async () => {
    const clock = new VirtualClock({ realWorkTimeoutMs: 2_000 });
    const tts = new FlakyConnectionTTS([5_000], 1_000);
    const s = await startTTS(tts, clock);
    s.answer("Interrupted.");
    await clock.advance(300);
    s.queue(new InterruptionFrame());
    await clock.advance(10);
    expect(messages(s)).toEqual([]);
    tts.outagesMsNow = [];
    s.answer("Next.");
    await clock.runUntil(() => spoken(s).length === 1);
    expect(spoken(s)).toEqual(["Next."]);
    await endTTS(s);
    expect(messages(s)).toEqual([]);
    expectNothingPending(clock);
  });
});
