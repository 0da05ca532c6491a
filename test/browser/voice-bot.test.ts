/**
 * The default bot, end to end: the page served by the development server, the official Pipecat
 * web client (unchanged) in headless Chromium, a scripted microphone, and the echo bot that
 * `npm start` runs. Real time throughout (about 25 s).
 */
import { fileURLToPath } from "node:url";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type EchoBotVoice, loadEchoBotVoice, runEchoBot } from "../../examples/03-voice-bot/echo-bot.js";
import { rms } from "../../src/audio/pcm.js";
import { readWavFile } from "../../src/audio/wav.js";
import { InputAudioRawFrame } from "../../src/frames/audio.js";
import { InputTransportMessageFrame } from "../../src/frames/transport-messages.js";
import type { PipelineTask, TaskOutcome } from "../../src/pipeline/task.js";
import { type DevServer, startDevServer } from "../../src/runner/dev-server.js";
import { ProtobufFrameSerializer } from "../../src/serializers/index.js";
import { silentLogger } from "../../src/logger.js";
import {
  type BrowserHarness,
  type WatchedPage,
  browserSkipReason,
  launchBrowser,
  pageNow,
  speak,
  takeWire,
} from "../support/browser.js";

const FIXTURE = fileURLToPath(new URL("../fixtures/vad-espeak.wav", import.meta.url));

/** What the page received, decoded: audio with its level, and RTVI messages. */
interface Received {
  audio: { atMs: number; samples: number; sampleRate: number; numChannels: number; rms: number }[];
  rtvi: { atMs: number; type: string; data: unknown }[];
}

/** Speech louder than this (RMS of a 40 ms frame, PCM16) is the bot talking; the ambience (at 0.15) stays below 900. */
const SPEECH_RMS = 1500;

/** 40 ms frames of `audio` louder than {@link SPEECH_RMS}: what the page should count as speech for it. */
function loudFrames(audio: Int16Array, sampleRate: number): number {
  const size = sampleRate / 25;
  let n = 0;
  for (let i = 0; i + size <= audio.length; i += size) if (rms(audio.subarray(i, i + size)) > SPEECH_RMS) n++;
  return n;
}

describe.skipIf(browserSkipReason !== undefined)("the default bot with the official web client", () => {
  let harness: BrowserHarness;
  let server: DevServer;
  let watched: WatchedPage;
  let utterance: Int16Array;
  let voice: EchoBotVoice;
  const received: Received = { audio: [], rtvi: [] };
  const serializer = new ProtobufFrameSerializer();
  const tasks: PipelineTask[] = [];
  const outcomes: { outcome: TaskOutcome; atMs: number }[] = [];

  /** Moves what the page has received since the last call into `received`. */
  async function collect(): Promise<void> {
    for (const message of await takeWire(watched.page)) {
      const result = serializer.deserialize(message.bytes);
      if (!result.ok)
        throw new Error(`the page received a message that is not a frame: ${result.error.message}`);
      for (const frame of result.frames) {
        if (frame instanceof InputAudioRawFrame) {
          received.audio.push({
            atMs: message.atMs,
            samples: frame.audio.length / frame.numChannels,
            sampleRate: frame.sampleRate,
            numChannels: frame.numChannels,
            rms: rms(frame.audio),
          });
        } else if (frame instanceof InputTransportMessageFrame) {
          const m = frame.message as { type: string; data: unknown };
          received.rtvi.push({ atMs: message.atMs, type: m.type, data: m.data });
        }
      }
    }
  }

  /** Waits until the page has received an RTVI message of `type` after page time `afterMs`. */
  async function rtviEvent(type: string, afterMs: number, timeoutMs = 15_000): Promise<number> {
    let found: number | undefined;
    await expect
      .poll(
        async () => {
          await collect();
          found = received.rtvi.find((m) => m.type === type && m.atMs > afterMs)?.atMs;
          return found;
        },
        { timeout: timeoutMs, interval: 250 },
      )
      .toBeDefined();
    return found!;
  }

  const loud = (from: number, to = Infinity) =>
    received.audio.filter((a) => a.atMs > from && a.atMs <= to && a.rms > SPEECH_RMS);

  beforeAll(async () => {
    const fixture = await readWavFile(FIXTURE);
    // "Please book a table for two people at seven tonight." (1.0–3.7 s of the fixture)
    utterance = fixture.audio.subarray(12_800, 62_400);
    voice = await loadEchoBotVoice();
    server = await startDevServer({
      port: 0,
      onSession: async (socket, _request, session) => {
        const outcome = await runEchoBot(socket, session, {
          voice,
          logger: silentLogger,
          onTask: (task) => tasks.push(task),
        });
        outcomes.push({ outcome, atMs: performance.now() });
      },
    });
    harness = await launchBrowser();
    watched = await harness.open(server.url, { scriptedMicrophone: true, recordWire: true });
  });

  afterAll(async () => {
    if (process.env.VOICE_BOT_DUMP) {
      const { writeFileSync } = await import("node:fs");
      writeFileSync(process.env.VOICE_BOT_DUMP, JSON.stringify(received));
    }
    await harness?.close();
    await server?.close({ graceMs: 0, cancelTimeoutMs: 1000 });
  });

  it("connects, and greets the user with 24 kHz audio sent at real time", async () => {
    const { page } = watched;
    const startMs = await pageNow(page);
    await page.click("#connect");
    await page.waitForSelector('#events li[data-type="connect-resolved"]', { timeout: 15_000 });
    const spokeAt = await rtviEvent("bot-started-speaking", startMs);
    const stoppedAt = await rtviEvent("bot-stopped-speaking", spokeAt, 20_000);
    const all = received.audio;
    expect(new Set(all.map((a) => `${a.sampleRate}/${a.numChannels}`))).toEqual(new Set(["24000/1"]));
    // 40 ms frames (the issue allows 20–40 ms; the web client plays any size).
    expect(new Set(all.map((a) => a.samples))).toEqual(new Set([960]));
    // Real time: over the greeting, samples received per second of the page's clock.
    const during = all.filter((a) => a.atMs > spokeAt + 500 && a.atMs <= stoppedAt);
    const rate = (during.reduce((n, a) => n + a.samples, 0) * 1000) / (during.at(-1)!.atMs - during[0]!.atMs);
    expect(rate).toBeGreaterThan(24_000 * 0.9);
    expect(rate).toBeLessThan(24_000 * 1.1);
    // The whole greeting (5.7 s) was spoken, and the transcript shown.
    const { greeting } = voice;
    expect(loud(startMs, stoppedAt).length).toBeGreaterThan(
      0.9 * loudFrames(greeting.audio, greeting.sampleRate),
    );
    expect(await page.textContent("#bot-transcript li")).toContain("echo bot");
    // Background ambience: the output never goes silent, even when the bot is not speaking.
    await page.waitForTimeout(500);
    await collect();
    expect(received.audio.filter((a) => a.atMs > stoppedAt + 100).length).toBeGreaterThan(5);
  });

  it("hears the user's turn and echoes it back", async () => {
    const { page } = watched;
    const saidAt = await speak(page, utterance);
    const startedAt = await rtviEvent("user-started-speaking", saidAt);
    const stoppedAt = await rtviEvent("user-stopped-speaking", startedAt);
    const echoAt = await rtviEvent("bot-started-speaking", stoppedAt);
    const echoEndAt = await rtviEvent("bot-stopped-speaking", echoAt, 15_000);
    // "You said:" (0.8 s) and the 3.1 s utterance.
    const { announcement } = voice;
    const expected = loudFrames(announcement.audio, announcement.sampleRate) + loudFrames(utterance, 16_000);
    expect(loud(echoAt - 1, echoEndAt).length).toBeGreaterThan(0.8 * expected);
    expect(await page.textContent("#bot-transcript")).toContain("You said:");
    expect(await page.$('#events li[data-type="user-started-speaking"]')).not.toBeNull();
  });

  it("stops talking within 300 ms when the user barges in", async () => {
    const { page } = watched;
    // A turn to echo, then speech again while the echo plays.
    const saidAt = await speak(page, utterance);
    const stoppedAt = await rtviEvent("user-stopped-speaking", saidAt);
    const echoAt = await rtviEvent("bot-started-speaking", stoppedAt);
    await page.waitForTimeout(1000);
    await speak(page, utterance);
    const bargeAt = await rtviEvent("user-started-speaking", echoAt);
    await page.waitForTimeout(1000);
    await collect();
    const after = loud(bargeAt);
    const lastLoudMs = after.length > 0 ? after.at(-1)!.atMs - bargeAt : 0;
    expect(lastLoudMs).toBeLessThan(300);
    expect(received.rtvi.some((m) => m.type === "bot-interrupted" && m.atMs >= bargeAt - 50)).toBe(true);
    // The barge-in is a turn of its own: it is echoed once it ends.
    await rtviEvent("bot-started-speaking", bargeAt + 1500, 15_000);
  });

  it("ends the bot's task when the user disconnects", async () => {
    const { page } = watched;
    const clickedAt = performance.now();
    await page.click("#disconnect");
    await expect.poll(() => outcomes.length, { timeout: 5_000 }).toBe(1);
    expect(outcomes[0]!.atMs - clickedAt).toBeLessThan(3000);
    expect(["cancelled", "ended"]).toContain(outcomes[0]!.outcome.how);
    expect(tasks[0]!.hasFinished()).toBe(true);
    await expect.poll(() => server.sessions).toBe(0);
    expect(watched.errors).toEqual([]);
    expect(await page.textContent("#error")).toBe("");
  });
});

if (browserSkipReason !== undefined) {
  describe("the default bot with the official web client", () => {
    it.skip(browserSkipReason ?? "", () => undefined);
  });
}
