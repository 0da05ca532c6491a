/**
 * "A failing mixer is turned off and the audio goes on", for anything a mixer can do wrong,
 * driven through a real output transport on the virtual clock.
 */
import { describe, expect, it } from "vitest";
import {
  EndFrame,
  MixerEnableFrame,
  MixerUpdateSettingsFrame,
  OutputAudioRawFrame,
  TTSAudioRawFrame,
  TTSStoppedFrame,
} from "../../../src/index.js";
import { constant } from "../../support/audio.js";
import { CountingMixer } from "../../support/mixers.js";
import { startOutput } from "../../support/task.js";

const RATE = 24_000;

/** Sets up an output with `mixer`, queues 400 ms of speech, ends, and returns what happened. */
async function playThrough(mixer: CountingMixer, params: Parameters<typeof startOutput>[1] = {}) {
  const channels = params.audioOutChannels ?? 1;
  const s = startOutput(RATE, { audioOutMixer: mixer, audioOutEndSilenceMs: 200, ...params });
  await s.whenStarted();
  const speech = constant(400, RATE * channels, 1000); // 400 ms at the output's channel count
  s.task.queueFrame(new TTSAudioRawFrame(speech, RATE, channels));
  s.task.queueFrame(new TTSStoppedFrame());
  const t0 = s.clock.now();
  await s.clock.runUntil(s.task.stopWhenDone(), { maxMs: 60_000 });
  await s.done;
  const mixerErrors = s.errors.filter((e) => /mixer/.test(e.error.message));
  return { s, elapsedMs: s.clock.now() - t0, mixerErrors };
}

function expectSpeechPlayedAndEnded(r: Awaited<ReturnType<typeof playThrough>>, channels = 1): void {
  const played = r.s.down.ofType(OutputAudioRawFrame);
  expect(played).toHaveLength(10); // all 400 ms of speech, in 40 ms chunks
  expect(played.every((f) => f.audio.length === 960 * channels)).toBe(true);
  expect(r.s.finishedBy[0]).toBeInstanceOf(EndFrame);
  expect(r.elapsedMs).toBeLessThanOrEqual(400 + 200 + 80);
  expect(r.mixerErrors).toHaveLength(1);
  expect(r.mixerErrors[0]!.error.message).toMatch(
    /the mixer was turned off \(.*\); audio goes on without it/,
  );
  expect(r.s.clock.pendingTimers).toBe(0);
}

describe("GuardedMixer: whatever mix() does, the audio goes on", () => {
  it("a mix() that returns a short array on a stereo output", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    mixer.mix = (audio) => audio.subarray(0, audio.length - 1);
    const r = await playThrough(mixer, { audioOutChannels: 2 });
    expectSpeechPlayedAndEnded(r, 2);
    expect(r.mixerErrors[0]!.error.message).toMatch(
      /mix\(\) returned a Int16Array of 1919 samples instead of an Int16Array of 1920/,
    );
  });

  it("a mix() that returns a Float32Array", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    mixer.mix = (audio) => new Float32Array(audio.length) as unknown as Int16Array;
    const r = await playThrough(mixer);
    expectSpeechPlayedAndEnded(r);
    expect(r.mixerErrors[0]!.error.message).toMatch(/mix\(\) returned a Float32Array of 960 samples/);
  });

  it("a mix() that throws, once, then is never called again", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    let calls = 0;
    mixer.mix = () => {
      calls++;
      throw new Error("sound card on fire");
    };
    const r = await playThrough(mixer);
    expectSpeechPlayedAndEnded(r);
    expect(calls).toBe(1);
    expect(r.mixerErrors[0]!.error.message).toMatch(/mix\(\) threw: .*sound card on fire/);
  });

  it("an async mix() (it must be synchronous)", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    mixer.mix = (async (audio: Int16Array) => audio) as unknown as (audio: Int16Array) => Int16Array;
    const r = await playThrough(mixer);
    expectSpeechPlayedAndEnded(r);
    expect(r.mixerErrors[0]!.error.message).toMatch(/mix\(\) returned a Promise; mix must be synchronous/);
  });

  it("an `active` getter that throws", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    Object.defineProperty(mixer, "active", {
      get() {
        throw new Error("no idea");
      },
    });
    const r = await playThrough(mixer);
    expectSpeechPlayedAndEnded(r);
    expect(r.mixerErrors[0]!.error.message).toMatch(/its active property threw/);
  });
});

describe("GuardedMixer: start, control and stop that misbehave", () => {
  it("a start() that rejects: reported once, output without background", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    mixer.start = () => Promise.reject(new Error("sound file vanished"));
    const r = await playThrough(mixer);
    expectSpeechPlayedAndEnded(r);
    expect(r.mixerErrors[0]!.error.message).toMatch(/it failed to start: .*sound file vanished/);
    expect(mixer.calls).toEqual([]);
  });

  it("a start() that never settles: turned off after audioOutMixerTimeoutMs, then the output runs", async () => {
    const mixer = new CountingMixer(() => r.s.clock);
    mixer.start = () => new Promise<void>(() => {});
    const r = await playThrough(mixer, { audioOutMixerTimeoutMs: 1_500 });
    expectSpeechPlayedAndEnded(r);
    expect(r.mixerErrors[0]!.error.message).toMatch(/it failed to start: it did not settle within 1500 ms/);
  });

  it("a processFrame() that never settles is turned off; one that throws is reported and the mixer stays on", async () => {
    const mixer = new CountingMixer(() => s.clock);
    const s = startOutput(RATE, { audioOutMixer: mixer, audioOutMixerTimeoutMs: 500 });
    await s.whenStarted();
    mixer.processFrame = (frame) => {
      if (frame instanceof MixerUpdateSettingsFrame) throw new Error("no sound called rain");
      if (frame instanceof MixerEnableFrame) return new Promise<void>(() => {});
    };
    s.task.queueFrame(new MixerUpdateSettingsFrame({ sound: "rain" }));
    await s.clock.advance(200);
    expect(s.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(/refused MixerUpdateSettingsFrame.*rain/),
    ]);
    const writes = s.output.writeCalls;
    expect(writes).toBeGreaterThanOrEqual(5); // still mixing
    s.task.queueFrame(new MixerEnableFrame(false));
    await s.clock.advance(1_000);
    expect(s.errors.at(-1)!.error.message).toMatch(
      /turned off \(processFrame\(MixerEnableFrame#\d+\) never settled\)/,
    );
    const afterOff = s.output.writeCalls;
    await s.clock.advance(1_000);
    expect(s.output.writeCalls).toBe(afterOff); // nothing queued and no mixer: idle
    await s.clock.runUntil(s.task.cancel());
    expect(s.clock.pendingTimers).toBe(0);
  });

  it("a stop() that never settles does not hold the end past audioOutMixerTimeoutMs", async () => {
    const mixer = new CountingMixer(() => s.clock);
    mixer.stop = () => new Promise<void>(() => {});
    const s = startOutput(RATE, {
      audioOutMixer: mixer,
      audioOutMixerTimeoutMs: 700,
      audioOutEndSilenceMs: 0,
    });
    await s.whenStarted();
    const t0 = s.clock.now();
    await s.clock.runUntil(s.task.stopWhenDone());
    expect(s.clock.now() - t0).toBeLessThanOrEqual(700 + 80);
    expect(s.finishedBy[0]).toBeInstanceOf(EndFrame);
    expect(s.errors.map((e) => e.error.message).join()).toMatch(
      /the mixer failed to stop: it did not settle within 700 ms/,
    );
  });
});

describe("GuardedMixer: one mixer object, one destination at a time", () => {
  it("refuses a mixer already playing in another output, and frees it when that output ends", async () => {
    const mixer = new CountingMixer(() => a.clock);
    const a = startOutput(RATE, { audioOutMixer: mixer }, { name: "first" });
    await a.whenStarted();
    const b = startOutput(RATE, { audioOutMixer: mixer }, { name: "second" });
    await b.whenStarted();
    await Promise.all([a.clock.advance(400), b.clock.advance(400)]);
    expect(b.errors.map((e) => e.error.message)).toEqual([
      expect.stringMatching(
        /second-output: the mixer was turned off \(it is already in use by first-output;/,
      ),
    ]);
    expect(b.output.writeCalls).toBe(0); // no mixer, nothing queued
    expect(mixer.started).toBe(1);
    await a.clock.runUntil(a.task.cancel());
    await b.clock.runUntil(b.task.cancel());
    const c = startOutput(RATE, { audioOutMixer: mixer }, { name: "third" });
    await c.whenStarted();
    await c.clock.advance(400);
    expect(c.errors).toEqual([]);
    expect(c.output.writeCalls).toBeGreaterThanOrEqual(10);
    await c.clock.runUntil(c.task.cancel());
  });
});
